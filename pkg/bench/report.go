package bench

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Banner is the settings in effect, a few lines.
func (s Settings) Banner() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bench %s", s.Mode)
	switch s.Mode {
	case string(Conn):
		fmt.Fprintf(&b, ": %s", plural(s.Publishers, "connection"))
	case string(Sub):
		fmt.Fprintf(&b, ": %s", plural(s.Subscribers, "subscriber"))
	case string(Pub):
		fmt.Fprintf(&b, ": %s", plural(s.Publishers, "publisher"))
	default:
		fmt.Fprintf(&b, ": %s → %s", plural(s.Publishers, "publisher"), plural(s.Subscribers, "subscriber"))
	}
	if s.Mode != string(Conn) {
		if s.Template != "" {
			fmt.Fprintf(&b, ", QoS %d, %d B header + template", s.QoS, HeaderSize)
		} else {
			fmt.Fprintf(&b, ", QoS %d, %d B", s.QoS, s.Size)
		}
		switch {
		case s.DurationS > 0:
			fmt.Fprintf(&b, ", for %gs", s.DurationS)
		case s.Count > 0:
			fmt.Fprintf(&b, ", %s msgs per publisher", group(uint64(s.Count)))
		}
		if s.Rate > 0 {
			fmt.Fprintf(&b, ", rate %s msgs/s (open loop)", group(uint64(s.Rate)))
		} else {
			b.WriteString(", rate: as fast as flow control allows")
		}
	}
	b.WriteString("\nendpoint ")
	if s.EmbeddedBroker {
		b.WriteString("embedded broker ")
	}
	fmt.Fprintf(&b, "%s (auth %s, limits %s)", s.Endpoint, s.Auth, s.Limits)
	if s.Mode != string(Conn) {
		fmt.Fprintf(&b, "\ntopic %s", s.Topic)
		if s.TopicAlias {
			b.WriteString(" (topic aliases)")
		}
		if len(s.Filters) == 1 {
			fmt.Fprintf(&b, ", subscribed to %s", s.Filters[0])
		} else if len(s.Filters) > 1 {
			fmt.Fprintf(&b, ", %d filters per subscriber", len(s.Filters))
		}
		if s.QoS > 0 && s.Mode != string(Sub) {
			if s.Inflight > 0 {
				fmt.Fprintf(&b, "; in flight ≤ %d per publisher", s.Inflight)
			} else {
				fmt.Fprintf(&b, "; in flight ≤ receive maximum (%d)", s.ReceiveMaximum)
			}
		}
		if s.Template != "" {
			fmt.Fprintf(&b, "\npayload: header + template %s", s.Template)
		}
	}
	fmt.Fprintf(&b, "\nrun %s, shard %s", s.RunID, s.Shard)
	if s.WarmupS > 0 {
		fmt.Fprintf(&b, ", warm-up %gs", s.WarmupS)
	}
	if s.RampS > 0 {
		fmt.Fprintf(&b, ", ramp %gs", s.RampS)
	}
	return b.String()
}

// WriteText writes the banner, rates, counters and latency percentiles,
// with no spaces at the ends of lines (tabwriter pads the last column).
func (r *Result) WriteText(w io.Writer) error {
	var b bytes.Buffer
	if err := r.writeText(&b); err != nil {
		return err
	}
	lines := strings.SplitAfter(b.String(), "\n")
	for i, l := range lines {
		if strings.HasSuffix(l, "\n") {
			lines[i] = strings.TrimRight(l[:len(l)-1], " ") + "\n"
		}
	}
	_, err := io.WriteString(w, strings.Join(lines, ""))
	return err
}

func (r *Result) writeText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	fmt.Fprintln(w, r.Settings.Banner())
	if r.Shards > 1 {
		fmt.Fprintf(w, "merged from %d results\n", r.Shards)
	}
	fmt.Fprintln(w)
	if r.Settings.Mode != string(Conn) {
		if r.Settings.Mode != string(Sub) {
			p("published\t%s\tin %.3fs\t%s msgs/s\t%s/s\t\n", group(r.Published), r.DurationS, rate(r.PublishRate), bytesIEC(r.BytesPerSecond))
			if r.Settings.QoS > 0 {
				p("acknowledged\t%s\trefused %s\tack timeouts %s\t\t\n", group(r.Acknowledged), group(r.Refused), group(r.AckTimeouts))
			}
			if per, full := r.Wire.PerPublish(); per > 0 {
				saved := "\t"
				if full > per {
					saved = fmt.Sprintf("full topics %.1f B\t%.1f B saved", full, full-per)
				}
				p("on the wire\t%.1f B per PUBLISH\t%s\t\t\n", per, saved)
			}
			if r.PublishErrors > 0 {
				p("publish errors\t%s\t\t\t\t\n", group(r.PublishErrors))
			}
			if r.Settings.Rate > 0 {
				p("behind schedule\tmax %s µs\t\t\t\t\n", group(uint64(r.BehindScheduleMaxUS)))
			}
		}
		if r.Settings.Mode != string(Pub) {
			exp := "?"
			if r.Expected > 0 {
				exp = group(r.Expected)
			}
			p("received\t%s\tof %s\t%s msgs/s\t\t\n", group(r.Received), exp, rate(r.ReceiveRate))
			p("lost\t%s\tduplicated %s\tout of order %s\t\t\n", group(r.Lost), group(r.Duplicated), group(r.OutOfOrder))
		}
	}
	c := r.Connections
	p("connections\topened %s\tfailed %s\treconnects %s\t\t\n", group(c.Opened), group(c.Failed), group(c.Reconnects))
	if r.Settings.Mode == string(Conn) {
		p("connect rate\t%s conn/s\tin %.3fs\t\t\t\n", rate(c.PerSecond), r.DurationS)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.RefusedByReason) > 0 {
		codes := make([]string, 0, len(r.RefusedByReason))
		for code := range r.RefusedByReason {
			codes = append(codes, code)
		}
		sort.Strings(codes)
		fmt.Fprint(w, "refused by reason:")
		for _, code := range codes {
			fmt.Fprintf(w, " %s×%d", code, r.RefusedByReason[code])
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "latency µs\tp50\tp90\tp99\tp99.9\tmax\tcount\t")
	for _, m := range []struct {
		name string
		l    Latency
	}{{"end-to-end", r.LatencyUS.EndToEnd}, {"publish→ack", r.LatencyUS.PublishAck}, {"connect", r.LatencyUS.Connect}} {
		if m.l.Count == 0 {
			continue
		}
		if m.l.Exact {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", m.name, group(uint64(m.l.P50)), group(uint64(m.l.P90)), group(uint64(m.l.P99)), group(uint64(m.l.P999)), group(uint64(m.l.Max)), group(uint64(m.l.Count)))
		} else {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\t%s\t\n", m.name, group(uint64(m.l.Max)), group(uint64(m.l.Count)))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// group writes n with thousands separators: 1,234,567.
func group(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func rate(v float64) string {
	if v >= 100 {
		return group(uint64(v + 0.5))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func bytesIEC(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
}
