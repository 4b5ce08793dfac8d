package iot

import (
	"encoding/json"
	"sync"

	"github.com/iotctl/iotctl/pkg/broker"
)

// A service is one of the emulation's request/response services on
// reserved topics (the Device Shadow, and more to come). The hook hands it
// every publish the broker accepted and delivered (iot:Publish allowed);
// it answers by publishing through the broker, so iot:Receive decides each
// delivery of an answer as for any message.
type service interface {
	// handle answers a request publish; it reports false for a topic that
	// is not the service's.
	handle(cl *broker.Client, topic string, payload []byte) bool
	// close stops the service's background work (timers, watchers).
	close()
}

// replier publishes a service's JSON answers once the broker is bound.
// One replier serves every service of an Emulator.
type replier struct {
	e *Emulator

	mu  sync.RWMutex
	pub func(topic string, payload []byte) error
}

func (r *replier) bind(b *broker.Broker) {
	r.mu.Lock()
	r.pub = func(topic string, payload []byte) error { return b.Publish(topic, payload, false, 1) }
	r.mu.Unlock()
}

// publish sends body (marshalled to JSON unless it is []byte) to topic at
// QoS 1; before the broker is bound it does nothing. what names the
// service in error logs.
func (r *replier) publish(what, topic string, body any) {
	b, ok := body.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(body); err != nil {
			r.e.log.Error("IoT: "+what+" reply", "topic", topic, "err", err)
			return
		}
	}
	r.mu.RLock()
	pub := r.pub
	r.mu.RUnlock()
	if pub == nil {
		return
	}
	if err := pub(topic, b); err != nil {
		r.e.log.Error("IoT: "+what+" reply", "topic", topic, "err", err)
	}
}

// Close stops the services' background work. The broker should be closed
// first (or not started).
func (e *Emulator) Close() {
	for _, s := range e.services {
		s.close()
	}
}
