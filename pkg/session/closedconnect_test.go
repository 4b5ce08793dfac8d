package session

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/internal/fakepeer"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/errs"
)

// A broker that reads the CONNECT and closes without a CONNACK (what some
// 3.1.1-only brokers do with an MQTT 5 CONNECT) gets an error that says to
// try --mqtt-version 3.1.1; under 3.1.1 the hint is left out.
func TestClosedBeforeConnackHint(t *testing.T) {
	for _, tc := range []struct {
		args []string
		hint bool
	}{{nil, true}, {[]string{"-V", "3.1.1"}, false}} {
		srv := fakepeer.ServeOne(t, func(c net.Conn) {
			_, _ = packets.ReadPacket(bufio.NewReader(c))
			c.Close()
		})
		st := testenv.Settings(t, append([]string{"--endpoint", srv.Addr()}, tc.args...)...)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := Connect(ctx, Options{Settings: st, Provider: testProvider(t, st)})
		cancel()
		if errs.KindOf(err) != errs.Connect || err == nil || !strings.Contains(err.Error(), "closed the connection before CONNACK") {
			t.Fatalf("%q: err = %v (kind %v)", tc.args, err, errs.KindOf(err))
		}
		if got := strings.Contains(err.Error(), "--mqtt-version 3.1.1"); got != tc.hint {
			t.Errorf("%q: %v: hint %t, want %t", tc.args, err, got, tc.hint)
		}
	}
}
