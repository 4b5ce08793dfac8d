package gen

import (
	"strings"

	"github.com/iotctl/iotctl/pkg/policy"
	"github.com/spf13/pflag"
)

// addJobsFlag registers --jobs.
func addJobsFlag(fl *pflag.FlagSet, opts *Options) {
	fl.BoolVar(&opts.Jobs, "jobs", false, "allow the AWS IoT Jobs MQTT API of the device's own thing (iotctl jobs)")
}

// jobsHelp is --jobs in the long help.
const jobsHelp = `

--jobs allows what 'iotctl jobs' (and the AWS IoT Device SDKs' jobs
clients) need for the device's own thing: iot:Publish on
$aws/things/<thing>/jobs/get, .../start-next, .../*/get and .../*/update,
iot:Subscribe and iot:Receive on .../notify-next, .../notify, .../*/accepted
and .../*/rejected. The thing is NAME with --thing NAME,
${iot:Connection.Thing.ThingName} with --thing, else ${iot:ClientId} (the
jobs commands' thing name defaults to the client ID).`

// addJobs adds the Jobs topics of the connecting thing to gen.
func addJobs(opts *Options, gen *policy.GenOptions) {
	if !opts.Jobs {
		return
	}
	thing := "${iot:ClientId}"
	switch {
	case opts.ThingName != "":
		thing = opts.ThingName
	case opts.Thing:
		thing = thingVariable
	}
	base := "$aws/things/" + thing + "/jobs/"
	gen.Publish = append(gen.Publish, base+"get", base+"start-next", base+"*/get", base+"*/update")
	gen.Subscribe = append(gen.Subscribe, base+"notify-next", base+"notify", base+"*/accepted", base+"*/rejected")
}

// jobsNotes replaces the notes on the * of each jobs topic with one.
func jobsNotes(opts *Options, notes []string) []string {
	if !opts.Jobs {
		return notes
	}
	out := []string{"--jobs: the * in .../jobs/*/... stands for the job ID"}
	for _, n := range notes {
		if !strings.HasPrefix(n, "$aws/things/") || !strings.Contains(n, "/jobs/*/") {
			out = append(out, n)
		}
	}
	return out
}
