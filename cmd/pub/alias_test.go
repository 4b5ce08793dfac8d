package pub

import (
	"context"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testpeer"
)

// pub --topic-alias against mosquitto: the first message carries the
// topic and alias 1, the others the alias alone, and the subscriber gets
// every message on its topic. A mosquitto that allows no aliases gets full
// topics and one warning.
func TestTopicAliasMosquitto(t *testing.T) {
	for _, tc := range []struct {
		name      string
		maxAlias  string
		wantAlias int // PUBLISHes with the alias alone
		warn      bool
	}{
		{"allowed", "10", 4, false},
		{"none", "0", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{Extra: "max_topic_alias " + tc.maxAlias + "\n"})
			r := receive(t, m.Addr(), "alias/t")
			o, errOut := pubOpts(t, nil, "--endpoint", m.Addr(), "--debug")
			o.Topic, o.Message, o.MessageSet, o.QoS, o.Count, o.TopicAlias = "alias/t", "hi", true, 1, 5, true
			if err := pubRun(context.Background(), o); err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			if got := len(r.wait(t, 5)); got != 5 {
				t.Errorf("received %d", got)
			}
			trace := errOut.String()
			if n := strings.Count(trace, `topic="" alias=1`); n != tc.wantAlias {
				t.Errorf("%d PUBLISHes with the alias alone, want %d:\n%s", n, tc.wantAlias, trace)
			}
			if tc.wantAlias > 0 && strings.Count(trace, `topic="alias/t" alias=1`) != 1 {
				t.Errorf("the first PUBLISH does not set alias 1:\n%s", trace)
			}
			if got := strings.Count(trace, "warning: --topic-alias: the broker at"); got != map[bool]int{true: 1}[tc.warn] {
				t.Errorf("%d warnings:\n%s", got, trace)
			}
		})
	}
}
