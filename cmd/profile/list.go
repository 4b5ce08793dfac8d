package profile

import (
	"fmt"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/profilestore"
	"github.com/spf13/cobra"
)

// ListOptions are the inputs of `iotctl profile list`.
type ListOptions struct {
	IO     *cmdutil.IOStreams
	Store  *profilestore.Store
	Output string
	// Selected finds the profile in effect and why (nil: the selection
	// file alone).
	Selected func(*profilestore.Store) (selection, error)
}

// NewCmdList returns `iotctl profile list`.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IOStreams}
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List profiles; * marks the current one",
		Long: `List the profiles; * marks the one commands use, and a line on stderr
says what selected it: --profile, IOTCTL_PROFILE or 'iotctl profile use'
(the selection file ~/.iotctl/current).`,
		Example: `  iotctl profile list
  iotctl profile list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Selected = func(store *profilestore.Store) (selection, error) { return selected(cmd, store) }
			return runProfileCmd(f, cmd, &opts.Store, &opts.Output, opts, runF, listRun)
		},
	}
}

type listItem struct {
	Name     string `json:"name"`
	Current  bool   `json:"current"`
	Endpoint string `json:"endpoint"`
	Auth     string `json:"auth"`
	Path     string `json:"path"`
	Error    string `json:"error,omitempty"`
}

func listRun(opts *ListOptions) error {
	names, err := opts.Store.List()
	if err != nil {
		return err
	}
	sel := selection{}
	if opts.Selected != nil {
		sel, err = opts.Selected(opts.Store)
	} else if sel.Name, err = opts.Store.Current(); sel.Name != "" {
		sel.From, sel.File = profile.FromSelection, opts.Store.CurrentPath()
	}
	if err != nil {
		return err
	}
	current := sel.Name
	items := make([]listItem, 0, len(names))
	found := false
	for _, n := range names {
		it := listItem{Name: n, Current: n == current, Path: opts.Store.Path(n)}
		found = found || it.Current
		if values, err := opts.Store.Load(n); err != nil {
			it.Error = profile.MaskURLs(err.Error())
		} else {
			it.Endpoint, it.Auth = profile.MaskURL(values["endpoint"]), values["auth"]
		}
		items = append(items, it)
	}
	if current != "" && !found {
		fix := "run 'iotctl profile use NAME' or 'iotctl profile use --none'"
		if sel.From != profile.FromSelection {
			fix = "check " + sel.From
		}
		fmt.Fprintf(opts.IO.ErrOut, "iotctl: warning: the current profile %q (%s) does not exist: %s\n", current, why(sel.From, sel.File), fix)
	}

	if opts.Output == "json" {
		return printJSON(opts.IO.Out, struct {
			selection
			Profiles []listItem `json:"profiles"`
		}{sel, items})
	}
	if len(items) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "No profiles yet: create one with 'iotctl profile set NAME endpoint=HOST' (see 'iotctl help profiles').")
		return nil
	}
	var rows [][]string
	for _, it := range items {
		mark := " "
		if it.Current {
			mark = "*"
		}
		endpoint, auth := it.Endpoint, it.Auth
		if it.Error != "" {
			endpoint, auth = "(invalid: run 'iotctl profile validate "+it.Name+"')", ""
		}
		rows = append(rows, []string{mark + " " + it.Name, endpoint, auth})
	}
	if err := table(opts.IO.Out, rows); err != nil {
		return err
	}
	if current != "" {
		_, err = fmt.Fprintf(opts.IO.ErrOut, "* current: %s, %s\n", current, why(sel.From, sel.File))
	} else {
		_, err = fmt.Fprintf(opts.IO.ErrOut, "No current profile: %s\n", noneWhy(sel.From))
	}
	return err
}
