package iot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// jobsDirPoll is how often the jobs folder is looked at.
var jobsDirPoll = time.Second

// JobFile is a file of the jobs folder, JOBID.json: the job's target
// things and its job document.
//
//	{"targets": ["thing1", "thing2"], "document": {"operation": "update", …}}
type JobFile struct {
	Targets  []string        `json:"targets"`
	Document json.RawMessage `json:"document"`
}

// ParseJobFile reads a jobs folder file's content as the seed of job id.
func ParseJobFile(id string, data []byte) (JobSeed, error) {
	var f JobFile
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		return JobSeed{}, fmt.Errorf(`%v: want {"targets": ["THING", …], "document": {…}}`, err)
	}
	if len(f.Document) == 0 {
		return JobSeed{}, fmt.Errorf(`no "document": want {"targets": ["THING", …], "document": {…}}`)
	}
	seed := JobSeed{ID: id, Targets: f.Targets, Document: f.Document}
	_, err := seed.Check()
	return seed, err
}

// maxJobFile bounds a jobs folder file: a job document of the largest size
// (MaxJobDocumentBytes), escaped, and its targets fit with room to spare.
const maxJobFile = 1 << 20

// readJobFile reads a jobs folder file. Only a regular file (or a link to
// one) of at most maxJobFile bytes is read: a FIFO would block the
// watcher and a device or huge file fill the memory.
func readJobFile(p string) ([]byte, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if fi.Size() > maxJobFile {
		return nil, fmt.Errorf("%d bytes: a job file has at most %d", fi.Size(), maxJobFile)
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJobFile+1))
	if err == nil && len(data) > maxJobFile {
		err = fmt.Errorf("over %d bytes: a job file has at most %d", maxJobFile, maxJobFile)
	}
	return data, err
}

// jobsWatcher creates a job for each new file of the jobs folder.
type jobsWatcher struct {
	s   *jobsService
	dir string

	once, stopped sync.Once
	quit          chan struct{}
	done          chan struct{}

	seen map[string]fileStamp // files looked at, by name
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func newJobsWatcher(s *jobsService, dir string) *jobsWatcher {
	return &jobsWatcher{s: s, dir: dir, quit: make(chan struct{}), done: make(chan struct{}), seen: map[string]fileStamp{}}
}

// start looks at the folder now and then every jobsDirPoll until stop.
func (w *jobsWatcher) start() {
	w.once.Do(func() {
		go func() {
			defer close(w.done)
			t := time.NewTicker(jobsDirPoll)
			defer t.Stop()
			for {
				w.scan()
				select {
				case <-w.quit:
					return
				case <-t.C:
				}
			}
		}()
	})
}

// stop ends the watching and waits for it.
func (w *jobsWatcher) stop() {
	w.stopped.Do(func() {
		started := true
		w.once.Do(func() { started = false })
		close(w.quit)
		if started {
			<-w.done
		}
	})
}

// scan creates the jobs of new or changed files. A bad file gets one log
// line until it changes; a file naming a job that exists is left alone,
// quietly when the job was read from the state directory (after a
// restart with --state-dir, the stored job is that file's).
func (w *jobsWatcher) scan() {
	log := w.s.e.log
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		if _, bad := w.seen[""]; !bad {
			log.Warn("IoT: jobs folder unreadable: check --jobs-dir", "dir", w.dir, "err", err)
			w.seen[""] = fileStamp{}
		}
		return
	}
	delete(w.seen, "")
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		stamp := fileStamp{info.Size(), info.ModTime()}
		old, known := w.seen[name]
		if known && old == stamp {
			continue
		}
		w.seen[name] = stamp
		p := filepath.Join(w.dir, name)
		id := strings.TrimSuffix(name, ".json")
		data, err := readJobFile(p)
		if err != nil {
			log.Warn("IoT: jobs folder: file not read", "file", p, "err", err)
			continue
		}
		seed, err := ParseJobFile(id, data)
		if err != nil {
			log.Warn("IoT: jobs folder: file ignored: fix it (it is read again when it changes)", "file", p, "err", err)
			continue
		}
		w.s.mu.Lock()
		_, exists := w.s.jobs[id]
		restored := w.s.restored[id]
		if !exists && !w.s.closed {
			err = w.s.addJob(seed, w.s.e.cfg.Now(), p)
		}
		w.s.mu.Unlock()
		switch {
		case exists && (known || !restored):
			log.Warn("IoT: jobs folder: file ignored: job "+id+" exists already and a job is created once: put a new job in a new file", "file", p)
		case exists:
			// Made by this file before a restart with --state-dir.
		case err != nil:
			log.Warn("IoT: jobs folder: job not created", "file", p, "err", err)
		}
	}
}
