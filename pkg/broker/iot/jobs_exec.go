package iot

import (
	"encoding/json"
	"sort"
	"time"
)

// Job execution statuses (AWS IoT Jobs).
const (
	statusQueued     = "QUEUED"
	statusInProgress = "IN_PROGRESS"
	statusSucceeded  = "SUCCEEDED"
	statusFailed     = "FAILED"
	statusRejected   = "REJECTED"
	statusTimedOut   = "TIMED_OUT"
	statusCanceled   = "CANCELED"
	statusRemoved    = "REMOVED"
)

// The Jobs service's limits (AWS IoT Jobs API reference).
const (
	MaxJobIDBytes         = 64
	MaxJobClientToken     = 64
	MaxStepTimeoutMinutes = 10080 // 7 days
	MaxStatusDetailsKey   = 128
	MaxStatusDetailsValue = 1024
	MaxJobDocumentBytes   = 32 * 1024
	maxNotifyListed       = 15 // a ListNotification lists at most 15 executions
)

// terminal reports whether an execution in status st is finished: no
// update changes it any more.
func terminal(st string) bool {
	switch st {
	case statusQueued, statusInProgress:
		return false
	}
	return true
}

// deviceStatus reports whether a device may set status st with
// UpdateJobExecution.
func deviceStatus(st string) bool {
	switch st {
	case statusInProgress, statusSucceeded, statusFailed, statusRejected:
		return true
	}
	return false
}

// Timer is a pending call of a function after a delay; *time.Timer is
// one.
type Timer interface{ Stop() bool }

// job is one job: its document and its executions, one a thing.
type job struct {
	id       string
	document json.RawMessage // a JSON object
	execs    map[string]*execution
}

// execution is the execution of a job on one thing, as stored.
type execution struct {
	JobID           string            `json:"jobId"`
	Thing           string            `json:"thingName"`
	Status          string            `json:"status"`
	StatusDetails   map[string]string `json:"statusDetails,omitempty"`
	QueuedAt        int64             `json:"queuedAt"`
	StartedAt       int64             `json:"startedAt,omitempty"`
	LastUpdatedAt   int64             `json:"lastUpdatedAt"`
	VersionNumber   int64             `json:"versionNumber"`
	ExecutionNumber int64             `json:"executionNumber"`
	// Seq orders executions queued in the same second: creation order.
	Seq int64 `json:"seq"`
	// TimeoutAt is when the step timer turns an IN_PROGRESS execution
	// TIMED_OUT, in Unix milliseconds; 0: no step timer.
	TimeoutAt int64 `json:"timeoutAt,omitempty"`

	job   *job
	timer Timer
}

// summary is a JobExecutionSummary (get, notify).
func (x *execution) summary() map[string]any {
	m := map[string]any{
		"jobId":           x.JobID,
		"queuedAt":        x.QueuedAt,
		"lastUpdatedAt":   x.LastUpdatedAt,
		"versionNumber":   x.VersionNumber,
		"executionNumber": x.ExecutionNumber,
	}
	if x.StartedAt != 0 {
		m["startedAt"] = x.StartedAt
	}
	return m
}

// data is a JobExecutionData (start-next, {jobId}/get, notify-next).
func (x *execution) data(withDocument bool, now time.Time) map[string]any {
	m := x.summary()
	m["thingName"] = x.Thing
	m["status"] = x.Status
	if len(x.StatusDetails) > 0 {
		m["statusDetails"] = x.StatusDetails
	}
	if withDocument {
		m["jobDocument"] = x.job.document
	}
	if x.TimeoutAt != 0 && x.Status == statusInProgress {
		left := (x.TimeoutAt - now.UnixMilli() + 999) / 1000
		m["approximateSecondsBeforeTimedOut"] = max(left, 0)
	}
	return m
}

// state is a JobExecutionState (update/accepted, rejections).
func (x *execution) state() map[string]any {
	m := map[string]any{"status": x.Status, "versionNumber": x.VersionNumber}
	if len(x.StatusDetails) > 0 {
		m["statusDetails"] = x.StatusDetails
	}
	return m
}

// before orders pending executions as IoT Jobs lists them: IN_PROGRESS
// first, then QUEUED, each by the time they were queued.
func (x *execution) before(y *execution) bool {
	if (x.Status == statusInProgress) != (y.Status == statusInProgress) {
		return x.Status == statusInProgress
	}
	if x.QueuedAt != y.QueuedAt {
		return x.QueuedAt < y.QueuedAt
	}
	return x.Seq < y.Seq
}

// sortPending sorts executions in list order.
func sortPending(xs []*execution) {
	sort.Slice(xs, func(i, j int) bool { return xs[i].before(xs[j]) })
}

// copyExec is x without its timer, for a change that may be refused.
func copyExec(x *execution) execution {
	c := *x
	c.timer = nil
	if x.StatusDetails != nil {
		c.StatusDetails = make(map[string]string, len(x.StatusDetails))
		for k, v := range x.StatusDetails {
			c.StatusDetails[k] = v
		}
	}
	return c
}
