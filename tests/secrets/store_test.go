package secrets

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/pkg/profilestore"
)

// TestConcurrentProfileSet: two iotctl processes run 'profile set' on the
// same profile at once, each a different key, 100 times; the lock file
// keeps every update (before it, about 30 in 100 rounds lost one, with
// both writers exiting 0).
func TestConcurrentProfileSet(t *testing.T) {
	home := t.TempDir()
	env := clitest.Env(home)
	store := &profilestore.Store{Dir: filepath.Join(home, ".iotctl")}
	rounds := 100
	if testing.Short() {
		rounds = 20
	}
	lost := 0
	for i := range rounds {
		a := clitest.Start(t, clitest.Opts{Args: []string{"profile", "set", "race", fmt.Sprintf("client-id=a%d", i)}, Env: env})
		b := clitest.Start(t, clitest.Opts{Args: []string{"profile", "set", "race", fmt.Sprintf("username=b%d", i)}, Env: env})
		for _, p := range []*clitest.Proc{a, b} {
			if code := p.Wait(t, 0); code != 0 {
				t.Fatalf("round %d: exit %d: %s", i, code, p.Stderr.String())
			}
		}
		v, err := store.Load("race")
		if err != nil {
			t.Fatal(err)
		}
		if v["client-id"] != fmt.Sprintf("a%d", i) || v["username"] != fmt.Sprintf("b%d", i) {
			lost++
			t.Errorf("round %d: an update was lost: %v", i, v)
		}
	}
	t.Logf("RELIABILITY concurrent_profile_set lost=%d of %d rounds", lost, rounds)
	checkModes(t, "concurrent profile set", store.Dir)
}

// TestUnwritableHome: an IOTCTL_HOME iotctl cannot write (a file, a path
// under a file, /proc and /sys, which refuse new folders even to root, and
// for other users a folder of mode 0500) is exit 2 with one line that
// names the folder and says to set IOTCTL_HOME.
func TestUnwritableHome(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	homes := []string{file, filepath.Join(file, "sub")}
	if runtime.GOOS == "linux" {
		homes = append(homes, "/proc/iotctl-test", "/sys/iotctl-test", "/proc")
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		homes = append(homes, ro, filepath.Join(ro, "sub"))
	}
	for _, home := range homes {
		env := append(clitest.Env(t.TempDir()), "IOTCTL_HOME="+home)
		for _, args := range [][]string{
			{"profile", "set", "dev", "port=1"},
			{"profile", "set", "dev", "password=" + secPassword},
			{"profile", "use", "dev"},
			{"profile", "unset", "dev", "port"},
			{"profile", "delete", "dev"},
		} {
			r := clitest.Run(t, clitest.Opts{Args: args, Env: env})
			what := "IOTCTL_HOME=" + home + " " + strings.Join(args[:2], " ")
			checkNoLeak(t, what, r, []string{secPassword})
			line := strings.TrimSpace(r.Stderr)
			if r.Code != 2 || strings.Count(line, "\n") > 0 || !strings.HasPrefix(line, "iotctl: ") ||
				!strings.Contains(line, home) || !strings.Contains(line, "set IOTCTL_HOME to a") {
				t.Errorf("%s: exit %d, want 2 with one line naming the folder and the remedy: %q", what, r.Code, r.Stderr)
			}
		}
	}
}
