package policy

import "testing"

const (
	topic  = "arn:aws:iot:us-east-1:123456789012:topic/"
	filter = "arn:aws:iot:us-east-1:123456789012:topicfilter/"
	client = "arn:aws:iot:us-east-1:123456789012:client/"
)

func TestMatchResource(t *testing.T) {
	thing := Context{ClientID: "thing1", ThingName: "thing1", ThingAttributes: map[string]string{"location": "berlin", "type": "sensor"}}
	tests := []struct {
		name     string
		pattern  string
		resource string
		ctx      Context
		want     bool
	}{
		// Exact resources, as in the guide's publish and connect examples.
		{"exact topic", topic + "some_specific_topic", topic + "some_specific_topic", Context{}, true},
		{"exact topic other", topic + "some_specific_topic", topic + "some_other_topic", Context{}, false},
		{"exact is not prefix", topic + "a/b", topic + "a/b/c", Context{}, false},
		{"exact client", client + "clientid1", client + "clientid1", Context{}, true},
		{"case-sensitive resource", topic + "Topic", topic + "topic", Context{}, false},
		{"whole wildcard", "*", topic + "anything/at/all", Context{}, true},

		// * crosses levels; ? is one character.
		{"star one level", topic + "some/*", topic + "some/topic", Context{}, true},
		{"star crosses levels", topic + "some/*", topic + "some/deep/topic", Context{}, true},
		{"star empty", topic + "some/*", topic + "some/", Context{}, true},
		{"star not parent", topic + "some/*", topic + "some", Context{}, false},
		{"star middle", topic + "some/*/topic", topic + "some/x/topic", Context{}, true},
		{"star middle crosses", topic + "some/*/topic", topic + "some/x/y/topic", Context{}, true},
		{"star middle suffix", topic + "some/*/topic", topic + "some/x/other", Context{}, false},
		{"seed client prefix", client + "test-*", client + "test-1234", Context{}, true},
		{"seed client prefix other", client + "test-*", client + "prod-1234", Context{}, false},
		{"question one char", topic + "some/???/topic", topic + "some/abc/topic", Context{}, true},
		{"question too short", topic + "some/???/topic", topic + "some/ab/topic", Context{}, false},
		{"question crosses slash", topic + "a?b", topic + "a/b", Context{}, true},
		{"question multibyte", topic + "caf?", topic + "café", Context{}, true},
		{"star in account", "arn:aws:iot:*:*:topic/x", topic + "x", Context{}, true},
		{"stars backtrack", topic + "*a*b*c", topic + "xaxbxbxc", Context{}, true},
		{"stars backtrack miss", topic + "*a*b*c", topic + "xaxbxbx", Context{}, false},

		// MQTT wildcards are literal in policies.
		{"plus literal allows plus filter", filter + "a/+/b", filter + "a/+/b", Context{}, true},
		{"plus literal not level", filter + "a/+/b", filter + "a/x/b", Context{}, false},
		{"star allows plus filter", filter + "a/*", filter + "a/+/b", Context{}, true},
		{"star allows hash filter", filter + "a/*", filter + "a/#", Context{}, true},
		{"hash literal", filter + "a/#", filter + "a/#", Context{}, true},
		{"hash literal not levels", filter + "a/#", filter + "a/b/c", Context{}, false},
		{"topic plus literal", topic + "a/+", topic + "a/b", Context{}, false},
		{"guide topicfilter some/*/topic", filter + "some/*/topic", filter + "some/+/topic", Context{}, true},

		// Policy variables.
		{"client id", client + "${iot:ClientId}", client + "dev-1", Context{ClientID: "dev-1"}, true},
		{"client id other", client + "${iot:ClientId}", client + "dev-2", Context{ClientID: "dev-1"}, false},
		{"client id missing matches nothing", client + "${iot:ClientId}", client + "", Context{}, false},
		{"client id missing under star", topic + "*${iot:ClientId}*", topic + "abc", Context{}, false},
		{"client id value literal", client + "${iot:ClientId}", client + "dev-1", Context{ClientID: "*"}, false},
		{"client id value star itself", client + "${iot:ClientId}", client + "*", Context{ClientID: "*"}, true},
		{"variable name case", client + "${IOT:clientid}", client + "dev-1", Context{ClientID: "dev-1"}, true},
		{"thing name", client + "${iot:Connection.Thing.ThingName}", client + "thing1", thing, true},
		{"thing name other", client + "${iot:Connection.Thing.ThingName}", client + "thing2", thing, false},
		{"thing name missing", client + "${iot:Connection.Thing.ThingName}", client + "thing1", Context{ClientID: "thing1"}, false},
		{"shadow topic", topic + "$aws/things/${iot:Connection.Thing.ThingName}/shadow/update", topic + "$aws/things/thing1/shadow/update", thing, true},
		{"shadow topic star", topic + "$aws/things/${iot:Connection.Thing.ThingName}/shadow/*", topic + "$aws/things/thing1/shadow/get/accepted", thing, true},
		{"shadow topic other thing", topic + "$aws/things/${iot:Connection.Thing.ThingName}/shadow/*", topic + "$aws/things/thing2/shadow/get", thing, false},
		{"thing attribute", topic + "${iot:Connection.Thing.Attributes[location]}/*", topic + "berlin/temp", thing, true},
		{"thing attribute other", topic + "${iot:Connection.Thing.Attributes[location]}/*", topic + "paris/temp", thing, false},
		{"thing attribute missing", topic + "${iot:Connection.Thing.Attributes[floor]}/*", topic + "/temp", thing, false},
		{"thing attribute name case-sensitive", topic + "${iot:Connection.Thing.Attributes[Location]}", topic + "berlin", thing, false},
		{"two variables", topic + "${iot:Connection.Thing.Attributes[type]}/${iot:ClientId}", topic + "sensor/thing1", thing, true},
		{"unknown variable", topic + "${iot:Certificate.Subject.CommonName}", topic + "x", thing, false},
		{"unclosed variable is text", topic + "${iot:ClientId", topic + "${iot:ClientId", thing, true},
		{"dollar text", topic + "$aws/rules/r", topic + "$aws/rules/r", Context{}, true},

		// Escapes for the special characters.
		{"escape star", topic + "a/$(*)", topic + "a/*", Context{}, true},
		{"escape star not wildcard", topic + "a/$(*)", topic + "a/b", Context{}, false},
		{"escape question", topic + "a$(?)", topic + "a?", Context{}, true},
		{"escape question not wildcard", topic + "a$(?)", topic + "ab", Context{}, false},
		{"escape dollar", topic + "$($){iot:ClientId}", topic + "${iot:ClientId}", Context{ClientID: "x"}, true},
		{"escape iam spelling", topic + "a/${*}", topic + "a/*", Context{}, true},
		{"escape iam spelling not wildcard", topic + "a/${*}", topic + "a/b", Context{}, false},
		{"escape iam question", topic + "${?}", topic + "?", Context{}, true},
		{"escape iam dollar", topic + "${$}x", topic + "$x", Context{}, true},
		{"escape then wildcard", topic + "$(*)*", topic + "*abc", Context{}, true},
		{"escape then wildcard needs star", topic + "$(*)*", topic + "abc", Context{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchResource(tt.pattern, tt.resource, tt.ctx); got != tt.want {
				t.Errorf("MatchResource(%q, %q) = %v, want %v", tt.pattern, tt.resource, got, tt.want)
			}
		})
	}
}

