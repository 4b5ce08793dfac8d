package broker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/errs"
)

const wait = 30 * time.Second

func TestFlags(t *testing.T) {
	tests := []struct {
		args []string
		want Options
	}{
		{nil, Options{Listen: "127.0.0.1:1883"}},
		{
			[]string{"--listen", "", "--tls-listen", ":8883", "--tls-cert", "s.pem", "--tls-key", "s.key", "--client-ca", "ca.pem", "--ws-listen", ":8080", "--wss-listen", ":8443"},
			Options{TLSListen: ":8883", TLSCert: "s.pem", TLSKey: "s.key", ClientCA: "ca.pem", WSListen: ":8080", WSSListen: ":8443"},
		},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Setenv("IOTCTL_HOME", t.TempDir())
			t.Setenv("IOTCTL_VERBOSE", "true")
			ios, _, _, _ := cmdutil.Test()
			var got *Options
			cmd := NewCmdBroker(cmdutil.NewFactory(ios, "test"), func(_ context.Context, o *Options) error {
				got = o
				return nil
			})
			cmd.SetArgs(tt.args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			tt.want.IO, tt.want.Verbose, tt.want.Output = ios, true, "text"
			if *got != tt.want {
				t.Errorf("options %+v, want %+v", *got, tt.want)
			}
		})
	}
}

// TestRun starts the command on four port-0 listeners, publishes through
// two of them, and stops it by cancelling its context.
func TestRun(t *testing.T) {
	home := t.TempDir()
	t.Setenv("IOTCTL_HOME", home)
	t.Setenv("IOTCTL_VERBOSE", "true")
	ios, _, _, errOut := cmdutil.Test()
	outR, outW := io.Pipe()
	ios.Out = outW
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	cmd := NewCmdBroker(cmdutil.NewFactory(ios, "test"), nil)
	cmd.SetArgs([]string{"--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0", "--ws-listen", "127.0.0.1:0", "--wss-listen", "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	urls := map[string]string{}
	for _, scheme := range []string{"mqtt", "mqtts", "ws", "wss"} {
		var line string
		select {
		case line = <-lines:
		case err := <-done:
			t.Fatalf("command ended: %v", err)
		case <-time.After(wait):
			t.Fatal("no listening line")
		}
		url, ok := strings.CutPrefix(line, "listening "+scheme+"://127.0.0.1:")
		if !ok || url == "" || url == "0" {
			t.Fatalf("line %q, want listening %s://127.0.0.1:<port>", line, scheme)
		}
		urls[scheme] = url
	}

	// Retained over TLS with the generated CA, read back over plain TCP.
	ca := filepath.Join(home, "broker", "ca.pem")
	mosquitto(t, "mosquitto_pub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", urls["mqtts"], "--cafile", ca, "-t", "cmd/test", "-m", "hello", "-r", "-q", "1")
	if got := mosquitto(t, "mosquitto_sub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", urls["mqtt"], "-t", "cmd/test", "-C", "1", "-W", "30"); got != "hello\n" {
		t.Errorf("received %q, want hello", got)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after cancel: %v, want nil", err)
		}
	case <-time.After(wait):
		t.Fatal("command did not return after cancel")
	}
	outW.Close()
	for extra := range lines {
		t.Errorf("unexpected stdout line %q", extra)
	}
	stderr := errOut.String()
	if want := "iotctl broker: CA certificate: " + ca + " (use --ca-file " + ca + ")\n"; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if !strings.Contains(stderr, `msg="client connected"`) {
		t.Errorf("-v: stderr lacks connection lines:\n%s", stderr)
	}
}

func TestPortInUse(t *testing.T) {
	t.Setenv("IOTCTL_HOME", t.TempDir())
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	ios, _, out, _ := cmdutil.Test()
	err = brokerRun(context.Background(), &Options{IO: ios, Listen: "127.0.0.1:0", WSListen: taken.Addr().String()})
	if cmdutil.ExitCode(err) != 2 {
		t.Fatalf("exit code %d (%v), want 2", cmdutil.ExitCode(err), err)
	}
	for _, want := range []string{taken.Addr().String(), "--ws-listen 127.0.0.1:0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q, want nothing", out.String())
	}
}

func TestUsageErrors(t *testing.T) {
	t.Setenv("IOTCTL_HOME", t.TempDir())
	ios, _, _, _ := cmdutil.Test()
	err := brokerRun(context.Background(), &Options{IO: ios, TLSListen: "127.0.0.1:0", TLSCert: "server.pem"})
	if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "--tls-key") {
		t.Fatalf("got %v, want a usage error naming --tls-key", err)
	}
	cmd := NewCmdBroker(cmdutil.NewFactory(ios, "test"), nil)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs([]string{"extra"})
	if err := cmd.Execute(); err == nil || cmdutil.ExitCode(err) != 2 {
		t.Fatalf("extra argument: %v, want a usage error", err)
	}
}

// mosquitto runs a mosquitto client and returns its stdout.
func mosquitto(t *testing.T, program string, args ...string) string {
	t.Helper()
	path := testpeer.Require(t, program)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var stderr strings.Builder
	c := exec.CommandContext(ctx, path, args...)
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		var ee *exec.ExitError
		errors.As(err, &ee)
		t.Fatalf("%s %v: %v\n%s", program, args, err, stderr.String())
	}
	return string(out)
}
