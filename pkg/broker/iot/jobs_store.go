package iot

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/iotctl/iotctl/internal/atomicfile"
)

// JobSeed is a job the emulator creates (--job, the jobs folder): one
// execution, QUEUED, for each target thing. Document is the job document,
// a JSON object.
type JobSeed struct {
	ID       string
	Targets  []string
	Document []byte
}

// Check validates a seed and returns its document, compacted; errors
// name what is wrong.
func (j JobSeed) Check() (json.RawMessage, error) {
	if !validJobID(j.ID) {
		return nil, fmt.Errorf("job ID %q: a job ID is 1 to %d characters of a-z A-Z 0-9 _ -", j.ID, MaxJobIDBytes)
	}
	if len(j.Targets) == 0 {
		return nil, fmt.Errorf("job %s: no target thing", j.ID)
	}
	seen := map[string]bool{}
	for _, t := range j.Targets {
		if !validShadowName(t, MaxThingNameBytes) {
			return nil, fmt.Errorf("job %s: target %q: a thing name is 1 to %d characters of a-z A-Z 0-9 : _ -", j.ID, t, MaxThingNameBytes)
		}
		if seen[t] {
			return nil, fmt.Errorf("job %s: thing %s is a target twice", j.ID, t)
		}
		seen[t] = true
	}
	if len(j.Document) > MaxJobDocumentBytes {
		return nil, fmt.Errorf("job %s: the job document has %d bytes: IoT Jobs allows at most %d", j.ID, len(j.Document), MaxJobDocumentBytes)
	}
	v, err := decodeJSON(j.Document)
	if _, isObj := v.(map[string]any); err != nil || !isObj {
		return nil, fmt.Errorf("job %s: the job document must be a JSON object", j.ID)
	}
	var compact strings.Builder
	enc := json.NewEncoder(&compact)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("job %s: %v", j.ID, err)
	}
	return json.RawMessage(strings.TrimSpace(compact.String())), nil
}

// jobsStore keeps jobs as files in <state dir>/jobs: JOBID.json holds the
// job document and every execution, written atomically.
type jobsStore struct {
	dir string
}

// storedJob is a job file.
type storedJob struct {
	JobID      string          `json:"jobId"`
	Document   json.RawMessage `json:"document"`
	Executions []execution     `json:"executions"`
}

func (st *jobsStore) path(id string) string { return filepath.Join(st.dir, id+".json") }

func (st *jobsStore) save(j *storedJob) error {
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(st.path(j.JobID), append(b, '\n'))
}

