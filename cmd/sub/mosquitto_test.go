package sub

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"github.com/iotctl/iotctl/pkg/errs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/session"
)

func TestSubQoSMosquitto(t *testing.T) {
	m := startMosquitto(t, testpeer.MosquittoConfig{})
	for _, qos := range []byte{0, 1, 2} {
		t.Run("qos"+strconv.Itoa(int(qos)), func(t *testing.T) { testQoS(t, m.URL(), qos) })
	}
}

// mosquittoProps are the properties mosquitto_pub sends in these tests.
var mosquittoProps = []string{
	"-D", "publish", "user-property", "k", "v1",
	"-D", "publish", "user-property", "k", "v2",
	"-D", "publish", "user-property", "ü", "ß",
	"-D", "publish", "content-type", "application/octet-stream",
	"-D", "publish", "response-topic", "reply/here",
	"-D", "publish", "correlation-data", "corr-1",
	"-D", "publish", "message-expiry-interval", "3600",
	"-D", "publish", "payload-format-indicator", "0",
}

// Every PUBLISH property, sent by mosquitto_pub and by pkg/session, read back
// by iotctl sub -F json and by mosquitto_sub -F.
func TestSubPropertiesMosquitto(t *testing.T) {
	m := startMosquitto(t, testpeer.MosquittoConfig{})
	const mosqFormat = `%t|%p|C=%C|D=%D|E=%E|F=%F|P=%P|R=%R|r=%r`

	// Live: mosquitto_pub → iotctl sub.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := startSub(t, ctx, m.URL(), "-t", "mp/live", "-q", "1", "-C", "1", "-F", "json")
	p.waitSubscribed(t)
	mosq(t, m, "mosquitto_pub", append([]string{"-t", "mp/live", "-q", "1", "-m", "hello"}, mosquittoProps...)...)
	if code := p.wait(t); code != 0 {
		t.Fatal(p.err)
	}
	line := strings.TrimSuffix(p.out.String(), "\n")
	var j JSONMessage
	if err := json.Unmarshal([]byte(line), &j); err != nil {
		t.Fatal(err)
	}
	checkMosquittoProps(t, line, j)
	if *j.Payload != "hello" || j.QoS != 1 || j.Retain {
		t.Errorf("message: %s", line)
	}

	// Retained, so that mosquitto_sub needs no readiness signal: both
	// publishers, both subscribers.
	mosq(t, m, "mosquitto_pub", append([]string{"-t", "mp/ret/mosq", "-q", "1", "-r", "-m", "from mosquitto_pub"}, mosquittoProps...)...)
	publish(t, m.URL(), &session.Message{Topic: "mp/ret/iotctl", Payload: []byte("from iotctl"), QoS: 1, Retain: true, Props: session.Properties{
		UserProperties:  []session.UserProperty{{Key: "k", Value: "v1"}, {Key: "k", Value: "v2"}, {Key: "ü", Value: "ß"}},
		ContentType:     "application/octet-stream",
		ResponseTopic:   "reply/here",
		CorrelationData: []byte("corr-1"),
		MessageExpiry:   u32(3600),
		PayloadFormat:   u8(0),
	}})
	for _, topic := range []string{"mp/ret/mosq", "mp/ret/iotctl"} {
		stdout, stderr, code := runSub(t, m.URL(), "-t", topic, "-C", "1", "-F", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		line := strings.TrimSuffix(stdout, "\n")
		var j JSONMessage
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			t.Fatal(err)
		}
		checkMosquittoProps(t, line, j)
		if !j.Retain {
			t.Errorf("%s: not retained: %s", topic, line)
		}

		got := mosq(t, m, "mosquitto_sub", "-t", topic, "-C", "1", "-F", mosqFormat)
		exp := strings.TrimSpace(got)
		exp = exp[strings.Index(exp, "|E=")+3:]
		exp, rest, _ := strings.Cut(exp, "|")
		if n, err := strconv.Atoi(exp); err != nil || n > 3600 || n < 3590 {
			t.Errorf("mosquitto_sub message expiry %q", exp)
		}
		payload := map[string]string{"mp/ret/mosq": "from mosquitto_pub", "mp/ret/iotctl": "from iotctl"}[topic]
		want := topic + "|" + payload + "|C=application/octet-stream|D=corr-1|F=0|P=k:v1 k:v2 ü:ß|R=reply/here|r=1"
		if gotRest := strings.Replace(strings.TrimSpace(got), "|E="+exp+"|"+rest, "|"+rest, 1); gotRest != want {
			t.Errorf("mosquitto_sub -F:\n got %q\nwant %q", gotRest, want)
		}
	}
}

