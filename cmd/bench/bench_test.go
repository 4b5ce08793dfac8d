package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/bench"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/cobra"
)

// parse runs `bench args…` with runF and returns the parsed Options.
func parse(t *testing.T, args ...string) (*Options, error) {
	t.Helper()
	ios, _, _, _ := cmdutil.Test()
	f := cmdutil.NewFactory(ios, "test")
	var got *Options
	cmd := NewCmdBench(f, func(_ context.Context, o *Options) error { got = o; return nil })
	root := &cobra.Command{Use: "iotctl", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(cmd)
	root.SetArgs(append([]string{"bench"}, args...))
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	err := root.Execute()
	return got, err
}

func TestFlags(t *testing.T) {
	o, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if o.Mode != "roundtrip" || o.Clients != 1 || o.Subscribers != 1 || o.Topic != bench.DefaultTopic || o.Size != bench.DefaultSize || o.Count != 0 {
		t.Errorf("defaults %+v", o)
	}
	o, err = parse(t, "pub", "-c", "3", "-q", "1", "-s", "64", "--rate", "250", "--duration", "5", "--warmup", "1s",
		"--ramp", "2s", "--inflight", "100", "--shard", "1/4", "--run-id", "r1", "-t", "x/{n}/{i}", "--hdr-out", "out/p", "--no-progress")
	if err != nil {
		t.Fatal(err)
	}
	if o.Mode != "pub" || o.Clients != 3 || o.QoS != 1 || o.Size != 64 || o.Rate != 250 || o.Duration != 5*time.Second ||
		o.Warmup != time.Second || o.Ramp != 2*time.Second || inflight(t, o) != 100 || o.Shard != "1/4" || o.RunID != "r1" ||
		o.Topic != "x/{n}/{i}" || o.HDROut != "out/p" || !o.NoProgress || o.SubscribersSet {
		t.Errorf("parsed %+v", o)
	}
	if _, err := parse(t, "flood"); err == nil || cmdutil.ExitCode(err) != 2 {
		t.Errorf("unknown mode: %v", err)
	}
	if _, err := parse(t, "pub", "sub"); err == nil {
		t.Error("two modes: no error")
	}
}

func TestConfigErrors(t *testing.T) {
	st := testenv.Settings(t)
	for name, tc := range map[string]struct {
		o    Options
		want string
	}{
		"small size":     {Options{Mode: "roundtrip", Clients: 1, Subscribers: 1, Size: 10}, "28-byte bench header"},
		"count+duration": {Options{Mode: "pub", Clients: 1, Size: 64, Count: 5, Duration: time.Second}, "not both"},
		"bad shard":      {Options{Mode: "pub", Clients: 1, Size: 64, Shard: "4/4"}, "0 <= I < N"},
		"qos 3":          {Options{Mode: "pub", Clients: 1, Size: 64, QoS: 3}, "--qos 3"},
		"no clients":     {Options{Mode: "pub", Clients: 0, Size: 64}, "--clients"},
		"bad shared":     {Options{Mode: "roundtrip", Clients: 1, Subscribers: 1, Size: 64, Shared: "a/b"}, "share name"},
		"sub {i} inside": {Options{Mode: "sub", Clients: 1, Subscribers: 1, Size: 64, Topic: "dev{i}/x"}, "whole topic level"},
		"size+template":  {Options{Mode: "pub", Clients: 1, Size: 64, SizeSet: true, Template: "{{.Count}}"}, "--size or --template"},
		"bad template":   {Options{Mode: "pub", Clients: 1, Size: 64, Template: "{{.Nope}}"}, "--template"},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.o.Topic == "" {
				tc.o.Topic = bench.DefaultTopic
			}
			_, err := tc.o.config(st)
			if err == nil || errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want a usage error with %q", err, tc.want)
			}
		})
	}
}

// runOpts is Options for benchRun with test streams and settings.
func runOpts(t *testing.T, args ...string) (*Options, *testenv.SyncBuffer, *testenv.SyncBuffer) {
	t.Helper()
	st := testenv.Settings(t, args...)
	out, errOut := &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	return &Options{
		IO:          &cmdutil.IOStreams{Out: out, ErrOut: errOut},
		Settings:    func() (*profile.Settings, error) { return st, nil },
		Mode:        "roundtrip",
		Clients:     2,
		Subscribers: 1,
		Topic:       bench.DefaultTopic,
		Size:        64,
		Count:       200,
	}, out, errOut
}

