package reply

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/shared"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/session"
)

// worlds are the brokers the request/response tests run against.
var worlds = []struct {
	name  string
	start func(t *testing.T) string
}{
	{"embedded", startBroker},
	{"mosquitto", func(t *testing.T) string { return testpeer.StartMosquitto(t, testpeer.MosquittoConfig{}).URL() }},
}

// mosquittoRR runs mosquitto_rr against the broker at port.
func mosquittoRR(t *testing.T, port int, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	all := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)
	out, err := exec.CommandContext(ctx, testpeer.Require(t, "mosquitto_rr"), all...).CombinedOutput()
	return string(out), err
}

func TestMosquittoRRAgainstReply(t *testing.T) {
	testpeer.Require(t, "mosquitto_rr")
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	startReply(t, m.URL(), "-t", "svc/upper", "--", "tr", "a-z", "A-Z")
	out, err := mosquittoRR(t, m.Port(), "-t", "svc/upper", "-e", "rr/upper", "-m", "hello", "-q", "1", "-W", "30", "-F", "%p|%P")
	if err != nil || out != "HELLO|exit_code:0\n" {
		t.Fatalf("mosquitto_rr: %v: %q, want HELLO|exit_code:0", err, out)
	}

	startReply(t, m.URL(), "-t", "svc/fail", "--", "sh", "-c", "echo partial; echo first >&2; echo 'disk on fire' >&2; exit 3")
	out, err = mosquittoRR(t, m.Port(), "-t", "svc/fail", "-e", "rr/fail", "-m", "x", "-W", "30", "-F", "%p|%P")
	if err != nil || out != "partial|exit_code:3 error:disk on fire\n" {
		t.Fatalf("mosquitto_rr: %v: %q", err, out)
	}
}

func TestReqAgainstReply(t *testing.T) {
	for _, w := range worlds {
		t.Run(w.name, func(t *testing.T) {
			ep := w.start(t)
			startReply(t, ep, "-t", "svc/+", "--", "sh", "-c", `printf '%s:' "$IOTCTL_TOPIC"; cat`)
			out, errOut, code := runReq(t, ep, "-t", "svc/a", "-m", "hello", "-q", "1")
			if code != 0 || out != "svc/a:hello\n" {
				t.Fatalf("req: exit %d, %q, stderr %q", code, out, errOut)
			}
			out, errOut, code = runReq(t, ep, "-t", "svc/b", "-m", "j", "-o", "json")
			if code != 0 {
				t.Fatalf("req -o json: exit %d: %s", code, errOut)
			}
			var j shared.JSONMessage
			if err := json.Unmarshal([]byte(out), &j); err != nil {
				t.Fatalf("req -o json: %v: %q", err, out)
			}
			if j.Payload == nil || *j.Payload != "svc/b:j" || j.Properties.User("exit_code") != "0" ||
				!strings.HasPrefix(j.Topic, "iotctl/rr/") || len(j.Properties.CorrelationData) == 0 {
				t.Fatalf("req -o json: %s", out)
			}
		})
	}
}

// TestReqAgainstThirdParty: a responder written with pkg/session (no
// Python paho here), which answers a wrong correlation first: req ignores it.
func TestReqAgainstThirdParty(t *testing.T) {
	for _, w := range worlds {
		t.Run(w.name, func(t *testing.T) {
			ep := w.start(t)
			var s *session.Session
			ready := make(chan struct{})
			s = connectSession(t, ep, func(m *session.Message) error {
				<-ready
				rt, corr := m.Props.ResponseTopic, m.Props.CorrelationData
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					_ = s.Publish(ctx, &session.Message{Topic: rt, Payload: []byte("not yours"), QoS: 1,
						Props: session.Properties{CorrelationData: []byte("other")}}, nil)
					_ = s.Publish(ctx, &session.Message{Topic: rt, Payload: append([]byte("pong "), m.Payload...), QoS: 1,
						Props: session.Properties{CorrelationData: corr}}, nil)
				}()
				return nil
			})
			close(ready)
			subscribe(t, s, "third/ping", 1)
			out, errOut, code := runReq(t, ep, "-t", "third/ping", "-m", "x", "-q", "1", "--response-topic", "third/answers")
			if code != 0 || out != "pong x\n" {
				t.Fatalf("req: exit %d, %q, stderr %q", code, out, errOut)
			}
		})
	}
}

