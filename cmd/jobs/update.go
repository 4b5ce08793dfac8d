package jobs

import (
	"context"
	"strings"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/spf13/cobra"
)

// UpdateOptions are `jobs update`'s.
type UpdateOptions struct {
	Common
	JobID           string
	Status          string
	Details         []string
	ExpectedVersion int64
	ExecutionNumber int64
	StepTimeout     time.Duration
	IncludeDocument bool

	expectedSet bool
}

// updateStatuses are the statuses a device may set.
var updateStatuses = []string{"IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED"}

func newCmdUpdate(f *cmdutil.Factory, runF func(context.Context, *UpdateOptions) error) *cobra.Command {
	opts := &UpdateOptions{}
	cmd := &cobra.Command{
		Use:   "update JOB_ID --status IN_PROGRESS|SUCCEEDED|FAILED|REJECTED [--details k=v]... [--expected-version V] [--step-timeout DUR]",
		Short: "Set the status of one of the thing's job executions",
		Long: `Set a job execution's status: UpdateJobExecution on
$aws/things/<thing>/jobs/<jobId>/update. --details sets statusDetails (keys
of a-z A-Z 0-9 : _ -, values up to 1024 characters; given, they replace the
previous ones). --expected-version makes the update conditional on the
execution's versionNumber (VersionMismatch otherwise). --step-timeout, with
IN_PROGRESS, gives the device that long (whole minutes, up to 7 days) before
the execution times out (TIMED_OUT).

The answer, printed as JSON, has the new executionState (status,
statusDetails, versionNumber). A transition the service does not allow is
exit 4 with InvalidStateTransition.`,
		Example: `  iotctl jobs update fw-42 --thing sensor-7 --status IN_PROGRESS --step-timeout 15m --details step=download
  iotctl jobs update fw-42 --thing sensor-7 --status SUCCEEDED --details version=1.4.2 --expected-version 2`,
		Args: oneJobID,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JobID = args[0]
			opts.expectedSet = cmd.Flags().Changed("expected-version")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return updateRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Status, "status", "", "new status: IN_PROGRESS, SUCCEEDED, FAILED or REJECTED (required)")
	cmdutil.StringArrayVar(fl, &opts.Details, "details", "statusDetails KEY=VALUE (repeatable)")
	fl.Int64Var(&opts.ExpectedVersion, "expected-version", 0, "apply only if the execution's versionNumber is this")
	fl.Int64Var(&opts.ExecutionNumber, "execution-number", 0, "the execution to update (default: the latest)")
	cmdutil.DurationVar(fl, &opts.StepTimeout, "step-timeout", 0, "with IN_PROGRESS: time out the execution after this long (whole minutes)")
	fl.BoolVar(&opts.IncludeDocument, "include-document", false, "include the job document in the answer")
	_ = cmd.RegisterFlagCompletionFunc("status", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return updateStatuses, cobra.ShellCompDirectiveNoFileComp
	})
	opts.register(f, cmd)
	return cmd
}

// body checks the flags and builds the request.
func (opts *UpdateOptions) body() (map[string]any, error) {
	if err := checkJobID(opts.JobID); err != nil {
		return nil, err
	}
	status := strings.ToUpper(opts.Status)
	valid := false
	for _, s := range updateStatuses {
		valid = valid || s == status
	}
	if !valid {
		return nil, errs.Usagef("--status %q: give IN_PROGRESS, SUCCEEDED, FAILED or REJECTED", opts.Status)
	}
	body := map[string]any{"status": status, "includeJobExecutionState": true}
	details, err := parseDetails(opts.Details)
	if err != nil {
		return nil, err
	}
	if details != nil {
		body["statusDetails"] = details
	}
	if opts.expectedSet {
		if opts.ExpectedVersion < 0 {
			return nil, errs.Usagef("--expected-version %d: give the execution's versionNumber", opts.ExpectedVersion)
		}
		body["expectedVersion"] = opts.ExpectedVersion
	}
	if opts.ExecutionNumber < 0 {
		return nil, errs.Usagef("--execution-number %d: give a positive number", opts.ExecutionNumber)
	} else if opts.ExecutionNumber > 0 {
		body["executionNumber"] = opts.ExecutionNumber
	}
	if opts.StepTimeout != 0 {
		if status != "IN_PROGRESS" {
			return nil, errs.Usagef("--step-timeout goes with --status IN_PROGRESS: a finished execution has no next step")
		}
		m, err := stepMinutes("--step-timeout", opts.StepTimeout)
		if err != nil {
			return nil, err
		}
		body["stepTimeoutInMinutes"] = m
	}
	if opts.IncludeDocument {
		body["includeJobDocument"] = true
	}
	return body, nil
}

func updateRun(ctx context.Context, opts *UpdateOptions) error {
	body, err := opts.body()
	if err != nil {
		return err
	}
	p, err := opts.prepare()
	if err != nil {
		return err
	}
	return runRequest(ctx, &opts.Common, p, opts.JobID+"/update", body)
}
