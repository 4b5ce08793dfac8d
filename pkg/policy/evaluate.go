package policy

import (
	"fmt"
	"strings"
)

// Context is what policy variables and short resources are resolved from:
// the connection's client ID, the thing attached to its principal (set
// ThingName only when the client ID equals the thing name and the thing is
// attached, as IoT does), and the region and account of short resources.
type Context struct {
	ClientID        string
	ThingName       string
	ThingAttributes map[string]string
	Region          string
	Account         string
}

// lookup resolves a policy variable's name (the text inside ${…}). Names
// are case-insensitive; attribute names are not.
func (c *Context) lookup(name string) (string, bool) {
	if c == nil {
		return "", false
	}
	const attrs = "iot:connection.thing.attributes["
	switch lower := strings.ToLower(name); {
	case lower == "iot:clientid":
		return c.ClientID, c.ClientID != ""
	case lower == "iot:connection.thing.thingname":
		return c.ThingName, c.ThingName != ""
	case strings.HasPrefix(lower, attrs) && strings.HasSuffix(name, "]"):
		if c.ThingName == "" {
			return "", false
		}
		v, ok := c.ThingAttributes[name[len(attrs):len(name)-1]]
		return v, ok
	}
	return "", false
}

// Request is one action on one resource. Resource is a full ARN, or a
// short form (topic/a/b) expanded with the Context's region and account.
type Request struct {
	Action   string
	Resource string
	Context  Context
}

// StatementRef names the statement that decided, and the Action and
// Resource patterns of it that matched.
type StatementRef struct {
	Doc      int // index into the documents given to Evaluate
	Index    int // index into the document's Statement list
	Sid      string
	Action   string
	Resource string
}

// Decision is the outcome of Evaluate. Statement is nil for ImplicitDeny.
type Decision struct {
	Effect    Effect
	Statement *StatementRef
	Reason    string
}

// Allowed reports whether the decision allows the request.
func (d Decision) Allowed() bool { return d.Effect == Allow }

// Evaluate decides a request against documents evaluated together (the
// policies attached to one principal): an explicit Deny in any of them
// wins; else the first Allow; else ImplicitDeny. Nil documents are skipped.
func Evaluate(docs []*Document, req Request) Decision {
	resource := ExpandResource(req.Resource, req.Context.Region, req.Context.Account)
	var allow *StatementRef
	for di, d := range docs {
		if d == nil {
			continue
		}
		for si, s := range d.Statement {
			act := firstMatch(s.Action, func(p string) bool { return MatchAction(p, req.Action) })
			if act == "" {
				continue
			}
			res := firstMatch(s.Resource, func(p string) bool {
				return compile(p, d.variables(), &req.Context).match(resource, false)
			})
			if res == "" {
				continue
			}
			ref := &StatementRef{Doc: di, Index: si, Sid: s.Sid, Action: act, Resource: res}
			switch s.Effect {
			case Deny:
				return Decision{Effect: Deny, Statement: ref,
					Reason: fmt.Sprintf("explicitly denied: %s on %s matches Deny %s on %s", req.Action, resource, act, res)}
			case Allow:
				if allow == nil {
					allow = ref
				}
			}
		}
	}
	if allow != nil {
		return Decision{Effect: Allow, Statement: allow,
			Reason: fmt.Sprintf("allowed: %s on %s matches Allow %s on %s", req.Action, resource, allow.Action, allow.Resource)}
	}
	return Decision{Effect: ImplicitDeny,
		Reason: fmt.Sprintf("no statement allows %s on %s", req.Action, resource)}
}

func firstMatch(patterns []string, ok func(string) bool) string {
	for _, p := range patterns {
		if ok(p) {
			return p
		}
	}
	return ""
}
