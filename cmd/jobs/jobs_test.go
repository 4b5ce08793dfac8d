package jobs

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestUsageErrorsBeforeConnecting(t *testing.T) {
	// Port 1 refuses connections: reaching it would be exit 3, not 2.
	ep := []string{"--endpoint", "mqtt://127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no thing", []string{"list"}, "no thing name"},
		{"bad thing", []string{"list", "--thing", "a/b"}, "thing name"},
		{"bad job id", []string{"describe", "a/b", "--thing", "t"}, "job ID"},
		{"job id too long", []string{"describe", strings.Repeat("j", 65), "--thing", "t"}, "job ID"},
		{"no status", []string{"update", "j", "--thing", "t"}, "--status"},
		{"bad status", []string{"update", "j", "--thing", "t", "--status", "DONE"}, "--status"},
		{"queued status", []string{"update", "j", "--thing", "t", "--status", "QUEUED"}, "--status"},
		{"details no =", []string{"update", "j", "--thing", "t", "--status", "FAILED", "--details", "x"}, "KEY=VALUE"},
		{"details bad key", []string{"update", "j", "--thing", "t", "--status", "FAILED", "--details", "a b=1"}, "key"},
		{"details long value", []string{"update", "j", "--thing", "t", "--status", "FAILED", "--details", "k=" + strings.Repeat("v", 1025)}, "1024"},
		{"details control", []string{"update", "j", "--thing", "t", "--status", "FAILED", "--details", "k=a\nb"}, "control"},
		{"step timeout terminal", []string{"update", "j", "--thing", "t", "--status", "SUCCEEDED", "--step-timeout", "5m"}, "IN_PROGRESS"},
		{"step timeout too long", []string{"update", "j", "--thing", "t", "--status", "IN_PROGRESS", "--step-timeout", "169h"}, "168h"},
		{"negative execution", []string{"describe", "j", "--thing", "t", "--execution-number", "-1"}, "--execution-number"},
		{"zero timeout", []string{"list", "--thing", "t", "--timeout", "0s"}, "--timeout"},
		{"run no command", []string{"run", "--thing", "t"}, "no command"},
		{"describe no job", []string{"describe", "--thing", "t"}, "give one job ID"},
		{"update two jobs", []string{"update", "a", "b", "--thing", "t", "--status", "FAILED"}, "give one job ID"},
		{"run missing command", []string{"run", "--thing", "t", "--", "/nonexistent/update.sh"}, "/nonexistent/update.sh"},
		{"run negative grace", []string{"run", "--thing", "t", "--grace", "-1s", "--", "true"}, "--grace"},
		{"run zero step timeout", []string{"run", "--thing", "t", "--step-timeout", "0s", "--", "true"}, "--step-timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, append(tc.args, ep...)...)
			if r.code() != 2 || !strings.Contains(r.err.Error(), tc.want) {
				t.Fatalf("exit %d, err %v; want exit 2 naming %q", r.code(), r.err, tc.want)
			}
		})
	}
}

func TestThingFromClientID(t *testing.T) {
	w := newWorld(t)
	w.jobs.add("sensor-1", "fw-1", `{"v":1}`)
	r := run(t, "list", "--endpoint", w.endpoint(), "--client-id", "sensor-1")
	if r.err != nil {
		t.Fatalf("list: %v\n%s", r.err, r.errOut)
	}
	if !strings.Contains(r.out, `"fw-1"`) {
		t.Fatalf("list with the client ID as thing: %s", r.out)
	}
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("output is not one JSON document: %v\n%s", err, s)
	}
	if _, ok := m["clientToken"]; ok {
		t.Errorf("the made-up clientToken is printed: %s", s)
	}
	return m
}

