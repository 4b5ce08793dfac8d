package iot

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/internal/testpki"
)

// fakeClock is the emulator's clock in jobs tests: time moves only with
// advance, which runs the timers that come due.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

// newFakeClock starts at the current second: certificates are checked
// on the emulator's clock.
func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(time.Now().Unix(), 0)} }

// jobsTimes are the fields holding times in seconds in jobs replies.
var jobsTimes = map[string]bool{"timestamp": true, "queuedAt": true, "startedAt": true, "lastUpdatedAt": true}

// shiftTimes shows the times of a reply as if the fake clock had started
// at goldenTimestamp rather than base.
func shiftTimes(t *testing.T, b []byte, base int64) json.RawMessage {
	v, err := decodeJSON(b)
	if err != nil {
		t.Fatalf("reply %s: %v", b, err)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if n, ok := integer(c); ok && jobsTimes[k] {
					x[k] = n - base + goldenTimestamp
					continue
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	out, _ := json.Marshal(v)
	return out
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// advance moves the clock on by d and runs the timers due, in order.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for _, t := range c.timers {
		if !t.stopped && !t.at.After(c.now) {
			t.stopped = true
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// pending counts the timers not run or stopped.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

// jobsFilters are the reply and notification topics of every thing's
// jobs, and the marker: never a request topic.
var jobsFilters = []string{
	"$aws/things/+/jobs/get/+", "$aws/things/+/jobs/start-next/+", "$aws/things/+/jobs/+/+/+",
	"$aws/things/+/jobs/notify", "$aws/things/+/jobs/notify-next", "$aws/things/+/jobs/foo/rejected", markerTopic,
}

// jobsSeeds are the golden tests' jobs.
var jobsSeeds = []JobSeed{
	{ID: "job1", Targets: []string{"dev1", "dev2"}, Document: []byte(`{"operation":"install","version":"1.2"}`)},
	{ID: "job2", Targets: []string{"dev1"}, Document: []byte(`{"operation":"reboot"}`)},
}

// jobsWorld starts an emulator on a fake clock with cfg and a device
// allowed everything, connected as dev1 and subscribed to jobsFilters.
func jobsWorld(t *testing.T, cfg Config) (*fakeClock, *world, *shadowClient) {
	t.Helper()
	clock := newFakeClock()
	cfg.Now, cfg.AfterFunc = clock.Now, clock.AfterFunc
	leaf, w := leafWorld(t, cfg, allowAll)
	c := w.shadowClient(t, leaf, "dev1", jobsFilters...)
	c.clockBase = clock.Now().Unix()
	return clock, w, c
}

// TestJobsGolden replays testdata/jobs/*.in.json (requests) against the
// jobs of jobsSeeds on a fixed clock and compares every reply and
// notification with *.golden.json (-update rewrites them).
func TestJobsGolden(t *testing.T) {
	ins, _ := filepath.Glob("testdata/jobs/*.in.json")
	if len(ins) == 0 {
		t.Fatal("no testdata/jobs/*.in.json")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			var reqs []msg
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &reqs); err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			clock, _, c := jobsWorld(t, Config{Jobs: jobsSeeds})
			var got []exchange
			for _, r := range reqs {
				got = append(got, exchange{Request: r, Replies: c.request(r.Topic, r.bytes())})
				clock.advance(time.Second)
			}
			checkGolden(t, strings.TrimSuffix(in, ".in.json")+".golden.json", got)
		})
	}
}

// replyOf is the one reply to a request on topic+"/accepted" or
// "/rejected", decoded, with whether it was accepted.
func replyOf(t *testing.T, got []msg, topic string) (map[string]any, bool) {
	t.Helper()
	for _, m := range got {
		if m.Topic == topic+"/accepted" || m.Topic == topic+"/rejected" {
			var body map[string]any
			if err := json.Unmarshal(m.bytes(), &body); err != nil {
				t.Fatal(err)
			}
			return body, m.Topic == topic+"/accepted"
		}
	}
	t.Fatalf("no reply to %s in:\n%s", topic, show(got))
	return nil, false
}

// TestJobsStateMachine: every status a device may ask for from every
// status an execution can be in.
func TestJobsStateMachine(t *testing.T) {
	from := []string{statusQueued, statusInProgress, statusSucceeded, statusFailed, statusRejected, statusTimedOut}
	to := []string{statusInProgress, statusSucceeded, statusFailed, statusRejected, statusQueued, statusTimedOut, statusCanceled, "DONE"}
	var seeds []JobSeed
	for i := range from {
		for j := range to {
			seeds = append(seeds, JobSeed{ID: fmt.Sprintf("j%d-%d", i, j), Targets: []string{fmt.Sprintf("t%d-%d", i, j)}, Document: []byte(`{}`)})
		}
	}
	clock, _, c := jobsWorld(t, Config{Jobs: seeds})
	// Bring each execution to its starting status.
	for i, st := range from {
		for j := range to {
			thing, id := fmt.Sprintf("t%d-%d", i, j), fmt.Sprintf("j%d-%d", i, j)
			topic := "$aws/things/" + thing + "/jobs/" + id + "/update"
			switch st {
			case statusQueued:
			case statusTimedOut:
				c.request(topic, []byte(`{"status":"IN_PROGRESS","stepTimeoutInMinutes":1}`))
			default:
				c.request(topic, []byte(`{"status":"`+st+`"}`))
			}
		}
	}
	clock.advance(time.Minute)
	for i, st := range from {
		for j, want := range to {
			thing, id := fmt.Sprintf("t%d-%d", i, j), fmt.Sprintf("j%d-%d", i, j)
			topic := "$aws/things/" + thing + "/jobs/" + id + "/update"
			body, ok := replyOf(t, c.request(topic, []byte(`{"status":"`+want+`","includeJobExecutionState":true}`)), topic)
			var wantCode string
			switch {
			case !deviceStatus(want):
				wantCode = "InvalidRequest"
			case terminal(st):
				wantCode = "InvalidStateTransition"
			}
			if wantCode == "" {
				state, _ := body["executionState"].(map[string]any)
				if !ok || state["status"] != want {
					t.Errorf("%s → %s: got %v, want accepted", st, want, body)
				}
				continue
			}
			if ok || body["code"] != wantCode {
				t.Errorf("%s → %s: got %v, want %s", st, want, body, wantCode)
			}
			if wantCode == "InvalidStateTransition" {
				state, _ := body["executionState"].(map[string]any)
				if state["status"] != st {
					t.Errorf("%s → %s: executionState %v, want status %s", st, want, state, st)
				}
			}
		}
	}
}

// TestJobsStepTimeout: an IN_PROGRESS execution whose step timer expires
// is TIMED_OUT, and the thing is told; an update with a new step timeout
// restarts the timer, -1 cancels it, a terminal status stops it.
func TestJobsStepTimeout(t *testing.T) {
	clock, _, c := jobsWorld(t, Config{Jobs: []JobSeed{
		{ID: "a", Targets: []string{"dev1"}, Document: []byte(`{"n":1}`)},
		{ID: "b", Targets: []string{"dev1"}, Document: []byte(`{"n":2}`)},
	}})
	const prefix = "$aws/things/dev1/jobs/"
	got := c.request(prefix+"start-next", []byte(`{"stepTimeoutInMinutes":10,"clientToken":"s"}`))
	body, _ := replyOf(t, got, prefix+"start-next")
	if x := body["execution"].(map[string]any); x["jobId"] != "a" || x["approximateSecondsBeforeTimedOut"] != 600.0 {
		t.Fatalf("start-next: %v", body)
	}
	clock.advance(9 * time.Minute)
	body, _ = replyOf(t, c.request(prefix+"a/get", nil), prefix+"a/get")
	if x := body["execution"].(map[string]any); x["status"] != statusInProgress || x["approximateSecondsBeforeTimedOut"] != 60.0 {
		t.Fatalf("after 9 minutes: %v", body)
	}
	// A new step timeout restarts the timer.
	c.request(prefix+"a/update", []byte(`{"status":"IN_PROGRESS","stepTimeoutInMinutes":5}`))
	clock.advance(4 * time.Minute)
	if got := c.untilMarker(nil); len(got) != 0 {
		t.Fatalf("timed out early: %s", show(got))
	}
	clock.advance(time.Minute)
	got = c.untilMarker(nil)
	var topics []string
	for _, m := range got {
		topics = append(topics, m.Topic)
	}
	if strings.Join(topics, " ") != prefix+"notify "+prefix+"notify-next" {
		t.Fatalf("at the timeout: %s", show(got))
	}
	if !strings.Contains(string(got[1].bytes()), `"jobId":"b"`) {
		t.Errorf("notify-next after the timeout: %s", got[1].bytes())
	}
	body, _ = replyOf(t, c.request(prefix+"a/get", nil), prefix+"a/get")
	if x := body["execution"].(map[string]any); x["status"] != statusTimedOut || x["versionNumber"] != 4.0 {
		t.Errorf("timed out execution: %v", body)
	}
	body, ok := replyOf(t, c.request(prefix+"a/update", []byte(`{"status":"SUCCEEDED"}`)), prefix+"a/update")
	if ok || body["code"] != "InvalidStateTransition" {
		t.Errorf("update of a timed out execution: %v", body)
	}

	// -1 cancels the step timer; a terminal status stops it.
	c.request(prefix+"b/update", []byte(`{"status":"IN_PROGRESS","stepTimeoutInMinutes":1}`))
	c.request(prefix+"b/update", []byte(`{"status":"IN_PROGRESS","stepTimeoutInMinutes":-1}`))
	clock.advance(time.Hour)
	body, _ = replyOf(t, c.request(prefix+"b/get", nil), prefix+"b/get")
	if x := body["execution"].(map[string]any); x["status"] != statusInProgress || x["approximateSecondsBeforeTimedOut"] != nil {
		t.Errorf("after -1: %v", body)
	}
	c.request(prefix+"b/update", []byte(`{"status":"IN_PROGRESS","stepTimeoutInMinutes":1}`))
	c.request(prefix+"b/update", []byte(`{"status":"SUCCEEDED"}`))
	if n := clock.pending(); n != 0 {
		t.Errorf("%d step timers left after the execution succeeded", n)
	}
}

// TestJobsSeveralThings: executions of one job on several things are
// separate; each thing is notified of its own only.
func TestJobsSeveralThings(t *testing.T) {
	_, _, c := jobsWorld(t, Config{Jobs: jobsSeeds})
	got := c.request("$aws/things/dev2/jobs/job1/update", []byte(`{"status":"SUCCEEDED"}`))
	for _, m := range got {
		if strings.HasPrefix(m.Topic, "$aws/things/dev1/") {
			t.Errorf("dev1 notified of dev2's update: %s", show(got))
		}
	}
	body, _ := replyOf(t, c.request("$aws/things/dev1/jobs/job1/get", nil), "$aws/things/dev1/jobs/job1/get")
	if x := body["execution"].(map[string]any); x["status"] != statusQueued || x["versionNumber"] != 1.0 {
		t.Errorf("dev1's execution of job1 changed: %v", body)
	}
	body, _ = replyOf(t, c.request("$aws/things/dev2/jobs/get", nil), "$aws/things/dev2/jobs/get")
	if len(body["queuedJobs"].([]any)) != 0 || len(body["inProgressJobs"].([]any)) != 0 {
		t.Errorf("dev2 pending after its only job: %v", body)
	}
	body, _ = replyOf(t, c.request("$aws/things/nobody/jobs/get", nil), "$aws/things/nobody/jobs/get")
	if len(body["queuedJobs"].([]any)) != 0 {
		t.Errorf("a thing without jobs: %v", body)
	}
}

// TestJobsConcurrentUpdates: updates of one execution with the same
// expected version from many connections: exactly one is accepted.
func TestJobsConcurrentUpdates(t *testing.T) {
	_, w, setup := jobsWorld(t, Config{Jobs: jobsSeeds})
	leaf := w.clientCA.Client(t, "more", testpki.Options{KeyType: testpki.EC})
	w.e.policies[PrefixCert+leaf.ID()] = w.e.policies[PrefixCert+firstCertID(w)]
	const n = 8
	const topic = "$aws/things/dev1/jobs/job1/update"
	clients := make([]*shadowClient, n)
	for i := range clients {
		clients[i] = w.shadowClient(t, leaf, fmt.Sprintf("c%d", i))
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.publish(topic, fmt.Appendf(nil, `{"status":"IN_PROGRESS","expectedVersion":1,"clientToken":"c%d"}`, i))
		}()
	}
	wg.Wait()
	accepted, rejected := 0, 0
	for _, m := range setup.untilMarker(nil) {
		switch {
		case m.Topic == topic+"/accepted":
			accepted++
		case m.Topic == topic+"/rejected" && strings.Contains(string(m.bytes()), `"VersionMismatch"`):
			rejected++
		}
	}
	if accepted != 1 || rejected != n-1 {
		t.Errorf("%d accepted, %d VersionMismatch; want 1 and %d", accepted, rejected, n-1)
	}
}

