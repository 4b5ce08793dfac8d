package pub

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/broker"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestSummaryJSON checks pub -o json's summary against testdata/*.json,
// on success and on the failure exits that have one; duration_s and rate
// are measured and set to 0 before comparing.
func TestSummaryJSON(t *testing.T) {
	withheld := make(chan struct{}, 16)
	hook := &fnHook{
		acl: func(cl *broker.Client, topic string, write bool) bool { return !strings.HasPrefix(topic, "forbidden") },
		onPublish: func(cl *broker.Client, pk mpackets.Packet) (mpackets.Packet, error) {
			if strings.HasPrefix(pk.TopicName, "withheld") {
				withheld <- struct{}{}
				return pk, mpackets.ErrRejectPacket // never acknowledged
			}
			return pk, nil
		},
	}
	b := testenv.StartBroker(t, broker.Options{Hooks: []broker.Hook{hook}})
	ep := b.URL("mqtt")
	cases := []struct {
		name   string
		opts   func(*Options)
		stdin  io.Reader
		cancel bool // interrupt once the input is read
		code   int
	}{
		{"qos1-count", func(o *Options) { o.Topic, o.Message, o.MessageSet, o.QoS, o.Count = "ok", "hi", true, 1, 3 }, nil, false, 0},
		{"qos0-lines", func(o *Options) { o.Topic, o.Lines = "ok", true }, strings.NewReader("a\nb\n"), false, 0},
		{"refused", func(o *Options) { o.Topic, o.Null, o.QoS, o.Count = "forbidden/x", true, 1, 2 }, nil, false, 4},
		{"unacknowledged", func(o *Options) { o.Topic, o.Lines, o.QoS, o.Grace = "withheld", true, 2, 100*time.Millisecond },
			io.MultiReader(strings.NewReader("1\n2\n"), blockingReader{}), true, 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, stderr := pubOpts(t, tc.stdin, "--endpoint", ep, "-o", "json")
			tc.opts(o)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				// Interrupt once the broker has both messages (and acknowledges neither).
				go func() {
					<-withheld
					<-withheld
					cancel()
				}()
			}
			err := pubRun(ctx, o)
			if code := cmdutil.ExitCode(err); code != tc.code {
				t.Fatalf("exit %d (%v), want %d\n%s", code, err, tc.code, stderr)
			}
			golden(t, tc.name+".json", normalize(t, o.IO.Out.(*bytes.Buffer).Bytes()))
		})
	}
}

// normalize zeroes the measured fields and re-encodes through the one
// output layer, so the golden file also pins the layout.
func normalize(t *testing.T, out []byte) string {
	t.Helper()
	var s summary
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if s.DurationS <= 0 || s.Sent > 0 && s.Rate <= 0 {
		t.Errorf("duration_s %v, rate %v: want measured values", s.DurationS, s.Rate)
	}
	s.DurationS, s.Rate = 0, 0
	var b bytes.Buffer
	if err := cmdutil.WriteJSON(&b, s); err != nil {
		t.Fatal(err)
	}
	// The layout: what was printed differs from the re-encoded document
	// only in the two measured numbers.
	if strings.Count(string(out), "\n") != strings.Count(b.String(), "\n") {
		t.Errorf("layout differs:\n%s\nvs\n%s", out, b.String())
	}
	return b.String()
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	clitest.Golden(t, name, got, *update)
}