// No --endpoint: the embedded broker, said on stderr; stdout has the result only.
func TestRunEmbedded(t *testing.T) {
	t.Setenv("IOTCTL_HOME", t.TempDir())
	o, out, errOut := runOpts(t)
	if err := benchRun(context.Background(), o); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(errOut.String(), "embedded broker started in this process") {
		t.Errorf("stderr: %s", errOut)
	}
	text := out.String()
	for _, want := range []string{"bench roundtrip: 2 publishers → 1 subscriber", "embedded broker mqtt://127.0.0.1:", "published", "400", "lost", "end-to-end"} {
		if !strings.Contains(text, want) {
			t.Errorf("stdout lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "iotctl:") {
		t.Errorf("status on stdout:\n%s", text)
	}
}

func TestRunJSONAndMerge(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{MaxInflightMessages: 1000})
	dir := t.TempDir()
	var files []string
	for i := range 2 {
		o, out, errOut := runOpts(t, "--endpoint", m.URL(), "-o", "json")
		o.QoS, o.Shard, o.RunID = 1, []string{"0/2", "1/2"}[i], "j"
		o.HDROut = filepath.Join(dir, []string{"s0", "s1"}[i])
		if err := benchRun(context.Background(), o); err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		var res map[string]any
		if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
			t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
		}
		if res["published"].(float64) != 400 || res["received"].(float64) != 400 {
			t.Errorf("shard %d: %v", i, res)
		}
		file := filepath.Join(dir, []string{"s0", "s1"}[i]+".json")
		writeFile(t, file, out.String())
		files = append(files, file, o.HDROut+"-end_to_end.hlog", o.HDROut+"-publish_ack.hlog", o.HDROut+"-connect.hlog")
	}
	st := testenv.Settings(t)
	out := &testenv.SyncBuffer{}
	mo := &MergeOptions{IO: &cmdutil.IOStreams{Out: out, ErrOut: &testenv.SyncBuffer{}}, Settings: func() (*profile.Settings, error) { return st, nil }, Files: files}
	if err := mergeRun(mo); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"merged from 2 results", "published", "800", "end-to-end"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("merge output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out.String(), "cannot be merged") {
		t.Errorf("percentiles inexact although the logs were given:\n%s", out)
	}
}

func TestAWSLimitWarnings(t *testing.T) {
	t.Setenv("IOTCTL_HOME", t.TempDir())
	o, _, errOut := runOpts(t, "--limits", "aws-iot")
	o.Clients, o.Rate, o.Count, o.Size = 1, 1000, 100, 1024
	if err := benchRun(context.Background(), o); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, want := range []string{"1000 publishes/s per connection exceeds AWS IoT Core's 100", "KiB/s per connection exceeds", "each subscriber would receive 1000 messages/s"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	o, _, _ = runOpts(t, "--limits", "aws-iot")
	o.QoS = 2
	if err := benchRun(context.Background(), o); errs.KindOf(err) != errs.Usage {
		t.Errorf("QoS 2 on aws-iot: %v", err)
	}
}

func TestHelpSaysWhatIsMeasured(t *testing.T) {
	cmd := NewCmdBench(cmdutil.NewFactory(&cmdutil.IOStreams{}, "test"), nil)
	for _, want := range []string{"INTENDED send time", "coordinated omission", "HdrHistogram", "lost", "--shard", "merge"} {
		if !strings.Contains(cmd.Long, want) {
			t.Errorf("long help lacks %q", want)
		}
	}
}

func inflight(t *testing.T, o *Options) int {
	st, err := o.Settings()
	if err != nil {
		t.Fatal(err)
	}
	return st.Inflight
}

// bench --topic-alias --template against mosquitto: the report shows the
// template, the aliases and the bytes they saved per PUBLISH.
func TestRunTopicAliasTemplateMosquitto(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{Extra: "max_topic_alias 10\n"})
	o, out, errOut := runOpts(t, "--endpoint", m.URL())
	o.QoS, o.TopicAlias, o.Template = 1, true, `{"n":{{.Count}}}`
	if err := benchRun(context.Background(), o); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	text := out.String()
	for _, want := range []string{"28 B header + template", `payload: header + template {"n":{{.Count}}}`, "(topic aliases)", "B per PUBLISH", "B saved", "400"} {
		if !strings.Contains(text, want) {
			t.Errorf("stdout lacks %q:\n%s", want, text)
		}
	}
}

// MQTT 3.1.1 has no topic aliases: bench --topic-alias under it is a
// usage error before connecting.
func TestTopicAliasRefusedUnder311(t *testing.T) {
	o, _, _ := runOpts(t, "-V", "3.1.1", "--endpoint", "127.0.0.1:1")
	o.TopicAlias = true
	err := benchRun(context.Background(), o)
	if errs.KindOf(err) != errs.Usage || err == nil || !strings.Contains(err.Error(), "--topic-alias: MQTT 5 only") {
		t.Errorf("err = %v", err)
	}
}
