package gen

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/pkg/policy"
	"github.com/iotctl/iotctl/pkg/profile"
)

// TestGenJobs checks the --jobs policy against every request the jobs
// commands make, for the device's thing and not another's.
func TestGenJobs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     Options
		settings profile.Settings
		ctx      policy.Context
	}{
		{"client ID", Options{Jobs: true, Account: "123456789012"}, profile.Settings{ClientID: "sensor-7", Region: "us-east-1"},
			policy.Context{ClientID: "sensor-7"}},
		{"thing", Options{Jobs: true, Thing: true, Account: "123456789012"}, profile.Settings{Region: "us-east-1"},
			policy.Context{ClientID: "sensor-7", ThingName: "sensor-7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, err := run(t, tc.opts, tc.settings)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(stderr, "/jobs/*/") != 1 {
				t.Errorf("notes on the jobs topics' *, want one:\n%s", stderr)
			}
			var doc policy.Document
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatal(err)
			}
			ctx := tc.ctx
			ctx.Region, ctx.Account = "us-east-1", "123456789012"
			check := func(action, resource string, want bool) {
				t.Helper()
				if got := policy.Evaluate([]*policy.Document{&doc}, policy.Request{Action: action, Resource: resource, Context: ctx}).Allowed(); got != want {
					t.Errorf("%s %s: allowed %t, want %t", action, resource, got, want)
				}
			}
			check("iot:Connect", "client/sensor-7", true)
			for _, own := range []bool{true, false} {
				base := "$aws/things/sensor-7/jobs/"
				if !own {
					base = "$aws/things/sensor-8/jobs/"
				}
				for _, op := range []string{"get", "start-next", "fw-1/get", "$next/get", "fw-1/update"} {
					check("iot:Publish", "topic/"+base+op, own)
					for _, r := range []string{"/accepted", "/rejected"} {
						check("iot:Subscribe", "topicfilter/"+base+op+r, own)
						check("iot:Receive", "topic/"+base+op+r, own)
					}
				}
				for _, n := range []string{"notify-next", "notify"} {
					check("iot:Subscribe", "topicfilter/"+base+n, own)
					check("iot:Receive", "topic/"+base+n, own)
				}
			}
			check("iot:Publish", "topic/$aws/things/sensor-7/shadow/update", false)
		})
	}
}
