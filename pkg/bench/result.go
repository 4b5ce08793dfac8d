package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/iotctl/iotctl/pkg/errs"
)

// Result is a run's outcome. Its JSON names are a contract (see
// testdata/result.golden.json); add fields, do not rename them.
type Result struct {
	Settings  Settings `json:"settings"`
	DurationS float64  `json:"duration_s"` // measured publishing period (conn: connecting)

	Published       uint64            `json:"published"`
	Acknowledged    uint64            `json:"acknowledged"` // QoS>0 success acks; 0 at QoS 0
	Refused         uint64            `json:"refused"`
	RefusedByReason map[string]uint64 `json:"refused_by_reason"` // "0x97" → count
	AckTimeouts     uint64            `json:"ack_timeouts"`      // never acknowledged
	PublishErrors   uint64            `json:"publish_errors"`    // publishers stopped early by an error (warned on stderr)

	Expected   uint64 `json:"expected"` // deliveries expected; 0 when unknown (sub mode)
	Received   uint64 `json:"received"` // distinct messages; repeats count in duplicated
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`
	OutOfOrder uint64 `json:"out_of_order"`
	Ignored    uint64 `json:"ignored"` // not bench messages of this run, or warm-up

	PublishRate         float64 `json:"publish_rate"`     // msgs/s
	ReceiveRate         float64 `json:"receive_rate"`     // msgs/s
	BytesPerSecond      float64 `json:"bytes_per_second"` // payload bytes published per second
	BehindScheduleMaxUS int64   `json:"behind_schedule_max_us"`

	// Wire is what the publishers' PUBLISH packets took on the wire.
	Wire Wire `json:"wire"`

	LatencyUS   Latencies   `json:"latency_us"`
	Connections Connections `json:"connections"`

	// Shards is how many results this one adds up (1 for a single run).
	Shards int      `json:"shards"`
	Notes  []string `json:"notes,omitempty"`

	hists      map[string]*hdr.Histogram
	start, end time.Time
}

// Settings are the settings in effect, printed as the report's banner.
type Settings struct {
	Mode           string   `json:"mode"`
	Endpoint       string   `json:"endpoint"`
	EmbeddedBroker bool     `json:"embedded_broker"`
	Auth           string   `json:"auth"`
	Limits         string   `json:"limits"`
	Publishers     int      `json:"publishers"`
	Subscribers    int      `json:"subscribers"`
	Topic          string   `json:"topic"`
	Filters        []string `json:"filters,omitempty"`
	Shared         string   `json:"shared,omitempty"`
	QoS            int      `json:"qos"`
	Size           int      `json:"size"`               // 0 with a template
	Template       string   `json:"template,omitempty"` // the payload after the header
	TopicAlias     bool     `json:"topic_alias"`
	Rate           float64  `json:"rate"` // 0: as fast as flow control allows
	DurationS      float64  `json:"duration_s"`
	Count          int      `json:"count"` // per publisher
	WarmupS        float64  `json:"warmup_s"`
	RampS          float64  `json:"ramp_s"`
	Inflight       int      `json:"inflight"`        // per publisher; 0: the server's receive maximum
	ReceiveMaximum int      `json:"receive_maximum"` // the broker's, as seen by the first publisher
	RunID          string   `json:"run_id"`
	Shard          string   `json:"shard"`
	ClientIDPrefix string   `json:"client_id_prefix"`
}

// Wire counts the publishers' PUBLISH packets, warm-up and resends
// included (session.WireStats); zero in sub mode.
type Wire struct {
	Publishes uint64 `json:"publishes"`
	Bytes     uint64 `json:"bytes"`
	// FullBytes is what they would have taken with full topics: Bytes
	// plus what topic aliases saved.
	FullBytes uint64 `json:"full_topic_bytes"`
}

// PerPublish is the average PUBLISH size on the wire, with the topic
// aliases used and with full topics.
func (w Wire) PerPublish() (bytes, full float64) {
	if w.Publishes == 0 {
		return 0, 0
	}
	return float64(w.Bytes) / float64(w.Publishes), float64(w.FullBytes) / float64(w.Publishes)
}

// Latencies are the measured histograms, in microseconds.
type Latencies struct {
	EndToEnd   Latency `json:"end_to_end"`
	PublishAck Latency `json:"publish_ack"`
	Connect    Latency `json:"connect"`
}

// Connections counts connection events.
type Connections struct {
	Opened      uint64  `json:"opened"`
	Failed      uint64  `json:"failed"`
	Reconnects  uint64  `json:"reconnects"`
	Disconnects uint64  `json:"disconnects"` // connections lost during the run
	PerSecond   float64 `json:"per_second"`  // conn mode: opened / connecting period
}

// Target describes where a run goes, for the banner; bench does not use it.
type Target struct {
	Endpoint string
	Embedded bool
	Auth     string
	Limits   string
}

// Histogram returns a metric's merged histogram (EndToEnd, PublishAck,
// Connect), or nil when the result has none (read back from JSON).
func (r *Result) Histogram(metric string) *hdr.Histogram { return r.hists[metric] }

// WriteJSON writes the result as one indented JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadResult reads a result written by WriteJSON.
func ReadResult(rd io.Reader) (*Result, error) {
	var r Result
	dec := json.NewDecoder(rd)
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	if r.Shards == 0 {
		r.Shards = 1
	}
	return &r, nil
}

// WriteHDR writes the result's histograms as an HDR interval log.
func (r *Result) WriteHDR(w io.Writer) error { return writeHDRLog(w, r.start, r.end, r.hists) }

// MarshalJSON writes null percentiles when they are not exact.
func (l Latency) MarshalJSON() ([]byte, error) {
	type plain Latency
	if l.Exact {
		return json.Marshal(plain(l))
	}
	return json.Marshal(struct {
		P50   *int64 `json:"p50"`
		P90   *int64 `json:"p90"`
		P99   *int64 `json:"p99"`
		P999  *int64 `json:"p999"`
		Max   int64  `json:"max"`
		Count int64  `json:"count"`
		Exact bool   `json:"exact"`
	}{Max: l.Max, Count: l.Count})
}

// WriteHDRFiles writes one HDR interval log per metric that has values,
// named <prefix>-<metric>.hlog, and returns their names.
func (r *Result) WriteHDRFiles(prefix string) ([]string, error) {
	var files []string
	for _, name := range []string{EndToEnd, PublishAck, Connect} {
		h := r.hists[name]
		if h == nil || h.TotalCount() == 0 {
			continue
		}
		file := prefix + "-" + name + ".hlog"
		f, err := os.Create(file)
		if err != nil {
			return files, errs.Usagef("--hdr-out: %v", err)
		}
		err = writeHDRLog(f, r.start, r.end, map[string]*hdr.Histogram{name: h})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return files, fmt.Errorf("write %s: %w", file, err)
		}
		files = append(files, file)
	}
	return files, nil
}
