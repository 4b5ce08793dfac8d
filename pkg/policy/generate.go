package policy

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/iotctl/iotctl/pkg/errs"
)

// GenOptions says what a generated policy must allow, and no more.
type GenOptions struct {
	Region    string
	Account   string
	Partition string // default: from Region (aws, aws-cn, aws-us-gov)
	ClientID  string // exact, or a pattern such as test-*; unused with Thing
	Thing     bool   // connect as client/${iot:Connection.Thing.ThingName}

	Publish   []string // topic names
	Subscribe []string // topic filters, MQTT wildcards allowed
	Receive   []string // topic names or filters
	Retain    bool     // also iot:RetainPublish on the published topics
	Topics    []string // shorthand: publish, subscribe and receive each
}

// Generate builds a least-privilege policy in the shape of the seed
// sample's: Publish (with Receive when both cover the same topics),
// Subscribe, Connect. Topics and filters are written into resources as
// given, so `*`, `?` and ${iot:…} variables keep their policy meaning;
// MQTT `+` and `#` become `*` where IoT needs a topic pattern. The notes
// say where the policy is wider than asked.
func Generate(o GenOptions) (*Document, []string, error) {
	if o.Region == "" {
		return nil, nil, errs.Usagef("generate policy: no region: give --region")
	}
	if o.Account == "" {
		return nil, nil, errs.Usagef("generate policy: no account: give --account (12 digits)")
	}
	if !o.Thing && o.ClientID == "" {
		return nil, nil, errs.Usagef("generate policy: no client ID: give --client-id (exact, or a prefix with *, like test-*) or --thing")
	}
	partition := o.Partition
	if partition == "" {
		partition = partitionOf(o.Region)
	}
	res := func(kind, name string) string { return arn(partition, o.Region, o.Account, kind, name) }

	var notes []string
	publish := dedupe(append(append([]string{}, o.Topics...), o.Publish...))
	for _, t := range publish {
		if err := checkTopic(t); err != nil {
			return nil, nil, err
		}
	}
	if o.Retain && len(publish) == 0 {
		return nil, nil, errs.Usagef("generate policy: --retain without a topic to publish to: add --publish or --topic")
	}
	subscribe := dedupe(append(append([]string{}, o.Topics...), o.Subscribe...))
	var receive []string
	for _, f := range append(append([]string{}, o.Receive...), subscribe...) {
		if err := checkFilter(f); err != nil {
			return nil, nil, err
		}
		pats, wider := receivePatterns(f)
		if wider {
			notes = append(notes, fmt.Sprintf("iot:Receive on topic/%s is wider than the filter %s: a policy * also crosses levels (+ does not); list exact topics with --receive to narrow it", strings.Join(pats, " and topic/"), f))
		}
		receive = append(receive, pats...)
	}
	receive = dedupe(receive)
	for _, t := range append(append([]string{}, publish...), subscribe...) {
		if hasWildcard(t) {
			notes = append(notes, fmt.Sprintf("%s contains * or ?, policy wildcards (* crosses levels): write ${*} or ${?} for the literal character", t))
		}
	}

	doc := &Document{Version: Version}
	pubRes := mapNames(publish, func(t string) string { return res(KindTopic, t) })
	recvRes := mapNames(receive, func(t string) string { return res(KindTopic, t) })
	if len(pubRes) > 0 {
		actions := []string{"iot:Publish"}
		if sameSet(pubRes, recvRes) {
			actions = append(actions, "iot:Receive")
			recvRes = nil
		}
		if o.Retain {
			actions = append(actions, "iot:RetainPublish")
		}
		doc.Statement = append(doc.Statement, Statement{Effect: Allow, Action: actions, Resource: pubRes})
	}
	if len(recvRes) > 0 {
		doc.Statement = append(doc.Statement, Statement{Effect: Allow, Action: []string{"iot:Receive"}, Resource: recvRes})
	}
	if len(subscribe) > 0 {
		doc.Statement = append(doc.Statement, Statement{Effect: Allow, Action: []string{"iot:Subscribe"},
			Resource: mapNames(subscribe, func(f string) string { return res(KindTopicFilter, f) })})
	}
	client := o.ClientID
	if o.Thing {
		client = "${iot:Connection.Thing.ThingName}"
		notes = append(notes, "--thing: the client must connect with its thing name as client ID, with a certificate attached to that thing")
	} else if hasWildcard(client) {
		notes = append(notes, fmt.Sprintf("client/%s lets every matching client ID connect; an exact client ID is tighter", client))
	}
	doc.Statement = append(doc.Statement, Statement{Effect: Allow, Action: []string{"iot:Connect"},
		Resource: []string{res(KindClient, client)}})
	return doc, dedupe(notes), nil
}

var variableRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\$\{[^}]*\}|\$\([*?$]\)`) })

// hasWildcard reports whether a pattern has a * or ? outside the escapes
// and variables.
func hasWildcard(p string) bool {
	return strings.ContainsAny(variableRE().ReplaceAllString(p, ""), "*?")
}

// checkTopic checks a topic name to publish to.
func checkTopic(t string) error {
	switch {
	case t == "":
		return errs.Usagef("generate policy: empty topic name")
	case strings.ContainsAny(t, "+#"):
		return errs.Usagef("generate policy: publish topic %q contains an MQTT wildcard (+ or #): topic names cannot: use --subscribe for filters", t)
	}
	return nil
}

// checkFilter checks an MQTT topic filter, $share/<name>/ prefix allowed.
func checkFilter(f string) error {
	filter := f
	if rest, ok := strings.CutPrefix(f, "$share/"); ok {
		name, inner, found := strings.Cut(rest, "/")
		if !found || name == "" || strings.ContainsAny(name, "+#") {
			return errs.Usagef("generate policy: shared subscription %q: want $share/<name>/<filter>, the name without + or #", f)
		}
		filter = inner
	}
	if filter == "" {
		return errs.Usagef("generate policy: empty topic filter")
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return errs.Usagef("generate policy: topic filter %q: # must be the whole last level (a/#)", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return errs.Usagef("generate policy: topic filter %q: + must be a whole level (a/+/b)", f)
		}
	}
	return nil
}

// receivePatterns are the topic patterns (after topic/) of the topics a
// filter matches: + becomes *, and a/# becomes a/* and a, since # also
// matches the parent level. wider is set when a * replaced a +.
func receivePatterns(filter string) (pats []string, wider bool) {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		_, filter, _ = strings.Cut(rest, "/")
	}
	levels := strings.Split(filter, "/")
	multi := levels[len(levels)-1] == "#"
	if multi {
		levels = levels[:len(levels)-1]
	}
	for i, l := range levels {
		if l == "+" {
			levels[i] = "*"
			wider = true
		}
	}
	base := strings.Join(levels, "/")
	switch {
	case !multi:
		return []string{base}, wider
	case len(levels) == 0 || base == "*":
		return []string{"*"}, wider
	}
	return []string{base + "/*", base}, wider
}

func dedupe(list []string) []string {
	seen := make(map[string]bool, len(list))
	var out []string
	for _, x := range list {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func mapNames(list []string, f func(string) string) []string {
	var out []string
	for _, x := range list {
		out = append(out, f(x))
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = append([]string{}, a...), append([]string{}, b...)
	sort.Strings(a)
	sort.Strings(b)
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
