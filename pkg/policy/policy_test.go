package policy

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *Document
		wantErr string
	}{
		{
			name: "strings or lists",
			in:   `{"Version":"2012-10-17","Statement":{"Sid":"s","Effect":"Allow","Action":"iot:Publish","Resource":["arn:aws:iot:r:a:topic/x","*"]}}`,
			want: &Document{Version: Version, Statement: []Statement{{Sid: "s", Effect: Allow, Action: []string{"iot:Publish"}, Resource: []string{"arn:aws:iot:r:a:topic/x", "*"}}}},
		},
		{
			name: "list of statements, Id kept out",
			in:   `{"Id":"x","Statement":[{"Effect":"Deny","Action":["iot:*"],"Resource":"*"}]}`,
			want: &Document{Statement: []Statement{{Effect: Deny, Action: []string{"iot:*"}, Resource: []string{"*"}}}},
		},
		{name: "syntax error position", in: "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [,]\n}", wantErr: "line 3, column"},
		{name: "empty", in: "", wantErr: "empty"},
		{name: "not an object", in: `[]`, wantErr: "must be a JSON object"},
		{name: "trailing text", in: `{"Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}} {}`, wantErr: "text after"},
		{name: "bad version", in: `{"Version":"2020-01-01","Statement":[]}`, wantErr: `Version "2020-01-01"`},
		{name: "no statement", in: `{"Version":"2012-10-17"}`, wantErr: "no Statement"},
		{name: "empty statement", in: `{"Statement":[]}`, wantErr: "Statement is empty"},
		{name: "unknown top key", in: `{"Statement":[],"Foo":1}`, wantErr: `unknown key "Foo"`},
		{name: "effect case", in: `{"Statement":[{"Effect":"allow","Action":"iot:Connect","Resource":"*"}]}`, wantErr: `Statement[0]: Effect "allow" must be Allow or Deny`},
		{name: "effect missing", in: `{"Statement":[{"Action":"iot:Connect","Resource":"*"}]}`, wantErr: "must be Allow or Deny"},
		{name: "action missing", in: `{"Statement":[{"Effect":"Allow","Resource":"*"}]}`, wantErr: "Action is missing"},
		{name: "resource missing", in: `{"Statement":[{"Effect":"Allow","Action":"iot:Connect"}]}`, wantErr: "Resource is missing"},
		{name: "second statement named", in: `{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},{"Effect":"Allow","Action":1,"Resource":"*"}]}`, wantErr: "Statement[1]: Action: must be a string or a list"},
		{name: "empty action string", in: `{"Statement":[{"Effect":"Allow","Action":[""],"Resource":"*"}]}`, wantErr: "empty string"},
		{name: "action not service", in: `{"Statement":[{"Effect":"Allow","Action":"Publish","Resource":"*"}]}`, wantErr: `Action "Publish" is not service:action`},
		{name: "short resource", in: `{"Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"topic/a"}]}`, wantErr: `Resource "topic/a" is not an ARN`},
		{name: "NotAction", in: `{"Statement":[{"Effect":"Allow","NotAction":"iot:Publish","Resource":"*"}]}`, wantErr: "NotAction is not supported by iotctl"},
		{name: "NotResource", in: `{"Statement":[{"Effect":"Allow","Action":"iot:Publish","NotResource":"*"}]}`, wantErr: "NotResource is not supported by iotctl"},
		{name: "Condition", in: `{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}}]}`, wantErr: "Condition is not supported by iotctl"},
		{name: "Principal", in: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"iot:Connect","Resource":"*"}]}`, wantErr: "Principal is not supported by iotctl"},
		{name: "unknown statement key", in: `{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Foo":1}]}`, wantErr: `unknown key "Foo"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseSeedRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/seed.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := doc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(data) {
		t.Errorf("round trip:\n%s\nwant:\n%s", out, data)
	}
}
