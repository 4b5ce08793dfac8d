package session

import "fmt"

// Outbound MQTT 5 topic aliases (Options.TopicAlias).
//
// The table belongs to one connection and only its writer goroutine uses
// it, at the moment a PUBLISH is encoded: the writer alone knows what the
// broker has already read on this connection, so an alias is used only
// after a PUBLISH that set it went out before it on the same connection.
// A new connection starts with an empty table (MQTT 5 3.3.2.3.4: aliases
// do not outlive their connection), so a message resent after a reconnect,
// DUP or not, carries its topic again and sets the alias anew.

// propTopicAlias is the Topic Alias property identifier.
const propTopicAlias = 0x23

// aliases maps topics to the aliases set on one connection.
type aliases struct {
	max       uint16 // the broker's Topic Alias Maximum on this connection
	maxPacket uint32 // the broker's Maximum Packet Size; 0: none
	byTopic   map[string]uint16
}

// newAliases is the table for a connection whose CONNACK allowed max
// aliases and packets of maxPacket bytes (0: any); nil (no aliases) when
// Options.TopicAlias is off or max is 0.
func (s *Session) newAliases(max uint16, maxPacket uint32) *aliases {
	if !s.o.TopicAlias {
		return nil
	}
	if max == 0 {
		if !s.aliasWarned.Swap(true) && s.o.Warn != nil {
			s.o.Warn(fmt.Sprintf("--topic-alias: the broker at %s allows no topic aliases (Topic Alias Maximum 0): publishing with full topics", s.target))
		}
		return nil
	}
	return &aliases{max: max, maxPacket: maxPacket, byTopic: make(map[string]uint16)}
}

// use returns what a PUBLISH to topic carries: the topic itself, or "" when
// its alias is set on this connection; and the alias, 0 for none. The
// first PUBLISH to a topic sets its alias (topic and alias); once all
// max aliases are taken, further topics go without one.
func (a *aliases) use(topic string) (string, uint16) {
	if a == nil {
		return topic, 0
	}
	if n, ok := a.byTopic[topic]; ok {
		return "", n
	}
	if len(a.byTopic) >= int(a.max) {
		return topic, 0
	}
	n := uint16(len(a.byTopic) + 1)
	a.byTopic[topic] = n
	return topic, n
}

// writePublish encodes it's PUBLISH, with the topic or its alias, and
// counts it (Session.Wire). It returns the topic and alias it carried.
func (c *conn) writePublish(it wItem) (string, uint16) {
	if c.s.cfg.v311 { // 3.1.1 has no topic aliases (the session refuses them)
		n := writePublish311(c.bw, it.m, it.qos, it.id, it.dup)
		c.s.wire.add(n, n)
		return it.m.Topic, 0
	}
	topic, alias := c.aliases.use(it.m.Topic)
	if alias != 0 && c.aliases.maxPacket > 0 {
		// The alias property (3 bytes) can push a message that fits the
		// broker's Maximum Packet Size in full (Session.check) over it:
		// with the topic when it sets the alias, or in place of a topic
		// shorter than 3 bytes. Such a message goes in full, without an
		// alias; one that would have set the alias leaves it free.
		if _, n := wireSize(it.m, topic, alias, it.qos); uint32(n) > c.aliases.maxPacket {
			if topic != "" {
				delete(c.aliases.byTopic, topic)
			}
			topic, alias = it.m.Topic, 0
		}
	}
	n := writePublish(c.bw, it.m, topic, alias, it.qos, it.id, it.dup)
	full := n
	if alias != 0 {
		_, full = publishSize(it.m, it.qos)
	}
	c.s.wire.add(n, full)
	return topic, alias
}
