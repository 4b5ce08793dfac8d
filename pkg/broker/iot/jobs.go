package iot

import (
	"strings"
	"sync"
	"time"

	"github.com/iotctl/iotctl/pkg/broker"
)

// The Jobs service of the emulation (the MQTT side of the AWS IoT Jobs
// data plane). Requests are publishes to
//
//	$aws/things/{thing}/jobs/get                  GetPendingJobExecutions
//	$aws/things/{thing}/jobs/start-next           StartNextPendingJobExecution
//	$aws/things/{thing}/jobs/{jobId}/get          DescribeJobExecution ($next too)
//	$aws/things/{thing}/jobs/{jobId}/update       UpdateJobExecution
//
// that the broker accepted (iot:Publish allowed) and delivered; answers go
// to the request topic + /accepted or /rejected, and changes to the
// thing's pending executions to …/jobs/notify (the list) and
// …/jobs/notify-next (the first of the list), so iot:Receive decides each
// delivery as for any message. A request is answered before its PUBACK.
// Jobs are created by the emulator's configuration and its jobs folder
// (jobs_store.go, jobs_dir.go).

// jobsService holds the jobs and their executions. One lock serves every
// request, so that replies and notifications go out in the order of the
// changes.
type jobsService struct {
	e     *Emulator
	store *jobsStore // nil: in memory only

	mu      sync.Mutex
	jobs    map[string]*job
	byThing map[string][]*execution // every execution of a thing
	seq     int64
	closed  bool

	watcher *jobsWatcher // nil without a jobs folder
}

func newJobsService(e *Emulator) *jobsService {
	return &jobsService{e: e, jobs: map[string]*job{}, byThing: map[string][]*execution{}}
}

