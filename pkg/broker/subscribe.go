package broker

import (
	"strings"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

func (c *conn) handleSubscribe(pk packets.Packet) error {
	caps := c.srv.caps
	if code := pk.SubscribeValidate(); code != packets.CodeSuccess {
		return violation(code, "SUBSCRIBE: %s", code.Reason)
	}
	if len(pk.Properties.SubscriptionIdentifier) > 0 && caps.NoSubscriptionIDs {
		return violation(packets.ErrSubscriptionIdentifiersNotSupported, "SUBSCRIBE with a subscription identifier: not available")
	}
	pk.ReasonCodes = make([]byte, len(pk.Filters))
	for _, h := range c.srv.hooks.with(OnSubscribe) {
		pk = h.OnSubscribe(c.cl, pk)
	}
	if len(pk.ReasonCodes) != len(pk.Filters) {
		pk.ReasonCodes = append(pk.ReasonCodes, make([]byte, len(pk.Filters))...)[:len(pk.Filters)]
	}
	var retained []delivery
	now := time.Now()
	for i, f := range pk.Filters {
		if pk.ReasonCodes[i] >= 0x80 {
			continue
		}
		// A copy: the filter is kept, the packet body it points into
		// (user properties and all) is not.
		f.Filter = strings.Clone(f.Filter)
		group, filter, shared := splitShare(f.Filter)
		var code byte
		switch {
		case shared && caps.NoShared:
			code = packets.ErrSharedSubscriptionsNotSupported.Code
		case f.RetainHandling > 2:
			return violation(packets.ErrProtocolViolation, "SUBSCRIBE %s with retain handling 3", f.Filter) // a Protocol Error (MQTT 5 §3.8.3.1)
		case shared && f.NoLocal:
			return violation(packets.ErrProtocolViolation, "SUBSCRIBE %s with no local on a shared subscription", f.Filter) // [MQTT-3.8.3-4]
		case shared && (!validShareName(group) || filter == ""), !validFilter(filter):
			code = packets.ErrTopicFilterInvalid.Code
		case caps.NoWildcards && strings.ContainsAny(filter, "+#"):
			code = packets.ErrWildcardSubscriptionsNotSupported.Code
		}
		if code != 0 {
			pk.ReasonCodes[i] = code
			continue
		}
		qos := min(f.Qos, caps.MaximumQoS)
		sub := subscription{filter: f.Filter, group: group, qos: qos, noLocal: f.NoLocal,
			retainAsPub: f.RetainAsPublished, retainHandling: f.RetainHandling, id: f.Identifier}
		ss := c.sess
		ss.mu.Lock()
		_, existed := ss.subs[f.Filter]
		ss.subs[f.Filter] = sub
		ss.mu.Unlock()
		c.srv.topics.add(ss, sub, filter)
		pk.ReasonCodes[i] = qos
		if shared || caps.NoRetain || f.RetainHandling == 2 || (f.RetainHandling == 1 && existed) {
			continue // [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11]
		}
		for _, m := range c.srv.retained.matching(filter, now) {
			d := delivery{msg: m, qos: min(m.qos, qos), retain: true}
			if sub.id > 0 {
				d.subIDs = []int{sub.id}
			}
			retained = append(retained, d)
		}
	}
	if c.version < 5 {
		for i, rc := range pk.ReasonCodes {
			if rc >= 0x80 {
				pk.ReasonCodes[i] = 0x80
			}
		}
	}
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Suback}, PacketID: pk.PacketID, ReasonCodes: pk.ReasonCodes})
	for _, h := range c.srv.hooks.with(OnSubscribed) {
		h.OnSubscribed(c.cl, pk, pk.ReasonCodes)
	}
	acl := c.srv.hooks.with(OnACLCheck)
	for _, d := range retained {
		c.srv.deliver(c.sess, d, acl)
	}
	return nil
}

func (c *conn) handleUnsubscribe(pk packets.Packet) error {
	if code := pk.UnsubscribeValidate(); code != packets.CodeSuccess {
		return violation(code, "UNSUBSCRIBE: %s", code.Reason)
	}
	codes := make([]byte, len(pk.Filters))
	for i, f := range pk.Filters {
		ss := c.sess
		ss.mu.Lock()
		sub, had := ss.subs[f.Filter]
		delete(ss.subs, f.Filter)
		ss.mu.Unlock()
		if !had {
			codes[i] = packets.CodeNoSubscriptionExisted.Code
			continue
		}
		_, filter, _ := splitShare(f.Filter)
		c.srv.topics.remove(ss, sub.group, filter)
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsuback}, PacketID: pk.PacketID}
	if c.version == 5 {
		ack.ReasonCodes = codes
	}
	c.send(ack)
	return nil
}
