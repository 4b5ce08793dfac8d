package jobs

import (
	"context"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/spf13/cobra"
)

// DescribeOptions are `jobs describe`'s and `jobs next`'s.
type DescribeOptions struct {
	Common
	JobID           string // "$next" for jobs next
	ExecutionNumber int64
	IncludeDocument bool
}

func newCmdDescribe(f *cmdutil.Factory, runF func(context.Context, *DescribeOptions) error) *cobra.Command {
	opts := &DescribeOptions{}
	cmd := &cobra.Command{
		Use:   "describe JOB_ID [--thing T] [--execution-number N] [--include-document]",
		Short: "Show one job execution of the thing",
		Long: `Show one job execution of the thing: DescribeJobExecution on
$aws/things/<thing>/jobs/<jobId>/get. The answer, printed as JSON, has the
execution: jobId, status, statusDetails, versionNumber, executionNumber,
queuedAt, startedAt, lastUpdatedAt, and with --include-document the job
document. Without --execution-number, the latest execution.`,
		Example: `  iotctl jobs describe fw-42 --thing sensor-7
  iotctl jobs describe fw-42 --thing sensor-7 --include-document | jq .execution.jobDocument`,
		Args: oneJobID,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JobID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return describeRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().Int64Var(&opts.ExecutionNumber, "execution-number", 0, "the execution to show (default: the latest)")
	cmd.Flags().BoolVar(&opts.IncludeDocument, "include-document", false, "include the job document")
	opts.register(f, cmd)
	return cmd
}

func newCmdNext(f *cmdutil.Factory, runF func(context.Context, *DescribeOptions) error) *cobra.Command {
	opts := &DescribeOptions{JobID: "$next", IncludeDocument: true}
	cmd := &cobra.Command{
		Use:   "next [--thing T]",
		Short: "Show the thing's next pending job execution without starting it",
		Long: `Show the job execution the thing would run next (in progress, else the
oldest queued) without changing it: DescribeJobExecution of $next on
$aws/things/<thing>/jobs/$next/get, with its job document. With nothing
pending, the answer has no execution. 'jobs run' starts executions.`,
		Example: `  iotctl jobs next --thing sensor-7
  iotctl jobs next --thing sensor-7 | jq -r '.execution.jobId // "none"'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return describeRun(cmd.Context(), opts)
		},
	}
	opts.register(f, cmd)
	return cmd
}

func describeRun(ctx context.Context, opts *DescribeOptions) error {
	if opts.JobID != "$next" {
		if err := checkJobID(opts.JobID); err != nil {
			return err
		}
	}
	if opts.ExecutionNumber < 0 {
		return errs.Usagef("--execution-number %d: give a positive number", opts.ExecutionNumber)
	}
	p, err := opts.prepare()
	if err != nil {
		return err
	}
	body := map[string]any{"includeJobDocument": opts.IncludeDocument}
	if opts.ExecutionNumber > 0 {
		body["executionNumber"] = opts.ExecutionNumber
	}
	return runRequest(ctx, &opts.Common, p, opts.JobID+"/get", body)
}
