package jobs

import (
	"context"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/spf13/cobra"
)

// ListOptions are `jobs list`'s.
type ListOptions struct{ Common }

func newCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{}
	cmd := &cobra.Command{
		Use:   "list [--thing T]",
		Short: "List the thing's pending job executions (in progress and queued)",
		Long: `List the thing's job executions that are not finished: GetPendingJobExecutions
on $aws/things/<thing>/jobs/get. The answer, printed as JSON, has
inProgressJobs and queuedJobs: jobId, executionNumber, versionNumber,
queuedAt, startedAt, lastUpdatedAt.`,
		Example: `  iotctl jobs list --thing sensor-7
  iotctl jobs list --thing sensor-7 | jq -r '.queuedJobs[].jobId'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return listRun(cmd.Context(), opts)
		},
	}
	opts.register(f, cmd)
	return cmd
}

func listRun(ctx context.Context, opts *ListOptions) error {
	p, err := opts.prepare()
	if err != nil {
		return err
	}
	return runRequest(ctx, &opts.Common, p, "get", nil)
}