// close stops the step timers and the jobs folder's watcher.
func (s *jobsService) close() {
	if s.watcher != nil {
		s.watcher.stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, xs := range s.byThing {
		for _, x := range xs {
			if x.timer != nil {
				x.timer.Stop()
				x.timer = nil
			}
		}
	}
}

// start begins watching the jobs folder once the broker runs.
func (s *jobsService) start() {
	if s.watcher != nil {
		s.watcher.start()
	}
}

// parseJobsTopic splits a topic of the Jobs namespace. op is get,
// start-next, describe or update; "" for a reply or notification topic
// (not a request) and "invalid" for a topic that maps to no operation.
func parseJobsTopic(topic string) (thing, jobID, op string, ok bool) {
	rest, found := strings.CutPrefix(topic, "$aws/things/")
	if !found {
		return "", "", "", false
	}
	thing, rest, found = strings.Cut(rest, "/jobs/")
	if !found || strings.Contains(thing, "/") {
		return "", "", "", false
	}
	if rest == "notify" || rest == "notify-next" || strings.HasSuffix(rest, "/accepted") || strings.HasSuffix(rest, "/rejected") {
		return thing, "", "", true
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1 && (parts[0] == "get" || parts[0] == "start-next"):
		return thing, "", parts[0], true
	case len(parts) == 2 && parts[1] == "get":
		return thing, parts[0], "describe", true
	case len(parts) == 2 && parts[1] == "update":
		return thing, parts[0], "update", true
	}
	return thing, "", "invalid", true
}

// handle answers one request publish.
func (s *jobsService) handle(cl *broker.Client, topic string, payload []byte) bool {
	thing, jobID, op, ok := parseJobsTopic(topic)
	if !ok {
		return false
	}
	if op == "" {
		return true // a reply or a notification: nothing to answer
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.e.cfg.Now()
	// The body first, so that every rejection can echo its client token.
	parseAs := op
	if op == "invalid" {
		parseAs = "get"
	}
	req, perr := parseJobsRequest(payload, parseAs)
	var jerr *jobsError
	switch {
	case op == "invalid":
		jerr = &jobsError{code: "InvalidTopic", message: "The topic " + topic + " maps to no operation of the Jobs API"}
	case !validShadowName(thing, MaxThingNameBytes):
		jerr = invalidRequest("Invalid thing name: a thing name is 1 to %d characters of a-z A-Z 0-9 : _ -", MaxThingNameBytes)
	case op == "describe" && jobID == "$next":
	case op == "describe" && !validJobID(jobID):
		jerr = invalidRequest("Invalid job ID: a job ID is 1 to %d characters of a-z A-Z 0-9 _ -, or $next", MaxJobIDBytes)
	case op == "update" && !validJobID(jobID):
		jerr = invalidRequest("Invalid job ID: a job ID is 1 to %d characters of a-z A-Z 0-9 _ -", MaxJobIDBytes)
	}
	if jerr == nil {
		jerr = perr
	}
	if jerr == nil {
		switch op {
		case "get":
			jerr = s.doList(topic, thing, req, now)
		case "start-next":
			jerr = s.doStartNext(topic, thing, req, now)
		case "describe":
			jerr = s.doDescribe(topic, thing, jobID, req, now)
		case "update":
			jerr = s.doUpdate(topic, thing, jobID, req, now)
		}
	}
	if jerr != nil {
		s.reject(cl, topic, thing, jobID, req, jerr, now)
		return true
	}
	if s.e.cfg.Verbose {
		s.e.log.Info("IoT: jobs request accepted", "client", cl.ID, "thing", thing, "job", jobID, "operation", op)
	}
	return true
}

func (s *jobsService) reject(cl *broker.Client, topic, thing, jobID string, req *jobsRequest, jerr *jobsError, now time.Time) {
	body := map[string]any{"code": jerr.code, "message": jerr.message, "timestamp": now.Unix()}
	if req != nil && req.hasToken {
		body["clientToken"] = req.clientToken
	}
	if jerr.state != nil {
		body["executionState"] = jerr.state
	}
	if jerr.code == "InternalError" || s.e.cfg.Verbose {
		s.e.log.Warn("IoT: jobs request rejected", "client", cl.ID, "topic", topic, "thing", thing, "job", jobID,
			"code", jerr.code, "message", jerr.message)
	}
	s.publish(topic+"/rejected", body)
}

func (s *jobsService) publish(topic string, body any) {
	s.e.reply.publish("jobs", topic, body)
}

// accept publishes an accepted reply with the timestamp and the client
// token.
func (s *jobsService) accept(topic string, body map[string]any, req *jobsRequest, now time.Time) {
	body["timestamp"] = now.Unix()
	if req.hasToken {
		body["clientToken"] = req.clientToken
	}
	s.publish(topic+"/accepted", body)
}

// pending are the thing's QUEUED and IN_PROGRESS executions in list order.
func (s *jobsService) pending(thing string) []*execution {
	var out []*execution
	for _, x := range s.byThing[thing] {
		if !terminal(x.Status) {
			out = append(out, x)
		}
	}
	sortPending(out)
	return out
}

// next is the first pending execution of the thing, or nil.
func (s *jobsService) next(thing string) *execution {
	if p := s.pending(thing); len(p) > 0 {
		return p[0]
	}
	return nil
}

// find is the thing's execution of a job; with a number, only that
// execution.
func (s *jobsService) find(thing, jobID string, req *jobsRequest) *execution {
	j := s.jobs[jobID]
	if j == nil {
		return nil
	}
	x := j.execs[thing]
	if x == nil || (req.hasExecNumber && req.execNumber != x.ExecutionNumber) {
		return nil
	}
	return x
}

func notFoundExec(thing, jobID string) *jobsError {
	return &jobsError{code: "ResourceNotFound", message: "No job execution exists for job " + jobID + " on thing " + thing}
}

func (s *jobsService) doList(topic, thing string, req *jobsRequest, now time.Time) *jobsError {
	inProgress, queued := []any{}, []any{}
	for _, x := range s.pending(thing) {
		if x.Status == statusInProgress {
			inProgress = append(inProgress, x.summary())
		} else {
			queued = append(queued, x.summary())
		}
	}
	s.accept(topic, map[string]any{"inProgressJobs": inProgress, "queuedJobs": queued}, req, now)
	return nil
}

func (s *jobsService) doDescribe(topic, thing, jobID string, req *jobsRequest, now time.Time) *jobsError {
	var x *execution
	if jobID == "$next" {
		if x = s.next(thing); x != nil && req.hasExecNumber && req.execNumber != x.ExecutionNumber {
			x = nil
		}
	} else if x = s.find(thing, jobID, req); x == nil {
		return notFoundExec(thing, jobID)
	}
	body := map[string]any{}
	if x != nil {
		body["execution"] = x.data(!req.hasIncludeDoc || req.includeDoc, now)
	}
	s.accept(topic, body, req, now)
	return nil
}

func (s *jobsService) doStartNext(topic, thing string, req *jobsRequest, now time.Time) *jobsError {
	first := s.next(thing)
	body := map[string]any{}
	if first == nil {
		s.accept(topic, body, req, now)
		return nil
	}
	x := first
	before := x.Status
	if x.Status == statusQueued {
		next := copyExec(x)
		next.Status = statusInProgress
		next.StartedAt = now.Unix()
		if req.hasDetails {
			next.StatusDetails = req.statusDetails
		}
		if req.hasStepTimeout {
			next.TimeoutAt = now.Add(time.Duration(req.stepTimeout) * time.Minute).UnixMilli()
		}
		if err := s.change(x, next, now); err != nil {
			return errSaving
		}
	}
	body["execution"] = x.data(true, now)
	s.accept(topic, body, req, now)
	s.notifyChanges(x, before, first, now)
	return nil
}

func (s *jobsService) doUpdate(topic, thing, jobID string, req *jobsRequest, now time.Time) *jobsError {
	x := s.find(thing, jobID, req)
	if x == nil {
		return notFoundExec(thing, jobID)
	}
	if req.hasExpected && req.expected != x.VersionNumber {
		return &jobsError{code: "VersionMismatch", message: "The expected version does not match the job execution's version", state: x.state()}
	}
	if terminal(x.Status) {
		return &jobsError{code: "InvalidStateTransition",
			message: "Job execution " + jobID + " on " + thing + " is " + x.Status + ", a terminal status: it can no longer be updated", state: x.state()}
	}
	first := s.next(thing)
	before := x.Status
	next := copyExec(x)
	next.Status = req.status
	if req.hasDetails {
		next.StatusDetails = req.statusDetails
	}
	if next.Status == statusInProgress && next.StartedAt == 0 {
		next.StartedAt = now.Unix()
	}
	switch {
	case terminal(next.Status), req.hasStepTimeout && req.stepTimeout == -1:
		next.TimeoutAt = 0
	case req.hasStepTimeout:
		next.TimeoutAt = now.Add(time.Duration(req.stepTimeout) * time.Minute).UnixMilli()
	}
	if err := s.change(x, next, now); err != nil {
		return errSaving
	}
	body := map[string]any{}
	if req.includeState {
		body["executionState"] = x.state()
	}
	if req.hasIncludeDoc && req.includeDoc {
		body["jobDocument"] = x.job.document
	}
	s.accept(topic, body, req, now)
	s.notifyChanges(x, before, first, now)
	return nil
}

var errSaving = &jobsError{code: "InternalError", message: "Internal service failure: the job execution could not be saved"}

// change makes next (a changed copy of x) the execution, one version
// later, saved, and arms its step timer. A save that fails changes
// nothing. s.mu is held.
func (s *jobsService) change(x *execution, next execution, now time.Time) error {
	next.VersionNumber++
	next.LastUpdatedAt = now.Unix()
	next.job, next.timer = x.job, x.timer
	if err := s.saveWith(x, &next); err != nil {
		return err
	}
	*x = next
	s.arm(x, now)
	return nil
}

// arm (re)starts x's step timer; an execution that is not IN_PROGRESS
// or has no step timeout has none. s.mu is held.
func (s *jobsService) arm(x *execution, now time.Time) {
	if x.timer != nil {
		x.timer.Stop()
		x.timer = nil
	}
	if x.Status != statusInProgress || x.TimeoutAt == 0 || s.closed {
		return
	}
	deadline := x.TimeoutAt
	d := max(time.Duration(deadline-now.UnixMilli())*time.Millisecond, 0)
	x.timer = s.e.cfg.AfterFunc(d, func() { s.timeout(x, deadline) })
}

// timeout turns x TIMED_OUT when its step timer with this deadline
// expires and it is still IN_PROGRESS.
func (s *jobsService) timeout(x *execution, deadline int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || x.Status != statusInProgress || x.TimeoutAt != deadline {
		return
	}
	now := s.e.cfg.Now()
	first := s.next(x.Thing)
	next := copyExec(x)
	next.Status, next.TimeoutAt = statusTimedOut, 0
	if err := s.change(x, next, now); err != nil {
		// Time it out all the same: the service is what devices see.
		next.job, next.timer = x.job, nil
		*x = next
		x.timer = nil
	}
	s.e.log.Info("IoT: job execution timed out", "thing", x.Thing, "job", x.JobID, "executionNumber", x.ExecutionNumber)
	s.notifyChanges(x, statusInProgress, first, now)
}

// notifyChanges publishes what a change of x (from status before; "" for
// a new execution) means to its thing: the pending list on …/jobs/notify
// when x's status changed, and the next execution on …/jobs/notify-next
// when the first of the list is no longer first. s.mu is held.
func (s *jobsService) notifyChanges(x *execution, before string, first *execution, now time.Time) {
	prefix := "$aws/things/" + x.Thing + "/jobs/"
	pending := s.pending(x.Thing)
	if x.Status != before {
		lists := map[string]any{}
		for i, p := range pending {
			if i == maxNotifyListed {
				break
			}
			l, _ := lists[p.Status].([]any)
			lists[p.Status] = append(l, p.summary())
		}
		s.publish(prefix+"notify", map[string]any{"jobs": lists, "timestamp": now.Unix()})
	}
	var newFirst *execution
	if len(pending) > 0 {
		newFirst = pending[0]
	}
	if newFirst != first {
		body := map[string]any{"timestamp": now.Unix()}
		if newFirst != nil {
			body["execution"] = newFirst.data(true, now)
		}
		s.publish(prefix+"notify-next", body)
	}
}