func TestScatterGather(t *testing.T) {
	for _, w := range worlds {
		t.Run(w.name, func(t *testing.T) {
			ep := w.start(t)
			for i := range 3 {
				startReply(t, ep, "-t", "fleet/ping", "--", "echo", fmt.Sprintf("device-%d", i))
			}
			out, errOut, code := runReq(t, ep, "-t", "fleet/ping", "-n", "-C", "3", "-W", "60s")
			lines := strings.Fields(out)
			if code != 0 || len(lines) != 3 {
				t.Fatalf("req -C 3: exit %d, %q, stderr %q", code, out, errOut)
			}
			seen := map[string]bool{}
			for _, l := range lines {
				seen[l] = true
			}
			if len(seen) != 3 {
				t.Fatalf("want three different responders: %q", out)
			}
		})
	}
}

// TestGroup: with --group each request is answered by one responder of
// the group, and mosquitto (round robin) spreads them over both.
func TestGroup(t *testing.T) {
	for _, w := range worlds {
		t.Run(w.name, func(t *testing.T) {
			ep := w.start(t)
			a := startReply(t, ep, "-t", "work/+", "--group", "g", "-v", "--", "echo", "a")
			b := startReply(t, ep, "-t", "work/+", "--group", "g", "-v", "--", "echo", "b")
			// Two answers wanted, one comes: only one member answers.
			out, _, code := runReq(t, ep, "-t", "work/x", "-m", "1", "-C", "2", "-W", "3s")
			if code != 5 || len(strings.Fields(out)) != 1 {
				t.Fatalf("a request to the group: exit %d, %q: want one answer and a timeout (5)", code, out)
			}
			seen := map[string]int{}
			for i := range 10 {
				out, errOut, code := runReq(t, ep, "-t", "work/x", "-m", strconv.Itoa(i), "-q", "1")
				if code != 0 {
					t.Fatalf("req: exit %d: %s", code, errOut)
				}
				seen[strings.TrimSpace(out)]++
			}
			if w.name == "mosquitto" && (seen["a"] == 0 || seen["b"] == 0) {
				t.Fatalf("mosquitto shares round robin, but the answers were %v\na: %s\nb: %s", seen, a.errOut, b.errOut)
			}
			if seen["a"]+seen["b"] != 10 {
				t.Fatalf("answers %v", seen)
			}
		})
	}
}

