package broker

import (
	"bytes"

	"github.com/mochi-mqtt/server/v2/packets"
)

// addHooks adds the logging hook and the caller's hooks. With none, every
// client is allowed everything: the embedded broker's default world is open.
func (b *Broker) addHooks() {
	if b.opts.Verbose {
		b.server.hooks.add(&logHook{conns: b.conns})
	}
	for _, h := range b.opts.Hooks {
		b.server.hooks.add(h)
		if bh, ok := h.(Binder); ok {
			bh.Bind(b)
		}
	}
}

// logHook logs sessions as they start and end (Options.Verbose).
type logHook struct {
	HookBase
	conns *connLog
}

func (h *logHook) ID() string { return "iotctl-log" }

func (h *logHook) Provides(b byte) bool {
	return bytes.IndexByte([]byte{OnSessionEstablished, OnDisconnect}, b) >= 0
}

func (h *logHook) OnSessionEstablished(cl *Client, _ packets.Packet) {
	h.conns.established(cl)
}

func (h *logHook) OnDisconnect(cl *Client, err error, _ bool) {
	h.conns.disconnected(cl, err)
}
