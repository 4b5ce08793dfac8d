// Package bench is `iotctl bench`: load and latency measurement over
// pkg/bench, with the profile's connection settings and auth method.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/cmdutil/connect"
	"github.com/iotctl/iotctl/pkg/bench"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/payload"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/iotctl/iotctl/pkg/session/limits"
	"github.com/spf13/cobra"
)

// Options are bench's flags and dependencies.
type Options struct {
	IO       *cmdutil.IOStreams
	Settings func() (*profile.Settings, error)

	Mode           string
	Clients        int
	Subscribers    int
	SubscribersSet bool
	Topic          string
	Shared         string
	QoS            int
	Size           int
	SizeSet        bool
	Template       string // payload after the header: pub --template's Go template
	TopicAlias     bool
	Rate           float64
	Duration       time.Duration
	Count          int
	Warmup         time.Duration
	Ramp           time.Duration
	NoProgress     bool
	HDROut         string
	Shard          string
	RunID          string
	AckTimeout     time.Duration
	Drain          time.Duration
}

// NewCmdBench returns `iotctl bench`. runF replaces benchRun in flag tests.
func NewCmdBench(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:       "bench [roundtrip|pub|sub|conn] [flags]",
		Short:     "Measure a broker: message rates, latency, delivery, connections",
		Long:      longHelp,
		Example:   examples,
		ValidArgs: []string{"roundtrip", "pub", "sub", "conn"},
		Args:      cobra.MatchAll(cobra.MaximumNArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Mode = "roundtrip"
			if len(args) == 1 {
				opts.Mode = args[0]
			}
			opts.SubscribersSet = cmd.Flags().Changed("subscribers")
			opts.SizeSet = cmd.Flags().Changed("size")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return benchRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&opts.Clients, "clients", "c", 1, "publishers (conn: connections; sub: publishers to expect elsewhere)")
	fl.IntVar(&opts.Subscribers, "subscribers", 1, "subscribers (roundtrip and sub)")
	fl.StringVarP(&opts.Topic, "topic", "t", bench.DefaultTopic, "topic pattern: {i} publisher index, {n} run ID")
	fl.StringVar(&opts.Shared, "shared", "", "subscribers share $share/NAME/<filter>: each message reaches one of them")
	fl.IntVarP(&opts.QoS, "qos", "q", 0, "QoS of publishes and subscriptions (0, 1 or 2)")
	fl.IntVarP(&opts.Size, "size", "s", bench.DefaultSize, fmt.Sprintf("payload bytes, at least the %d-byte header", bench.HeaderSize))
	fl.StringVar(&opts.Template, "template", "", "payload after the header: a Go template per message, as pub --template: "+payload.Fields)
	fl.BoolVar(&opts.TopicAlias, "topic-alias", false, "publish with MQTT5 topic aliases (the report shows the bytes saved)")
	fl.Float64Var(&opts.Rate, "rate", 0, "messages/s across all publishers, open loop (0: as fast as flow control allows)")
	cmdutil.DurationVar(fl, &opts.Duration, "duration", 0, "publish for this long (instead of --count)")
	fl.IntVar(&opts.Count, "count", 0, fmt.Sprintf("messages per publisher (default %d unless --duration)", bench.DefaultCount))
	cmdutil.DurationVar(fl, &opts.Warmup, "warmup", 0, "publish this long first, not counted")
	cmdutil.DurationVar(fl, &opts.Ramp, "ramp", 0, "spread the connections over this long")
	fl.BoolVar(&opts.NoProgress, "no-progress", false, "no live progress on stderr")
	fl.StringVar(&opts.HDROut, "hdr-out", "", "write HDR histogram logs PREFIX-<metric>.hlog (for bench merge)")
	fl.StringVar(&opts.Shard, "shard", "", "run part I of N (I/N): clients I·c… of a run spread over processes")
	fl.StringVar(&opts.RunID, "run-id", "", "run ID in topics ({n}) and client IDs (default: random; sub: any run)")
	cmdutil.DurationVar(fl, &opts.AckTimeout, "ack-timeout", 0, "wait this long for outstanding acknowledgements (default 10s)")
	cmdutil.DurationVar(fl, &opts.Drain, "drain", 0, "end receiving after this long without a message once publishing ended (default 2s)")
	cmd.AddCommand(newCmdMerge(f, nil))
	cmdutil.Choice{Flag: "qos", Values: cmdutil.QoS}.Register(cmd)
	opts.Settings = f.ConnectionSettings(cmd)
	return cmd
}

