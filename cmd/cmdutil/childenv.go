package cmdutil

import "strings"

// ChildEnv is the environment of a command iotctl runs for a peer (reply's
// COMMAND, jobs run's): env without iotctl's own IOTCTL_* settings (the
// password among them), then extra.
func ChildEnv(env []string, extra ...string) []string {
	out := make([]string, 0, len(env)+len(extra))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "IOTCTL_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}
