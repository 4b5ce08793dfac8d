package jobs

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/session"
)

// wait bounds every wait in these tests; never part of an assertion.
const wait = 60 * time.Second

// fakeJobs answers the Jobs MQTT API for any thing over a plain broker,
// with the documented payloads and the state machine the device side
// relies on: it stands in for the emulator's service in the tests of the
// command itself. Updates are recorded for assertions.
type fakeJobs struct {
	t    *testing.T
	mu   sync.Mutex
	sess *session.Session
	jobs map[string][]*fakeExec // by thing
	// updates are the accepted terminal updates, in order.
	updates chan fakeUpdate
	// started receives every execution start-next started.
	started chan string
	// drop, while set, leaves requests unanswered.
	drop bool
	// loseUpdateReplies: this many updates are applied but not answered,
	// as when the answer is lost with the connection.
	loseUpdateReplies int
}

type fakeExec struct {
	JobID     string            `json:"jobId"`
	Thing     string            `json:"thingName"`
	Status    string            `json:"status"`
	Details   map[string]string `json:"statusDetails,omitempty"`
	Version   int64             `json:"versionNumber"`
	Number    int64             `json:"executionNumber"`
	Document  json.RawMessage   `json:"jobDocument,omitempty"`
	StepMins  int64             `json:"-"`
	QueuedAt  int64             `json:"queuedAt"`
	StartedAt int64             `json:"startedAt,omitempty"`
}

type fakeUpdate struct {
	Thing, JobID, Status string
	Details              map[string]string
}

