package profile

import (
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/profilestore"
	"github.com/spf13/cobra"
)

// selection is the profile in effect and why: what list and show say.
type selection struct {
	Name string `json:"current"`
	// From is profile.FromProfileFlag ("--profile"), FromProfileEnv
	// ("IOTCTL_PROFILE"), FromSelection ("selection") or FromArgument
	// ("argument"); "" when nothing selects a profile.
	From string `json:"current_source"`
	// File is the selection file when From is FromSelection.
	File string `json:"selection_file,omitempty"`
}

// selected finds the profile a command would use: --profile, else
// IOTCTL_PROFILE (either empty: none), else the selection file.
func selected(cmd *cobra.Command, store *profilestore.Store) (selection, error) {
	name, from := profile.SelectedProfile(cmd.Flags())
	if from != profile.FromNoSelection {
		return selection{Name: name, From: from}, nil
	}
	cur, err := store.Current()
	if err != nil || cur == "" {
		return selection{}, err
	}
	return selection{Name: cur, From: profile.FromSelection, File: store.CurrentPath()}, nil
}

// why says in words what selected a profile, for text output.
func why(from, file string) string {
	switch from {
	case profile.FromProfileFlag:
		return "selected by --profile"
	case profile.FromProfileEnv:
		return "selected by IOTCTL_PROFILE"
	case profile.FromSelection:
		return "selected by 'iotctl profile use' (" + profile.TildePath(file) + ")"
	case profile.FromArgument:
		return "named on the command line"
	}
	return "nothing selects one"
}

// noneWhy says why no profile is in effect.
func noneWhy(from string) string {
	switch from {
	case profile.FromProfileFlag:
		return "--profile is empty"
	case profile.FromProfileEnv:
		return "IOTCTL_PROFILE is empty"
	}
	return "none selected: use --profile NAME, IOTCTL_PROFILE or 'iotctl profile use NAME'"
}
