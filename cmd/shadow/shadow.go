// Package shadow is `iotctl shadow get|update|delete|watch`: the device
// side of the AWS IoT Device Shadow service over MQTT, every request
// through pkg/iotsvc (reply topics subscribed before the request, a client
// token per request, a deadline).
package shadow

import (
	"fmt"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/iotsvc"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/cobra"
)

// NewCmdShadow returns `iotctl shadow` with its subcommands.
func NewCmdShadow(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "shadow <command>",
		Short: "Get, update, delete and watch a thing's Device Shadow",
		Long: `Talk to the AWS IoT Device Shadow service over MQTT, as the device does:
get, update and delete a thing's classic shadow or a named one (--name), and
watch its update/delta or update/documents stream.

The thing is --thing (or --thing-name, IOTCTL_THING_NAME, the profile's
thing-name), else the client ID when one is set (--client-id, the common
convention on AWS IoT Core). Thing names are 1 to 128 and shadow names 1 to
64 characters of a-z A-Z 0-9 : _ -; anything else is refused before
connecting.

Every request subscribes to its accepted and rejected topics before it is
published, carries a fresh clientToken and takes only the reply that echoes
it. Results are JSON (-o json is the default of these commands; -o text is
a readable form). A rejection exits 4 naming the service's code and message;
no answer within --timeout exits 5.

The policy these commands need: iotctl policy gen --shadow --thing.
Offline, 'iotctl broker --iot' runs the Shadow service.`,
		Example: `  iotctl shadow get --thing sensor-7
  iotctl shadow update --thing sensor-7 --desired '{"color":"red"}'
  iotctl shadow watch --thing sensor-7 --delta
  iotctl shadow delete --thing sensor-7 --name config`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return errs.Usagef("unknown command %q for %q: run '%s --help'", args[0], cmd.CommandPath(), cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		NewCmdGet(f, nil),
		NewCmdUpdate(f, nil),
		NewCmdDelete(f, nil),
		NewCmdWatch(f, nil),
	)
	return cmd
}

// Common are the settings and flags every shadow subcommand has.
type Common struct {
	IO       *cmdutil.IOStreams
	Settings func() (*profile.Settings, error)

	Name    string        // --name: a named shadow; "": the classic shadow
	Timeout time.Duration // --timeout: the request's deadline (watch: the run's)
}

// defaultTimeout bounds a request's wait for its answer.
const defaultTimeout = 10 * time.Second

// addCommon registers --name and the connection settings (with
// thing-name) on cmd.
func addCommon(f *cmdutil.Factory, cmd *cobra.Command, c *Common) {
	c.IO = f.IOStreams
	cmd.Flags().StringVar(&c.Name, "name", "", "the named shadow `NAME` (default: the classic shadow)")
	_ = cmd.RegisterFlagCompletionFunc("name", cobra.NoFileCompletions)
	c.Settings = f.ConnectionSettings(cmd, "thing-name")
}

// target is the shadow a command works on.
type target struct {
	thing, name string
}

// topic is the shadow's topic for an operation (get, update, delete,
// update/delta …).
func (t target) topic(op string) string {
	if t.name == "" {
		return "$aws/things/" + t.thing + "/shadow/" + op
	}
	return "$aws/things/" + t.thing + "/shadow/name/" + t.name + "/" + op
}

// String names the shadow in messages.
func (t target) String() string {
	if t.name == "" {
		return fmt.Sprintf("the classic shadow of %s", t.thing)
	}
	return fmt.Sprintf("shadow %s of %s", t.name, t.thing)
}

// resolve reads the settings and finds the shadow, refusing names the
// service would not take before anything connects.
func (c *Common) resolve() (*profile.Settings, target, error) {
	st, err := c.Settings()
	if err != nil {
		return nil, target{}, err
	}
	thing, err := iotsvc.ThingName(st)
	if err != nil {
		return nil, target{}, err
	}
	if err := iotsvc.CheckName("--name", "shadow name", c.Name, iotsvc.MaxShadowNameBytes); c.Name != "" && err != nil {
		return nil, target{}, err
	}
	if c.Timeout < 0 {
		return nil, target{}, errs.Usagef("--timeout %s: must not be negative", c.Timeout)
	}
	return st, target{thing: thing, name: c.Name}, nil
}

// jsonOutput: -o json unless -o text was asked for (JSON is these
// commands' default).
func jsonOutput(st *profile.Settings) bool {
	return st.Output == cmdutil.FormatJSON || st.Source("output") == profile.FromDefault
}
