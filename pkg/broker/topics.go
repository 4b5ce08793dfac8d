package broker

import (
	"github.com/iotctl/iotctl/pkg/session/limits"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// subscription is one filter of a session with its options.
type subscription struct {
	filter         string // as the client gave it, $share/… included
	group          string // share name, "" when not shared
	qos            byte
	noLocal        bool
	retainAsPub    bool
	retainHandling byte
	id             int // subscription identifier, 0 when none
}

// topics is the subscription tree: one node per topic level.
type topics struct {
	mu   sync.RWMutex
	root node
}

type node struct {
	children map[string]*node
	subs     map[*session]subscription
	shared   map[string]*shareGroup
}

// shareGroup is one $share group on one filter: each message goes to one
// member, in turn.
type shareGroup struct {
	members []member
	next    atomic.Uint32
}

type member struct {
	s   *session
	sub subscription
}

// match is one session a message goes to, with the subscription it matched.
type match struct {
	s   *session
	sub subscription
}

// splitShare splits "$share/group/filter" into group and filter.
func splitShare(f string) (group, filter string, shared bool) {
	rest, ok := strings.CutPrefix(f, "$share/")
	if !ok {
		return "", f, false
	}
	group, filter, ok = strings.Cut(rest, "/")
	if !ok {
		return rest, "", true
	}
	return group, filter, true
}

// validFilter checks a filter (after any $share/group/ prefix).
func validFilter(f string) bool {
	if f == "" || len(f) > 65535 || !utf8.ValidString(f) || strings.IndexByte(f, 0) >= 0 {
		return false
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return false
		}
		if strings.Contains(l, "+") && l != "+" {
			return false
		}
	}
	return true
}

// validShareName: a share name has no wildcards and no slash.
func validShareName(g string) bool {
	return g != "" && !strings.ContainsAny(g, "+#/")
}

// validTopic checks a topic name of a PUBLISH.
func validTopic(t string) bool {
	return t != "" && len(t) <= 65535 && utf8.ValidString(t) && !strings.ContainsAny(t, "+#\x00")
}

func (t *topics) add(s *session, sub subscription, filter string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &t.root
	for _, l := range strings.Split(filter, "/") {
		if n.children == nil {
			n.children = map[string]*node{}
		}
		c := n.children[l]
		if c == nil {
			c = &node{}
			n.children[l] = c
		}
		n = c
	}
	if sub.group == "" {
		if n.subs == nil {
			n.subs = map[*session]subscription{}
		}
		n.subs[s] = sub
		return
	}
	if n.shared == nil {
		n.shared = map[string]*shareGroup{}
	}
	g := n.shared[sub.group]
	if g == nil {
		g = &shareGroup{}
		n.shared[sub.group] = g
	}
	for i, m := range g.members {
		if m.s == s {
			g.members[i].sub = sub
			return
		}
	}
	g.members = append(g.members, member{s, sub})
}

// remove drops the session's subscription to filter (with group) and
// prunes empty nodes.
func (t *topics) remove(s *session, group, filter string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	levels := strings.Split(filter, "/")
	path := make([]*node, 0, len(levels)+1)
	n := &t.root
	path = append(path, n)
	for _, l := range levels {
		n = n.children[l]
		if n == nil {
			return
		}
		path = append(path, n)
	}
	if group == "" {
		delete(n.subs, s)
	} else if g := n.shared[group]; g != nil {
		for i, m := range g.members {
			if m.s == s {
				g.members = append(g.members[:i:i], g.members[i+1:]...)
				break
			}
		}
		if len(g.members) == 0 {
			delete(n.shared, group)
		}
	}
	for i := len(levels); i > 0; i-- {
		c := path[i]
		if len(c.children) > 0 || len(c.subs) > 0 || len(c.shared) > 0 {
			return
		}
		delete(path[i-1].children, levels[i-1])
	}
}

// match appends the sessions a message on topic goes to. A session with
// several matching subscriptions appears once per subscription; the caller
// merges them. Each $share group contributes one member, online first.
func (t *topics) match(topic string, out []match) []match {
	levels := strings.Split(topic, "/")
	dollar := strings.HasPrefix(topic, "$")
	t.mu.RLock()
	defer t.mu.RUnlock()
	var groups []*shareGroup
	var walk func(n *node, i int)
	walk = func(n *node, i int) {
		wild := !(i == 0 && dollar) // [MQTT-4.7.2-1]
		if c := n.children["#"]; c != nil && wild {
			out = c.collect(out)
			groups = c.collectShared(groups)
		}
		if i == len(levels) {
			out = n.collect(out)
			groups = n.collectShared(groups)
			return
		}
		if c := n.children[levels[i]]; c != nil {
			walk(c, i+1)
		}
		if c := n.children["+"]; c != nil && wild {
			walk(c, i+1)
		}
	}
	walk(&t.root, 0)
	for _, g := range groups {
		if m, ok := g.pick(); ok {
			out = append(out, match(m))
		}
	}
	return out
}

func (n *node) collect(out []match) []match {
	for s, sub := range n.subs {
		out = append(out, match{s, sub})
	}
	return out
}

func (n *node) collectShared(groups []*shareGroup) []*shareGroup {
	for _, g := range n.shared {
		groups = append(groups, g)
	}
	return groups
}

// pick chooses the next member, preferring one that is connected.
func (g *shareGroup) pick() (member, bool) {
	k := len(g.members)
	if k == 0 {
		return member{}, false
	}
	start := int(g.next.Add(1)-1) % k
	for i := range k {
		m := g.members[(start+i)%k]
		if m.s.online() {
			return m, true
		}
	}
	return g.members[start], true
}

// matches reports whether filter (no $share prefix) matches topic.
func matches(filter, topic string) bool { return limits.Matches(filter, topic) }