// firstCertID is the certificate ID of the world's device.
func firstCertID(w *world) string {
	for p := range w.e.policies {
		if id, ok := strings.CutPrefix(p, PrefixCert); ok {
			return id
		}
	}
	return ""
}

// waitFor reads deliveries until one on topic comes and returns it.
func (c *shadowClient) waitFor(topic string) msg {
	c.t.Helper()
	for {
		p := c.read()
		if x, ok := p.Content.(*packets.Publish); ok {
			if m := c.ack(x); m.Topic == topic {
				return m
			}
		}
	}
}

// TestJobsPersistence: with a state directory, jobs and executions
// survive a restart, step timers included; a stored job wins over its
// seed.
func TestJobsPersistence(t *testing.T) {
	stateDir := t.TempDir()
	cfg := Config{StateDir: stateDir, Jobs: jobsSeeds}
	_, w, c := jobsWorld(t, cfg)
	c.clockBase = 0 // times as stored, the same after the restart
	const prefix = "$aws/things/dev1/jobs/"
	c.request(prefix+"start-next", []byte(`{"stepTimeoutInMinutes":10,"statusDetails":{"step":"1"}}`))
	c.request("$aws/things/dev2/jobs/job1/update", []byte(`{"status":"SUCCEEDED"}`))
	before := c.request(prefix+"get", nil)
	beforeJob := c.request(prefix+"job1/get", nil)
	if err := w.b.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.Jobs = append([]JobSeed{{ID: "job1", Targets: []string{"other"}, Document: []byte(`{"changed":true}`)}}, jobsSeeds[1:]...)
	clock, _, c := jobsWorld(t, cfg)
	c.clockBase = 0
	after := c.request(prefix+"get", nil)
	afterJob := c.request(prefix+"job1/get", nil)
	// The restart's clock may be a second later: the time left differs.
	if a, b := showWithout(t, append(after, afterJob...), "approximateSecondsBeforeTimedOut"), showWithout(t, append(before, beforeJob...), "approximateSecondsBeforeTimedOut"); a != b {
		t.Errorf("after a restart:\n%s\nwant\n%s", a, b)
	}
	if !strings.Contains(show(afterJob), `"operation":"install"`) || !strings.Contains(show(afterJob), `"step":"1"`) {
		t.Errorf("stored job: %s", show(afterJob))
	}
	body, _ := replyOf(t, c.request("$aws/things/dev2/jobs/job1/get", nil), "$aws/things/dev2/jobs/job1/get")
	if x := body["execution"].(map[string]any); x["status"] != statusSucceeded {
		t.Errorf("dev2's execution after a restart: %v", body)
	}
	// The step timer runs on.
	c.clockBase = clock.Now().Unix()
	clock.advance(10 * time.Minute)
	body, _ = replyOf(t, c.request(prefix+"job1/get", nil), prefix+"job1/get")
	if x := body["execution"].(map[string]any); x["status"] != statusTimedOut {
		t.Errorf("step timer after a restart: %v", body)
	}
	files, _ := filepath.Glob(filepath.Join(stateDir, "jobs", "*"))
	if len(files) != 2 {
		t.Errorf("state files %v", files)
	}

	// A configuration refused once the stored executions are loaded
	// leaves no step timer running.
	c.request(prefix+"start-next", []byte(`{"stepTimeoutInMinutes":3}`))
	clock2 := newFakeClock()
	dup := JobSeed{ID: "x", Targets: []string{"a"}, Document: []byte(`{}`)}
	if _, err := New(Config{StateDir: stateDir, Now: clock2.Now, AfterFunc: clock2.AfterFunc, Jobs: []JobSeed{dup, dup}}); err == nil || clock2.pending() != 0 || len(clock2.timers) != 1 {
		t.Errorf("refused configuration: %v, %d step timers left", err, clock2.pending())
	}

	// A damaged file stops the emulator with a message naming it.
	os.WriteFile(filepath.Join(stateDir, "jobs", "job2.json"), []byte("{"), 0o600)
	if _, err := New(Config{StateDir: stateDir}); err == nil || !strings.Contains(err.Error(), "job2.json") {
		t.Errorf("damaged state file: %v", err)
	}
}

