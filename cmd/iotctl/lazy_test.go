package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/broker"
)

// TestLazyStartUp: --help, completion and a plain pub must not load AWS
// configuration. The AWS config and credentials files are unparsable, so any
// command that loads them fails; a sigv4 command proves the trap works.
func TestLazyStartUp(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	dir := t.TempDir()
	bad := filepath.Join(dir, "aws-config")
	if err := os.WriteFile(bad, []byte("[profile broken\nregion = us-east-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"AWS_CONFIG_FILE=" + bad, "AWS_SHARED_CREDENTIALS_FILE=" + bad, "AWS_PROFILE=broken",
		"AWS_EC2_METADATA_DISABLED=true"}
	home := t.TempDir()

	for _, args := range [][]string{
		{"--help"},
		{"pub", "--help"},
		{"completion", "bash"},
		{"pub", "--endpoint", b.URL("mqtt"), "-t", "lazy/test", "-m", "hello", "-q", "1"},
	} {
		r := iotctl(t, home, env, args...)
		if r.code != 0 {
			t.Errorf("iotctl %s: exit %d, want 0 (AWS configuration loaded?)\nstderr: %s", strings.Join(args, " "), r.code, r.errOut)
		}
	}

	// The control: a command that does need AWS configuration trips over it.
	r := iotctl(t, home, env, "pub", "--auth", "sigv4", "--endpoint", "a1-ats.iot.us-east-1.amazonaws.com", "-t", "x", "-m", "y")
	if r.code != 2 || !strings.Contains(r.errOut, "AWS_CONFIG_FILE") {
		t.Fatalf("sigv4 pub with an unparsable AWS config: exit %d, stderr %q; want exit 2 naming AWS_CONFIG_FILE (the trap does not work)", r.code, r.errOut)
	}
}

// initBudget is what one package of ours may allocate while it initialises.
// Tables, compiled regexps and parsed templates belong in a sync.OnceValue
// used by the command that needs them: every run pays for what init does.
// The largest now is internal/build (~7 KB: it reads the module build info
// that version, --version and the custom authorizer's username print); the
// others take under 2 KB.
const initBudget = 8 << 10

// initRecord is one line of GODEBUG=inittrace=1:
//
//	init github.com/iotctl/iotctl/pkg/auth @5.1 ms, 0.040 ms clock, 1536 bytes, 17 allocs
type initRecord struct {
	pkg           string
	bytes, allocs int64
}

func parseInitTrace(t *testing.T, stderr string) []initRecord {
	t.Helper()
	var recs []initRecord
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(line, "init ") {
			continue
		}
		f := strings.Fields(line)
		// init PKG @T ms, C ms clock, B bytes, A allocs
		if len(f) != 11 || f[8] != "bytes," || f[10] != "allocs" {
			t.Fatalf("unexpected inittrace line %q", line)
		}
		b, err1 := strconv.ParseInt(f[7], 10, 64)
		a, err2 := strconv.ParseInt(f[9], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("unexpected inittrace line %q", line)
		}
		recs = append(recs, initRecord{pkg: f[1], bytes: b, allocs: a})
	}
	return recs
}

// TestInitAllocations: no package of ours does work at start-up that a
// command might not need. Allocations are deterministic, unlike init times,
// so they are what is asserted; the sum over every package (dependencies
// included) is logged to follow the start-up cost.
func TestInitAllocations(t *testing.T) {
	r := iotctl(t, t.TempDir(), []string{"GODEBUG=inittrace=1"}, "version")
	if r.code != 0 {
		t.Fatalf("iotctl version: exit %d\nstderr: %s", r.code, r.errOut)
	}
	recs := parseInitTrace(t, r.errOut)
	var ours int
	var sumBytes, sumAllocs int64
	for _, rec := range recs {
		sumBytes += rec.bytes
		sumAllocs += rec.allocs
		if rec.pkg != "github.com/iotctl/iotctl" && !strings.HasPrefix(rec.pkg, "github.com/iotctl/iotctl/") {
			continue
		}
		ours++
		if rec.bytes > initBudget {
			t.Errorf("package %s allocates %d bytes (%d allocations) at init, budget %d: move the work to first use (sync.OnceValue)", rec.pkg, rec.bytes, rec.allocs, initBudget)
		}
	}
	if ours == 0 {
		t.Fatalf("no package of ours in the init trace (%d lines): is the format still 'init PKG @T ms, C ms clock, B bytes, A allocs'?\n%s", len(recs), clitest.Tail(r.errOut, 20))
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].bytes > recs[j].bytes })
	top := recs[:min(5, len(recs))]
	var b strings.Builder
	for _, rec := range top {
		fmt.Fprintf(&b, "\n  %8d bytes %5d allocs  %s", rec.bytes, rec.allocs, rec.pkg)
	}
	t.Logf("package initialisation: %d packages (%d of ours), %d bytes in %d allocations; largest:%s", len(recs), ours, sumBytes, sumAllocs, b.String())
}
