package root

import (
	"testing"

	"github.com/iotctl/iotctl/cmd/cmdutil"
)

// treeAllocBudget bounds the allocations of building the command tree,
// which every run of iotctl does before it runs anything (version
// included): about 2,000 now. Making the connection flags anew for each
// command that connects took 14,000 (cmdutil.Factory.AddConnectionFlags).
const treeAllocBudget = 3000

func TestCommandTreeAllocations(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	allocs := testing.AllocsPerRun(3, func() { NewCmdRoot(cmdutil.NewFactory(ios, "test")) })
	if allocs > treeAllocBudget {
		t.Errorf("building the command tree takes %.0f allocations, budget %d: make per-command work cheap or share it", allocs, treeAllocBudget)
	}
	t.Logf("command tree: %.0f allocations", allocs)
}

// The commands that connect share one set of connection flags: one
// command of a tree runs, and making ~70 flags for each was most of the
// start-up.
func TestConnectionFlagsShared(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	root := NewCmdRoot(cmdutil.NewFactory(ios, "test"))
	pub, _, err := root.Find([]string{"pub"})
	if err != nil {
		t.Fatal(err)
	}
	get, _, err := root.Find([]string{"shadow", "get"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"endpoint", "cert", "proxy-user-name"} {
		a, b := pub.Flags().Lookup(name), get.Flags().Lookup(name)
		if a == nil || a != b {
			t.Errorf("--%s: pub's %p, shadow get's %p: want one flag", name, a, b)
		}
	}
	if pub.Flags().Lookup("thing-name") != nil || get.Flags().Lookup("thing-name") == nil {
		t.Error("--thing-name: want it on shadow get only")
	}
}

func BenchmarkNewCmdRoot(b *testing.B) {
	ios, _, _, _ := cmdutil.Test()
	b.ReportAllocs()
	for b.Loop() {
		NewCmdRoot(cmdutil.NewFactory(ios, "test"))
	}
}
