package policy

import "testing"

func TestARN(t *testing.T) {
	tests := []struct {
		region, account, kind, name, want string
	}{
		{"us-east-1", "123456789012", KindTopic, "a/b", "arn:aws:iot:us-east-1:123456789012:topic/a/b"},
		{"eu-west-1", "123456789012", KindTopicFilter, "a/+/#", "arn:aws:iot:eu-west-1:123456789012:topicfilter/a/+/#"},
		{"cn-north-1", "123456789012", KindClient, "c", "arn:aws-cn:iot:cn-north-1:123456789012:client/c"},
		{"us-gov-west-1", "123456789012", KindThing, "t", "arn:aws-us-gov:iot:us-gov-west-1:123456789012:thing/t"},
	}
	for _, tt := range tests {
		if got := ARN(tt.region, tt.account, tt.kind, tt.name); got != tt.want {
			t.Errorf("ARN = %q, want %q", got, tt.want)
		}
	}
}

func TestExpandResource(t *testing.T) {
	tests := []struct{ in, want string }{
		{"topic/a/b", "arn:aws:iot:us-east-1:111122223333:topic/a/b"},
		{"topicfilter/a/+", "arn:aws:iot:us-east-1:111122223333:topicfilter/a/+"},
		{"client/x", "arn:aws:iot:us-east-1:111122223333:client/x"},
		{"thing/t", "arn:aws:iot:us-east-1:111122223333:thing/t"},
		{"topic/", "arn:aws:iot:us-east-1:111122223333:topic/"},
		{"arn:aws:iot:eu-west-1:444455556666:topic/x", "arn:aws:iot:eu-west-1:444455556666:topic/x"},
		{"queue/x", "queue/x"},
		{"a/b", "a/b"},
	}
	for _, tt := range tests {
		if got := ExpandResource(tt.in, "us-east-1", "111122223333"); got != tt.want {
			t.Errorf("ExpandResource(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseARN(t *testing.T) {
	r, ok := ParseARN("arn:aws:iot:us-east-1:123456789012:topic/a:b/c")
	want := ResourceARN{Partition: "aws", Region: "us-east-1", Account: "123456789012", Kind: "topic", Name: "a:b/c"}
	if !ok || r != want || r.String() != "arn:aws:iot:us-east-1:123456789012:topic/a:b/c" {
		t.Errorf("ParseARN = %+v, %v", r, ok)
	}
	for _, bad := range []string{"*", "arn:aws:s3:::b/k", "arn:aws:iot:r:a:topic", "topic/a"} {
		if _, ok := ParseARN(bad); ok {
			t.Errorf("ParseARN(%q) ok", bad)
		}
	}
}

func TestLookupAction(t *testing.T) {
	a, ok := LookupAction("IOT:publish")
	if !ok || a.Name != "iot:Publish" || a.Kind != KindTopic {
		t.Errorf("LookupAction = %+v, %v", a, ok)
	}
	if _, ok := LookupAction("iot:Pub"); ok {
		t.Error("iot:Pub known")
	}
}
