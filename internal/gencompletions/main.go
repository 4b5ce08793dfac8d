// Command gencompletions writes iotctl's shell completion scripts, generated
// from the command tree, into a folder: iotctl.bash, iotctl.zsh, iotctl.fish
// and iotctl.ps1. Run it with 'go generate ./...' (see completions/gen.go).
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/root"
	"github.com/spf13/cobra"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gencompletions DIR")
		os.Exit(2)
	}
	if err := Generate(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gencompletions:", err)
		os.Exit(1)
	}
}

// Scripts maps each file name to the generator of its shell.
var Scripts = []struct {
	File string
	Gen  func(*cobra.Command, io.Writer) error
}{
	{"iotctl.bash", func(c *cobra.Command, w io.Writer) error { return c.GenBashCompletionV2(w, true) }},
	{"iotctl.zsh", (*cobra.Command).GenZshCompletion},
	{"iotctl.fish", func(c *cobra.Command, w io.Writer) error { return c.GenFishCompletion(w, true) }},
	{"iotctl.ps1", (*cobra.Command).GenPowerShellCompletionWithDesc},
}

// Generate writes every script into dir. The tree is built with empty
// streams and no environment is read, so the output depends on the code only.
func Generate(dir string) error {
	ios := &cmdutil.IOStreams{In: &bytes.Buffer{}, Out: io.Discard, ErrOut: io.Discard}
	cmd := root.NewCmdRoot(cmdutil.NewFactory(ios, "dev"))
	for _, s := range Scripts {
		var buf bytes.Buffer
		if err := s.Gen(cmd, &buf); err != nil {
			return fmt.Errorf("%s: %w", s.File, err)
		}
		if err := os.WriteFile(filepath.Join(dir, s.File), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