// load reads every job file.
func (st *jobsStore) load() ([]storedJob, error) {
	entries, err := os.ReadDir(st.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []storedJob
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(st.dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var j storedJob
		if err := json.Unmarshal(data, &j); err != nil {
			return nil, fmt.Errorf("%s: %v: move it away or fix it", p, err)
		}
		if !validJobID(j.JobID) || st.path(j.JobID) != p || !json.Valid(j.Document) {
			return nil, fmt.Errorf("%s: not the job file of job %q: move it away or fix it", p, j.JobID)
		}
		for _, x := range j.Executions {
			if x.JobID != j.JobID || !validShadowName(x.Thing, MaxThingNameBytes) || x.Status == "" {
				return nil, fmt.Errorf("%s: execution of %q on %q: move it away or fix it", p, x.JobID, x.Thing)
			}
		}
		out = append(out, j)
	}
	return out, nil
}

// saveWith saves x's job with next in place of x. s.mu is held.
func (s *jobsService) saveWith(x, next *execution) error {
	if s.store == nil {
		return nil
	}
	if err := s.store.save(storedOf(x.job, x, next)); err != nil {
		s.e.log.Error("IoT: job not saved", "job", x.job.id, "err", err)
		return err
	}
	return nil
}

// storedOf is job j as a file, with next in place of x (when x is set).
func storedOf(j *job, x, next *execution) *storedJob {
	things := make([]string, 0, len(j.execs))
	for t := range j.execs {
		things = append(things, t)
	}
	sort.Strings(things)
	sj := &storedJob{JobID: j.id, Document: j.document}
	for _, t := range things {
		e := j.execs[t]
		if e == x {
			e = next
		}
		sj.Executions = append(sj.Executions, copyExec(e))
	}
	return sj
}

// addJob creates a job with an execution QUEUED for each target, saves
// it and notifies the targets; file names the jobs folder's file it comes
// from ("" for a seed), for the log. s.mu is held.
func (s *jobsService) addJob(seed JobSeed, now time.Time, file string) error {
	doc, err := seed.Check()
	if err != nil {
		return err
	}
	if _, dup := s.jobs[seed.ID]; dup {
		return fmt.Errorf("job %s exists already: give a new job ID", seed.ID)
	}
	j := &job{id: seed.ID, document: doc, execs: map[string]*execution{}}
	for _, t := range seed.Targets {
		s.seq++
		j.execs[t] = &execution{JobID: j.id, Thing: t, Status: statusQueued, QueuedAt: now.Unix(), LastUpdatedAt: now.Unix(),
			VersionNumber: 1, ExecutionNumber: 1, Seq: s.seq, job: j}
	}
	if s.store != nil {
		if err := s.store.save(storedOf(j, nil, nil)); err != nil {
			return fmt.Errorf("job %s: %v", j.id, err)
		}
	}
	s.jobs[j.id] = j
	if file != "" {
		s.e.log.Info("IoT: job created", "job", j.id, "targets", strings.Join(seed.Targets, ","), "file", file)
	}
	for _, t := range seed.Targets {
		first := s.next(t)
		s.byThing[t] = append(s.byThing[t], j.execs[t])
		s.notifyChanges(j.execs[t], "", first, now)
	}
	return nil
}

// restore adds a job read from the state directory. s.mu is held.
func (s *jobsService) restore(sj storedJob, now time.Time) {
	j := &job{id: sj.JobID, document: sj.Document, execs: map[string]*execution{}}
	for i := range sj.Executions {
		x := sj.Executions[i]
		x.job = j
		j.execs[x.Thing] = &x
		s.byThing[x.Thing] = append(s.byThing[x.Thing], &x)
		s.seq = max(s.seq, x.Seq)
		s.arm(&x, now)
	}
	s.jobs[j.id] = j
}

// setupJobs loads the state directory, creates the configured jobs and
// prepares the jobs folder's watcher; on an error nothing keeps running.
func (e *Emulator) setupJobs() error {
	s := newJobsService(e)
	e.jobs = s
	e.services = append(e.services, s)
	if err := s.setup(); err != nil {
		s.close() // the step timers of stored executions
		return err
	}
	return nil
}

func (s *jobsService) setup() error {
	e := s.e
	now := e.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	loaded := map[string]bool{}
	if e.cfg.StateDir != "" {
		s.store = &jobsStore{dir: filepath.Join(e.cfg.StateDir, "jobs")}
		if err := os.MkdirAll(s.store.dir, 0o700); err != nil {
			return fmt.Errorf("state directory: %v", err)
		}
		stored, err := s.store.load()
		if err != nil {
			return fmt.Errorf("state directory: %v", err)
		}
		for _, sj := range stored {
			s.restore(sj, now)
			loaded[sj.JobID] = true
		}
	}
	// Every seed is checked before any is saved.
	ids := map[string]bool{}
	for _, seed := range e.cfg.Jobs {
		if _, err := seed.Check(); err != nil {
			return err
		}
		if ids[seed.ID] {
			return fmt.Errorf("job %s is given twice", seed.ID)
		}
		ids[seed.ID] = true
	}
	for _, seed := range e.cfg.Jobs {
		if loaded[seed.ID] {
			continue // the stored job wins
		}
		if err := s.addJob(seed, now, ""); err != nil {
			return err
		}
	}
	if e.cfg.JobsDir != "" {
		s.watcher = newJobsWatcher(s, e.cfg.JobsDir)
	}
	if len(s.jobs) > 0 || e.cfg.JobsDir != "" {
		attrs := []any{"jobs", len(s.jobs), "from_state_dir", len(loaded)}
		if e.cfg.JobsDir != "" {
			attrs = append(attrs, "jobs_dir", e.cfg.JobsDir)
		}
		e.log.Info("IoT: Jobs service", attrs...)
	}
	return nil
}