// TestJobsFolder: a file put in the jobs folder while the broker runs
// creates its job and notifies its things; a bad file is logged once and
// read again when it changes.
func TestJobsFolder(t *testing.T) {
	poll := jobsDirPoll
	jobsDirPoll = 10 * time.Millisecond
	t.Cleanup(func() { jobsDirPoll = poll })
	dir := t.TempDir()
	put := func(name, text string) {
		tmp := filepath.Join(dir, "."+name)
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	put("job1.json", `{"targets":["dev1"],"document":{"from":"folder"}}`) // the seed's ID: left alone
	_, w, c := jobsWorld(t, Config{JobsDir: dir, Jobs: jobsSeeds[:1]})
	const prefix = "$aws/things/dev1/jobs/"
	c.request(prefix+"job1/update", []byte(`{"status":"SUCCEEDED"}`))

	put("bad.json", `{"targets":["dev1"],"document":`)
	put("zz-new.json", `{"targets":["dev1","dev2"],"document":{"operation":"update"}}`)
	m := c.waitFor(prefix + "notify-next")
	if !strings.Contains(string(m.bytes()), `"jobId":"zz-new"`) || !strings.Contains(string(m.bytes()), `"operation":"update"`) {
		t.Errorf("notify-next of the new job: %s", m.bytes())
	}
	w.logs.has(t, "IoT: jobs folder: file ignored", "bad.json")
	w.logs.has(t, "IoT: job created", "job=zz-new", "targets=dev1,dev2")
	if strings.Contains(w.logs.String(), "job1.json") {
		t.Errorf("the seed's file was reported:\n%s", w.logs.String())
	}
	// The bad file, fixed, makes its job.
	put("bad.json", `{"targets":["dev2"],"document":{"fixed":true}}`)
	for !strings.Contains(string(m.bytes()), `"jobId":"bad"`) {
		m = c.waitFor("$aws/things/dev2/jobs/notify")
	}
	if n := strings.Count(w.logs.String(), "file ignored: fix it (it is read again when it changes)\" file="+filepath.Join(dir, "bad.json")); n != 1 {
		t.Errorf("the bad file was logged %d times, want once:\n%s", n, w.logs.String())
	}
	// A file of an existing job, changed: refused with a log line.
	put("zz-new.json", `{"targets":["dev3"],"document":{}}`)
	put("zzz-last.json", `{"targets":["dev1"],"document":{}}`)
	c.waitFor(prefix + "notify")
	w.logs.has(t, "exists already", "zz-new.json")
	for _, tt := range []struct{ text, want string }{
		{`{"targets":[],"document":{}}`, "no target thing"},
		{`{"targets":["a b"],"document":{}}`, "a thing name is"},
		{`{"targets":["a"],"document":[1]}`, "must be a JSON object"},
		{`{"targets":["a"]}`, `no \"document\"`},
		{`{"targets":["a"],"document":{},"extra":1}`, "unknown field"},
	} {
		if _, err := ParseJobFile("j", []byte(tt.text)); err == nil || !strings.Contains(err.Error(), strings.ReplaceAll(tt.want, `\"`, `"`)) {
			t.Errorf("%s: %v, want %q", tt.text, err, tt.want)
		}
	}
}

// TestJobsPolicy: a request needs iot:Publish on its topic (denied: PUBACK
// 0x87 and no answer), and each answer and notification iot:Receive on
// its topic.
func TestJobsPolicy(t *testing.T) {
	const arn = "arn:aws:iot:us-east-1:123456789012:"
	clock := newFakeClock()
	leaf, w := leafWorld(t, Config{Jobs: jobsSeeds, Now: clock.Now, AfterFunc: clock.AfterFunc}, `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":"iot:Connect","Resource":"`+arn+`client/*"},
	 {"Effect":"Allow","Action":"iot:Publish","Resource":["`+arn+`topic/$aws/things/dev1/jobs/*","`+arn+`topic/test/marker"]},
	 {"Effect":"Allow","Action":"iot:Subscribe","Resource":["`+arn+`topicfilter/$aws/things/*","`+arn+`topicfilter/test/marker"]},
	 {"Effect":"Allow","Action":"iot:Receive","Resource":["`+arn+`topic/$aws/things/dev1/jobs/*/accepted","`+arn+`topic/$aws/things/dev1/jobs/*/rejected","`+arn+`topic/test/marker"]}]}`)
	c := w.shadowClient(t, leaf, "dev1", jobsFilters...)
	got := c.request("$aws/things/dev1/jobs/start-next", nil)
	if len(got) != 1 || got[0].Topic != "$aws/things/dev1/jobs/start-next/accepted" {
		t.Errorf("device got %s, want start-next/accepted only (no iot:Receive on notify)", show(got))
	}
	w.logs.has(t, "IoT: denied", "action=iot:Receive", "topic/$aws/things/dev1/jobs/notify", "client=dev1")
	code, got := c.publish("$aws/things/dev2/jobs/get", nil)
	if code != 0x87 {
		t.Errorf("another thing's jobs: PUBACK 0x%02X, want 0x87", code)
	}
	if got = c.untilMarker(got); len(got) != 0 {
		t.Errorf("denied request answered: %s", show(got))
	}
	w.logs.has(t, "IoT: denied", "action=iot:Publish", "topic/$aws/things/dev2/jobs/get")
}

// TestJobsEdgeCases: a request that is not UTF-8 is InvalidJson; a
// request over MQTT 3.1.1 is answered as over MQTT 5; close stops
// the timers.
func TestJobsEdgeCases(t *testing.T) {
	clock, w, c := jobsWorld(t, Config{Jobs: jobsSeeds})
	body, ok := replyOf(t, c.request("$aws/things/dev1/jobs/get", []byte("{\"clientToken\":\"\xff\"}")), "$aws/things/dev1/jobs/get")
	if ok || body["code"] != "InvalidJson" {
		t.Errorf("not UTF-8: %v", body)
	}
	c.request("$aws/things/dev1/jobs/start-next", []byte(`{"stepTimeoutInMinutes":1}`))
	if clock.pending() != 1 {
		t.Fatalf("%d timers, want 1", clock.pending())
	}
	w.b.Close()
	if clock.pending() != 0 {
		t.Errorf("%d timers left after the broker closed", clock.pending())
	}
}

// showWithout shows messages with the keys left out of their payloads.
func showWithout(t *testing.T, ms []msg, keys ...string) string {
	var out []msg
	for _, m := range ms {
		v, err := decodeJSON(m.bytes())
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := v.(map[string]any); ok {
			for _, x := range []map[string]any{o, mapOrNil(o["execution"])} {
				for _, k := range keys {
					delete(x, k)
				}
			}
		}
		b, _ := json.Marshal(v)
		out = append(out, msg{Topic: m.Topic, Payload: b})
	}
	return show(out)
}

// FuzzJobsRequest: any request body is parsed without a panic, and what
// is accepted has the documented shapes.
func FuzzJobsRequest(f *testing.F) {
	for _, s := range []string{
		`{"status":"IN_PROGRESS","statusDetails":{"a":"b"},"expectedVersion":1,"executionNumber":1,"stepTimeoutInMinutes":-1,"clientToken":"t"}`,
		`{"includeJobDocument":false,"executionNumber":2}`, `{"stepTimeoutInMinutes":10080}`, `{"statusDetails":null}`,
		`{}`, `[]`, `"s"`, `{"expectedVersion":1e400}`, "{\"clientToken\":\"\xff\"}", `{"status":"SUCCEEDED"} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, op := range []string{"get", "start-next", "describe", "update"} {
			req, jerr := parseJobsRequest(body, op)
			if jerr != nil {
				if jerr.code != "InvalidJson" && jerr.code != "InvalidRequest" {
					t.Fatalf("%s: code %s", op, jerr.code)
				}
				continue
			}
			if op == "update" && !deviceStatus(req.status) {
				t.Fatalf("update accepted with status %q", req.status)
			}
			if req.hasStepTimeout && (req.stepTimeout == 0 || req.stepTimeout > MaxStepTimeoutMinutes || req.stepTimeout < -1) {
				t.Fatalf("step timeout %d accepted", req.stepTimeout)
			}
			for k, v := range req.statusDetails {
				if !validShadowName(k, MaxStatusDetailsKey) || v == "" {
					t.Fatalf("statusDetails %q=%q accepted", k, v)
				}
			}
		}
	})
}

// TestJobsSaveFails: an update the state directory cannot keep is
// rejected with InternalError and changes nothing.
func TestJobsSaveFails(t *testing.T) {
	stateDir := t.TempDir()
	_, w, c := jobsWorld(t, Config{StateDir: stateDir, Jobs: jobsSeeds})
	jobsDir := filepath.Join(stateDir, "jobs")
	if err := os.RemoveAll(jobsDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jobsDir, nil, 0o600); err != nil { // a file where the folder was
		t.Fatal(err)
	}
	const prefix = "$aws/things/dev1/jobs/"
	for _, r := range []struct{ topic, body string }{
		{prefix + "job1/update", `{"status":"IN_PROGRESS","clientToken":"u"}`},
		{prefix + "start-next", `{"clientToken":"s"}`},
	} {
		got := c.request(r.topic, []byte(r.body))
		body, ok := replyOf(t, got, r.topic)
		if ok || body["code"] != "InternalError" || len(got) != 1 {
			t.Errorf("%s: %s, want only an InternalError rejection", r.topic, show(got))
		}
	}
	w.logs.has(t, "IoT: job not saved", "job=job1")
	body, _ := replyOf(t, c.request(prefix+"job1/get", nil), prefix+"job1/get")
	if x := body["execution"].(map[string]any); x["status"] != statusQueued || x["versionNumber"] != 1.0 {
		t.Errorf("after failed saves: %v", body)
	}
}
