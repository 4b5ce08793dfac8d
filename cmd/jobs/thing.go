package jobs

import (
	"regexp"
	"sync"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/spf13/cobra"
)

var (
	jobIDRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`) })
)

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
