package broker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/clitest"
	embedded "github.com/iotctl/iotctl/pkg/broker"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestListenersJSON checks -o json's listener lines against
// testdata/listeners.json: one compact object per line.
func TestListenersJSON(t *testing.T) {
	ls := []embedded.Listener{
		{Scheme: embedded.MQTT, Addr: "127.0.0.1:1883"},
		{Scheme: embedded.MQTTS, Addr: "127.0.0.1:8883"},
		{Scheme: embedded.WS, Addr: "[::1]:8080"},
		{Scheme: embedded.WSS, Addr: "127.0.0.1:8443"},
	}
	for _, format := range []string{"text", "json"} {
		ios, _, out, _ := cmdutil.Test()
		if err := printListeners(&Options{IO: ios, Output: format}, ls); err != nil {
			t.Fatal(err)
		}
		golden(t, "listeners."+format, out.String())
	}
}

// TestRunJSON runs the broker with -o json: each line names a listener
// that accepts connections; cancelling still exits 0.
func TestRunJSON(t *testing.T) {
	t.Setenv("IOTCTL_HOME", t.TempDir())
	ios, _, _, _ := cmdutil.Test()
	outR, outW := io.Pipe()
	ios.Out = outW
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- brokerRun(ctx, &Options{IO: ios, Output: "json", Listen: "127.0.0.1:0", WSListen: "127.0.0.1:0"})
		outW.Close()
	}()
	sc := bufio.NewScanner(outR)
	for _, scheme := range []string{"mqtt", "ws"} {
		if !sc.Scan() {
			t.Fatalf("no line for %s: %v", scheme, <-done)
		}
		var l listener
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil || l.Scheme != scheme || l.URL != scheme+"://"+l.Address {
			t.Fatalf("line %s: %+v, %v", sc.Bytes(), l, err)
		}
		c, err := net.DialTimeout("tcp", l.Address, wait)
		if err != nil {
			t.Fatalf("dial %s: %v", l.Address, err)
		}
		c.Close()
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after cancel: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("broker did not stop")
	}
	if sc.Scan() {
		t.Errorf("unexpected line %q", sc.Text())
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	clitest.Golden(t, name, got, *update)
}
