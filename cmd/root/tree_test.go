package root

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/spf13/cobra"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// walk calls fn for every command of the tree users see: not the help
// topics, not hidden commands (__complete).
func walk(t *testing.T, fn func(c *cobra.Command)) {
	t.Helper()
	home(t)
	ios, _, _, _ := cmdutil.Test()
	root := NewCmdRoot(cmdutil.NewFactory(ios, "test"))
	var visit func(c *cobra.Command)
	visit = func(c *cobra.Command) {
		if c.Hidden || c.IsAdditionalHelpTopicCommand() {
			return
		}
		c.InitDefaultHelpFlag()
		fn(c)
		for _, sub := range c.Commands() {
			visit(sub)
		}
	}
	visit(root)
}

func TestEveryCommandHasAnExample(t *testing.T) {
	n := 0
	walk(t, func(c *cobra.Command) {
		n++
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no Example", c.CommandPath())
		}
	})
	if n < 20 {
		t.Errorf("walked only %d commands", n)
	}
}

// pflag appends "(default X)" to a usage that may say its own default:
// no flag may show two.
func TestOneDefaultPerFlag(t *testing.T) {
	walk(t, func(c *cobra.Command) {
		for _, fs := range []interface{ FlagUsages() string }{c.LocalFlags(), c.InheritedFlags()} {
			for _, line := range strings.Split(fs.FlagUsages(), "\n") {
				if strings.Count(line, "(default ") > 1 {
					t.Errorf("%s: %s", c.CommandPath(), strings.TrimSpace(line))
				}
			}
		}
	})
	r := run(t, "bench", "--help")
	for _, want := range []string{"acknowledgements (default 10s)\n", "publishing ended (default 2s)\n"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("bench --help lacks %q", want)
		}
	}
}

func TestRootHelpGolden(t *testing.T) {
	home(t)
	r := run(t, "--help")
	if r.err != nil {
		t.Fatal(r.err)
	}
	clitest.Golden(t, "root-help.golden", r.out, *update)
}

