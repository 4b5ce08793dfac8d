package reliability

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
)

const allowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}`

var listeningWS = regexp.MustCompile(`listening (ws://\S+)`)

// startEmulator runs `iotctl broker --iot` with a websocket listener, every
// principal allowed everything, and args; it returns the ws:// URL.
func startEmulator(t *testing.T, args ...string) (string, *clitest.Proc) {
	t.Helper()
	pol := t.TempDir() + "/allow.json"
	if err := os.WriteFile(pol, []byte(allowAll), 0o600); err != nil {
		t.Fatal(err)
	}
	p := clitest.Start(t, clitest.Opts{Env: env(t), Args: append([]string{"broker", "--iot", "--listen", "", "--ws-listen", "127.0.0.1:0", "--policy", "*=" + pol}, args...)})
	if !p.Stdout.WaitFor(func(s string) bool { return listeningWS.MatchString(s) }, 30*time.Second, p.Done()) {
		t.Fatalf("iotctl broker --iot did not start:\n%s\n%s", p.Stdout.String(), clitest.Tail(p.Stderr.String(), 20))
	}
	t.Cleanup(func() {
		if !p.Exited() {
			p.Signal(syscall.SIGTERM)
			p.Wait(t, 20*time.Second)
		}
	})
	return listeningWS.FindStringSubmatch(p.Stdout.String())[1], p
}

// TestEmulatorPublishRateLimit: the IoT Core emulation (iotctl broker
// --iot, --publish-rate-limit 100) answers PUBACK 0x97 past 100 publishes
// a second; pub --lines -q 1 over SigV4 keeps going, counts the refusals,
// exits 4 and names the reason code.
func TestEmulatorPublishRateLimit(t *testing.T) {
	const n = 2000
	url, emu := startEmulator(t, "--aws-credentials", "AKIDPUB:pub-secret", "--publish-rate-limit", "100")
	pub := clitest.Start(t, clitest.Opts{Env: env(t, "AWS_ACCESS_KEY_ID=AKIDPUB", "AWS_SECRET_ACCESS_KEY=pub-secret"),
		Stdin: bytes.NewReader(numbered(n)), Args: []string{
			"--endpoint", url, "--auth", "sigv4", "--region", "us-east-1", "pub", "-t", "rel/rate", "-l", "-q", "1", "-v"}})
	code := pub.Wait(t, 50*time.Second)
	stderr := pub.Stderr.String()
	s := parseSummary(t, stderr)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	verdict := lines[len(lines)-1]
	t.Logf("exit %d, %+v; verdict: %s", code, s, verdict)
	if code != 4 || !strings.Contains(verdict, "(0x97)") {
		t.Errorf("exit %d with %q: want 4 naming 0x97\n%s\nbroker: %s", code, verdict, clitest.Tail(stderr, 10), clitest.Tail(emu.Stderr.String(), 5))
	}
	if s.refused == 0 || s.sent != n || s.acked+s.refused != n {
		t.Errorf("pub summary %+v: want all %d acknowledged or refused, some refused", s, n)
	}
	report(t, "sent", n, "acked", s.acked, "refused", s.refused, "lost", 0, "fault", "emulator-publish-rate-limit-100", "faults", 1, "exit", code)
}

// TestEmulatorSigV4MaxAge: the IoT Core emulation ends SigV4 connections
// after 2 s (--sigv4-max-age 2s, reason 0xA0). sub signs with credentials
// from a credential_process that rotates keys (all known to the emulator),
// pub with static keys at 60 msg/s; both reconnect with fresh presigned
// URLs every 2 s; sub's persistent session loses nothing. (A message lost
// here was mochi's, the broker core before ours: see
// TestSessionResumeUnderLoad.)
func TestEmulatorSigV4MaxAge(t *testing.T) {
	const n = 600
	home := t.TempDir()
	counter := rotatingCredentials(t, home)
	// No publish rate limit: pub --rate keeps an absolute schedule, so after
	// a reconnect that took long on a loaded machine it resends its window
	// and catches up at once, past the default 100/s, and the 0x97 refusals
	// failed the test (TestEmulatorPublishRateLimit covers the limit).
	args := []string{"--sigv4-max-age", "2s", "--publish-rate-limit", "0", "--aws-credentials", "AKIDPUB:pub-secret"}
	for i := 1; i <= 60; i++ {
		args = append(args, "--aws-credentials", fmt.Sprintf("AKIDROT%d:rot-secret-%d:rot-token-%d", i, i, i))
	}
	url, emu := startEmulator(t, args...)
	got := newLineSet(n)
	sub := clitest.Start(t, clitest.Opts{Env: clitest.Env(home, "IOTCTL_VERBOSE=1"), Stdout: got, Args: []string{
		"--endpoint", url, "--auth", "sigv4", "--region", "us-east-1", "--aws-profile", "rot",
		"--client-id", "rel-emu-sub", "--clean-start=false", "--session-expiry", "1h",
		"sub", "-t", "rel/maxage", "-q", "1"}})
	sub.WaitStderr(t, "subscribed to rel/maxage", 30*time.Second)
	start := time.Now()
	pub := clitest.Start(t, clitest.Opts{Env: env(t, "AWS_ACCESS_KEY_ID=AKIDPUB", "AWS_SECRET_ACCESS_KEY=pub-secret"),
		Stdin: bytes.NewReader(numbered(n)), Args: []string{
			"--endpoint", url, "--auth", "sigv4", "--region", "us-east-1", "pub", "-t", "rel/maxage", "-l", "-q", "1", "-v", "--rate", "60"}})
	if code := pub.Wait(t, 50*time.Second); code != 0 {
		t.Fatalf("pub exit %d\n%s\nbroker: %s", code, clitest.Tail(pub.Stderr.String(), 20), clitest.Tail(emu.Stderr.String(), 10))
	}
	if !got.waitFor(n, 30*time.Second, sub.Done()) {
		reportLoss(t, got, n)
		t.Fatalf("lost messages: %d of %d arrived; missing e.g. %v\n%s", got.distinct(), n, got.missing(10), clitest.Tail(sub.Stderr.String(), 30))
	}
	sub.Signal(syscall.SIGINT)
	if code := sub.Wait(t, 20*time.Second); code != 130 {
		t.Errorf("sub exit %d after SIGINT, want 130\n%s", code, clitest.Tail(sub.Stderr.String(), 20))
	}
	calls, _ := os.ReadFile(counter)
	keys, _ := strconv.Atoi(strings.TrimSpace(string(calls)))
	subRe, pubRe := count(sub.Stderr.String(), "reconnected"), count(pub.Stderr.String(), "reconnected")
	distinct, dups, _ := got.counts()
	t.Logf("sub reconnected %d times with %d keys from credential_process, pub %d times; %d messages, %d duplicates, in %s", subRe, keys, pubRe, distinct, dups, time.Since(start).Round(time.Millisecond))
	if subRe < 3 || pubRe < 3 {
		t.Errorf("want at least 3 reconnects each (max age 2s over ~10s): sub %d, pub %d", subRe, pubRe)
	}
	if keys < 2 {
		t.Errorf("credential_process ran %d time(s): rotated keys were never fetched", keys)
	}
	report(t, "sent", n, "received", distinct, "lost", n-distinct, "duplicates", dups, "faults", subRe+pubRe, "fault", "emulator-sigv4-max-age-2s", "access_keys", keys, "seconds", int(time.Since(start).Seconds()))
}
