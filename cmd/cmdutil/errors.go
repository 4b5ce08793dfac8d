package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/iotctl/iotctl/pkg/esc"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

// Exit codes of CLI.md, the one table. `iotctl help exit-codes` prints it.
var ExitCodes = []struct {
	Code    int
	Kind    errs.Kind
	Meaning string
}{
	{0, -1, "success"},
	{1, errs.Unexpected, "unexpected error; also: iotctl broker did not stop cleanly within 2 s of SIGINT/SIGTERM, or a command had not stopped 2.6 s after the signal"},
	{2, errs.Usage, "usage: bad flag, value, topic, profile or file"},
	{3, errs.Connect, "could not connect: DNS, TCP, TLS handshake, proxy (incl. 407), websocket upgrade failing other than 401/403, timeout"},
	{4, errs.Refused, "refused by the broker: CONNACK/SUBACK/PUBACK reason code >= 0x80, or 401/403 at the websocket upgrade"},
	{5, errs.Timeout, "sub timed out (-W) before -C messages arrived; req before -C responses; pubsub did not receive all"},
	{6, errs.Incomplete, "incomplete delivery: QoS>=1 messages left unacknowledged at exit (count reported)"},
	{7, errs.Output, "output could not be written (disk full, I/O error): messages received but not written were not acknowledged (count reported)"},
	{130, errs.Interrupted, "interrupted (SIGINT/SIGTERM) after a clean DISCONNECT, within 3 s of the signal whatever the peer does; at once on a second signal"},
	{141, errs.BrokenPipe, "stdout closed (its reader went away, as head does): quietly, as after SIGPIPE; messages not written were not acknowledged"},
}

// ExitCode maps an error to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	kind := Classify(err)
	for _, e := range ExitCodes {
		if e.Kind == kind {
			return e.Code
		}
	}
	return 1
}

// Classify finds an error's kind, including errors of packages that do not
// know about errs (profile sentinels, flag parsing, cancellation).
func Classify(err error) errs.Kind {
	if k := errs.KindOf(err); k != errs.Unexpected {
		return k
	}
	switch {
	case errors.Is(err, profile.ErrNotFound), errors.Is(err, profile.ErrInvalidName),
		errors.Is(err, profile.ErrUnknownKey), errors.Is(err, profile.ErrMalformed),
		errors.Is(err, profile.ErrInvalidValue):
		return errs.Usage
	case errors.Is(err, context.Canceled):
		return errs.Interrupted
	}
	// Cobra's own argument errors are plain errors.
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "invalid argument", "flag needs an argument", "if any flags in the group"} {
		if strings.Contains(msg, p) {
			return errs.Usage
		}
	}
	return errs.Unexpected
}

// FlagError makes a flag-parsing error a usage error.
func FlagError(err error) error { return errs.New(errs.Usage, err) }

// Message is the one line printed for an error: "iotctl: …". Errors carry
// text from brokers and files: control characters are escaped (a newline
// becomes a space), so an error is one line that cannot drive the terminal,
// and a URL in it (one a library echoed back) has its password masked.
func Message(err error) string {
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
	return fmt.Sprintf("iotctl: %s", esc.String(profile.MaskURLs(msg)))
}

// Interrupted describes err as the interruption it is when ctx was
// cancelled (by a signal: "interrupted by SIGTERM") and err is the bare
// cancellation; other errors are returned as they are.
func Interrupted(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil || !errors.Is(err, context.Canceled) || errs.KindOf(err) != errs.Unexpected {
		return err
	}
	cause := context.Cause(ctx)
	if cause == nil || cause == context.Canceled {
		cause = errors.New("interrupted")
	}
	return errs.New(errs.Interrupted, cause)
}