// config turns the flags into a bench configuration.
func (o *Options) config(st *profile.Settings) (bench.Config, error) {
	cfg := bench.Config{
		Mode:           bench.Mode(o.Mode),
		Publishers:     o.Clients,
		Subscribers:    o.Subscribers,
		Topic:          o.Topic,
		Shared:         o.Shared,
		Size:           o.Size,
		Rate:           o.Rate,
		Duration:       o.Duration,
		Count:          o.Count,
		Warmup:         o.Warmup,
		Ramp:           o.Ramp,
		Inflight:       st.Inflight, // the --inflight setting
		RunID:          o.RunID,
		ClientIDPrefix: st.ClientIDPrefix,
		AckTimeout:     o.AckTimeout,
		Drain:          o.Drain,
		TopicAlias:     o.TopicAlias,
	}
	if err := session.Refuse311(st, session.Flag{Name: "--topic-alias", Set: o.TopicAlias}); err != nil {
		return cfg, err
	}
	if o.Template != "" {
		if o.SizeSet {
			return cfg, errs.Usagef("give --size or --template, not both: with --template the payload is the %d-byte header and the template's output", bench.HeaderSize)
		}
		t, err := payload.Parse("--template", o.Template)
		if err != nil {
			return cfg, err
		}
		cfg.Template, cfg.TemplateText = t, o.Template
	}
	if o.QoS < 0 || o.QoS > 2 {
		return cfg, errs.Usagef("invalid --qos %d: want 0, 1 or 2", o.QoS)
	}
	cfg.QoS = byte(o.QoS)
	if (cfg.Mode == bench.Pub || cfg.Mode == bench.Conn) && !o.SubscribersSet {
		cfg.Subscribers = 0
	}
	if o.Shard != "" {
		s, err := bench.ParseShard(o.Shard)
		if err != nil {
			return cfg, err
		}
		cfg.Shard = s
	}
	if cfg.RunID == "" && cfg.Mode != bench.Sub {
		cfg.RunID = randomID()
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func benchRun(ctx context.Context, opts *Options) error {
	st, err := opts.Settings()
	if err != nil {
		return err
	}
	cfg, err := opts.config(st)
	if err != nil {
		return err
	}
	stderr := &cmdutil.LockedWriter{W: opts.IO.ErrOut}
	warn := cmdutil.Warner(stderr)
	if st.IsSet("client-id") {
		// bench names each client <client-id-prefix><run ID>-<p|s|c><index>.
		sst := *st
		sst.ClientID, sst.Entries = "", slices.DeleteFunc(slices.Clone(st.Entries), func(e profile.Entry) bool { return e.Name == "client-id" })
		warn("--client-id is not used: bench names each client <client-id-prefix><run ID>-<p|s|c><index>")
		st = &sst
	}
	// No endpoint given: measure the embedded broker, in this process.
	conn, err := connect.New(st, connect.Options{Embedded: true, Stderr: stderr, Warn: warn})
	if err != nil {
		return err
	}
	cfg.ClientIDPrefix = conn.ClientIDPrefix
	if session.IsV311(st) && cfg.QoS == 2 && !st.IsSet("inflight") {
		conn.Settings.Inflight = session.InflightQoS2311
	}
	rules := conn.Rules
	if err := checkTopics(&cfg, rules); err != nil {
		return err
	}
	warns, err := cfg.CheckLimits(rules)
	if err != nil {
		return err
	}
	for _, w := range warns {
		warn(w)
	}
	cfg.SubscribeBatch = rules.MaxSubscriptionsPerSubscribe
	defer conn.Close(ctx)
	if err := conn.Start(ctx); err != nil {
		return err
	}
	st = conn.Settings
	if conn.Embedded {
		fmt.Fprintf(stderr, "iotctl: no --endpoint: benchmarking the embedded broker started in this process on %s\n", st.Endpoint)
	}
	target := bench.Target{Endpoint: st.Endpoint, Embedded: conn.Embedded, Auth: conn.Provider.Method(), Limits: rules.Name}
	b, err := bench.New(cfg, target, conn.Dialer(), warn)
	if err != nil {
		return err
	}
	if opts.IO.StderrTTY && !opts.NoProgress {
		stop := startProgress(ctx, stderr, b)
		defer stop()
		res, runErr := b.Run(ctx)
		stop()
		return finish(opts, st, res, runErr)
	}
	res, runErr := b.Run(ctx)
	return finish(opts, st, res, runErr)
}

// finish prints the result and decides the exit status.
func finish(opts *Options, st *profile.Settings, res *bench.Result, runErr error) error {
	if res == nil {
		return runErr
	}
	if opts.HDROut != "" {
		files, err := res.WriteHDRFiles(opts.HDROut)
		if err != nil {
			return err
		}
		for _, f := range files {
			fmt.Fprintf(opts.IO.ErrOut, "iotctl: wrote %s\n", f)
		}
	}
	if err := (cmdutil.Output{Format: st.Output}).Print(opts.IO.Out, res, res.WriteText); err != nil {
		return err
	}
	interrupted := errors.Is(runErr, context.Canceled)
	switch {
	case interrupted && res.AckTimeouts > 0:
		return errs.Incompletef("interrupted: %d QoS %d messages not acknowledged", res.AckTimeouts, res.Settings.QoS)
	case runErr != nil:
		return runErr
	case res.AckTimeouts > 0:
		return errs.Incompletef("%d QoS %d messages were never acknowledged", res.AckTimeouts, res.Settings.QoS)
	}
	return nil
}

// checkTopics checks the topics and filters against the endpoint's rules
// before anything connects.
func checkTopics(cfg *bench.Config, rules limits.Rules) error {
	if cfg.Mode == bench.Conn {
		return nil
	}
	if cfg.Mode != bench.Sub {
		if err := rules.Topic(cfg.TopicFor(cfg.Shard.Index*cfg.Publishers + cfg.Publishers - 1)); err != nil {
			return err
		}
	}
	if cfg.Mode == bench.Roundtrip || cfg.Mode == bench.Sub {
		filters, err := cfg.Filters()
		if err != nil {
			return err
		}
		for _, f := range filters {
			if err := rules.Filter(f); err != nil {
				return err
			}
		}
	}
	if rules.MaxClientID > 0 {
		id := fmt.Sprintf("%s%s-s%d", cfg.ClientIDPrefix, cfg.RunID, cfg.Shard.Total*max(cfg.Publishers, cfg.Subscribers))
		if len(id) > rules.MaxClientID {
			return errs.Usagef("client IDs like %q are longer than %d bytes: use a shorter --client-id-prefix or --run-id", id, rules.MaxClientID)
		}
	}
	return nil
}

func randomID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
