package jobs

import (
	"regexp"
	"sync"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/cobra"
)

var (
	thingRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`) })
	jobIDRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`) })
)

// ThingName is the thing-name setting, else the client ID when one was set;
// a usage error otherwise, or when the name is not one AWS IoT allows.
func ThingName(st *profile.Settings) (string, error) {
	name, from := st.ThingName, "--thing"
	if name == "" && st.IsSet("client-id") {
		name, from = st.ClientID, "the client ID"
	}
	if name == "" {
		return "", errs.Usagef("no thing name: give --thing NAME or set thing-name in the profile (or set --client-id to the thing name)")
	}
	if !thingRE().MatchString(name) {
		return "", errs.Usagef("thing name %q (%s): a thing name is 1 to 128 characters of a-z A-Z 0-9 : _ -", name, from)
	}
	return name, nil
}

// checkJobID checks a job ID as AWS IoT does.
func checkJobID(id string) error {
	if !jobIDRE().MatchString(id) {
		return errs.Usagef("job ID %q: a job ID is 1 to 64 characters of a-z A-Z 0-9 _ -", id)
	}
	return nil
}

// oneJobID is the Args check of describe and update.
func oneJobID(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return errs.Usagef("jobs %s: give one job ID, e.g. iotctl jobs %s fw-42 --thing sensor-7", cmd.Name(), cmd.Name())
	}
	return nil
}
