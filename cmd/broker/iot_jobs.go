package broker

import (
	"os"
	"strings"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/broker/iot"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/spf13/pflag"
)

const jobsLong = `

Jobs service (every --iot broker): the MQTT Jobs API on IoT Core's topics,
$aws/things/THING/jobs/get (pending executions), …/jobs/start-next,
…/jobs/JOB_ID/get (JOB_ID or $next) and …/jobs/JOB_ID/update, answered on
…/accepted and …/rejected, with …/jobs/notify (the pending list changed)
and …/jobs/notify-next (the next execution changed), in IoT Jobs' JSON
(execution, jobDocument, status, statusDetails, queuedAt, startedAt,
lastUpdatedAt, versionNumber, executionNumber, clientToken, timestamp;
errors {code, message, clientToken, timestamp, executionState}: InvalidTopic,
InvalidJson, InvalidRequest, InvalidStateTransition, ResourceNotFound,
VersionMismatch, InternalError). A device moves an execution from QUEUED or
IN_PROGRESS to IN_PROGRESS, SUCCEEDED, FAILED or REJECTED; stepTimeoutInMinutes
(1 to 10080; -1 on update cancels it) turns an IN_PROGRESS execution
TIMED_OUT when it expires. Requests need iot:Publish and replies iot:Receive
as any message. Jobs are created by --job JOB_ID=THING[,THING…]:FILE (FILE is
the job document, a JSON object) and by --jobs-dir DIR: each new file
DIR/JOB_ID.json, {"targets":["THING",…],"document":{…}}, creates job JOB_ID
with an execution QUEUED for each target while the broker runs (write it
elsewhere and rename it in; a bad file is logged and read again when it
changes; a job ID is used once). With --state-dir, jobs and executions
persist in DIR/jobs.`

// addJobsFlags adds the flags that create jobs in the Jobs service.
func addJobsFlags(fl *pflag.FlagSet, o *iotOptions) {
	cmdutil.StringArrayVar(fl, &o.Jobs, "job", "JOB_ID=THING[,THING…]:DOCUMENT_FILE: create a job for these things with this job document (repeatable)")
	fl.StringVar(&o.JobsDir, "jobs-dir", "", "watch this folder for job files JOB_ID.json, {\"targets\":[…],\"document\":{…}}, and create their jobs")
}

// jobsConfig parses --job and --jobs-dir into cfg.
func (o *iotOptions) jobsConfig(cfg *iot.Config) error {
	for _, v := range o.Jobs {
		seed, err := parseJob(v)
		if err != nil {
			return err
		}
		cfg.Jobs = append(cfg.Jobs, seed)
	}
	if o.JobsDir != "" {
		st, err := os.Stat(o.JobsDir)
		if err != nil || !st.IsDir() {
			return errs.Usagef("--jobs-dir %s: not a folder: create it first", o.JobsDir)
		}
		cfg.JobsDir = o.JobsDir
	}
	return nil
}

// parseJob reads JOB_ID=THING[,THING…]:DOCUMENT_FILE. Thing names and
// paths may hold ':': the split is at the first ':' followed by a file
// that exists.
func parseJob(v string) (iot.JobSeed, error) {
	const form = "JOB_ID=THING[,THING…]:DOCUMENT_FILE"
	id, rest, err := splitAssign("--job", v, form)
	if err != nil {
		return iot.JobSeed{}, err
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] != ':' {
			continue
		}
		things, file := rest[:i], rest[i+1:]
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		seed := iot.JobSeed{ID: id, Targets: strings.Split(things, ","), Document: data}
		if _, err := seed.Check(); err != nil {
			return seed, errs.Usagef("--job: %v", err)
		}
		return seed, nil
	}
	if _, file, ok := strings.Cut(rest, ":"); ok {
		return iot.JobSeed{}, errs.Usagef("--job %s: no readable job document file %s: want %s", id, file, form)
	}
	return iot.JobSeed{}, errs.Usagef("--job %q: no job document file: want %s", v, form)
}
