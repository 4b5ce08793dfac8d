package bench

import (
	"fmt"
	"os"
	"strings"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/bench"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/cobra"
)

// MergeOptions are bench merge's arguments.
type MergeOptions struct {
	IO       *cmdutil.IOStreams
	Settings func() (*profile.Settings, error)
	Files    []string
}

func newCmdMerge(f *cmdutil.Factory, runF func(*MergeOptions) error) *cobra.Command {
	opts := &MergeOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "merge FILE…",
		Short: "Add up the results of bench shards",
		Long: `Add up JSON results (bench -o json) of shards that ran at the same time:
counters and rates are summed, durations and maxima take the largest.

Percentiles cannot be added up from summaries. Give the shards' HDR logs
(--hdr-out PREFIX writes PREFIX-<metric>.hlog) along with the results for
exact merged percentiles; without them each latency keeps only the largest
max and the summed count, its percentiles are null in JSON and "-" in text,
and a note says so. Files ending in .hlog are HDR logs, the others results.`,
		Example: `  iotctl bench merge shard-0.json shard-1.json
  iotctl bench merge -o json out/*.json out/*.hlog`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Files = args
			if runF != nil {
				return runF(opts)
			}
			return mergeRun(opts)
		},
	}
	opts.Settings = f.LocalSettings(cmd) // -o only
	return cmd
}

func mergeRun(opts *MergeOptions) error {
	st, err := opts.Settings()
	if err != nil {
		return err
	}
	var results []*bench.Result
	var logs []map[string]*hdr.Histogram
	for _, name := range opts.Files {
		f, err := os.Open(name)
		if err != nil {
			return errs.Usagef("bench merge: %v", err)
		}
		if strings.HasSuffix(name, ".hlog") {
			l, err := bench.ReadHDRLog(f)
			f.Close()
			if err != nil {
				return errs.Usagef("bench merge: %s: %v", name, err)
			}
			logs = append(logs, l)
			continue
		}
		r, err := bench.ReadResult(f)
		f.Close()
		if err != nil {
			return errs.Usagef("bench merge: %s is not a bench JSON result (bench -o json): %v", name, err)
		}
		results = append(results, r)
	}
	m, err := bench.Merge(results, logs)
	if err != nil {
		return err
	}
	out := cmdutil.Output{Format: st.Output}
	if out.JSON() {
		return out.Print(opts.IO.Out, m, nil)
	}
	if err := m.WriteText(opts.IO.Out); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