func checkMosquittoProps(t *testing.T, line string, j JSONMessage) {
	t.Helper()
	p := j.Properties
	if p == nil {
		t.Fatalf("no properties: %s", line)
	}
	want := [][2]string{{"k", "v1"}, {"k", "v2"}, {"ü", "ß"}}
	if !equalPairs(p.UserProperties, want) || p.ContentType != "application/octet-stream" || p.ResponseTopic != "reply/here" ||
		string(p.CorrelationData) != "corr-1" || p.PayloadFormat == nil || *p.PayloadFormat != 0 ||
		p.MessageExpiry == nil || *p.MessageExpiry > 3600 || *p.MessageExpiry < 3590 {
		t.Errorf("properties: %s", line)
	}
	if !strings.Contains(line, `"correlation_data":"Y29yci0x"`) {
		t.Errorf("correlation data not base64: %s", line)
	}
}

func equalPairs(a, b [][2]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// mosquitto_pub → iotctl sub, payloads byte for byte.
func TestSubBinaryMosquitto(t *testing.T) {
	m := startMosquitto(t, testpeer.MosquittoConfig{})
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := make([]byte, 1<<20)
	rand.Read(big)
	payloads := [][]byte{all, big, {}, []byte("line\nbreak\r\n"), bytes.Repeat(all, 3)}

	for _, tt := range []struct {
		name string
		args []string
		sep  string
	}{
		{"raw", nil, "\n"},
		{"raw -N", []string{"-N"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			topic := "bin/" + strings.ReplaceAll(tt.name, " ", "")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p := startSub(t, ctx, m.URL(), append([]string{"-t", topic, "-q", "1", "-C", strconv.Itoa(len(payloads))}, tt.args...)...)
			p.waitSubscribed(t)
			var want []byte
			for i, pl := range payloads {
				if len(pl) == 0 {
					mosq(t, m, "mosquitto_pub", "-t", topic, "-q", "1", "-n")
				} else {
					mosq(t, m, "mosquitto_pub", "-t", topic, "-q", "1", "-f", writeFile(t, "p"+strconv.Itoa(i), pl))
				}
				want = append(append(want, pl...), tt.sep...)
			}
			if code := p.wait(t); code != 0 {
				t.Fatal(p.err)
			}
			if got := p.out.String(); got != string(want) {
				t.Fatalf("output differs: %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

func TestSubRetainedMosquitto(t *testing.T) {
	m := startMosquitto(t, testpeer.MosquittoConfig{})
	mosq(t, m, "mosquitto_pub", "-t", "ret/1", "-r", "-q", "1", "-m", "one")
	mosq(t, m, "mosquitto_pub", "-t", "ret/2", "-r", "-q", "1", "-m", "two")
	sorted := func(s string) string {
		l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		sort.Strings(l)
		return strings.Join(l, ",")
	}

	t.Run("retained-only ends when quiet", func(t *testing.T) {
		start := time.Now()
		stdout, stderr, code := runSub(t, m.URL(), "-t", "ret/#", "--retained-only", "--retained-quiet", "500ms", "-v")
		if code != 0 || sorted(stdout) != "ret/1 one,ret/2 two" {
			t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("retained-only ends at the first live message", func(t *testing.T) {
		p := startSub(t, context.Background(), m.URL(), "-t", "ret/#", "--retained-only", "--retained-quiet", "60s", "-q", "1")
		p.waitSubscribed(t)
		p.waitOutput(t, 2)
		mosq(t, m, "mosquitto_pub", "-t", "ret/live", "-q", "1", "-m", "live")
		if code := p.wait(t); code != 0 || sorted(p.out.String()) != "one,two" {
			t.Fatalf("exit %d stdout %q", code, p.out.String())
		}
	})
	t.Run("remove-retained", func(t *testing.T) {
		// No -C and no --retained-only: the deletions must not come back to
		// sub as empty messages (its subscriptions are no-local).
		stdout, stderr, code := runSub(t, m.URL(), "-t", "ret/#", "--remove-retained", "-W", "1500ms", "-q", "1")
		if code != 0 || sorted(stdout) != "one,two" {
			t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
		}
	})
	t.Run("none left", func(t *testing.T) {
		stdout, _, code := runSub(t, m.URL(), "-t", "ret/#", "--retained-only", "--retained-quiet", "300ms")
		if code != 0 || stdout != "" {
			t.Fatalf("exit %d stdout %q", code, stdout)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, _ := exec.CommandContext(ctx, testpeer.Require(t, "mosquitto_sub"), "-p", strconv.Itoa(m.Port()), "-t", "ret/#", "--retained-only", "-W", "1").Output()
		if len(out) != 0 {
			t.Errorf("mosquitto_sub still sees retained messages: %q", out)
		}
	})
	t.Run("retained-only and remove-retained", func(t *testing.T) {
		for i := range 20 {
			mosq(t, m, "mosquitto_pub", "-t", "clr/"+strconv.Itoa(i), "-r", "-m", "x")
		}
		stdout, _, code := runSub(t, m.URL(), "-t", "clr/#", "--retained-only", "--remove-retained", "--retained-quiet", "500ms")
		if code != 0 || strings.Count(stdout, "x\n") != 20 {
			t.Fatalf("exit %d stdout %q", code, stdout)
		}
		stdout, _, code = runSub(t, m.URL(), "-t", "clr/#", "--retained-only", "--retained-quiet", "300ms")
		if code != 0 || stdout != "" {
			t.Fatalf("after removal: exit %d stdout %q", code, stdout)
		}
	})
	t.Run("remove-retained under 3.1.1", func(t *testing.T) {
		// No No Local in 3.1.1: the deletions come back as empty live
		// messages, which sub skips (they must not end --retained-only).
		for i := range 5 {
			mosq(t, m, "mosquitto_pub", "-t", "clr311/"+strconv.Itoa(i), "-r", "-q", "1", "-m", "x")
		}
		stdout, stderr, code := runSub(t, m.URL(), "-V", "3.1.1", "-q", "1", "-t", "clr311/#", "--retained-only", "--remove-retained", "--retained-quiet", "1s")
		if code != 0 || stdout != strings.Repeat("x\n", 5) {
			t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
		}
		stdout, _, code = runSub(t, m.URL(), "-t", "clr311/#", "--retained-only", "--retained-quiet", "300ms")
		if code != 0 || stdout != "" {
			t.Fatalf("after removal: exit %d stdout %q", code, stdout)
		}
	})
}

// A will message published by the broker for a client that vanished.
func TestSubWillMosquitto(t *testing.T) {
	m := startMosquitto(t, testpeer.MosquittoConfig{})
	p := startSub(t, context.Background(), m.URL(), "-t", "will/#", "-q", "1", "-C", "1", "-F", "json")
	p.waitSubscribed(t)
	cmd := exec.Command(testpeer.Require(t, "mosquitto_sub"), "-p", strconv.Itoa(m.Port()), "-V", "mqttv5", "-t", "nothing",
		"--will-topic", "will/dev1", "--will-payload", "dev1 gone", "--will-qos", "1",
		"-D", "will", "content-type", "text/plain", "-D", "will", "user-property", "why", "test")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once connected: mosquitto logs the connection.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(m.Log(), "New client connected") || strings.Count(m.Log(), "New client connected") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto_sub did not connect:\n%s", m.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if code := p.wait(t); code != 0 {
		t.Fatal(p.err)
	}
	line := p.out.String()
	for _, want := range []string{`"topic":"will/dev1"`, `"payload":"dev1 gone"`, `"qos":1`, `"content_type":"text/plain"`, `"user_properties":[["why","test"]]`} {
		if !strings.Contains(line, want) {
			t.Errorf("will message %s lacks %s", line, want)
		}
	}
}

// A persistent session receives what was published while sub was away,
// across a broker restart, and -C leaves the rest for next time.
func TestSubPersistentSessionMosquitto(t *testing.T) {
	m := startMosquitto(t, testpeer.MosquittoConfig{Persistence: true})
	persist := []string{"-t", "pers/#", "-q", "1", "--client-id", "iotctl-persistent-1", "--clean-start=false", "--session-expiry", "1h"}
	if _, stderr, code := runSub(t, m.URL(), append(persist, "-W", "500ms")...); code != 5 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	for i := 1; i <= 4; i++ {
		mosq(t, m, "mosquitto_pub", "-t", "pers/x", "-q", "1", "-m", "m"+strconv.Itoa(i))
	}
	m.Restart()
	stdout, stderr, code := runSub(t, m.URL(), append(persist, "-C", "1", "-W", "10s")...)
	if code != 0 || stdout != "m1\n" {
		t.Fatalf("second run: exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	stdout, stderr, code = runSub(t, m.URL(), append(persist, "-C", "3", "-W", "10s")...)
	if code != 0 || stdout != "m2\nm3\nm4\n" {
		t.Fatalf("third run: exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	// A clean start forgets it all.
	if stdout, _, code := runSub(t, m.URL(), "-t", "pers/#", "--client-id", "iotctl-persistent-1", "-W", "500ms"); code != 5 || stdout != "" {
		t.Fatalf("clean start: exit %d stdout %q", code, stdout)
	}
}

func TestSubRefusedMosquitto(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "dynsec.json")
	if err := os.WriteFile(conf, []byte(`{"defaultACLAccess":{"publishClientSend":true,"publishClientReceive":true,"subscribe":true,"unsubscribe":true},
 "clients":[], "groups":[{"groupname":"anon","roles":[{"rolename":"r"}]}],
 "roles":[{"rolename":"r","acls":[{"acltype":"subscribePattern","topic":"denied/#","priority":0,"allow":false}]}],
 "anonymousGroup":"anon"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	plugin := "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
	if matches, _ := filepath.Glob("/usr/lib/*/mosquitto_dynamic_security.so"); len(matches) > 0 {
		plugin = matches[0]
	}
	if _, err := os.Stat(plugin); err != nil {
		t.Skip("mosquitto_dynamic_security.so not installed")
	}
	m := startMosquitto(t, testpeer.MosquittoConfig{Extra: "plugin " + plugin + "\nplugin_opt_config_file " + conf})
	stdout, stderr, code := runSub(t, m.URL(), "-t", "allowed/x", "-t", "denied/x")
	if code != 4 || stdout != "" {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	if _, _, code := runSub(t, m.URL(), "-t", "allowed/x", "-W", "300ms"); code != 5 {
		t.Fatalf("allowed filter: exit %d", code)
	}
}

// The broker restarts without persistence: sub reconnects, subscribes again
// and goes on printing.
func TestSubReconnectMosquitto(t *testing.T) {
	m := startMosquitto(t, testpeer.MosquittoConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := startSub(t, ctx, m.URL(), "-t", "rc", "-q", "1")
	p.waitSubscribed(t)
	mosq(t, m, "mosquitto_pub", "-t", "rc", "-q", "1", "-m", "before")
	p.waitOutput(t, 1)
	m.Restart()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.out.String(), "after\n") {
		if time.Now().After(deadline) {
			t.Fatalf("nothing after the restart: %q %s", p.out.String(), p.errOut.String())
		}
		mosq(t, m, "mosquitto_pub", "-t", "rc", "-q", "1", "-m", "after")
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if code := p.wait(t); code != 130 {
		t.Fatalf("exit %d: %v", code, p.err)
	}
	if !strings.HasPrefix(p.out.String(), "before\nafter\n") || strings.Trim(strings.ReplaceAll(p.out.String(), "after\n", ""), "\n") != "before" {
		t.Errorf("stdout %q", p.out.String())
	}
}

// A failed write ends the run without acknowledging what was not written:
// exit 7 with the count for a full disk, 141 (quiet) for a closed pipe; the
// messages come again to the persistent session.
func TestSubOutputFailsMosquitto(t *testing.T) {
	m := startMosquitto(t, testpeer.MosquittoConfig{MaxInflightMessages: 100})
	for _, tt := range []struct {
		name string
		err  error
		kind errs.Kind
	}{
		{"disk full", syscall.ENOSPC, errs.Output},
		{"closed pipe", syscall.EPIPE, errs.BrokenPipe},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := "iotctl-outfail-" + strconv.Itoa(int(tt.kind))
			persist := []string{"-t", "outfail/" + id, "-q", "1", "--client-id", id, "--clean-start=false", "--session-expiry", "1h"}
			if _, stderr, code := runSub(t, m.URL(), append(persist, "-W", "1s")...); code != 5 {
				t.Fatalf("first run: exit %d: %s", code, stderr)
			}
			const n = 50
			for i := range n {
				mosq(t, m, "mosquitto_pub", "-t", "outfail/"+id, "-q", "1", "-m", strconv.Itoa(i))
			}
			// The writer takes ten lines, then fails.
			w := &countingWriter{failAt: 10 * len("10\n"), err: tt.err}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p := startSubOut(t, ctx, w, m.URL(), persist...)
			p.wait(t)
			if k := errs.KindOf(p.err); k != tt.kind {
				t.Fatalf("error %v (kind %v), want kind %v", p.err, k, tt.kind)
			}
			if !strings.Contains(p.err.Error(), "received but not written") {
				t.Errorf("error %q lacks the count", p.err)
			}
			written, _ := w.state()
			stdout, stderr, code := runSub(t, m.URL(), append(persist, "-W", "3s")...)
			seen := map[string]bool{}
			for _, l := range strings.Fields(written + stdout) {
				seen[l] = true
			}
			for i := range n {
				if !seen[strconv.Itoa(i)] {
					t.Errorf("message %d lost: written %q, then %q (exit %d, %s)", i, written, stdout, code, stderr)
				}
			}
		})
	}
}