// Typos get one line naming the close names, and exit 2.
func TestSuggestionsGolden(t *testing.T) {
	home(t)
	var b strings.Builder
	for _, args := range [][]string{
		{"pbu", "-t", "a"},
		{"profile", "lst"},
		{"profile", "shwo", "dev"},
		{"bench", "rountrip"},
		{"bench", "mrege"},
		{"policy", "gne"},
		{"completion", "zssh"},
		{"pub", "--tpoic", "a", "-m", "b"},
		{"sub", "--retian-handling", "1"},
		{"bench", "--subscriber", "2"},
		{"profile", "zzz"},
		{"pub", "--zzzzzz"},
	} {
		r := run(t, args...)
		msg := cmdutil.Message(r.err)
		if strings.ContainsAny(msg, "\t\n") {
			t.Errorf("%v: not one clean line: %q", args, msg)
		}
		fmt.Fprintf(&b, "$ iotctl %s\n%s\nexit %d\n\n", strings.Join(args, " "), msg, cmdutil.ExitCode(r.err))
	}
	clitest.Golden(t, "suggestions.golden", b.String(), *update)
}

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"topic", "topic", 0}, {"tpoic", "topic", 1}, {"lst", "list", 1}, {"kitten", "sitting", 3}, {"", "abc", 3}, {"qos", "", 3}} {
		if got := cmdutil.Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// mosquitto's -h HOST, -p PORT and -i ID: exit 2 naming the iotctl flag,
// before anything connects; plain -h is still help.
func TestMosquittoHabits(t *testing.T) {
	home(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ep := "--endpoint=" + ln.Addr().String()
	tests := []struct {
		args []string
		want string // "" : no habit error
	}{
		{[]string{"pub", ep, "-h", "broker.example", "-t", "a", "-m", "b"}, "-h is help here; the broker is --endpoint broker.example"},
		{[]string{"sub", "--help", "broker.example", "-t", "a"}, "--help is help here; the broker is --endpoint broker.example"},
		{[]string{"pub", ep, "-t", "a", "-m", "b", "-p", "1883"}, "-p is not a flag here; the port is --port 1883"},
		{[]string{"sub", ep, "-i", "dev-1", "-t", "a"}, "-i is not a flag here; the client ID is --client-id dev-1"},
		{[]string{"pubsub", ep, "-i", "dev-1"}, "-i is not a flag here; the client ID is --client-id dev-1"},
		{[]string{"bench", "-h", "conn"}, ""},                       // help for a mode
		{[]string{"policy", "check", "-p", "x.json", "-h"}, ""},     // -p is policy check's
		{[]string{"pub", "-t", "a", "-h"}, ""},                      // help
		{[]string{"pub", "-h", "--endpoint", "broker.example"}, ""}, // help
	}
	// -h as the value of -m is a message.
	ios, _, _, _ := cmdutil.Test()
	if err := cmdutil.CheckHabits(NewCmdRoot(cmdutil.NewFactory(ios, "test")), []string{"pub", "-m", "-h", "-t", "a"}); err != nil {
		t.Errorf("pub -m -h: %v", err)
	}
	for _, tt := range tests {
		ios, _, out, _ := cmdutil.Test()
		root := NewCmdRoot(cmdutil.NewFactory(ios, "test"))
		err := Execute(context.Background(), root, tt.args)
		if tt.want == "" {
			if err != nil || !strings.Contains(out.String(), "Usage:") {
				t.Errorf("%v: %v, want help", tt.args, err)
			}
			continue
		}
		if msg := cmdutil.Message(err); msg != "iotctl: "+tt.want || cmdutil.ExitCode(err) != 2 {
			t.Errorf("%v: %q (exit %d), want %q", tt.args, msg, cmdutil.ExitCode(err), tt.want)
		}
	}
	// Nothing connected: the check runs before the command.
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Error("a command connected despite the usage error")
	}
}

// Every closed choice completes its values (cobra's __complete, as the
// shells call it), and nothing else.
func TestClosedValueCompletions(t *testing.T) {
	home(t)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"sub", "-q", ""}, []string{"0", "1", "2"}},
		{[]string{"sub", "--qos", ""}, []string{"0", "1", "2"}},
		{[]string{"bench", "-q", ""}, []string{"0", "1", "2"}},
		{[]string{"pub", "-q", ""}, []string{"0", "1", "2"}},
		{[]string{"sub", "-F", ""}, []string{"raw", "json"}},
		{[]string{"sub", "--retain-handling", ""}, []string{"0", "1", "2"}},
		{[]string{"sub", "--transport", ""}, []string{"tcp", "websocket"}},
		{[]string{"pub", "--payload-format", ""}, []string{"utf8", "bytes"}},
		{[]string{"pub", "--will-qos", ""}, []string{"0", "1", "2"}},
		{[]string{"policy", "gen", "--format", ""}, []string{"json", "cloudformation", "terraform"}},
		{[]string{"bench", ""}, []string{"merge", "roundtrip", "pub", "sub", "conn"}},
		{[]string{"pub", "--verbosity", ""}, []string{"Trace", "Debug", "Info", "Warn", "Error", "Fatal", "None"}},
		{[]string{"completion", ""}, []string{"bash", "fish", "powershell", "zsh"}},
	}
	for _, tt := range tests {
		r := run(t, append([]string{"__complete"}, tt.args...)...)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(r.out), "\n") {
			if !strings.HasPrefix(l, ":") {
				v, _, _ := strings.Cut(l, "\t")
				got = append(got, v)
			}
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("complete %q: %q, want %q", tt.args, got, tt.want)
		}
		if !strings.Contains(r.out, ":4\n") && !strings.Contains(r.out, ":36\n") {
			t.Errorf("complete %q: file names offered too:\n%s", tt.args, r.out)
		}
	}
	// Completion and validation share the list.
	c := cmdutil.Choice{Flag: "qos", Values: cmdutil.QoS}
	for _, v := range c.Values {
		if c.Check(v) != nil {
			t.Errorf("%s rejected", v)
		}
	}
	if err := c.Check("3"); cmdutil.ExitCode(err) != 2 || err.Error() != "--qos 3: use 0, 1 or 2" {
		t.Errorf("Check(3): %v", err)
	}
}

// Every IOTCTL_* variable the program's code names is in 'iotctl help
// environment' (the settings' come from profile.Defs).
func TestEveryVariableDocumented(t *testing.T) {
	home(t)
	help := run(t, "help", "environment").out
	re := regexp.MustCompile(`"(IOTCTL_[A-Z0-9_]*[A-Z0-9])"`)
	for _, dir := range []string{"../../cmd", "../../pkg"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllStringSubmatch(string(data), -1) {
				if !strings.Contains(help, m[1]) {
					t.Errorf("%s names %s, not in 'iotctl help environment'", path, m[1])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
