package bench

import (
	"bytes"
	"context"
	"testing"

	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/mochi-mqtt/server/v2/packets"
)

// userpassHook lets in only bench/secret.
type userpassHook struct{ broker.HookBase }

func (h *userpassHook) ID() string { return "userpass" }
func (h *userpassHook) Provides(b byte) bool {
	return bytes.IndexByte([]byte{broker.OnConnectAuthenticate, broker.OnACLCheck}, b) >= 0
}
func (h *userpassHook) OnConnectAuthenticate(_ *broker.Client, pk packets.Packet) bool {
	return string(pk.Connect.Username) == "bench" && string(pk.Connect.Password) == "secret"
}
func (h *userpassHook) OnACLCheck(*broker.Client, string, bool) bool { return true }

// bench goes through auth.New, so any method works; userpass here.
func TestUserpassAuth(t *testing.T) {
	url := startBroker(t, &userpassHook{})
	st := testSettings(url)
	st.Auth, st.Username, st.Password = "userpass", "bench", "secret"
	cfg := Config{Mode: Roundtrip, Publishers: 2, Subscribers: 1, Size: 64, Count: 500}
	checkExact(t, runBench(t, cfg, dialerFor(t, st)), cfg)

	st.Password = "wrong"
	b, err := New(Config{Mode: Roundtrip, Publishers: 2, Subscribers: 1, Size: 64, Count: 500, RunID: "bad"}, Target{}, dialerFor(t, st), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Run(context.Background())
	if errs.KindOf(err) != errs.Refused {
		t.Errorf("bad password: %v (kind %v), want refused", err, errs.KindOf(err))
	}
}
