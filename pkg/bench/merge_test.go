package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/iotctl/iotctl/internal/testpeer"
)

// Two shards running at once, merged, count what one run of all their
// clients counts; with their HDR logs the merged percentiles are exact.
func TestMergeShardsEqualsSingleRun(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{MaxInflightMessages: 1000, MaxQueuedMessages: -1})
	dial := dialerFor(t, testSettings(m.URL()))
	base := Config{Mode: Roundtrip, Publishers: 2, Subscribers: 2, QoS: 1, Size: 64, Count: 1000, Shared: "g", RunID: "m"}

	single := base
	single.Publishers, single.Subscribers, single.RunID = 4, 4, "single"
	one := runBench(t, single, dial)

	shards := make([]*Result, 2)
	var wg sync.WaitGroup
	for i := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := base
			cfg.Shard = Shard{i, 2}
			shards[i] = runBench(t, cfg, dial)
		}()
	}
	wg.Wait()

	// Round trip through the files the shards would leave.
	dir := t.TempDir()
	var results []*Result
	var files []string
	for i, r := range shards {
		var buf bytes.Buffer
		if err := r.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		back, err := ReadResult(&buf)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, back)
		fs, err := r.WriteHDRFiles(filepath.Join(dir, "shard-"+string(rune('0'+i))))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}

	merged, err := Merge(results, nil)
	if err != nil {
		t.Fatal(err)
	}
	type totals struct{ pub, ack, exp, recv, lost, dup, opened uint64 }
	sum := func(r *Result) totals {
		return totals{r.Published, r.Acknowledged, r.Expected, r.Received, r.Lost, r.Duplicated, r.Connections.Opened}
	}
	if got, want := sum(merged), sum(one); got != want {
		t.Errorf("merged totals %+v, single run %+v", got, want)
	}
	if merged.Shards != 2 || merged.Settings.Publishers != 4 || merged.Settings.Subscribers != 4 {
		t.Errorf("shards %d, publishers %d, subscribers %d", merged.Shards, merged.Settings.Publishers, merged.Settings.Subscribers)
	}
	e2e := merged.LatencyUS.EndToEnd
	if e2e.Exact || e2e.Count != one.LatencyUS.EndToEnd.Count || e2e.Max != max(shards[0].LatencyUS.EndToEnd.Max, shards[1].LatencyUS.EndToEnd.Max) {
		t.Errorf("merged without logs: %+v", e2e)
	}
	var text bytes.Buffer
	merged.WriteText(&text)
	if !bytes.Contains(text.Bytes(), []byte("percentiles cannot be merged")) {
		t.Errorf("no note on inexact percentiles:\n%s", text.String())
	}
	var js bytes.Buffer
	merged.WriteJSON(&js)
	if !bytes.Contains(js.Bytes(), []byte(`"p50": null`)) {
		t.Errorf("inexact percentiles not null:\n%s", js.String())
	}

	// With the logs: exact, and equal to merging the in-memory histograms.
	var logs []map[string]*hdr.Histogram
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		l, err := ReadHDRLog(fh)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	exact, err := Merge(results, logs)
	if err != nil {
		t.Fatal(err)
	}
	h := newHist()
	h.Merge(shards[0].Histogram(EndToEnd))
	h.Merge(shards[1].Histogram(EndToEnd))
	if got, want := exact.LatencyUS.EndToEnd, summarize(h); got != want {
		t.Errorf("merged with logs %+v, want %+v", got, want)
	}
	if len(exact.Notes) != 0 {
		t.Errorf("notes %v", exact.Notes)
	}

	// A log given twice does not add up.
	if _, err := Merge(results, append(logs, logs[0])); err == nil {
		t.Error("merge with a log twice: no error")
	}
}