func TestRequests(t *testing.T) {
	w := newWorld(t)
	w.jobs.add("t1", "fw-1", `{"version":"1.2"}`)
	w.jobs.add("t1", "fw-2", `{"version":"1.3"}`)
	ep := []string{"--endpoint", w.endpoint(), "--thing", "t1"}
	mustRun := func(args ...string) map[string]any {
		t.Helper()
		r := run(t, append(args, ep...)...)
		if r.err != nil {
			t.Fatalf("jobs %s: exit %d: %v\n%s", strings.Join(args, " "), r.code(), r.err, r.errOut)
		}
		return decode(t, r.out)
	}

	list := mustRun("list")
	if q, _ := list["queuedJobs"].([]any); len(q) != 2 {
		t.Fatalf("list: want 2 queued jobs: %v", list)
	}
	next := mustRun("next")
	ex, _ := next["execution"].(map[string]any)
	if ex["jobId"] != "fw-1" || ex["jobDocument"] == nil {
		t.Fatalf("next: want fw-1 with its document: %v", next)
	}
	desc := mustRun("describe", "fw-2")
	if ex, _ := desc["execution"].(map[string]any); ex["jobId"] != "fw-2" || ex["jobDocument"] != nil {
		t.Fatalf("describe without --include-document: %v", desc)
	}
	desc = mustRun("describe", "fw-2", "--include-document")
	if ex, _ := desc["execution"].(map[string]any); ex["jobDocument"] == nil {
		t.Fatalf("describe --include-document: %v", desc)
	}
	up := mustRun("update", "fw-1", "--status", "in_progress", "--step-timeout", "90s", "--details", "step=download")
	state, _ := up["executionState"].(map[string]any)
	if state["status"] != "IN_PROGRESS" || state["versionNumber"] != 2.0 {
		t.Fatalf("update: %v", up)
	}
	mustRun("update", "fw-1", "--status", "SUCCEEDED", "--expected-version", "2", "--details", "version=1.2")
	if got := w.jobs.nextUpdate(t); got.Status != "SUCCEEDED" || got.Details["version"] != "1.2" {
		t.Fatalf("update recorded %+v", got)
	}

	for _, tc := range []struct {
		args []string
		code string
	}{
		{[]string{"update", "fw-1", "--status", "FAILED"}, "InvalidStateTransition"},
		{[]string{"update", "fw-2", "--status", "IN_PROGRESS", "--expected-version", "7"}, "VersionMismatch"},
		{[]string{"describe", "nope"}, "ResourceNotFound"},
	} {
		r := run(t, append(tc.args, ep...)...)
		if r.code() != 4 || !strings.Contains(r.err.Error(), tc.code) {
			t.Errorf("jobs %s: exit %d, %v; want exit 4 naming %s", strings.Join(tc.args, " "), r.code(), r.err, tc.code)
		}
	}
}

func TestNoService(t *testing.T) {
	w := newWorld(t)
	w.jobs.setDrop(true)
	r := run(t, "list", "--endpoint", w.endpoint(), "--thing", "t1", "--timeout", "300ms")
	if r.code() != 5 || !strings.Contains(r.err.Error(), "jobs/get") {
		t.Fatalf("exit %d, %v; want exit 5 naming the request", r.code(), r.err)
	}
}

// TestPrintAnswerKeepsNumbers: the answer's numbers are printed as sent,
// not through float64 (an execution number or timestamp over 2^53 kept).
func TestPrintAnswerKeepsNumbers(t *testing.T) {
	var b strings.Builder
	if err := printAnswer(&b, []byte(`{"clientToken":"x","execution":{"executionNumber":9007199254740993,"approximateSecondsBeforeTimedOut":1.5}}`)); err != nil {
		t.Fatal(err)
	}
	if err := printAnswer(&b, []byte(`{"a":1} {"b":2}`)); err == nil {
		t.Error("an answer with more after its object was printed")
	}
	if got := b.String(); !strings.Contains(got, "9007199254740993") || !strings.Contains(got, "1.5") || strings.Contains(got, "clientToken") {
		t.Errorf("printed %s", got)
	}
}
