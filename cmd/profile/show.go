package profile

import (
	"fmt"
	"io"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/cobra"
)

// ShowOptions are the inputs of `iotctl profile show`.
type ShowOptions struct {
	IO *cmdutil.IOStreams
	// Name is the profile to show; "" shows the one selected by
	// --profile, IOTCTL_PROFILE or the current selection.
	Name string
	// Resolve returns the effective settings for Name.
	Resolve func(name string) (*profile.Settings, error)
	// SelectionFile is the store's selection file, named when it selected
	// the profile.
	SelectionFile string
}

// NewCmdShow returns `iotctl profile show [NAME]`.
func NewCmdShow(f *cmdutil.Factory, runF func(*ShowOptions) error) *cobra.Command {
	opts := &ShowOptions{IO: f.IOStreams}
	return &cobra.Command{
		Use:   "show [NAME]",
		Short: "Show every effective setting and where it came from",
		Long: `Show every connection setting in effect, with its source: env (IOTCTL_*),
profile or default (connection flags belong to the commands that connect;
'iotctl whoami' shows them with their flags). Secrets are shown as ****.

With NAME, show that profile resolved as if --profile NAME had been given;
without, the profile selected by --profile, IOTCTL_PROFILE or 'profile use',
and which of them selected it. --profile '' shows the settings without a
profile.`,
		Example: `  iotctl profile show
  iotctl profile show dev -o json
  IOTCTL_PORT=443 iotctl --profile dev profile show`,
		Args:              nameArgs(true),
		ValidArgsFunction: completeNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
			}
			opts.Resolve = resolver(f, cmd)
			opts.SelectionFile = f.Store().CurrentPath()
			if runF != nil {
				return runF(opts)
			}
			return showRun(opts)
		},
	}
}

// resolver resolves the selected profile, or a named one, with cmd's
// flags (validate's connection flags; show has none: env, profile and
// defaults).
func resolver(f *cmdutil.Factory, cmd *cobra.Command) func(string) (*profile.Settings, error) {
	return func(name string) (*profile.Settings, error) {
		var s *profile.Settings
		var err error
		if name == "" {
			s, err = profile.Resolve(cmdutil.SettingFlags(cmd), f.Store())
		} else {
			s, err = profile.ResolveNamed(cmdutil.SettingFlags(cmd), f.Store(), name)
		}
		if err != nil {
			return nil, cmdutil.FlagError(err)
		}
		f.UseSettings(s)
		return s, nil
	}
}

type shownEntry struct {
	Name   string         `json:"name"`
	Value  any            `json:"value"`
	Source profile.Source `json:"source"`
}

func showRun(opts *ShowOptions) error {
	s, err := opts.Resolve(opts.Name)
	if err != nil {
		return usage(err)
	}
	entries := make([]shownEntry, 0, len(s.Entries))
	for _, e := range s.Entries {
		entries = append(entries, shownEntry{Name: e.Name, Value: jsonValue(e), Source: e.Source})
	}
	var selFile string
	if s.ProfileFrom == profile.FromSelection {
		selFile = opts.SelectionFile
	}
	doc := struct {
		Profile       string       `json:"profile"`
		ProfileFile   string       `json:"profile_file,omitempty"`
		ProfileSource string       `json:"profile_source"`
		SelectionFile string       `json:"selection_file,omitempty"`
		Settings      []shownEntry `json:"settings"`
	}{s.Profile, s.ProfilePath, s.ProfileFrom, selFile, entries}
	return cmdutil.Output{Format: s.Output}.Print(opts.IO.Out, doc, func(w io.Writer) error {
		line := "(none: " + noneWhy(s.ProfileFrom) + ")"
		if s.Profile != "" {
			line = s.Profile + " (" + profile.TildePath(s.ProfilePath) + "), " + why(s.ProfileFrom, selFile)
		}
		if _, err := fmt.Fprintf(w, "profile: %s\n\n", line); err != nil {
			return err
		}
		rows := [][]string{{"SETTING", "VALUE", "SOURCE"}}
		for _, e := range s.Entries {
			rows = append(rows, []string{e.Name, shown(e), string(e.Source)})
		}
		return table(w, rows)
	})
}
