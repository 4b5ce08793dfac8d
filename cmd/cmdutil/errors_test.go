package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/iotctl/iotctl/internal/shutdown"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain", errors.New("boom"), 1},
		{"usage", errs.Usagef("bad"), 2},
		{"wrapped usage", fmt.Errorf("pub: %w", errs.Usagef("bad")), 2},
		{"connect", errs.Connectf("dial"), 3},
		{"refused", errs.Refusedf("0x87"), 4},
		{"timeout", errs.Timeoutf("-W"), 5},
		{"incomplete", errs.Incompletef("3 unacked"), 6},
		{"interrupted", errs.New(errs.Interrupted, errors.New("signal")), 130},
		{"canceled", context.Canceled, 130},
		{"profile not found", fmt.Errorf("x: %w", profile.ErrNotFound), 2},
		{"invalid value", fmt.Errorf("%w \"x\"", profile.ErrInvalidValue), 2},
		{"unknown key", profile.ErrUnknownKey, 2},
		{"cobra unknown command", errors.New(`unknown command "frob" for "iotctl"`), 2},
		{"cobra args", errors.New("accepts 1 arg(s), received 2"), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.err); got != tt.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestMessageIsOneLine(t *testing.T) {
	got := Message(errors.New("connect to x:1883:\nrefused\n"))
	if got != "iotctl: connect to x:1883: refused" {
		t.Fatalf("Message = %q", got)
	}
}

func TestDurationFlagFormat(t *testing.T) {
	for d, want := range map[string]string{"60": "1m", "45": "45s", "5m": "5m", "1h": "1h", "90s": "1m30s", "0": "0s", "1500ms": "1.5s"} {
		var v durationValue
		if err := v.Set(d); err != nil {
			t.Fatal(err)
		}
		if v.String() != want {
			t.Errorf("%s → %s, want %s", d, v.String(), want)
		}
	}
}

func TestInterrupted(t *testing.T) {
	signalled, cancel := context.WithCancelCause(context.Background())
	cancel(&shutdown.Signal{Sig: syscall.SIGTERM})
	plain, cancelPlain := context.WithCancel(context.Background())
	cancelPlain()
	running := context.Background()
	connect := errs.Connectf("connect to x: refused")
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want string
		code int
	}{
		{"signal", signalled, context.Canceled, "interrupted by SIGTERM", 130},
		{"wrapped", signalled, fmt.Errorf("connect client c1: %w", context.Canceled), "interrupted by SIGTERM", 130},
		{"plain cancel", plain, context.Canceled, "interrupted", 130},
		{"described already", signalled, errs.Incompletef("interrupted: 3 messages not acknowledged"), "interrupted: 3 messages not acknowledged", 6},
		{"other error", signalled, connect, "connect to x: refused", 3},
		{"not cancelled", running, context.Canceled, "context canceled", 130},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Interrupted(tt.ctx, tt.err)
			if got.Error() != tt.want || ExitCode(got) != tt.code {
				t.Errorf("Interrupted = %q (exit %d), want %q (exit %d)", got, ExitCode(got), tt.want, tt.code)
			}
		})
	}
	if Interrupted(signalled, nil) != nil {
		t.Error("nil became an error")
	}
}
