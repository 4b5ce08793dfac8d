package broker

import (
	"sync"
	"time"
)

// retained holds the last retained message of each topic.
type retained struct {
	mu   sync.RWMutex
	msgs map[string]*message
}

// set stores m, or deletes the topic's message when m's payload is empty.
func (r *retained) set(m *message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(m.payload) == 0 {
		delete(r.msgs, m.topic) // [MQTT-3.3.1-6]
		return
	}
	if r.msgs == nil {
		r.msgs = map[string]*message{}
	}
	r.msgs[m.topic] = m
}

// matching lists the retained messages a filter matches, oldest topics
// first is not promised; expired ones are dropped.
func (r *retained) matching(filter string, now time.Time) []*message {
	r.mu.RLock()
	var out []*message
	var gone []string
	for t, m := range r.msgs {
		if !matches(filter, t) {
			continue
		}
		if m.expired(now) {
			gone = append(gone, t)
			continue
		}
		out = append(out, m)
	}
	r.mu.RUnlock()
	if len(gone) > 0 {
		r.mu.Lock()
		for _, t := range gone {
			if m := r.msgs[t]; m != nil && m.expired(now) {
				delete(r.msgs, t)
			}
		}
		r.mu.Unlock()
	}
	return out
}
