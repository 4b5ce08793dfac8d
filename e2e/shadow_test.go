package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
)

// shadowAll allows every client every Device Shadow topic.
const shadowAll = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/$aws/things/*"]},
 {"Effect":"Allow","Action":["iot:Subscribe"],"Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/things/*"]},
 {"Effect":"Allow","Action":["iot:Connect"],"Resource":["arn:aws:iot:us-east-1:123456789012:client/*"]}]}`

// shadowMethods starts the emulator with one mTLS device and one SigV4
// identity, both allowed every shadow, and returns each method's args.
func shadowMethods(t *testing.T) (w *world, methods map[string]shadowID) {
	t.Helper()
	w = newWorld(t)
	leaf, cert, key := w.device(t, testpki.EC)
	w.start(t, iot.Config{
		Credentials: []iot.Credential{{AccessKeyID: "AKIASHADOW", SecretAccessKey: "shadow/Secret"}},
		Policies: []iot.Policy{
			{Principal: iot.PrefixCert + leaf.ID(), Doc: mustParse(t, shadowAll)},
			{Principal: "akid:AKIASHADOW", Doc: mustParse(t, shadowAll)},
		},
	})
	return w, map[string]shadowID{
		"mTLS": {args: []string{"--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", w.port(broker.MQTTS)}},
		"SigV4": {env: awsEnv("AKIASHADOW", "shadow/Secret", ""),
			args: []string{"--auth", "sigv4", "--endpoint", "wss://127.0.0.1:" + w.port(broker.WSS), "--region", "us-east-1", "--ca-file", w.caFile}},
	}
}

// shadowID is how one identity runs iotctl.
type shadowID struct {
	env  []string
	args []string
}

// run runs `iotctl shadow …` with the identity and checks the exit code.
func (id shadowID) run(t *testing.T, want int, args ...string) *proc {
	t.Helper()
	return run(t, id.env, want, append(append([]string{"shadow"}, args...), id.args...)...)
}

func (id shadowID) start(t *testing.T, args ...string) *proc {
	t.Helper()
	return iotctl(t, id.env, append(append([]string{"shadow"}, args...), id.args...)...)
}

// decode parses a command's JSON output.
func decode(t *testing.T, p *proc) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(p.stdout.String()), &v); err != nil {
		t.Fatalf("iotctl %s: stdout is not one JSON document: %v\n%s", strings.Join(p.args, " "), err, p.stdout.String())
	}
	return v
}

// at walks a decoded document: at(doc, "state", "delta", "color").
func at(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func stderrHas(t *testing.T, p *proc, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if !strings.Contains(p.stderr.String(), s) {
			t.Errorf("iotctl %s: stderr lacks %q: %s", strings.Join(p.args, " "), s, p.stderr.String())
		}
	}
}

// TestShadowCommands runs every shadow command against the emulator with
// mutual TLS and with SigV4 over websockets.
func TestShadowCommands(t *testing.T) {
	_, methods := shadowMethods(t)
	for name, id := range methods {
		t.Run(name, func(t *testing.T) {
			n := ids.Add(1)
			thing := fmt.Sprintf("thing-%d", n)
			id.args = append(id.args, "--client-id", fmt.Sprintf("app-%d", n), "--thing", thing)

			p := id.run(t, 4, "get")
			stderrHas(t, p, "404", "No shadow exists with name: '"+thing+"'")

			doc := decode(t, id.run(t, 0, "update", "--desired", `{"color":"red","size":{"w":2}}`))
			if at(doc, "state", "desired", "color") != "red" || at(doc, "version") != 1.0 || at(doc, "metadata", "desired", "color", "timestamp") == nil {
				t.Errorf("update: %v", doc)
			}
			if _, ok := doc["clientToken"]; ok {
				t.Errorf("update prints the client token: %v", doc)
			}
			doc = decode(t, id.run(t, 0, "get"))
			if at(doc, "state", "delta", "color") != "red" || at(doc, "state", "delta", "size", "w") != 2.0 {
				t.Errorf("get: no delta: %v", doc)
			}
			doc = decode(t, id.run(t, 0, "update", "--reported", `{"color":"red","size":{"w":2}}`, "--version", "1"))
			if at(doc, "version") != 2.0 {
				t.Errorf("update --version 1: %v", doc)
			}
			doc = decode(t, id.run(t, 0, "get"))
			if at(doc, "state", "delta") != nil || at(doc, "state", "reported", "color") != "red" {
				t.Errorf("get after the report: %v", doc)
			}
			text := id.run(t, 0, "get", "-o", "text").stdout.String()
			for _, want := range []string{"the classic shadow of " + thing, "version    2", `color = "red"`, "size.w = 2"} {
				if !strings.Contains(text, want) {
					t.Errorf("get -o text lacks %q:\n%s", want, text)
				}
			}
			doc = decode(t, id.run(t, 0, "update", "--clear-desired", "--reported", `{"size":null}`))
			if at(doc, "version") != 3.0 {
				t.Errorf("update --clear-desired: %v", doc)
			}
			doc = decode(t, id.run(t, 0, "get"))
			if st := at(doc, "state").(map[string]any); st["desired"] != nil || at(st, "reported", "size") != nil {
				t.Errorf("get after desired: null and size: null: %v", doc)
			}

			// a named shadow, from stdin and from a file
			stdin := iotctlStdin(t, id.env, `{"state":{"reported":{"mode":"eco"}}}`, append([]string{"shadow", "update", "--name", "config", "-"}, id.args...)...)
			stdin.expect(t, 0)
			file := testpki.Write(t, t.TempDir(), "state.json", []byte(`{"desired":{"mode":"fast"}}`))
			doc = decode(t, id.run(t, 0, "update", "--name", "config", "--state-file", file))
			if at(doc, "version") != 2.0 {
				t.Errorf("named shadow update: %v", doc)
			}
			doc = decode(t, id.run(t, 0, "get", "--name", "config"))
			if at(doc, "state", "delta", "mode") != "fast" {
				t.Errorf("named shadow: %v", doc)
			}

			doc = decode(t, id.run(t, 0, "delete", "--name", "config"))
			if at(doc, "version") != 2.0 {
				t.Errorf("delete: %v", doc)
			}
			p = id.run(t, 4, "get", "--name", "config")
			stderrHas(t, p, "404", "No shadow exists with name: 'config'")
			if out := id.run(t, 0, "delete", "-o", "text").stdout.String(); out != "deleted the classic shadow of "+thing+" (version 3)\n" {
				t.Errorf("delete -o text: %q", out)
			}
		})
	}
}

// iotctlStdin runs iotctl as iotctl does, with stdin.
func iotctlStdin(t *testing.T, env []string, stdin string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	p := &proc{args: args, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, iotctlBin, args...)
	p.cmd.Env = append(baseEnv(t), env...)
	p.cmd.Stdin = strings.NewReader(stdin)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		defer cancel()
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// TestShadowWatch: watch --delta receives the delta another client's
// update produces, with each method; --documents the update's documents.
func TestShadowWatch(t *testing.T) {
	w, methods := shadowMethods(t)
	for name, id := range methods {
		t.Run(name, func(t *testing.T) {
			n := ids.Add(1)
			thing := fmt.Sprintf("thing-%d", n)
			device, app := fmt.Sprintf("dev-%d", n), fmt.Sprintf("app-%d", n)
			watch := id.start(t, "watch", "--thing", thing, "--delta", "-C", "1", "--client-id", device)
			w.subs.await(t, watch, device, "$aws/things/"+thing+"/shadow/update/delta")
			docs := id.start(t, "watch", "--thing", thing, "--name", "cfg", "--documents", "-C", "1", "--client-id", device+"-docs", "-o", "text")
			w.subs.await(t, docs, device+"-docs", "$aws/things/"+thing+"/shadow/name/cfg/update/documents")

			id.run(t, 0, "update", "--thing", thing, "--client-id", app, "--desired", `{"color":"red"}`)
			watch.expect(t, 0)
			line := decode(t, watch)
			if at(line, "state", "color") != "red" || at(line, "version") != 1.0 {
				t.Errorf("watch --delta printed %s", watch.stdout.String())
			}
			if strings.Count(watch.stdout.String(), "\n") != 1 {
				t.Errorf("watch -C 1 printed more than one line: %q", watch.stdout.String())
			}

			id.run(t, 0, "update", "--thing", thing, "--name", "cfg", "--client-id", app, "--reported", `{"mode":"eco"}`)
			docs.expect(t, 0)
			if got := docs.stdout.String(); !strings.HasPrefix(got, "version 1") || !strings.Contains(got, `reported {"mode":"eco"}`) {
				t.Errorf("watch --documents -o text printed %q", got)
			}
		})
	}
}

// TestShadowRejections: 404, 409 with the current version, 400 for a
// state the service refuses, and -W with nothing to watch.
func TestShadowRejections(t *testing.T) {
	_, methods := shadowMethods(t)
	id := methods["mTLS"]
	id.args = append(id.args, "--client-id", "rejections", "--thing", "rejections")

	p := id.run(t, 4, "delete")
	stderrHas(t, p, "404", "No shadow exists with name: 'rejections'")
	id.run(t, 0, "update", "--reported", `{"a":1}`)
	id.run(t, 0, "update", "--reported", `{"a":2}`)
	p = id.run(t, 4, "update", "--version", "1", "--reported", `{"a":3}`)
	stderrHas(t, p, "409", "Version conflict", "is at version 2, not 1", "--version 2")
	p = id.run(t, 4, "delete", "--version", "7")
	stderrHas(t, p, "409", "is at version 2, not 7")

	for _, hostile := range []string{
		`{"desired":"red"}`,
		`{"reported":{"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}}`,
		`{"desired":{"a":1},"color":"red"}`,
	} {
		p = id.run(t, 4, "update", "--state", hostile)
		stderrHas(t, p, "400")
	}
	p = id.run(t, 4, "update", "--reported", `{"big":"`+strings.Repeat("x", 9000)+`"}`)
	stderrHas(t, p, "413")

	p = id.run(t, 5, "watch", "-W", "1s")
	stderrHas(t, p, "timed out after 1s: no message on $aws/things/rejections/shadow/update/delta")
}

// TestShadowBadInput: names that would make other topics, bad JSON and
// conflicting flags are refused before connecting (nothing listens on the
// port: a connection attempt would exit 3).
func TestShadowBadInput(t *testing.T) {
	to := []string{"--endpoint", "127.0.0.1", "--port", "1"}
	for _, args := range [][]string{
		{"get", "--thing", "a/b"},
		{"get", "--thing", "a+"},
		{"get", "--thing", "#"},
		{"get", "--thing", "a\x1b[2Jb"},
		{"get", "--thing", "a\nb"},
		{"get", "--thing", strings.Repeat("t", 129)},
		{"get", "--thing", "t", "--name", "x/y"},
		{"watch", "--thing", "t", "--name", "+"},
		{"delete", "--thing", "t", "--name", "#"},
		{"get"},
		{"get", "--client-id", "a/b"},
		{"update", "--thing", "t", "--desired", "{bad"},
		{"update", "--thing", "t", "--desired", "5"},
		{"update", "--thing", "t", "--state", "[1]"},
		{"update", "--thing", "t", "--state", "{} {}"},
		{"update", "--thing", "t", "--desired", "{}", "--state", "{}"},
		{"update", "--thing", "t", "--desired", "{}", "--clear-desired"},
		{"update", "--thing", "t", "--state-file", "/nonexistent/state.json"},
		{"update", "--thing", "t"},
		{"update", "--thing", "t", "--reported", "{}", "--version", "-1"},
		{"watch", "--thing", "t", "--delta", "--documents"},
	} {
		args = append(append([]string{"shadow"}, args...), to...)
		p := run(t, nil, 2, args...)
		if lines := strings.Count(p.stderr.String(), "\n"); lines != 1 || strings.Contains(p.stderr.String(), "\x1b[2J") {
			t.Errorf("iotctl %s: want one escaped line on stderr, got %q", strings.Join(args, " "), p.stderr.String())
		}
	}
}

// TestShadowWatchSIGTERM: watch exits 130 after a clean DISCONNECT on
// SIGTERM (the root exits 1 when a command has not stopped 2.6 s after
// it).
func TestShadowWatchSIGTERM(t *testing.T) {
	w, methods := shadowMethods(t)
	for name, id := range methods {
		t.Run(name, func(t *testing.T) {
			client := fmt.Sprintf("watch-%d", ids.Add(1))
			p := id.start(t, "watch", "--thing", "sig", "--client-id", client)
			w.subs.await(t, p, client, "$aws/things/sig/shadow/update/delta")
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			p.expect(t, 130)
		})
	}
}

// TestShadowConcurrentVersion: two processes update with the same
// --version: exactly one wins, the other exits 4 naming 409.
func TestShadowConcurrentVersion(t *testing.T) {
	_, methods := shadowMethods(t)
	id := methods["mTLS"]
	id.args = append(id.args, "--thing", "race")
	id.run(t, 0, "update", "--client-id", "race-0", "--reported", `{"n":0}`)
	for round := 1; round <= 5; round++ {
		var ps [2]*proc
		for i := range ps {
			ps[i] = id.start(t, "update", "--client-id", fmt.Sprintf("race-%d-%d", round, i), "--version", fmt.Sprint(round), "--reported", fmt.Sprintf(`{"n":%d}`, i))
		}
		won := 0
		for _, p := range ps {
			switch code := p.wait(t); code {
			case 0:
				won++
			case 4:
				stderrHas(t, p, "409", fmt.Sprintf("is at version %d, not %d", round+1, round))
			default:
				t.Errorf("round %d: exit %d: %s", round, code, p.stderr.String())
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d updates with --version %d won, want exactly 1", round, won, round)
		}
	}
}

// TestShadowDoneWhen is issue 15's "Done when", offline: iotctl broker --iot
// with the device certificate's policy from `policy gen --shadow --thing`
// (checked by `policy check`); the app asks for red, the device watching
// its delta sees it, reports red, and the delta is gone from `shadow get`.
// The device's policy lets it reach its own shadow and nothing else.
func TestShadowDoneWhen(t *testing.T) {
	w := newWorld(t)
	devLeaf, devCert, devKey := w.device(t, testpki.EC)
	appLeaf, appCert, appKey := w.device(t, testpki.EC)
	devPolicy, _ := genPolicy(t, w.dir, "device.json", "--shadow", "--thing")
	appPolicy, _ := genPolicy(t, w.dir, "app.json", "--shadow", "--thing", "sensor-7", "--client-id", "app-1")

	check := func(want int, action, resource string, args ...string) {
		t.Helper()
		run(t, nil, want, append([]string{"policy", "check", "--policy", devPolicy, "--action", action, "--resource", resource}, args...)...)
	}
	thing := []string{"--client-id", "sensor-7", "--thing-name", "sensor-7"}
	check(0, "iot:Connect", "client/sensor-7", thing...)
	check(0, "iot:Publish", "topic/$aws/things/sensor-7/shadow/update", thing...)
	check(0, "iot:Subscribe", "topicfilter/$aws/things/sensor-7/shadow/update/delta", thing...)
	check(0, "iot:Receive", "topic/$aws/things/sensor-7/shadow/get/accepted", thing...)
	check(4, "iot:Publish", "topic/$aws/things/sensor-8/shadow/update", thing...)
	check(4, "iot:Publish", "topic/$aws/things/sensor-7/shadow/name/x/update", thing...)
	check(4, "iot:Publish", "topic/test/topic", thing...)

	broker := iotctl(t, nil, "broker", "--iot", "--listen", "", "--tls-listen", "127.0.0.1:0",
		"--tls-cert", w.certFile, "--tls-key", w.keyFile, "--client-ca", w.clientCAFile,
		"--policy", iot.PrefixCert+devLeaf.ID()+"="+devPolicy, "--policy", iot.PrefixCert+appLeaf.ID()+"="+appPolicy,
		"--thing", "sensor-7="+iot.PrefixCert+devLeaf.ID())
	port := broker.stdout.awaitMatch(t, broker, regexp.MustCompile(`listening mqtts://127\.0\.0\.1:(\d+)\n`))[1]
	conn := []string{"--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", port}
	device := append([]string{"--cert", devCert, "--key", devKey, "--client-id", "sensor-7"}, conn...)
	app := append([]string{"--cert", appCert, "--key", appKey, "--client-id", "app-1", "--thing", "sensor-7"}, conn...)

	watch := iotctl(t, nil, append([]string{"shadow", "watch", "--delta", "-C", "1", "-v"}, device...)...)
	watch.stderr.awaitMatch(t, watch, regexp.MustCompile(`watching \$aws/things/sensor-7/shadow/update/delta\n`))
	run(t, nil, 0, append([]string{"shadow", "update", "--desired", `{"color":"red"}`}, app...)...)
	watch.expect(t, 0)
	if d := decode(t, watch); at(d, "state", "color") != "red" {
		t.Fatalf("the device's watch printed %s", watch.stdout.String())
	}
	run(t, nil, 0, append([]string{"shadow", "update", "--reported", `{"color":"red"}`}, device...)...)
	doc := decode(t, run(t, nil, 0, append([]string{"shadow", "get"}, device...)...))
	if st := at(doc, "state").(map[string]any); st["delta"] != nil || at(st, "reported", "color") != "red" || at(st, "desired", "color") != "red" {
		t.Errorf("get after the report: %v", doc)
	}

	// Its policy: its own shadow only.
	p := run(t, nil, 4, append([]string{"shadow", "get", "--thing", "sensor-8"}, device...)...)
	stderrHas(t, p, "not authorized", "$aws/things/sensor-8/shadow/get/accepted")
	run(t, nil, 4, append([]string{"shadow", "get", "--name", "other"}, device...)...)
	run(t, nil, 4, append([]string{"pub", "-q", "1", "-t", "test/topic", "-m", "x"}, device...)...)
	run(t, nil, 0, append([]string{"shadow", "delete"}, device...)...)
}
