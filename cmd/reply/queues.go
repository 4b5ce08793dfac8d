package reply

import (
	"context"
	"sync"

	"github.com/iotctl/iotctl/pkg/session"
)

// queues keeps requests in order per topic and runs at most n at once:
// one goroutine per topic with requests waiting, each holding one of n
// slots while it serves one request. The broker's Receive Maximum bounds
// what waits (requests are acknowledged only once answered).
type queues struct {
	serve func(*session.Message)
	slots chan struct{}
	quit  chan struct{} // closed by close: nothing more starts
	once  sync.Once
	wg    sync.WaitGroup

	mu       sync.Mutex
	byTopic  map[string][]*session.Message // present while its goroutine runs
	waiting0 int                           // QoS 0 requests in byTopic
}

func newQueues(n int, serve func(*session.Message)) *queues {
	return &queues{serve: serve, slots: make(chan struct{}, n), quit: make(chan struct{}), byTopic: map[string][]*session.Message{}}
}

// maxWaitingQoS0 bounds the QoS 0 requests waiting for a worker: the
// broker holds QoS 1 and 2 back (Receive Maximum), nothing holds QoS 0.
const maxWaitingQoS0 = 10000

// add queues m; it reports false when m (QoS 0) was dropped because too
// many wait.
func (q *queues) add(m *session.Message) bool {
	q.mu.Lock()
	if m.QoS == 0 && q.waiting0 >= maxWaitingQoS0 {
		q.mu.Unlock()
		return false
	}
	if m.QoS == 0 {
		q.waiting0++
	}
	list, busy := q.byTopic[m.Topic]
	q.byTopic[m.Topic] = append(list, m)
	if !busy {
		q.wg.Add(1)
		go q.drain(m.Topic)
	}
	q.mu.Unlock()
	return true
}

func (q *queues) drain(topic string) {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		list := q.byTopic[topic]
		if len(list) == 0 {
			delete(q.byTopic, topic)
			q.mu.Unlock()
			return
		}
		m := list[0]
		q.mu.Unlock()
		select {
		case q.slots <- struct{}{}:
		case <-q.quit:
			q.mu.Lock()
			delete(q.byTopic, topic) // left unacknowledged: delivered again
			q.mu.Unlock()
			return
		}
		select {
		case <-q.quit:
		default:
			q.serve(m)
		}
		<-q.slots
		q.mu.Lock()
		q.byTopic[topic] = q.byTopic[topic][1:]
		if m.QoS == 0 {
			q.waiting0--
		}
		q.mu.Unlock()
	}
}

// close starts nothing more.
func (q *queues) close() { q.once.Do(func() { close(q.quit) }) }

// wait waits for the running requests until ctx ends; it reports whether
// they all ended.
func (q *queues) wait(ctx context.Context) bool {
	done := make(chan struct{})
	go func() {
		q.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
