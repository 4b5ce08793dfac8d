package gen

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/policy"
	"github.com/spf13/pflag"
)

// thingVariable is the thing a connection is attached to, in a policy.
const thingVariable = "${iot:Connection.Thing.ThingName}"

// thingValue is --thing: a boolean (connect as the thing:
// ${iot:Connection.Thing.ThingName}) that may name the thing, as
// --thing=NAME or, with the name as the one argument, --thing NAME.
type thingValue struct{ opts *Options }

func (v thingValue) String() string { return strconv.FormatBool(v.opts.Thing) }
func (v thingValue) Type() string   { return "bool" }
func (v thingValue) Set(s string) error {
	switch s {
	case "true":
		v.opts.Thing = true
	case "false":
		v.opts.Thing, v.opts.ThingName = false, ""
	default:
		v.opts.Thing, v.opts.ThingName = true, s
	}
	return nil
}

// addThingFlags registers --thing [NAME], --shadow and --shadow-name.
func addThingFlags(fl *pflag.FlagSet, opts *Options) {
	fl.Var(thingValue{opts}, "thing", "connect as the thing: client/"+thingVariable+"; `[NAME]` (--thing NAME) names the thing instead: its shadow topics, and client/NAME unless --client-id")
	fl.Lookup("thing").NoOptDefVal = "true"
	fl.BoolVar(&opts.Shadow, "shadow", false, "allow the thing's Device Shadow topics (get, update, delete and their replies, update/delta and update/documents), with --thing")
	cmdutil.StringArrayVar(fl, &opts.ShadowNames, "shadow-name", "with --shadow: this named shadow instead of the classic one (repeatable)")
}

// thingArg takes the one argument as --thing's name: --thing NAME.
func (opts *Options) thingArg(args []string) error {
	switch {
	case len(args) == 0:
		return nil
	case len(args) == 1 && opts.Thing && opts.ThingName == "":
		opts.ThingName = args[0]
		return nil
	}
	return errs.Usagef("policy gen: unexpected argument %q: the only argument is the thing name after --thing", args[0])
}

var (
	shadowNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9:_-]+$`) })
	variableRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\$\{iot:[A-Za-z0-9.:_-]+\}$`) })
)

// applyThing turns --thing NAME and --shadow into gen: the named thing's
// client ID (unless --client-id) and its shadow topics.
func (opts *Options) applyThing(gen *policy.GenOptions, clientID string, notes *[]string) error {
	if opts.ThingName != "" {
		n := opts.ThingName
		if len(n) > 128 || !shadowNameRE().MatchString(n) && !variableRE().MatchString(n) {
			return errs.Usagef("policy gen: --thing %q: a thing name is 1 to 128 characters of a-z A-Z 0-9 : _ - (or a policy variable such as %s)", n, thingVariable)
		}
		gen.Thing = false
		if clientID == "" {
			gen.ClientID = n
			*notes = append(*notes, fmt.Sprintf("client/%s: the thing connects with its name as client ID; give --client-id for another client (an app) working on %s's topics", n, n))
		}
	}
	if len(opts.ShadowNames) > 0 && !opts.Shadow {
		return errs.Usagef("policy gen: --shadow-name without --shadow: add --shadow")
	}
	if !opts.Shadow {
		return nil
	}
	thing := opts.ThingName
	if thing == "" {
		if !opts.Thing {
			return errs.Usagef("policy gen: --shadow needs the thing: give --thing (the connecting thing's own shadow, %s) or --thing NAME", thingVariable)
		}
		thing = thingVariable
	}
	prefixes := []string{"$aws/things/" + thing + "/shadow/"}
	if len(opts.ShadowNames) > 0 {
		prefixes = nil
	}
	for _, name := range opts.ShadowNames {
		if len(name) > 64 || !shadowNameRE().MatchString(name) {
			return errs.Usagef("policy gen: --shadow-name %q: a shadow name is 1 to 64 characters of a-z A-Z 0-9 : _ -", name)
		}
		prefixes = append(prefixes, "$aws/things/"+thing+"/shadow/name/"+name+"/")
	}
	for _, p := range prefixes {
		for _, op := range []string{"get", "update", "delete"} {
			// The replies are op/accepted, op/rejected and, for update,
			// update/delta and update/documents: op/* in one resource
			// each (a policy has no + to say "one level"), which keeps
			// the policy within its 2048 characters.
			gen.Publish = append(gen.Publish, p+op)
			gen.Subscribe = append(gen.Subscribe, p+op+"/*")
		}
	}
	return nil
}

// shadowNotes replaces the notes on the shadow's op/* patterns (a * is a
// policy wildcard) with one that says what they allow.
func (opts *Options) shadowNotes(notes []string) []string {
	if !opts.Shadow {
		return notes
	}
	var out []string
	for _, n := range notes {
		if strings.HasPrefix(n, "$aws/things/") && strings.Contains(n, "/* contains * or ?") {
			continue
		}
		out = append(out, n)
	}
	return append(out, "--shadow: the replies are allowed as shadow/get/*, update/* and delete/*: a policy has no one-level wildcard; the service's replies there are accepted, rejected, update/delta and update/documents")
}