func TestMatchAction(t *testing.T) {
	tests := []struct {
		pattern, action string
		want            bool
	}{
		{"iot:Publish", "iot:Publish", true},
		{"iot:publish", "iot:Publish", true},
		{"IOT:PUBLISH", "iot:publish", true},
		{"iot:*", "iot:Subscribe", true},
		{"*", "iot:Connect", true},
		{"iot:Pub*", "iot:Publish", true},
		{"iot:pub*", "iot:Publish", true},
		{"iot:Pub*", "iot:Receive", false},
		{"iot:Publish", "iot:RetainPublish", false},
		{"iot:*Publish", "iot:RetainPublish", true},
		{"iot:Rec?ive", "iot:Receive", true},
		{"iot:Publish", "iot:Publish2", false},
		{"s3:*", "iot:Publish", false},
	}
	for _, tt := range tests {
		if got := MatchAction(tt.pattern, tt.action); got != tt.want {
			t.Errorf("MatchAction(%q, %q) = %v, want %v", tt.pattern, tt.action, got, tt.want)
		}
	}
}

func TestEscape(t *testing.T) {
	for _, s := range []string{"a/*", "a?b", "$aws/x", "${iot:ClientId}", "$(*)", "plain/+/#", ""} {
		p := Escape(s)
		if !MatchResource(p, s, Context{ClientID: "c"}) {
			t.Errorf("Escape(%q) = %q does not match %q", s, p, s)
		}
		if s != "" && MatchResource(p, s+"x", Context{}) {
			t.Errorf("Escape(%q) = %q matches %q", s, p, s+"x")
		}
	}
}
