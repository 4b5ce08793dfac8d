package pub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
	"github.com/spf13/cobra"
)

func TestFlags(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	f := cmdutil.NewFactory(ios, "test")
	var got *Options
	cmd := NewCmdPub(f, func(o *Options) error { got = o; return nil })
	root := &cobra.Command{Use: "iotctl"}
	root.AddCommand(cmd)
	root.SetArgs([]string{"pub", "-t", "a/b", "-m", "", "-q", "1", "-r", "--count", "3", "--interval", "0.5s", "--rate", "20",
		"--user-property", "k=v", "--user-property", "k=w=x", "--content-type", "text/plain", "--response-topic", "r",
		"--correlation-data", "c", "--message-expiry", "60", "--payload-format", "utf8"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Topic != "a/b" || !got.MessageSet || got.QoS != 1 || !got.Retain || got.Count != 3 || got.Interval != 500*time.Millisecond ||
		got.Rate != 20 || len(got.UserProperties) != 2 || got.MessageExpiry != time.Minute || got.PayloadFormat != "utf8" {
		t.Fatalf("%+v", got)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	os.WriteFile(big, bytes.Repeat([]byte("x"), 129*1024), 0o600)
	for name, tc := range map[string]struct {
		settings []string
		opts     func(*Options)
		want     string
	}{
		"no topic":            {nil, func(o *Options) { o.Message, o.MessageSet = "x", true }, "no topic"},
		"no source":           {nil, func(o *Options) { o.Topic = "a" }, "no message"},
		"two sources":         {nil, func(o *Options) { o.Topic, o.MessageSet, o.Null = "a", true, true }, "only one"},
		"wildcard":            {nil, func(o *Options) { o.Topic, o.Null = "a/#", true }, "wildcard"},
		"qos 3":               {nil, func(o *Options) { o.Topic, o.Null, o.QoS = "a", true, 3 }, "QoS 3"},
		"aws qos 2":           {[]string{"--endpoint", "abc-ats.iot.us-east-1.amazonaws.com"}, func(o *Options) { o.Topic, o.Null, o.QoS = "a", true, 2 }, "at most QoS 1"},
		"aws payload":         {[]string{"--limits", "aws-iot"}, func(o *Options) { o.Topic, o.File = "a", big }, "too large"},
		"bad property":        {nil, func(o *Options) { o.Topic, o.Null, o.UserProperties = "a", true, []string{"novalue"} }, "key=value"},
		"bad utf8":            {nil, func(o *Options) { o.Topic, o.Message, o.MessageSet, o.PayloadFormat = "a", "\xff", true, "utf8" }, "not valid UTF-8"},
		"bad format":          {nil, func(o *Options) { o.Topic, o.Null, o.PayloadFormat = "a", true, "json" }, "utf8 or bytes"},
		"missing file":        {nil, func(o *Options) { o.Topic, o.File = "a", filepath.Join(dir, "nope") }, "no such file"},
		"count 0":             {nil, func(o *Options) { o.Topic, o.Null, o.Count = "a", true, 0 }, "--count"},
		"client id":           {[]string{"--limits", "aws-iot", "--client-id", strings.Repeat("c", 129)}, func(o *Options) { o.Topic, o.Null = "a", true }, "client ID"},
		"expiry":              {nil, func(o *Options) { o.Topic, o.Null, o.MessageExpiry = "a", true, time.Millisecond }, "--message-expiry"},
		"retain reserved":     {[]string{"--limits", "aws-iot"}, func(o *Options) { o.Topic, o.Null, o.Retain = "$aws/things/x", true, true }, "retain"},
		"count with lines":    {nil, func(o *Options) { o.Topic, o.Lines, o.Count = "a", true, 2 }, "--count"},
		"311 user property":   {[]string{"-V", "3.1.1"}, func(o *Options) { o.Topic, o.Null, o.UserProperties = "a", true, []string{"k=v"} }, "--user-property: MQTT 5 only"},
		"311 content type":    {[]string{"-V", "3.1.1"}, func(o *Options) { o.Topic, o.Null, o.ContentType = "a", true, "x" }, "--content-type: MQTT 5 only"},
		"311 response topic":  {[]string{"-V", "3.1.1"}, func(o *Options) { o.Topic, o.Null, o.ResponseTopic = "a", true, "r" }, "--response-topic: MQTT 5 only"},
		"311 correlation":     {[]string{"-V", "3.1.1"}, func(o *Options) { o.Topic, o.Null, o.CorrelationData = "a", true, "c" }, "--correlation-data: MQTT 5 only"},
		"311 message expiry":  {[]string{"-V", "3.1.1"}, func(o *Options) { o.Topic, o.Null, o.MessageExpiry = "a", true, time.Minute }, "--message-expiry: MQTT 5 only"},
		"311 payload format":  {[]string{"-V", "3.1.1"}, func(o *Options) { o.Topic, o.Null, o.PayloadFormat = "a", true, "bytes" }, "--payload-format: MQTT 5 only"},
		"311 topic alias":     {[]string{"-V", "3.1.1"}, func(o *Options) { o.Topic, o.Null, o.TopicAlias = "a", true, true }, "--topic-alias: MQTT 5 only"},
		"311 session expiry":  {[]string{"-V", "311", "--session-expiry", "1h"}, func(o *Options) { o.Topic, o.Null = "a", true }, "--session-expiry: MQTT 5 only"},
		"311 receive maximum": {[]string{"--mqtt-version", "mqttv311", "--receive-maximum", "5"}, func(o *Options) { o.Topic, o.Null = "a", true }, "--receive-maximum: MQTT 5 only"},
		"311 will property":   {[]string{"-V", "3.1.1", "--will-topic", "w", "--will-property", "a=b"}, func(o *Options) { o.Topic, o.Null = "a", true }, "--will-property: MQTT 5 only"},
	} {
		t.Run(name, func(t *testing.T) {
			// An endpoint nobody listens on: usage errors come before connecting.
			args := append([]string{"--endpoint", "127.0.0.1:9", "--connect-timeout", "1s"}, tc.settings...)
			o, _ := pubOpts(t, nil, args...)
			tc.opts(o)
			err := pubRun(context.Background(), o)
			if cmdutil.ExitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (exit %d), want exit 2 with %q", err, cmdutil.ExitCode(err), tc.want)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	hook := &fnHook{
		onConnect: func(cl *broker.Client, pk mpackets.Packet) error {
			if pk.Connect.ClientIdentifier == "denied" {
				return mpackets.ErrNotAuthorized
			}
			return nil
		},
		acl: func(cl *broker.Client, topic string, write bool) bool { return !strings.HasPrefix(topic, "forbidden") },
		onPublish: func(cl *broker.Client, pk mpackets.Packet) (mpackets.Packet, error) {
			if strings.HasPrefix(pk.TopicName, "withheld") {
				return pk, mpackets.ErrRejectPacket // never acknowledged
			}
			return pk, nil
		},
	}
	b := testenv.StartBroker(t, broker.Options{Hooks: []broker.Hook{hook}})
	ep := b.URL("mqtt")
	closed := fmt.Sprintf("127.0.0.1:%d", testpeer.FreePort(t))

	cases := []struct {
		name     string
		settings []string
		opts     func(*Options)
		stdin    io.Reader
		cancel   time.Duration // cancel the context after this long (SIGINT)
		code     int
		want     string
	}{
		{"ok qos1", []string{"--endpoint", ep}, func(o *Options) { o.Topic, o.Message, o.MessageSet, o.QoS = "ok", "hi", true, 1 }, nil, 0, 0, ""},
		{"ok qos2 count", []string{"--endpoint", ep}, func(o *Options) { o.Topic, o.Null, o.QoS, o.Count = "ok", true, 2, 50 }, nil, 0, 0, ""},
		{"ok lines", []string{"--endpoint", ep, "-v"}, func(o *Options) { o.Topic, o.Lines, o.QoS = "ok", true, 1 }, strings.NewReader("a\r\nb\n\nc"), 0, 0, "sent 4, acknowledged 4"},
		{"closed port", []string{"--endpoint", closed, "--connect-timeout", "2s"}, func(o *Options) { o.Topic, o.Null = "x", true }, nil, 0, 3, "connection refused"},
		{"connack refused", []string{"--endpoint", ep, "--client-id", "denied"}, func(o *Options) { o.Topic, o.Null = "x", true }, nil, 0, 4, "not authorized (0x87)"},
		{"puback refused", []string{"--endpoint", ep}, func(o *Options) { o.Topic, o.Null, o.QoS = "forbidden/x", true, 1 }, nil, 0, 4, "publish to forbidden/x: not authorized (0x87)"},
		{"refused count", []string{"--endpoint", ep}, func(o *Options) { o.Topic, o.Null, o.QoS, o.Count = "forbidden/x", true, 1, 5 }, nil, 0, 4, "5 of 5 messages refused"},
		{"line too long", []string{"--endpoint", ep, "--limits", "aws-iot"}, func(o *Options) { o.Topic, o.Lines, o.QoS = "ok", true, 1 },
			strings.NewReader("1\n2\n" + strings.Repeat("x", 128*1024+1) + "\n4\n"), 0, 2, "line 3 is longer"},
		{"interrupted unacked", []string{"--endpoint", ep}, func(o *Options) { o.Topic, o.Lines, o.QoS, o.Grace = "withheld", true, 1, 200*time.Millisecond },
			io.MultiReader(strings.NewReader("1\n2\n3\n"), blockingReader{}), 300 * time.Millisecond, 6, "3 messages not acknowledged"},
		{"interrupted acked", []string{"--endpoint", ep}, func(o *Options) { o.Topic, o.Lines, o.QoS = "ok", true, 1 },
			io.MultiReader(strings.NewReader("1\n2\n3\n"), blockingReader{}), 300 * time.Millisecond, 130, "interrupted"},
		{"interrupted window full", []string{"--endpoint", ep}, func(o *Options) { o.Topic, o.Lines, o.QoS, o.Grace = "withheld", true, 1, 100*time.Millisecond },
			// As many as were in flight when the signal came: the broker's
			// window (1024) on an idle machine, fewer on a starved one.
			bytes.NewReader(numberedLines(5000)), 500 * time.Millisecond, 6, "messages not acknowledged"},
	}
	// Every case in text and in JSON: -o json prints the summary on stdout
	// and changes no exit code.
	for _, format := range []string{"text", "json"} {
		for _, tc := range cases {
			t.Run(format+"/"+tc.name, func(t *testing.T) {
				if seeker, ok := tc.stdin.(io.Seeker); ok {
					seeker.Seek(0, io.SeekStart)
				}
				if format == "json" && tc.stdin != nil {
					if _, ok := tc.stdin.(io.Seeker); !ok {
						t.Skip("input can be read once")
					}
				}
				o, stderr := pubOpts(t, tc.stdin, append(tc.settings, "--output", format)...)
				tc.opts(o)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if tc.cancel > 0 {
					time.AfterFunc(tc.cancel, cancel)
				}
				done := make(chan error, 1)
				go func() { done <- pubRun(ctx, o) }()
				var err error
				select {
				case err = <-done:
				case <-time.After(30 * time.Second):
					t.Fatal("pub did not end")
				}
				if code := cmdutil.ExitCode(err); code != tc.code {
					t.Fatalf("exit %d (%v), want %d\n%s", code, err, tc.code, stderr)
				}
				msg := ""
				if err != nil {
					msg = err.Error()
				}
				if !strings.Contains(msg+stderr.String(), tc.want) {
					t.Fatalf("%q (stderr %q) lacks %q", msg, stderr, tc.want)
				}
				out := o.IO.Out.(*bytes.Buffer).Bytes()
				connected := tc.code != 3 && !strings.HasPrefix(tc.name, "connack")
				switch {
				case format == "text" && len(out) != 0:
					t.Errorf("text: stdout %q, want nothing", out)
				case format == "json" && connected:
					var sum summary
					if err := json.Unmarshal(out, &sum); err != nil || sum.Topic == "" || !bytes.HasSuffix(out, []byte("}\n")) {
						t.Errorf("json: want one summary document: %v\n%s", err, out)
					}
				case format == "json" && len(out) != 0:
					t.Errorf("json: no connection, yet stdout %q", out)
				}
				t.Logf("exit %d: %v", tc.code, err)
			})
		}
	}
}

// blockingReader never returns, like a terminal nobody types into.
type blockingReader struct{}

func (blockingReader) Read([]byte) (int, error) { select {} }
