package broker

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpeer"
)

// subscribed waits until client id's session has n subscriptions.
func subscribed(t *testing.T, b *Broker, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		b.server.mu.Lock()
		ss := b.server.sessions[id]
		b.server.mu.Unlock()
		k := 0
		if ss != nil {
			ss.mu.Lock()
			if ss.conn != nil {
				k = len(ss.subs)
			}
			ss.mu.Unlock()
		}
		if k >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not subscribe", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMQTT311Clients: mosquitto clients of MQTT 3.1.1 publish and
// subscribe at QoS 0/1/2 beside MQTT 5 clients, and a 3.1.1 persistent
// session keeps what was published while it was away.
func TestMQTT311Clients(t *testing.T) {
	b := quietBroker(t, nil)
	host, port := hostPort(t, b.URL(MQTT))
	v3 := []string{"-V", "mqttv311", "-h", host, "-p", port}
	v5 := []string{"-V", "mqttv5", "-h", host, "-p", port}
	pub := func(conn []string, topic, msg string, qos int) {
		t.Helper()
		args := append(append([]string{}, conn...), "-t", topic, "-m", msg, "-q", fmt.Sprint(qos))
		if out, err := mosquittoPub(t, args...); err != nil {
			t.Fatalf("mosquitto_pub %v: %v\n%s", args, err, out)
		}
	}
	lines3 := mosquittoSub(t, append(append([]string{}, v3...), "-i", "sub3", "-t", "mix/#", "-q", "2", "-F", "%t %q %r %p")...)
	lines5 := mosquittoSub(t, append(append([]string{}, v5...), "-i", "sub5", "-t", "mix/#", "-q", "2", "-F", "%t %q %r %p")...)
	subscribed(t, b, "sub3", 1)
	subscribed(t, b, "sub5", 1)
	for qos := range 3 {
		for _, from := range []struct {
			name string
			conn []string
		}{{"v3", v3}, {"v5", v5}} {
			msg := fmt.Sprintf("%s-q%d", from.name, qos)
			pub(from.conn, "mix/"+from.name, msg, qos)
			want := fmt.Sprintf("mix/%s %d 0 %s", from.name, qos, msg)
			if got := next(t, lines3); got != want {
				t.Errorf("3.1.1 subscriber: got %q, want %q", got, want)
			}
			if got := next(t, lines5); got != want {
				t.Errorf("5 subscriber: got %q, want %q", got, want)
			}
		}
	}

	// Persistent 3.1.1 session: subscribe, leave, receive what came meanwhile.
	sub := testpeer.Require(t, "mosquitto_sub")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	persist := append(append([]string{}, v3...), "-i", "p3", "-c", "-q", "2", "-t", "keep/#")
	if out, err := exec.CommandContext(ctx, sub, append(persist, "-E")...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_sub -E: %v\n%s", err, out)
	}
	for qos := 1; qos <= 2; qos++ {
		pub(v5, "keep/x", fmt.Sprint("q", qos), qos)
		pub(v3, "keep/x", fmt.Sprint("v3q", qos), qos)
	}
	out, err := exec.CommandContext(ctx, sub, append(persist, "-C", "4", "-W", "20")...).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_sub resume: %v\n%s", err, out)
	}
	if got, want := strings.Fields(string(out)), []string{"q1", "v3q1", "q2", "v3q2"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("resumed 3.1.1 session got %q, want %q", got, want)
	}
}

// TestMosquittoBulk: mosquitto_pub -l sends 200,000 lines at QoS 1 and
// at QoS 2 to mosquitto_sub -V mqttv5 through the broker; every
// line is counted.
func TestMosquittoBulk(t *testing.T) {
	if testing.Short() {
		t.Skip("bulk interop run")
	}
	for _, run := range []struct {
		qos, n int
	}{{1, 200_000}, {2, 200_000}} {
		t.Run(fmt.Sprint("qos", run.qos), func(t *testing.T) {
			b := quietBroker(t, nil)
			host, port := hostPort(t, b.URL(MQTT))
			q := fmt.Sprint(run.qos)
			subPath := testpeer.Require(t, "mosquitto_sub")
			pubPath := testpeer.Require(t, "mosquitto_pub")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			sub := exec.CommandContext(ctx, subPath, "-V", "mqttv5", "-h", host, "-p", port, "-i", "bulk-sub", "-q", q,
				"-t", "bulk/x", "-C", fmt.Sprint(run.n))
			out, err := sub.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := sub.Start(); err != nil {
				t.Fatal(err)
			}
			subscribed(t, b, "bulk-sub", 1)
			pub := exec.CommandContext(ctx, pubPath, "-V", "mqttv5", "-h", host, "-p", port, "-q", q, "-t", "bulk/x", "-l")
			// mosquitto_pub 2.0.11 -l disconnects at the end of its input
			// without sending what it still queues (it sent 69,954 of
			// 200,000 lines against this broker and against mosquitto
			// alike): its input stays open until every line arrived.
			stdin, err := pub.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			var pubOutput strings.Builder
			pub.Stdout, pub.Stderr = &pubOutput, &pubOutput
			start := time.Now()
			if err := pub.Start(); err != nil {
				t.Fatal(err)
			}
			go func() {
				w := bufio.NewWriter(stdin)
				for i := range run.n {
					w.WriteString(strconv.Itoa(i))
					w.WriteByte('\n')
				}
				_ = w.Flush()
			}()
			seen := make([]bool, run.n)
			count, distinct := 0, 0
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				count++
				i, err := strconv.Atoi(sc.Text())
				if err != nil || i < 0 || i >= run.n {
					t.Fatalf("line %q", sc.Text())
				}
				if !seen[i] {
					seen[i] = true
					distinct++
				}
			}
			if err := sub.Wait(); err != nil {
				t.Errorf("mosquitto_sub: %v", err)
			}
			stdin.Close()
			if err := pub.Wait(); err != nil {
				t.Errorf("mosquitto_pub: %v\n%s", err, pubOutput.String())
			}
			t.Logf("QoS %s: %d lines received, %d distinct, in %s", q, count, distinct, time.Since(start).Round(time.Millisecond))
			if distinct != run.n {
				t.Fatalf("%d of %d lines delivered", distinct, run.n)
			}
		})
	}
}
