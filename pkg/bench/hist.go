package bench

import (
	"fmt"
	"io"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds with 3 significant digits, up to an
// hour; longer values are recorded as an hour.
const (
	histMax    = int64(time.Hour / time.Microsecond)
	histDigits = 3
)

// Metric names: JSON keys under latency_us and HDR log tags.
const (
	EndToEnd   = "end_to_end"
	PublishAck = "publish_ack"
	Connect    = "connect"
)

// recorder is one goroutine's histogram. Sparse storage keeps a thousand
// publishers' histograms small; they are merged into dense ones at the end.
type recorder struct{ h *hdr.PackedHistogram }

func newRecorder() recorder { return recorder{hdr.NewPacked(1, histMax, histDigits)} }

// record adds a latency given in nanoseconds.
func (r recorder) record(ns int64) {
	us := ns / 1000
	switch {
	case us < 1:
		us = 1 // below the resolution, and clock steps, count as 1 µs
	case us > histMax:
		us = histMax
	}
	_ = r.h.RecordValue(us)
}

func newHist() *hdr.Histogram { return hdr.New(1, histMax, histDigits) }

// mergeRecorders adds recorders into one dense histogram.
func mergeRecorders(rs ...recorder) *hdr.Histogram {
	h := newHist()
	for _, r := range rs {
		if r.h != nil {
			r.h.MergeInto(h)
		}
	}
	return h
}

// Latency summarises one histogram, in microseconds. Exact is false for a
// merge of results without their HDR logs: then only Max and Count are
// known, and the percentiles are written as null.
type Latency struct {
	P50   int64 `json:"p50"`
	P90   int64 `json:"p90"`
	P99   int64 `json:"p99"`
	P999  int64 `json:"p999"`
	Max   int64 `json:"max"`
	Count int64 `json:"count"`
	Exact bool  `json:"exact"`
}

func summarize(h *hdr.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{Exact: true}
	}
	v := h.ValueAtPercentilesSlice([]float64{50, 90, 99, 99.9})
	return Latency{P50: v[0], P90: v[1], P99: v[2], P999: v[3], Max: h.Max(), Count: h.TotalCount(), Exact: true}
}

// writeHDRLog writes histograms as an HdrHistogram interval log, one
// interval per metric covering the whole measured period, tagged with the
// metric name. Values are microseconds (the Interval_Max column, scaled for
// nanoseconds by the format, is not).
func writeHDRLog(w io.Writer, start, end time.Time, hs map[string]*hdr.Histogram) error {
	lw := hdr.NewHistogramLogWriter(w)
	if err := lw.OutputLogFormatVersion(); err != nil {
		return err
	}
	_ = lw.OutputComment("iotctl bench: values in microseconds")
	_ = lw.OutputStartTime(start.UnixMilli())
	_ = lw.OutputLegend()
	for _, name := range []string{EndToEnd, PublishAck, Connect} {
		h := hs[name]
		if h == nil || h.TotalCount() == 0 {
			continue
		}
		h.SetTag(name)
		h.SetStartTimeMs(start.UnixMilli())
		h.SetEndTimeMs(end.UnixMilli())
		if err := lw.OutputIntervalHistogram(h); err != nil {
			return fmt.Errorf("write HDR log: %w", err)
		}
	}
	return nil
}

// ReadHDRLog reads the histograms of an HDR interval log, added up per tag.
func ReadHDRLog(r io.Reader) (map[string]*hdr.Histogram, error) {
	lr := hdr.NewHistogramLogReader(r)
	out := map[string]*hdr.Histogram{}
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			return nil, fmt.Errorf("read HDR log: %w", err)
		}
		if h == nil {
			return out, nil
		}
		tag := h.Tag()
		if out[tag] == nil {
			out[tag] = newHist()
		}
		if dropped := out[tag].Merge(h); dropped > 0 {
			return nil, fmt.Errorf("read HDR log: %d values of %q out of range", dropped, tag)
		}
	}
}
