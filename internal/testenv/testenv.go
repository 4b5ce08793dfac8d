// Package testenv holds what many packages' tests need: settings parsed the
// way the root command parses them, an embedded broker on a free loopback
// port, and a buffer safe to share with a session's goroutines.
package testenv

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/pflag"
)

// Settings resolves settings from command-line args (no profile store), as
// the root command would, with the same flag spellings.
func Settings(t testing.TB, args ...string) *profile.Settings {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.SetNormalizeFunc(cmdutil.NormalizeFlag)
	cmdutil.AddSettingsFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	st, err := profile.Resolve(fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// StartBroker runs the embedded broker (on 127.0.0.1:0 unless opts say
// otherwise) until the test ends. IOTCTL_TEST_BROKER_LOG=1 shows its log.
func StartBroker(t testing.TB, opts broker.Options) *broker.Broker {
	t.Helper()
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.Logger == nil && os.Getenv("IOTCTL_TEST_BROKER_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	b, err := broker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
