package reliability

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/mochi-mqtt/server/v2/packets"
)

// maxAgeHook disconnects every session maxAge after it starts, with
// reason 0xA0 (maximum connect time), as IoT Core ends SigV4 websocket
// connections.
type maxAgeHook struct {
	broker.HookBase
	maxAge time.Duration
	mu     sync.Mutex
	timers []*time.Timer
	cuts   int
}

func (h *maxAgeHook) ID() string           { return "rel-max-age" }
func (h *maxAgeHook) Provides(b byte) bool { return b == broker.OnSessionEstablished }
func (h *maxAgeHook) OnSessionEstablished(cl *broker.Client, _ packets.Packet) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.timers = append(h.timers, time.AfterFunc(h.maxAge, func() {
		h.mu.Lock()
		h.cuts++
		h.mu.Unlock()
		cl.Disconnect(packets.Code{Code: 0xA0, Reason: "maximum connect time"})
	}))
}

func (h *maxAgeHook) stop() (cuts int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.timers {
		t.Stop()
	}
	return h.cuts
}

// TestExpiringCredentials: a SigV4 websocket broker (the upgrade is
// verified with auth.VerifyPresignedURL) ends every connection after 2 s.
// sub's credentials come from a credential_process that hands out new keys
// on every call, valid for 3 s, all known to the broker. sub reconnects
// each time with a freshly signed URL (new keys once the old ones expire)
// and its persistent session loses nothing of the QoS 1 messages published
// meanwhile.
func TestExpiringCredentials(t *testing.T) {
	const n = 600
	home := t.TempDir()
	var seenMu sync.Mutex
	seen := map[string]int{}
	lookup := func(akid string) (string, string, bool) {
		k, ok := strings.CutPrefix(akid, "AKIDROT")
		if !ok {
			return "", "", false
		}
		if _, err := strconv.Atoi(k); err != nil {
			return "", "", false
		}
		return "rot-secret-" + k, "rot-token-" + k, true
	}
	hook := &maxAgeHook{maxAge: 2 * time.Second}
	var refused int
	b, err := broker.New(broker.Options{WSListen: "127.0.0.1:0", Home: t.TempDir(), Hooks: []broker.Hook{hook},
		Authorize: func(r *http.Request) (any, int) {
			p, err := auth.VerifyPresignedURL(r, lookup, time.Now())
			seenMu.Lock()
			defer seenMu.Unlock()
			if err != nil {
				refused++
				return nil, http.StatusForbidden
			}
			seen[p.AccessKeyID]++
			return p, http.StatusOK
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hook.stop(); b.Close() })

	counter := rotatingCredentials(t, home)

	got := newLineSet(n)
	sub := clitest.Start(t, clitest.Opts{Env: clitest.Env(home, "IOTCTL_VERBOSE=1"), Stdout: got, Args: []string{
		"--endpoint", b.URL(broker.WS), "--auth", "sigv4", "--region", "us-east-1", "--aws-profile", "rot",
		"--client-id", "rel-creds-sub", "--clean-start=false", "--session-expiry", "1h",
		"sub", "-t", "rel/creds", "-q", "1"}})
	sub.WaitStderr(t, "subscribed to rel/creds", 30*time.Second)

	// 600 messages over about 9 s, through four or five forced reconnects.
	start := time.Now()
	tick := time.NewTicker(15 * time.Millisecond)
	for i := 0; i < n; i++ {
		<-tick.C
		if err := b.Publish("rel/creds", []byte(strconv.Itoa(i)), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	tick.Stop()
	if !got.waitFor(n, 30*time.Second, sub.Done()) {
		reportLoss(t, got, n)
		t.Fatalf("lost messages: %d of %d arrived; missing e.g. %v\n%s", got.distinct(), n, got.missing(10), clitest.Tail(sub.Stderr.String(), 30))
	}
	cuts := hook.stop()
	sub.Signal(syscall.SIGINT)
	if code := sub.Wait(t, 20*time.Second); code != 130 {
		t.Errorf("sub exit %d after SIGINT, want 130\n%s", code, clitest.Tail(sub.Stderr.String(), 20))
	}
	calls, _ := os.ReadFile(counter)
	seenMu.Lock()
	keys, upgrades := len(seen), 0
	for _, c := range seen {
		upgrades += c
	}
	seenMu.Unlock()
	distinct, dups, _ := got.counts()
	t.Logf("%d forced disconnects, %d signed upgrades with %d different access keys (credential_process ran %s times), %d refused; sub reconnects: %d; %d messages, %d duplicates",
		cuts, upgrades, keys, strings.TrimSpace(string(calls)), refused, count(sub.Stderr.String(), "reconnected"), distinct, dups)
	if cuts < 3 || upgrades < cuts+1 {
		t.Errorf("want at least 3 forced disconnects each followed by a new signed upgrade: %d disconnects, %d upgrades", cuts, upgrades)
	}
	if keys < 2 {
		t.Errorf("sub signed with %d access key(s): the rotated credentials were never used", keys)
	}
	report(t, "sent", n, "received", distinct, "lost", n-distinct, "duplicates", dups, "faults", cuts, "fault", "sigv4-max-age-2s-rotating-keys", "access_keys", keys, "seconds", int(time.Since(start).Seconds()))
}

// rotatingCredentials writes, in home/.aws/config, AWS profile "rot" whose
// credential_process hands out a new key on every call (AKIDROT<n>, secret
// rot-secret-<n>, token rot-token-<n>), valid for 3 s. It returns the file
// counting the calls.
func rotatingCredentials(t *testing.T, home string) string {
	t.Helper()
	script := filepath.Join(home, "creds.sh")
	counter := filepath.Join(home, "creds.n")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(`#!/bin/sh
n=$(( $(cat %[1]s 2>/dev/null || echo 0) + 1 ))
echo $n > %[1]s
printf '{"Version":1,"AccessKeyId":"AKIDROT%%d","SecretAccessKey":"rot-secret-%%d","SessionToken":"rot-token-%%d","Expiration":"%%s"}\n' $n $n $n "$(date -u -d '+3 seconds' +%%Y-%%m-%%dT%%H:%%M:%%SZ)"
`, counter)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".aws", "config"), []byte("[profile rot]\ncredential_process = "+script+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return counter
}
