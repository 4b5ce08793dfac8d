package jobs

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/broker"
)

func TestMain(m *testing.M) { os.Exit(clitest.Main(m)) }

type runResult struct {
	out, errOut string
	err         error
}

func (r runResult) code() int { return cmdutil.ExitCode(r.err) }

// run executes `iotctl jobs <args>` in-process.
func run(t *testing.T, args ...string) runResult {
	t.Helper()
	t.Setenv("IOTCTL_HOME", t.TempDir())
	out, errOut := &bytes.Buffer{}, &testenv.SyncBuffer{}
	ios := &cmdutil.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
	f := cmdutil.NewFactory(ios, "test")
	root := clitest.Root(NewCmdJobs(f), out, errOut)
	root.SetArgs(append([]string{"jobs"}, args...))
	err := root.Execute()
	return runResult{out.String(), errOut.String(), err}
}

// world is a plain broker with the fake Jobs service.
type world struct {
	b    *broker.Broker
	jobs *fakeJobs
}

func newWorld(t *testing.T) *world {
	t.Helper()
	b := testenv.StartBroker(t, broker.Options{})
	return &world{b: b, jobs: startFake(t, b)}
}

func (w *world) endpoint() string { return w.b.URL("mqtt") }
