package session

import (
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/mochi-mqtt/server/v2/packets"
)

// fnHook is a broker hook made of the functions that are set; acl also
// decides the filters of a SUBSCRIBE (write false).
type fnHook struct {
	broker.HookBase
	onConnect func(cl *broker.Client, pk packets.Packet) error
	auth      func(cl *broker.Client, pk packets.Packet) bool
	acl       func(cl *broker.Client, topic string, write bool) bool
	onPublish func(cl *broker.Client, pk packets.Packet) (packets.Packet, error)
}

func (h *fnHook) ID() string { return "session-test" }

func (h *fnHook) Provides(b byte) bool {
	switch b {
	case broker.OnConnect:
		return h.onConnect != nil
	case broker.OnConnectAuthenticate:
		return h.auth != nil
	case broker.OnACLCheck, broker.OnSubscribe:
		return h.acl != nil
	case broker.OnPublish:
		return h.onPublish != nil
	}
	return false
}

func (h *fnHook) OnConnect(cl *broker.Client, pk packets.Packet) error { return h.onConnect(cl, pk) }
func (h *fnHook) OnConnectAuthenticate(cl *broker.Client, pk packets.Packet) bool {
	return h.auth(cl, pk)
}
func (h *fnHook) OnACLCheck(cl *broker.Client, topic string, write bool) bool {
	return h.acl(cl, topic, write)
}
func (h *fnHook) OnSubscribe(cl *broker.Client, pk packets.Packet) packets.Packet {
	for i, f := range pk.Filters {
		if !h.acl(cl, f.Filter, false) {
			pk.ReasonCodes[i] = packets.ErrNotAuthorized.Code
		}
	}
	return pk
}
func (h *fnHook) OnPublish(cl *broker.Client, pk packets.Packet) (packets.Packet, error) {
	return h.onPublish(cl, pk)
}