func startFake(t *testing.T, b *broker.Broker) *fakeJobs {
	t.Helper()
	f := &fakeJobs{t: t, jobs: map[string][]*fakeExec{}, updates: make(chan fakeUpdate, 100), started: make(chan string, 100)}
	st := testenv.Settings(t, "--endpoint", b.URL("mqtt"), "--client-id", "fake-jobs-service")
	p, err := auth.New(st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	f.sess, err = session.Connect(ctx, session.Options{Settings: st, Provider: p, Handler: f.handle, Reconnect: true})
	if err != nil {
		t.Fatalf("fake jobs service: connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.sess.Close(ctx, 0)
	})
	if _, err := f.sess.Subscribe(ctx, []session.Subscription{{Filter: "$aws/things/+/jobs/#", QoS: 1}}); err != nil {
		t.Fatalf("fake jobs service: subscribe: %v", err)
	}
	return f
}

// add queues a job for thing and notifies notify-next.
func (f *fakeJobs) add(thing, jobID, doc string) {
	f.mu.Lock()
	n := int64(1)
	for _, e := range f.jobs[thing] {
		if e.JobID == jobID {
			n = e.Number + 1
		}
	}
	e := &fakeExec{JobID: jobID, Thing: thing, Status: "QUEUED", Version: 1, Number: n, Document: json.RawMessage(doc), QueuedAt: time.Now().Unix()}
	f.jobs[thing] = append(f.jobs[thing], e)
	next := f.next(thing)
	f.mu.Unlock()
	f.send("$aws/things/"+thing+"/jobs/notify-next", map[string]any{"timestamp": time.Now().Unix(), "execution": next})
}

func (f *fakeJobs) setDrop(v bool) {
	f.mu.Lock()
	f.drop = v
	f.mu.Unlock()
}

// status is the status of thing's latest execution of jobID.
func (f *fakeJobs) status(thing, jobID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.find(thing, jobID, 0); e != nil {
		return e.Status
	}
	return ""
}

func (f *fakeJobs) send(topic string, body map[string]any) {
	p, _ := json.Marshal(body)
	_ = f.sess.Publish(context.Background(), &session.Message{Topic: topic, Payload: p, QoS: 1}, nil)
}

func terminal(s string) bool {
	return s != "QUEUED" && s != "IN_PROGRESS"
}

// next is the thing's next execution: in progress, else the oldest queued.
func (f *fakeJobs) next(thing string) *fakeExec {
	for _, want := range []string{"IN_PROGRESS", "QUEUED"} {
		for _, e := range f.jobs[thing] {
			if e.Status == want {
				return e
			}
		}
	}
	return nil
}

func (f *fakeJobs) find(thing, jobID string, number int64) *fakeExec {
	var found *fakeExec
	for _, e := range f.jobs[thing] {
		if e.JobID == jobID && (number == 0 || e.Number == number) {
			found = e
		}
	}
	return found
}

func (f *fakeJobs) handle(m *session.Message) error {
	rest, ok := strings.CutPrefix(m.Topic, "$aws/things/")
	if !ok || strings.HasSuffix(m.Topic, "/accepted") || strings.HasSuffix(m.Topic, "/rejected") || strings.Contains(m.Topic, "/notify") {
		return nil
	}
	thing, op, _ := strings.Cut(rest, "/jobs/")
	var req struct {
		ClientToken     string            `json:"clientToken"`
		Status          string            `json:"status"`
		StatusDetails   map[string]string `json:"statusDetails"`
		ExpectedVersion *int64            `json:"expectedVersion"`
		ExecutionNumber int64             `json:"executionNumber"`
		IncludeDocument bool              `json:"includeJobDocument"`
		StepTimeout     int64             `json:"stepTimeoutInMinutes"`
	}
	reply := func(accepted bool, body map[string]any) {
		body["clientToken"] = req.ClientToken
		body["timestamp"] = time.Now().Unix()
		suffix := "/accepted"
		if !accepted {
			suffix = "/rejected"
		}
		f.send(m.Topic+suffix, body)
	}
	reject := func(code, msg string) { reply(false, map[string]any{"code": code, "message": msg}) }
	if err := json.Unmarshal(m.Payload, &req); err != nil {
		reject("InvalidJson", "invalid JSON")
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.drop {
		return nil
	}
	switch {
	case op == "get":
		var inProgress, queued []map[string]any
		for _, e := range f.jobs[thing] {
			s := map[string]any{"jobId": e.JobID, "executionNumber": e.Number, "versionNumber": e.Version, "queuedAt": e.QueuedAt}
			switch e.Status {
			case "IN_PROGRESS":
				inProgress = append(inProgress, s)
			case "QUEUED":
				queued = append(queued, s)
			}
		}
		reply(true, map[string]any{"inProgressJobs": inProgress, "queuedJobs": queued})
	case op == "start-next":
		e := f.next(thing)
		if e == nil {
			reply(true, map[string]any{})
			return nil
		}
		if e.Status == "QUEUED" {
			e.Status, e.Version, e.StartedAt, e.StepMins = "IN_PROGRESS", e.Version+1, time.Now().Unix(), req.StepTimeout
			f.started <- thing + "/" + e.JobID
		}
		reply(true, map[string]any{"execution": e})
	case strings.HasSuffix(op, "/get"):
		jobID := strings.TrimSuffix(op, "/get")
		e := f.find(thing, jobID, req.ExecutionNumber)
		if jobID == "$next" {
			e = f.next(thing)
			if e == nil {
				reply(true, map[string]any{})
				return nil
			}
		}
		if e == nil {
			reject("ResourceNotFound", "job execution not found")
			return nil
		}
		c := *e
		if !req.IncludeDocument {
			c.Document = nil
		}
		reply(true, map[string]any{"execution": &c})
	case strings.HasSuffix(op, "/update"):
		jobID := strings.TrimSuffix(op, "/update")
		e := f.find(thing, jobID, req.ExecutionNumber)
		switch {
		case e == nil:
			reject("ResourceNotFound", "job execution not found")
		case req.ExpectedVersion != nil && *req.ExpectedVersion != e.Version:
			reject("VersionMismatch", "expected version does not match")
		case terminal(e.Status):
			reject("InvalidStateTransition", "cannot update a job execution in status "+e.Status)
		default:
			e.Status, e.Version = req.Status, e.Version+1
			if req.StatusDetails != nil {
				e.Details = req.StatusDetails
			}
			if f.loseUpdateReplies > 0 {
				f.loseUpdateReplies--
			} else {
				reply(true, map[string]any{"executionState": map[string]any{"status": e.Status, "statusDetails": e.Details, "versionNumber": e.Version}})
			}
			if terminal(e.Status) {
				f.updates <- fakeUpdate{Thing: thing, JobID: jobID, Status: e.Status, Details: e.Details}
				next := f.next(thing)
				go f.send("$aws/things/"+thing+"/jobs/notify-next", map[string]any{"timestamp": time.Now().Unix(), "execution": next})
			}
		}
	default:
		reject("InvalidTopic", "unknown topic")
	}
	return nil
}

// nextUpdate waits for the next terminal update.
func (f *fakeJobs) nextUpdate(t *testing.T) fakeUpdate {
	t.Helper()
	select {
	case u := <-f.updates:
		return u
	case <-time.After(wait):
		t.Fatal("no job execution finished in time")
		return fakeUpdate{}
	}
}

// nextStart waits for start-next to start an execution.
func (f *fakeJobs) nextStart(t *testing.T) string {
	t.Helper()
	select {
	case s := <-f.started:
		return s
	case <-time.After(wait):
		t.Fatal("no job execution started in time")
		return ""
	}
}
