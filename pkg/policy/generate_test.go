package policy

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/pkg/errs"
)

const arnPrefix = "arn:aws:iot:us-east-1:123456789012:"

func gen(o GenOptions) GenOptions {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Account == "" {
		o.Account = "123456789012"
	}
	return o
}

func TestGenerateSeed(t *testing.T) {
	doc, _, err := Generate(gen(GenOptions{Topics: []string{"test/topic"}, ClientID: "test-*"}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := doc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/seed.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("generated:\n%s\nwant the seed's policy:\n%s", got, want)
	}
}

func stmt(actions []string, names ...string) Statement {
	var res []string
	for _, n := range names {
		res = append(res, arnPrefix+n)
	}
	return Statement{Effect: Allow, Action: actions, Resource: res}
}

func TestGenerate(t *testing.T) {
	connect := func(c string) Statement { return stmt([]string{"iot:Connect"}, "client/"+c) }
	tests := []struct {
		name      string
		opts      GenOptions
		want      []Statement
		wantNotes []string
	}{
		{
			name: "connect only",
			opts: GenOptions{ClientID: "dev-1"},
			want: []Statement{connect("dev-1")},
		},
		{
			name:      "subscribe plus",
			opts:      GenOptions{ClientID: "dev-1", Subscribe: []string{"a/+/b"}},
			want:      []Statement{stmt([]string{"iot:Receive"}, "topic/a/*/b"), stmt([]string{"iot:Subscribe"}, "topicfilter/a/+/b"), connect("dev-1")},
			wantNotes: []string{"iot:Receive on topic/a/*/b is wider than the filter a/+/b"},
		},
		{
			name: "subscribe hash includes parent",
			opts: GenOptions{ClientID: "dev-1", Subscribe: []string{"a/#"}},
			want: []Statement{stmt([]string{"iot:Receive"}, "topic/a/*", "topic/a"), stmt([]string{"iot:Subscribe"}, "topicfilter/a/#"), connect("dev-1")},
		},
		{
			name:      "subscribe hash alone",
			opts:      GenOptions{ClientID: "dev-1", Subscribe: []string{"#"}},
			want:      []Statement{stmt([]string{"iot:Receive"}, "topic/*"), stmt([]string{"iot:Subscribe"}, "topicfilter/#"), connect("dev-1")},
			wantNotes: nil,
		},
		{
			name:      "plus and hash",
			opts:      GenOptions{ClientID: "dev-1", Subscribe: []string{"a/+/#"}},
			want:      []Statement{stmt([]string{"iot:Receive"}, "topic/a/*/*", "topic/a/*"), stmt([]string{"iot:Subscribe"}, "topicfilter/a/+/#"), connect("dev-1")},
			wantNotes: []string{"wider than the filter a/+/#"},
		},
		{
			name: "shared subscription",
			opts: GenOptions{ClientID: "dev-1", Subscribe: []string{"$share/g1/jobs/x"}},
			want: []Statement{stmt([]string{"iot:Receive"}, "topic/jobs/x"), stmt([]string{"iot:Subscribe"}, "topicfilter/$share/g1/jobs/x"), connect("dev-1")},
		},
		{
			name: "publish and subscribe differ",
			opts: GenOptions{ClientID: "dev-1", Publish: []string{"out/1"}, Subscribe: []string{"in/1"}},
			want: []Statement{stmt([]string{"iot:Publish"}, "topic/out/1"), stmt([]string{"iot:Receive"}, "topic/in/1"), stmt([]string{"iot:Subscribe"}, "topicfilter/in/1"), connect("dev-1")},
		},
		{
			name: "same topics in any order share a statement",
			opts: GenOptions{ClientID: "dev-1", Publish: []string{"b", "a"}, Subscribe: []string{"a", "b"}},
			want: []Statement{stmt([]string{"iot:Publish", "iot:Receive"}, "topic/b", "topic/a"), stmt([]string{"iot:Subscribe"}, "topicfilter/a", "topicfilter/b"), connect("dev-1")},
		},
		{
			name: "receive only",
			opts: GenOptions{ClientID: "dev-1", Receive: []string{"r/1"}},
			want: []Statement{stmt([]string{"iot:Receive"}, "topic/r/1"), connect("dev-1")},
		},
		{
			name: "retain",
			opts: GenOptions{ClientID: "dev-1", Topics: []string{"t"}, Retain: true},
			want: []Statement{stmt([]string{"iot:Publish", "iot:Receive", "iot:RetainPublish"}, "topic/t"), stmt([]string{"iot:Subscribe"}, "topicfilter/t"), connect("dev-1")},
		},
		{
			name:      "thing",
			opts:      GenOptions{Thing: true, ClientID: "ignored", Publish: []string{"$aws/things/${iot:Connection.Thing.ThingName}/shadow/update"}},
			want:      []Statement{stmt([]string{"iot:Publish"}, "topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/update"), connect("${iot:Connection.Thing.ThingName}")},
			wantNotes: []string{"--thing: the client must connect with its thing name"},
		},
		{
			name:      "client prefix",
			opts:      GenOptions{ClientID: "test-*"},
			want:      []Statement{connect("test-*")},
			wantNotes: []string{"client/test-* lets every matching client ID connect"},
		},
		{
			name:      "star in a topic",
			opts:      GenOptions{ClientID: "c", Publish: []string{"a/*"}},
			want:      []Statement{stmt([]string{"iot:Publish"}, "topic/a/*"), connect("c")},
			wantNotes: []string{"a/* contains * or ?"},
		},
		{
			name: "escaped star is no wildcard",
			opts: GenOptions{ClientID: "c", Publish: []string{"a/${*}"}},
			want: []Statement{stmt([]string{"iot:Publish"}, "topic/a/${*}"), connect("c")},
		},
		{
			name: "duplicates",
			opts: GenOptions{ClientID: "c", Topics: []string{"t"}, Publish: []string{"t"}, Subscribe: []string{"t"}, Receive: []string{"t"}},
			want: []Statement{stmt([]string{"iot:Publish", "iot:Receive"}, "topic/t"), stmt([]string{"iot:Subscribe"}, "topicfilter/t"), connect("c")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, notes, err := Generate(gen(tt.opts))
			if err != nil {
				t.Fatal(err)
			}
			if doc.Version != Version || !reflect.DeepEqual(doc.Statement, tt.want) {
				t.Errorf("statements:\n%+v\nwant:\n%+v", doc.Statement, tt.want)
			}
			if len(notes) != len(tt.wantNotes) {
				t.Fatalf("notes = %q, want %d like %q", notes, len(tt.wantNotes), tt.wantNotes)
			}
			for i, n := range tt.wantNotes {
				if !strings.Contains(notes[i], n) {
					t.Errorf("note %d = %q, want it to contain %q", i, notes[i], n)
				}
			}
			for _, s := range doc.Statement {
				for _, a := range s.Action {
					if a == "iot:*" || a == "*" {
						t.Errorf("generated action %q", a)
					}
				}
				for _, r := range s.Resource {
					if r == "*" {
						t.Errorf("generated resource *")
					}
				}
			}
		})
	}
}

// TestGenerateAllows evaluates generated policies: they allow what was
// asked for and deny neighbours.
func TestGenerateAllows(t *testing.T) {
	doc, _, err := Generate(gen(GenOptions{ClientID: "dev-1", Publish: []string{"out/1"}, Subscribe: []string{"in/+/x", "all/#"}, Retain: true}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := Context{Region: "us-east-1", Account: "123456789012", ClientID: "dev-1"}
	tests := []struct {
		action, resource string
		want             bool
	}{
		{"iot:Connect", "client/dev-1", true},
		{"iot:Connect", "client/dev-2", false},
		{"iot:Publish", "topic/out/1", true},
		{"iot:RetainPublish", "topic/out/1", true},
		{"iot:Publish", "topic/in/a/x", false},
		{"iot:Subscribe", "topicfilter/in/+/x", true},
		{"iot:Subscribe", "topicfilter/in/a/x", false},
		{"iot:Subscribe", "topicfilter/all/#", true},
		{"iot:Receive", "topic/in/a/x", true},
		{"iot:Receive", "topic/all", true},
		{"iot:Receive", "topic/all/a/b", true},
		{"iot:Receive", "topic/out/1", false},
	}
	for _, tt := range tests {
		got := Evaluate([]*Document{doc}, Request{Action: tt.action, Resource: tt.resource, Context: ctx})
		if got.Allowed() != tt.want {
			t.Errorf("%s on %s: %s (%s), want allowed=%v", tt.action, tt.resource, got.Effect, got.Reason, tt.want)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    GenOptions
		wantErr string
	}{
		{"no client", GenOptions{Region: "us-east-1", Account: "123456789012"}, "no client ID: give --client-id"},
		{"no region", GenOptions{Account: "123456789012", ClientID: "c"}, "no region"},
		{"no account", GenOptions{Region: "us-east-1", ClientID: "c"}, "no account"},
		{"publish plus", gen(GenOptions{ClientID: "c", Publish: []string{"a/+"}}), `publish topic "a/+" contains an MQTT wildcard`},
		{"topic hash", gen(GenOptions{ClientID: "c", Topics: []string{"a/#"}}), `publish topic "a/#"`},
		{"empty topic", gen(GenOptions{ClientID: "c", Publish: []string{""}}), "empty topic name"},
		{"hash not last", gen(GenOptions{ClientID: "c", Subscribe: []string{"a/#/b"}}), "# must be the whole last level"},
		{"hash in level", gen(GenOptions{ClientID: "c", Subscribe: []string{"a/b#"}}), "# must be the whole last level"},
		{"plus in level", gen(GenOptions{ClientID: "c", Subscribe: []string{"a/b+/c"}}), "+ must be a whole level"},
		{"bad receive filter", gen(GenOptions{ClientID: "c", Receive: []string{"a+"}}), "+ must be a whole level"},
		{"empty filter", gen(GenOptions{ClientID: "c", Subscribe: []string{""}}), "empty topic filter"},
		{"bad share", gen(GenOptions{ClientID: "c", Subscribe: []string{"$share//a"}}), "shared subscription"},
		{"retain alone", gen(GenOptions{ClientID: "c", Retain: true, Subscribe: []string{"a"}}), "--retain without a topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Generate(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if errs.KindOf(err) != errs.Usage {
				t.Errorf("kind = %v, want usage", errs.KindOf(err))
			}
		})
	}
}

func TestGeneratePartition(t *testing.T) {
	doc, _, err := Generate(GenOptions{Region: "${AWS::Region}", Account: "${AWS::AccountId}", Partition: "${AWS::Partition}", ClientID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Statement[0].Resource[0]; got != "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:client/c" {
		t.Errorf("resource = %q", got)
	}
	doc, _, _ = Generate(GenOptions{Region: "cn-north-1", Account: "123456789012", ClientID: "c"})
	if got := doc.Statement[0].Resource[0]; !strings.HasPrefix(got, "arn:aws-cn:iot:cn-north-1:") {
		t.Errorf("resource = %q", got)
	}
}
