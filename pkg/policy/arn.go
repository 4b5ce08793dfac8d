package policy

import "strings"

// Resource kinds of AWS IoT data-plane ARNs.
const (
	KindClient      = "client"
	KindTopic       = "topic"
	KindTopicFilter = "topicfilter"
	KindThing       = "thing"
)

var kinds = []string{KindClient, KindTopic, KindTopicFilter, KindThing}

// ActionInfo is an AWS IoT data-plane action and the kind of resource IoT
// checks it against ("" when the action takes no specific resource).
type ActionInfo struct {
	Name string
	Kind string
}

// Actions are the data-plane actions iotctl knows, MQTT ones first.
var Actions = []ActionInfo{
	{"iot:Connect", KindClient},
	{"iot:Publish", KindTopic},
	{"iot:Receive", KindTopic},
	{"iot:RetainPublish", KindTopic},
	{"iot:Subscribe", KindTopicFilter},
	{"iot:GetRetainedMessage", KindTopic},
	{"iot:ListRetainedMessages", ""},
	{"iot:GetThingShadow", KindThing},
	{"iot:UpdateThingShadow", KindThing},
	{"iot:DeleteThingShadow", KindThing},
	{"iot:ListNamedShadowsForThing", KindThing},
}

// LookupAction finds an action by name, case-insensitively (as IoT does).
func LookupAction(name string) (ActionInfo, bool) {
	for _, a := range Actions {
		if strings.EqualFold(a.Name, name) {
			return a, true
		}
	}
	return ActionInfo{}, false
}

// ARN is the ARN of an AWS IoT resource: kind is client, topic,
// topicfilter or thing. The partition follows the region (aws-cn for
// cn-*, aws-us-gov for us-gov-*, else aws).
func ARN(region, account, kind, name string) string {
	return arn(partitionOf(region), region, account, kind, name)
}

func arn(partition, region, account, kind, name string) string {
	return "arn:" + partition + ":iot:" + region + ":" + account + ":" + kind + "/" + name
}

func partitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	}
	return "aws"
}

// ExpandResource turns a short resource (topic/a/b, topicfilter/a/+,
// client/x, thing/t) into a full ARN. A full arn:… ARN, and anything it
// does not recognise, comes back unchanged.
func ExpandResource(short, region, account string) string {
	if strings.HasPrefix(short, "arn:") {
		return short
	}
	kind, name, ok := strings.Cut(short, "/")
	if !ok {
		return short
	}
	for _, k := range kinds {
		if k == kind {
			return ARN(region, account, kind, name)
		}
	}
	return short
}

// ResourceARN is an AWS IoT ARN split into its parts.
type ResourceARN struct {
	Partition, Region, Account, Kind, Name string
}

// ParseARN splits arn:PARTITION:iot:REGION:ACCOUNT:KIND/NAME; the name
// may contain colons and slashes.
func ParseARN(s string) (ResourceARN, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iot" {
		return ResourceARN{}, false
	}
	kind, name, ok := strings.Cut(parts[5], "/")
	if !ok {
		return ResourceARN{}, false
	}
	return ResourceARN{Partition: parts[1], Region: parts[3], Account: parts[4], Kind: kind, Name: name}, true
}

// String is the ARN.
func (r ResourceARN) String() string {
	return arn(r.Partition, r.Region, r.Account, r.Kind, r.Name)
}
