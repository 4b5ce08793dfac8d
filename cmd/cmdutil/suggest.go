package cmdutil

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Distance is the optimal string alignment distance of a and b: the
// Levenshtein distance where swapping two neighbouring letters ("tpoic")
// counts as one edit.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// Suggest returns the candidates close to typed: within one edit per three
// letters (at least 1, at most 2), or starting with it; the closest first.
func Suggest(typed string, candidates []string) []string {
	typed = strings.ToLower(typed)
	limit := min(max(1, len([]rune(typed))/3), 2)
	type scored struct {
		name string
		d    int
	}
	var found []scored
	for _, c := range candidates {
		d := Distance(typed, strings.ToLower(c))
		if d <= limit || (len(typed) >= 2 && strings.HasPrefix(strings.ToLower(c), typed)) {
			if !slices.ContainsFunc(found, func(s scored) bool { return s.name == c }) {
				found = append(found, scored{c, d})
			}
		}
	}
	slices.SortStableFunc(found, func(a, b scored) int { return a.d - b.d })
	out := make([]string, len(found))
	for i, s := range found {
		out[i] = s.name
	}
	return out
}

// didYouMean is "; did you mean X?" for the suggestions, each quoted by
// quote, or "" when there are none.
func didYouMean(suggestions []string, quote func(string) string) string {
	if len(suggestions) == 0 {
		return ""
	}
	q := make([]string, len(suggestions))
	for i, s := range suggestions {
		q[i] = quote(s)
	}
	list := q[0]
	if len(q) > 1 {
		list = strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
	}
	return "; did you mean " + list + "?"
}

// UnknownCommand is the usage error for an unknown subcommand (or argument
// of a command whose arguments are a closed list): one line, with the
// close names among valid.
func UnknownCommand(cmd *cobra.Command, arg string, valid []string) error {
	var names []string
	for _, s := range Suggest(arg, valid) {
		// An alias stands for its command's name.
		for _, c := range cmd.Commands() {
			if c.HasAlias(s) {
				s = c.Name()
			}
		}
		if !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	if s := didYouMean(names, func(s string) string { return fmt.Sprintf("%q", s) }); s != "" {
		return errs.Usagef("unknown command %q for %q%s", arg, cmd.CommandPath(), s)
	}
	return errs.Usagef("unknown command %q for %q: run '%s --help'", arg, cmd.CommandPath(), cmd.CommandPath())
}

// SubcommandNames are the names and aliases of cmd's visible subcommands.
func SubcommandNames(cmd *cobra.Command) []string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand() || c.Name() == "help" {
			names = append(names, c.Name())
			names = append(names, c.Aliases...)
		}
	}
	return names
}

// SuggestSubcommands makes every command of the tree under root that has
// subcommands answer an unknown one with one usage line that suggests the
// close names ("iotctl: unknown command "lst" for "iotctl profile"; did you
// mean "list"?", exit 2) instead of cobra's multi-line, tabbed suggestion
// or, for a command with no Run, its help and exit 0. A command's own
// argument check (bench's modes) runs first; its closed list (ValidArgs)
// is suggested too.
func SuggestSubcommands(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.HasSubCommands() {
			return
		}
		c.SuggestionsMinimumDistance = 2
		own := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if own != nil {
				err := own(cmd, args)
				if err == nil || len(args) == 0 || slices.Contains(cmd.ValidArgs, args[0]) {
					return err
				}
			} else if len(args) == 0 {
				return nil
			}
			return UnknownCommand(cmd, args[0], append(SubcommandNames(cmd), cmd.ValidArgs...))
		}
		if c.Run == nil && c.RunE == nil {
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
	}
	walk(root)
}

// FlagErrorFunc turns a flag-parsing error into a usage error; an unknown
// flag suggests the command's close flag names ("unknown flag: --tpoic;
// did you mean --topic?").
func FlagErrorFunc(cmd *cobra.Command, err error) error {
	var notExist *pflag.NotExistError
	if !errors.As(err, &notExist) || notExist.GetSpecifiedShortnames() != "" {
		return FlagError(err)
	}
	typed := notExist.GetSpecifiedName()
	var names []string
	visit := func(f *pflag.Flag) {
		if !f.Hidden && !slices.Contains(names, f.Name) {
			names = append(names, f.Name)
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	norm := strings.ReplaceAll(typed, "_", "-")
	s := didYouMean(Suggest(norm, names), func(s string) string { return "--" + s })
	return errs.Usagef("unknown flag: --%s%s", typed, s)
}
