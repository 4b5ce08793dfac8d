package bench

import (
	"fmt"
	"strings"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/iotctl/iotctl/pkg/errs"
)

// Merge adds up results of shards that ran at the same time: counters and
// rates are summed, durations and maxima take the largest. Percentiles
// cannot be added: they are exact only when logs (ReadHDRLog of every
// result's --hdr-out file) are given; otherwise a latency keeps only its max
// and count and is marked inexact.
func Merge(results []*Result, logs []map[string]*hdr.Histogram) (*Result, error) {
	if len(results) == 0 {
		return nil, errs.Usagef("nothing to merge: give the JSON results of the shards")
	}
	m := &Result{Settings: results[0].Settings, RefusedByReason: map[string]uint64{}}
	m.Settings.Publishers, m.Settings.Subscribers = 0, 0
	var shards []string
	for _, r := range results {
		if r.Settings.Mode != m.Settings.Mode {
			return nil, errs.Usagef("cannot merge a bench %s result with a bench %s result", r.Settings.Mode, m.Settings.Mode)
		}
		if r.Settings.QoS != m.Settings.QoS || r.Settings.Size != m.Settings.Size {
			m.Notes = append(m.Notes, fmt.Sprintf("shard %s ran with QoS %d, %d B; the banner shows the first", r.Settings.Shard, r.Settings.QoS, r.Settings.Size))
		}
		shards = append(shards, r.Settings.Shard)
		m.Settings.Publishers += r.Settings.Publishers
		m.Settings.Subscribers += r.Settings.Subscribers
		m.Shards += max(r.Shards, 1)
		m.DurationS = max(m.DurationS, r.DurationS)
		m.Published += r.Published
		m.Acknowledged += r.Acknowledged
		m.Refused += r.Refused
		for code, n := range r.RefusedByReason {
			m.RefusedByReason[code] += n
		}
		m.AckTimeouts += r.AckTimeouts
		m.PublishErrors += r.PublishErrors
		m.Expected += r.Expected
		m.Received += r.Received
		m.Lost += r.Lost
		m.Duplicated += r.Duplicated
		m.OutOfOrder += r.OutOfOrder
		m.Ignored += r.Ignored
		m.PublishRate += r.PublishRate
		m.ReceiveRate += r.ReceiveRate
		m.BytesPerSecond += r.BytesPerSecond
		m.Wire.Publishes += r.Wire.Publishes
		m.Wire.Bytes += r.Wire.Bytes
		m.Wire.FullBytes += r.Wire.FullBytes
		m.BehindScheduleMaxUS = max(m.BehindScheduleMaxUS, r.BehindScheduleMaxUS)
		m.Connections.Opened += r.Connections.Opened
		m.Connections.Failed += r.Connections.Failed
		m.Connections.Reconnects += r.Connections.Reconnects
		m.Connections.Disconnects += r.Connections.Disconnects
		m.Connections.PerSecond += r.Connections.PerSecond
	}
	m.Settings.Rate = 0
	for _, r := range results {
		m.Settings.Rate += r.Settings.Rate
	}
	m.Settings.Shard = strings.Join(shards, ",")

	hists := map[string]*hdr.Histogram{}
	for _, l := range logs {
		for name, h := range l {
			if hists[name] == nil {
				hists[name] = newHist()
			}
			hists[name].Merge(h)
		}
	}
	inexact := false
	for _, x := range []struct {
		name string
		dst  *Latency
		get  func(*Result) Latency
	}{
		{EndToEnd, &m.LatencyUS.EndToEnd, func(r *Result) Latency { return r.LatencyUS.EndToEnd }},
		{PublishAck, &m.LatencyUS.PublishAck, func(r *Result) Latency { return r.LatencyUS.PublishAck }},
		{Connect, &m.LatencyUS.Connect, func(r *Result) Latency { return r.LatencyUS.Connect }},
	} {
		var sum Latency
		sum.Exact = true
		for _, r := range results {
			l := x.get(r)
			sum.Count += l.Count
			sum.Max = max(sum.Max, l.Max)
		}
		switch h := hists[x.name]; {
		case sum.Count == 0:
			*x.dst = Latency{Exact: true}
		case h != nil && h.TotalCount() == sum.Count:
			*x.dst = summarize(h)
		case h != nil:
			return nil, errs.Usagef("the HDR logs hold %d %s values but the results count %d: give every result's log, once", h.TotalCount(), x.name, sum.Count)
		default:
			sum.Exact = false
			*x.dst = sum
			inexact = true
		}
	}
	if len(hists) > 0 {
		m.hists = hists
	}
	if inexact {
		m.Notes = append(m.Notes, "percentiles cannot be merged from summaries: max is the largest of the shards' maxima and count their sum; pass the shards' --hdr-out logs for exact percentiles")
	}
	return m, nil
}
