package session

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// fnHook is a mochi hook made of the functions that are set.
type fnHook struct {
	mqtt.HookBase
	onConnect func(cl *mqtt.Client, pk packets.Packet) error
	auth      func(cl *mqtt.Client, pk packets.Packet) bool
	acl       func(cl *mqtt.Client, topic string, write bool) bool
	onPublish func(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error)
}

func (h *fnHook) ID() string { return "session-test" }

func (h *fnHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect:
		return h.onConnect != nil
	case mqtt.OnConnectAuthenticate:
		return h.auth != nil
	case mqtt.OnACLCheck:
		return h.acl != nil
	case mqtt.OnPublish:
		return h.onPublish != nil
	}
	return false
}

func (h *fnHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error { return h.onConnect(cl, pk) }
func (h *fnHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	return h.auth(cl, pk)
}
func (h *fnHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	return h.acl(cl, topic, write)
}
func (h *fnHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	return h.onPublish(cl, pk)
}
