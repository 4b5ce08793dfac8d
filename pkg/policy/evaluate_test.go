package policy

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, s string) *Document {
	t.Helper()
	d, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEvaluate(t *testing.T) {
	seed := `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/test/topic"]},
	 {"Effect":"Allow","Action":["iot:Subscribe"],"Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/test/topic"]},
	 {"Effect":"Allow","Action":["iot:Connect"],"Resource":["arn:aws:iot:us-east-1:123456789012:client/test-*"]}]}`
	allowAllDenySome := `{"Version":"2012-10-17","Statement":[
	 {"Sid":"all","Effect":"Allow","Action":"iot:*","Resource":"*"},
	 {"Sid":"restricted","Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/restricted/*"}]}`
	thingPolicy := `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
	 {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.Attributes[site]}/${iot:ClientId}/*"},
	 {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/${iot:Connection.Thing.Attributes[site]}/${iot:ClientId}/+"}]}`
	oldVersion := `{"Version":"2008-10-17","Statement":[
	 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}"}]}`
	noVersion := `{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}"}]}`
	denyOther := `{"Version":"2012-10-17","Statement":[{"Sid":"nope","Effect":"Deny","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/*"}]}`

	ctx := Context{Region: "us-east-1", Account: "123456789012"}
	thing := Context{Region: "us-east-1", Account: "123456789012", ClientID: "t1", ThingName: "t1", ThingAttributes: map[string]string{"site": "plant7"}}
	tests := []struct {
		name     string
		docs     []string
		action   string
		resource string
		ctx      Context
		want     Effect
		wantRef  *StatementRef
	}{
		{"seed publish", []string{seed}, "iot:Publish", "topic/test/topic", ctx, Allow, &StatementRef{Index: 0, Action: "iot:Publish", Resource: "arn:aws:iot:us-east-1:123456789012:topic/test/topic"}},
		{"seed receive", []string{seed}, "iot:Receive", "topic/test/topic", ctx, Allow, &StatementRef{Index: 0, Action: "iot:Receive", Resource: "arn:aws:iot:us-east-1:123456789012:topic/test/topic"}},
		{"seed subscribe", []string{seed}, "iot:Subscribe", "topicfilter/test/topic", ctx, Allow, &StatementRef{Index: 1, Action: "iot:Subscribe", Resource: "arn:aws:iot:us-east-1:123456789012:topicfilter/test/topic"}},
		{"seed subscribe needs topicfilter", []string{seed}, "iot:Subscribe", "topic/test/topic", ctx, ImplicitDeny, nil},
		{"seed subscribe wildcard filter", []string{seed}, "iot:Subscribe", "topicfilter/test/#", ctx, ImplicitDeny, nil},
		{"seed connect", []string{seed}, "iot:Connect", "client/test-6f1c", ctx, Allow, &StatementRef{Index: 2, Action: "iot:Connect", Resource: "arn:aws:iot:us-east-1:123456789012:client/test-*"}},
		{"seed connect other", []string{seed}, "iot:Connect", "client/prod-1", ctx, ImplicitDeny, nil},
		{"seed other topic", []string{seed}, "iot:Publish", "topic/test/other", ctx, ImplicitDeny, nil},
		{"seed retain not granted", []string{seed}, "iot:RetainPublish", "topic/test/topic", ctx, ImplicitDeny, nil},
		{"seed other account", []string{seed}, "iot:Publish", "arn:aws:iot:us-east-1:999999999999:topic/test/topic", ctx, ImplicitDeny, nil},
		{"seed other region", []string{seed}, "iot:Publish", "topic/test/topic", Context{Region: "eu-west-1", Account: "123456789012"}, ImplicitDeny, nil},
		{"action case", []string{seed}, "IOT:PUBLISH", "topic/test/topic", ctx, Allow, &StatementRef{Index: 0, Action: "iot:Publish", Resource: "arn:aws:iot:us-east-1:123456789012:topic/test/topic"}},
		{"allow all", []string{allowAllDenySome}, "iot:Publish", "topic/open/x", ctx, Allow, &StatementRef{Index: 0, Sid: "all", Action: "iot:*", Resource: "*"}},
		{"deny wins", []string{allowAllDenySome}, "iot:Publish", "topic/restricted/x", ctx, Deny, &StatementRef{Index: 1, Sid: "restricted", Action: "iot:Publish", Resource: "arn:aws:iot:us-east-1:123456789012:topic/restricted/*"}},
		{"deny only its action", []string{allowAllDenySome}, "iot:Receive", "topic/restricted/x", ctx, Allow, &StatementRef{Index: 0, Sid: "all", Action: "iot:*", Resource: "*"}},
		{"deny in another document", []string{seed, denyOther}, "iot:Subscribe", "topicfilter/test/topic", ctx, Deny, &StatementRef{Doc: 1, Index: 0, Sid: "nope", Action: "iot:Subscribe", Resource: "arn:aws:iot:us-east-1:123456789012:topicfilter/*"}},
		{"allow from second document", []string{denyOther, seed}, "iot:Connect", "client/test-1", ctx, Allow, &StatementRef{Doc: 1, Index: 2, Action: "iot:Connect", Resource: "arn:aws:iot:us-east-1:123456789012:client/test-*"}},
		{"thing connect", []string{thingPolicy}, "iot:Connect", "client/t1", thing, Allow, &StatementRef{Index: 0, Action: "iot:Connect", Resource: "arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"}},
		{"thing connect without thing", []string{thingPolicy}, "iot:Connect", "client/t1", Context{Region: "us-east-1", Account: "123456789012", ClientID: "t1"}, ImplicitDeny, nil},
		{"thing attribute topic", []string{thingPolicy}, "iot:Publish", "topic/plant7/t1/temp", thing, Allow, &StatementRef{Index: 1, Action: "iot:Publish", Resource: "arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.Attributes[site]}/${iot:ClientId}/*"}},
		{"thing attribute other site", []string{thingPolicy}, "iot:Publish", "topic/plant8/t1/temp", thing, ImplicitDeny, nil},
		{"plus filter literal", []string{thingPolicy}, "iot:Subscribe", "topicfilter/plant7/t1/+", thing, Allow, &StatementRef{Index: 2, Action: "iot:Subscribe", Resource: "arn:aws:iot:us-east-1:123456789012:topicfilter/${iot:Connection.Thing.Attributes[site]}/${iot:ClientId}/+"}},
		{"plus is not a level wildcard", []string{thingPolicy}, "iot:Subscribe", "topicfilter/plant7/t1/temp", thing, ImplicitDeny, nil},
		{"old version: variables are text", []string{oldVersion}, "iot:Connect", "client/c1", Context{Region: "us-east-1", Account: "123456789012", ClientID: "c1"}, ImplicitDeny, nil},
		{"old version: literal text matches", []string{oldVersion}, "iot:Connect", "client/${iot:ClientId}", Context{Region: "us-east-1", Account: "123456789012", ClientID: "c1"}, Allow, &StatementRef{Action: "iot:Connect", Resource: "arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}"}},
		{"no version is 2008-10-17", []string{noVersion}, "iot:Connect", "client/c1", Context{Region: "us-east-1", Account: "123456789012", ClientID: "c1"}, ImplicitDeny, nil},
		{"no documents", nil, "iot:Connect", "client/c1", ctx, ImplicitDeny, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var docs []*Document
			for _, s := range tt.docs {
				docs = append(docs, mustParse(t, s))
			}
			got := Evaluate(docs, Request{Action: tt.action, Resource: tt.resource, Context: tt.ctx})
			if got.Effect != tt.want {
				t.Fatalf("Effect = %s (%s), want %s", got.Effect, got.Reason, tt.want)
			}
			if got.Allowed() != (tt.want == Allow) {
				t.Errorf("Allowed() = %v", got.Allowed())
			}
			switch {
			case tt.wantRef == nil && got.Statement != nil:
				t.Errorf("Statement = %+v, want nil", got.Statement)
			case tt.wantRef != nil && (got.Statement == nil || *got.Statement != *tt.wantRef):
				t.Errorf("Statement = %+v, want %+v", got.Statement, tt.wantRef)
			}
			if got.Effect == ImplicitDeny && !strings.HasPrefix(got.Reason, "no statement allows "+tt.action+" on arn:") {
				t.Errorf("Reason = %q", got.Reason)
			}
		})
	}
}

func TestEvaluateNilDocument(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}`)
	got := Evaluate([]*Document{nil, d}, Request{Action: "iot:Connect", Resource: "client/x"})
	if got.Effect != Allow || got.Statement.Doc != 1 {
		t.Errorf("got %+v", got)
	}
}