// TestWorkersOrder: with --workers 4, the requests of one topic are still
// answered in order.
func TestWorkersOrder(t *testing.T) {
	ep := startBroker(t)
	startReply(t, ep, "-t", "ord/#", "--workers", "4", "--", "cat")
	const n = 30
	var mu sync.Mutex
	got := map[string][]string{}
	all := make(chan struct{})
	count := 0
	s := connectSession(t, ep, func(m *session.Message) error {
		mu.Lock()
		defer mu.Unlock()
		got[m.Topic] = append(got[m.Topic], string(m.Payload))
		if count++; count == 2*n {
			close(all)
		}
		return nil
	})
	subscribe(t, s, "ord-answers/#", 1)
	for i := range n {
		for _, topic := range []string{"ord/a", "ord/b"} {
			m := &session.Message{Topic: topic, Payload: []byte(strconv.Itoa(i)), QoS: 1,
				Props: session.Properties{ResponseTopic: "ord-answers/" + topic, CorrelationData: []byte{byte(i)}}}
			if err := s.Publish(context.Background(), m, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		t.Fatalf("answers: %v", got)
	}
	for _, topic := range []string{"ord-answers/ord/a", "ord-answers/ord/b"} {
		for i, p := range got[topic] {
			if p != strconv.Itoa(i) {
				t.Fatalf("%s: answers out of order: %v", topic, got[topic])
			}
		}
	}
}

func TestTimeouts(t *testing.T) {
	ep := startBroker(t)
	_, errOut, code := runReq(t, ep, "-t", "nobody/home", "-m", "x", "-W", "1s")
	if code != 5 || !strings.Contains(errOut, "timed out after 1s: 0 of 1 response") {
		t.Fatalf("req with no responder: exit %d, %q", code, errOut)
	}
	startReply(t, ep, "-t", "slow", "--timeout", "200ms", "--", "sleep", "60")
	out, errOut, code := runReq(t, ep, "-t", "slow", "-m", "x", "-o", "json")
	var j shared.JSONMessage
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil {
		t.Fatalf("req: exit %d, %q, %q", code, out, errOut)
	}
	if j.Properties.User("exit_code") != "124" || !strings.Contains(j.Properties.User("error"), "timed out") {
		t.Fatalf("a command over --timeout: %s", out)
	}
}

// TestInterruptDuringRun: SIGTERM while a command runs ends reply with
// 130; the command is killed and its request not answered.
func TestInterruptDuringRun(t *testing.T) {
	ep := startBroker(t)
	p := startReply(t, ep, "-t", "long", "--", "sh", "-c", "echo started >&2; exec sleep 60")
	s := connectSession(t, ep, nil)
	publishWait(t, s, &session.Message{Topic: "long", Payload: []byte("x"), QoS: 1,
		Props: session.Properties{ResponseTopic: "long/answer", CorrelationData: []byte("c")}})
	p.errOut.waitFor(t, "started", p.done)
	if code := p.stop(t); code != 130 {
		t.Fatalf("exit %d, want 130: %v\n%s", code, p.err, p.errOut)
	}
}

func TestUsage(t *testing.T) {
	ep := "mqtt://127.0.0.1:1" // never reached: checked before connecting
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--echo"}, "no topic filter"},
		{[]string{"-t", "a"}, "no command"},
		{[]string{"-t", "a", "--echo", "--", "cat"}, "give one of them"},
		{[]string{"-t", "a", "--workers", "0", "--echo"}, "--workers 0"},
		{[]string{"-t", "a", "--group", "x/y", "--echo"}, "--group"},
		{[]string{"-t", "a/#/b", "--echo"}, "a/#/b"},
		{[]string{"-t", "a", "--", "no-such-program-iotctl"}, "no-such-program-iotctl"},
		{[]string{"-V", "3.1.1", "-t", "a", "--echo"}, "reply under --mqtt-version 3.1.1: give --response-topic T"},
		{[]string{"-V", "3.1.1", "-t", "a/#", "--response-topic", "a/answers", "--echo"}, "reply would answer its own answers"},
	} {
		p := &replyProc{errOut: newWatchBuffer()}
		ios := &cmdutil.IOStreams{In: strings.NewReader(""), Out: p.errOut, ErrOut: p.errOut}
		f := cmdutil.NewFactory(ios, "test")
		root := clitestRoot(f)
		root.SetArgs(append([]string{"reply", "--endpoint", ep}, tc.args...))
		err := root.ExecuteContext(context.Background())
		if cmdutil.ExitCode(err) != 2 || !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("reply %v: %v (exit %d), want a usage error naming %q", tc.args, err, cmdutil.ExitCode(err), tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-m", "x"}, "no topic"},
		{[]string{"-t", "a"}, "no request"},
		{[]string{"-t", "a", "-m", "x", "-n"}, "only one"},
		{[]string{"-t", "a", "-m", "x", "-C", "0"}, "-C 0"},
		{[]string{"-t", "a/+", "-m", "x"}, "a/+"},
		{[]string{"-V", "3.1.1", "-t", "a", "-m", "x"}, "req under --mqtt-version 3.1.1: give --response-topic T"},
	} {
		_, errOut, code := runReq(t, ep, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("req %v: exit %d, %q, want a usage error naming %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestReconnect: reply comes back after mosquitto restarts; with a kept
// session the requests sent meanwhile wait for it at the broker.
func TestReconnect(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{Persistence: true})
	p := startReply(t, m.URL(), "-t", "svc/r", "-v", "--client-id", "responder-r", "--clean-start=false", "--session-expiry", "1h", "--echo")
	if out, errOut, code := runReq(t, m.URL(), "-t", "svc/r", "-m", "before", "-q", "1"); code != 0 || out != "before\n" {
		t.Fatalf("req: exit %d, %q, %q", code, out, errOut)
	}
	m.Restart()
	out, errOut, code := runReq(t, m.URL(), "-t", "svc/r", "-m", "after", "-q", "1", "-W", "60s")
	if code != 0 || out != "after\n" {
		t.Fatalf("req after the restart: exit %d, %q, %q\nreply: %s", code, out, errOut, p.errOut)
	}
	if !strings.Contains(p.errOut.String(), "reconnected") {
		t.Fatalf("reply did not say it reconnected: %s", p.errOut)
	}
}

// TestKilledRequestComesAgain: a request whose command the shutdown killed
// was not acknowledged, so the next responder of the kept session answers it.
func TestKilledRequestComesAgain(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	kept := []string{"-t", "job", "--client-id", "responder-k", "--clean-start=false", "--session-expiry", "1h", "-q", "1"}
	first := startReply(t, m.URL(), append(kept, "--", "sh", "-c", "echo started >&2; exec sleep 60")...)
	answers := make(chan string, 4)
	s := connectSession(t, m.URL(), func(msg *session.Message) error {
		answers <- string(msg.Payload)
		return nil
	})
	subscribe(t, s, "job-answers", 1)
	publishWait(t, s, &session.Message{Topic: "job", Payload: []byte("again"), QoS: 1,
		Props: session.Properties{ResponseTopic: "job-answers", CorrelationData: []byte("k")}})
	first.errOut.waitFor(t, "started", first.done)
	if code := first.stop(t); code != 130 {
		t.Fatalf("exit %d, want 130: %v", code, first.err)
	}
	startReply(t, m.URL(), append(kept, "--echo")...)
	select {
	case a := <-answers:
		if a != "again" {
			t.Fatalf("answer %q, want the echo of the redelivered request", a)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the killed request was not delivered again")
	}
}

// TestVerboseEscapesTopics: -v names the topic of a message that is no
// request escaped: a peer's control characters never reach the terminal.
func TestVerboseEscapesTopics(t *testing.T) {
	ep := startBroker(t)
	p := startReply(t, ep, "-v", "-t", "hostile/#", "--echo")
	s := connectSession(t, ep, nil)
	publishWait(t, s, &session.Message{Topic: "hostile/\x1b[2J", Payload: []byte("x"), QoS: 1})
	p.errOut.waitFor(t, "skipped a message on hostile/", p.done)
	if strings.Contains(p.errOut.String(), "\x1b") {
		t.Errorf("stderr %q", p.errOut.String())
	}
}

// TestReqVerboseEscapes: req -v names its topics escaped (the default
// response topic holds the client ID, control characters and all).
func TestReqVerboseEscapes(t *testing.T) {
	ep := startBroker(t)
	startReply(t, ep, "-t", "svc/esc", "--echo")
	out, errOut, code := runReq(t, ep, "-v", "--client-id", "a\x1b[2Jb", "-t", "svc/esc", "-m", "x")
	if code != 0 || out != "x\n" || strings.Contains(errOut, "\x1b") || !strings.Contains(errOut, "request published on svc/esc") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
