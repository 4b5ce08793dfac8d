package broker

import (
	"bytes"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// addHooks adds the logging hook, the caller's hooks, and open access for
// whatever step none of them decides: mochi refuses a client unless some
// hook approves, and the embedded broker's default world is open.
func (b *Broker) addHooks() error {
	if b.opts.Verbose {
		if err := b.server.AddHook(&logHook{conns: b.conns}, nil); err != nil {
			return err
		}
	}
	var open openHook
	open.auth, open.acl = true, true
	for _, h := range b.opts.Hooks {
		if err := b.server.AddHook(h, nil); err != nil {
			return err
		}
		if h.Provides(mqtt.OnConnectAuthenticate) {
			open.auth = false
		}
		if h.Provides(mqtt.OnACLCheck) {
			open.acl = false
		}
	}
	if open.auth || open.acl {
		return b.server.AddHook(&open, nil)
	}
	return nil
}

// openHook allows every client (auth) and every topic (acl), like
// mochi's auth.AllowHook, but only for the steps no other hook decides.
type openHook struct {
	mqtt.HookBase
	auth, acl bool
}

func (h *openHook) ID() string { return "iotctl-open-access" }

func (h *openHook) Provides(b byte) bool {
	return (b == mqtt.OnConnectAuthenticate && h.auth) || (b == mqtt.OnACLCheck && h.acl)
}

func (h *openHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }
func (h *openHook) OnACLCheck(*mqtt.Client, string, bool) bool              { return true }

// logHook logs sessions as they start and end (Options.Verbose).
type logHook struct {
	mqtt.HookBase
	conns *connLog
}

func (h *logHook) ID() string { return "iotctl-log" }

func (h *logHook) Provides(b byte) bool {
	return bytes.IndexByte([]byte{mqtt.OnSessionEstablished, mqtt.OnDisconnect}, b) >= 0
}

func (h *logHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.conns.established(cl)
}

func (h *logHook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	h.conns.disconnected(cl, err)
}
