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
}

// NewCmdList returns `iotctl profile list`.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IOStreams}
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List profiles; * marks the current one",
		Example: "  iotctl profile list\n  iotctl profile list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
	current, err := opts.Store.Current()
	if err != nil {
		return err
	}
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
		fmt.Fprintf(opts.IO.ErrOut, "iotctl: warning: the current profile %q does not exist: run 'iotctl profile use NAME'\n", current)
	}

	if opts.Output == "json" {
		return printJSON(opts.IO.Out, struct {
			Current  string     `json:"current"`
			Profiles []listItem `json:"profiles"`
		}{current, items})
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
	return table(opts.IO.Out, rows)
}
