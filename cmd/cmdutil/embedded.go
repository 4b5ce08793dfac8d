package cmdutil

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/iotctl/iotctl/internal/shutdown"
)

// embeddedCloseTimeout bounds closing an in-process broker when no signal
// hurries it.
const embeddedCloseTimeout = 5 * time.Second

// CloseEmbedded closes the broker a command started in-process (pubsub,
// bench) without letting it hold the exit: at most embeddedCloseTimeout,
// and after a signal (ctx cancelled) by shutdown.Budget after it. When the
// broker does not stop in time, it says so on errOut and returns; the
// process exits with the broker still closing.
func CloseEmbedded(ctx context.Context, b io.Closer, errOut io.Writer) {
	cctx, cancel := shutdown.Context(ctx, embeddedCloseTimeout, shutdown.Budget)
	defer cancel()
	start := time.Now()
	if ok, _ := shutdown.Wait(cctx, b.Close); !ok {
		fmt.Fprintf(errOut, "iotctl: warning: the embedded broker did not stop in time (waited %s): exiting anyway\n", time.Since(start).Round(100*time.Millisecond))
	}
}
