package session

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/errs"
)

func portOf(t *testing.T, url string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(url[strings.Index(url, "://")+3:])
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// Every transport goes through an HTTP CONNECT proxy when one is set.
func TestThroughProxy(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{TLSListen: "127.0.0.1:0", WSListen: "127.0.0.1:0", WSSListen: "127.0.0.1:0", Home: t.TempDir()})
	var ports []int
	for _, s := range []string{broker.MQTT, broker.MQTTS, broker.WS, broker.WSS} {
		ports = append(ports, portOf(t, b.URL(s)))
	}
	p := testpeer.StartTinyproxy(t, testpeer.TinyproxyConfig{User: "u", Pass: "pw", ConnectPorts: ports})
	for _, scheme := range []string{broker.MQTT, broker.MQTTS, broker.WS, broker.WSS} {
		t.Run(scheme, func(t *testing.T) {
			args := []string{"--endpoint", b.URL(scheme), "--proxy", "http://u:pw@" + p.Addr()}
			if scheme == broker.MQTTS || scheme == broker.WSS {
				args = append(args, "--ca-file", b.CAFile())
			}
			col := newCollector()
			s := dialSession(t, Options{Handler: col.handle}, args...)
			if _, err := s.Subscribe(context.Background(), []Subscription{{Filter: "p", QoS: 1}}); err != nil {
				t.Fatal(err)
			}
			if err := s.Publish(context.Background(), &Message{Topic: "p", Payload: []byte(scheme), QoS: 1}, nil); err != nil {
				t.Fatal(err)
			}
			col.wait(t, 1, 10*time.Second)
		})
	}
	// Wrong proxy credentials: a connect error (exit 3), password not shown.
	st := testenv.Settings(t, "--endpoint", b.URL(broker.MQTT), "--proxy", "http://u:wrongpass@"+p.Addr(), "--connect-timeout", "5s")
	_, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
	if errs.KindOf(err) != errs.Connect || strings.Contains(err.Error(), "wrongpass") {
		t.Fatalf("bad proxy credentials: %v", err)
	}
	t.Log(err)
}

// A proxy from the environment that fails is named by its variable, not
// --proxy, which the user never gave: unreachable, and a real tinyproxy
// that wants a user and password.
func TestEnvProxyErrorNamesVariable(t *testing.T) {
	noProxyEnv(t)
	dead := "127.0.0.1:" + strconv.Itoa(testpeer.FreePort(t))
	tp := testpeer.StartTinyproxy(t, testpeer.TinyproxyConfig{User: "u", Pass: "pw", ConnectPorts: []int{1883}})
	for _, tc := range []struct {
		name, variable, value, endpoint, want string
	}{
		{"unreachable", "HTTPS_PROXY", "http://" + dead, "mqtts://broker.example.com:8883", "check HTTPS_PROXY"},
		{"unreachable socks", "ALL_PROXY", "socks5h://" + dead, "mqtt://broker.example.com:1883", "check ALL_PROXY"},
		{"auth wanted", "http_proxy", "http://" + tp.Addr(), "mqtt://broker.example.com:1883", "give them in http_proxy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.variable, tc.value)
			err := connectErr(t, "--endpoint", tc.endpoint)
			if errs.KindOf(err) != errs.Connect || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "--proxy") {
				t.Errorf("got %v (kind %v), want a connect error with %q and no --proxy", err, errs.KindOf(err), tc.want)
			}
		})
	}
}
