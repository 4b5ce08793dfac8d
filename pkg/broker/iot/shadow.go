package iot

import (
	"fmt"
	"strings"
	"sync"

	"github.com/iotctl/iotctl/pkg/broker"
)

// The Device Shadow service of the emulation. Requests are publishes to
//
//	$aws/things/{thing}/shadow/{get|update|delete}
//	$aws/things/{thing}/shadow/name/{name}/{get|update|delete}
//
// that the broker accepted (iot:Publish allowed) and delivered; the answers
// are published through the broker on …/accepted and …/rejected, and an
// update's on …/update/delta and …/update/documents, so iot:Receive decides
// each delivery as for any message. A request is answered before its
// PUBACK.

// shadowKey names one shadow; name "" is the classic shadow.
type shadowKey struct{ thing, name string }

func (k shadowKey) prefix() string {
	if k.name == "" {
		return "$aws/things/" + k.thing + "/shadow/"
	}
	return "$aws/things/" + k.thing + "/shadow/name/" + k.name + "/"
}

// displayName is the name a 404 gives.
func (k shadowKey) displayName() string {
	if k.name == "" {
		return k.thing
	}
	return k.name
}

// shadow is one shadow with its lock: one request at a time.
type shadow struct {
	mu   sync.Mutex
	doc  shadowDoc
	gone bool // forgotten (forgetUnused): look it up again
}

// shadowService holds the shadows.
type shadowService struct {
	e     *Emulator
	store *shadowStore // nil: in memory only

	mu      sync.Mutex
	shadows map[shadowKey]*shadow
}

func newShadowService(e *Emulator) *shadowService {
	return &shadowService{e: e, shadows: map[shadowKey]*shadow{}}
}

func (s *shadowService) close() {}

// lookup finds a shadow; with create, one that does not exist yet is
// made (deleted, version 0), so that gets of unknown names cost nothing.
func (s *shadowService) lookup(k shadowKey, create bool) *shadow {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shadows[k]
	if !ok && create {
		sh = &shadow{doc: shadowDoc{Deleted: true}}
		s.shadows[k] = sh
	}
	return sh
}

// parseShadowTopic splits a request topic; ok is false for any other topic.
func parseShadowTopic(topic string) (k shadowKey, op string, ok bool) {
	rest, found := strings.CutPrefix(topic, "$aws/things/")
	if !found {
		return k, "", false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 3 && parts[1] == "shadow":
		k, op = shadowKey{thing: parts[0]}, parts[2]
	case len(parts) == 5 && parts[1] == "shadow" && parts[2] == "name":
		k, op = shadowKey{thing: parts[0], name: parts[3]}, parts[4]
	default:
		return k, "", false
	}
	switch op {
	case "get", "update", "delete":
		return k, op, true
	}
	return k, "", false
}

// validShadowName: 1 to max bytes of [a-zA-Z0-9:_-].
func validShadowName(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// handle answers one request publish.
func (s *shadowService) handle(cl *broker.Client, topic string, payload []byte) bool {
	k, op, ok := parseShadowTopic(topic)
	if !ok {
		return false
	}
	now := s.e.cfg.Now().Unix()
	reply := k.prefix() + op + "/"
	req, rerr := parseShadowRequest(payload, op == "update")
	switch {
	case rerr != nil:
	case !validShadowName(k.thing, MaxThingNameBytes):
		rerr = &shadowError{400, fmt.Sprintf("Invalid thing name: a thing name is 1 to %d characters of a-z A-Z 0-9 : _ -", MaxThingNameBytes)}
	case k.name != "" && !validShadowName(k.name, MaxShadowNameBytes):
		rerr = &shadowError{400, fmt.Sprintf("Invalid shadow name: a shadow name is 1 to %d characters of a-z A-Z 0-9 : _ -", MaxShadowNameBytes)}
	}
	if rerr != nil {
		s.reject(cl, reply, k, op, req, rerr, now)
		return true
	}
	sh := s.locked(k, op == "update")
	if sh == nil {
		s.reject(cl, reply, k, op, req, notFound(k), now)
		return true
	}
	defer sh.mu.Unlock()
	var msgs []outMsg
	switch op {
	case "get":
		msgs, rerr = s.doGet(sh, k, req, now)
	case "delete":
		msgs, rerr = s.doDelete(sh, k, req, now)
	case "update":
		msgs, rerr = s.doUpdate(sh, k, req, now)
	}
	if rerr != nil {
		s.forgetUnused(k, sh)
		s.reject(cl, reply, k, op, req, rerr, now)
		return true
	}
	if s.e.cfg.Verbose {
		s.e.log.Info("IoT: shadow request accepted", "client", cl.ID, "thing", k.thing, "shadow", k.name, "operation", op, "version", sh.doc.Version)
	}
	for _, m := range msgs {
		s.publish(m.topic, m.body)
	}
	return true
}

// locked is the shadow k, locked; nil when it is not kept and create is
// false.
func (s *shadowService) locked(k shadowKey, create bool) *shadow {
	for {
		sh := s.lookup(k, create)
		if sh == nil {
			return nil
		}
		sh.mu.Lock()
		if !sh.gone {
			return sh
		}
		sh.mu.Unlock() // forgotten meanwhile: look again
	}
}

// forgetUnused drops a shadow that a rejected update made and that never
// existed, so that rejected requests keep nothing. sh is locked.
func (s *shadowService) forgetUnused(k shadowKey, sh *shadow) {
	if !sh.doc.Deleted || sh.doc.Version != 0 {
		return
	}
	s.mu.Lock()
	if s.shadows[k] == sh {
		delete(s.shadows, k)
	}
	s.mu.Unlock()
	sh.gone = true
}

type outMsg struct {
	topic string
	body  any
}

func (s *shadowService) reject(cl *broker.Client, reply string, k shadowKey, op string, req *shadowRequest, rerr *shadowError, now int64) {
	body := map[string]any{"code": rerr.code, "message": rerr.message, "timestamp": now}
	if req != nil && req.hasToken {
		body["clientToken"] = req.clientToken
	}
	if rerr.code >= 500 || s.e.cfg.Verbose {
		s.e.log.Warn("IoT: shadow request rejected", "client", cl.ID, "thing", k.thing, "shadow", k.name, "operation", op,
			"code", rerr.code, "message", rerr.message)
	}
	s.publish(reply+"rejected", body)
}

func (s *shadowService) publish(topic string, body any) {
	s.e.reply.publish("shadow", topic, body)
}

func withToken(m map[string]any, req *shadowRequest) map[string]any {
	if req.hasToken {
		m["clientToken"] = req.clientToken
	}
	return m
}

// stateOf is a document's state and metadata sections.
func stateOf(d *shadowDoc, withDelta bool) (map[string]any, map[string]any) {
	st, md := map[string]any{}, map[string]any{}
	if d.Desired != nil {
		st["desired"], md["desired"] = d.Desired, d.MetaDesired
	}
	if d.Reported != nil {
		st["reported"], md["reported"] = d.Reported, d.MetaReported
	}
	if withDelta {
		if dl := delta(d.Desired, d.Reported); dl != nil {
			st["delta"] = dl
		}
	}
	return st, md
}

func notFound(k shadowKey) *shadowError {
	return &shadowError{404, "No shadow exists with name: '" + k.displayName() + "'"}
}

func (s *shadowService) doGet(sh *shadow, k shadowKey, req *shadowRequest, now int64) ([]outMsg, *shadowError) {
	if sh.doc.Deleted {
		return nil, notFound(k)
	}
	st, md := stateOf(&sh.doc, true)
	body := withToken(map[string]any{"state": st, "metadata": md, "version": sh.doc.Version, "timestamp": now}, req)
	return []outMsg{{k.prefix() + "get/accepted", body}}, nil
}

func (s *shadowService) doDelete(sh *shadow, k shadowKey, req *shadowRequest, now int64) ([]outMsg, *shadowError) {
	if sh.doc.Deleted {
		return nil, notFound(k)
	}
	if req.hasVersion && req.version != sh.doc.Version {
		return nil, errVersionConflict
	}
	next := shadowDoc{Version: sh.doc.Version, Deleted: true}
	if err := s.save(k, &next); err != nil {
		return nil, errInternal
	}
	sh.doc = next
	body := withToken(map[string]any{"version": next.Version, "timestamp": now}, req)
	return []outMsg{{k.prefix() + "delete/accepted", body}}, nil
}

func (s *shadowService) doUpdate(sh *shadow, k shadowKey, req *shadowRequest, now int64) ([]outMsg, *shadowError) {
	cur := &sh.doc
	if req.hasVersion && req.version != cur.Version {
		return nil, errVersionConflict
	}
	next := applyUpdate(cur, req, now)
	if stateSize(next.Desired, next.Reported) > MaxShadowStateBytes {
		return nil, errTooLarge
	}
	if err := s.save(k, &next); err != nil {
		return nil, errInternal
	}
	prev := *cur
	sh.doc = next
	return updateReplies(k, &prev, &next, req, now), nil
}

// applyUpdate is cur with req's state merged in, one version later.
func applyUpdate(cur *shadowDoc, req *shadowRequest, now int64) shadowDoc {
	next := shadowDoc{Version: cur.Version + 1}
	if !cur.Deleted {
		next.Desired, next.MetaDesired = copyMap(cur.Desired), copyMap(cur.MetaDesired)
		next.Reported, next.MetaReported = copyMap(cur.Reported), copyMap(cur.MetaReported)
	}
	if req.hasDesired {
		if req.desired == nil {
			next.Desired, next.MetaDesired = nil, nil
		} else {
			next.Desired, next.MetaDesired = merge(next.Desired, next.MetaDesired, req.desired, now)
		}
	}
	if req.hasReported {
		if req.reported == nil {
			next.Reported, next.MetaReported = nil, nil
		} else {
			next.Reported, next.MetaReported = merge(next.Reported, next.MetaReported, req.reported, now)
		}
	}
	return next
}

// updateReplies are update/accepted, update/delta (when the fields the
// update touched leave desired and reported apart) and update/documents.
func updateReplies(k shadowKey, prev, next *shadowDoc, req *shadowRequest, now int64) []outMsg {
	st, md := map[string]any{}, map[string]any{}
	var touched []map[string]any
	for _, sec := range []struct {
		name string
		has  bool
		m    map[string]any
	}{{"desired", req.hasDesired, req.desired}, {"reported", req.hasReported, req.reported}} {
		if !sec.has {
			continue
		}
		if sec.m == nil {
			st[sec.name], md[sec.name] = nil, map[string]any{"timestamp": now}
			continue
		}
		st[sec.name], md[sec.name] = sec.m, requestMeta(sec.m, now)
		touched = append(touched, sec.m)
	}
	out := []outMsg{{k.prefix() + "update/accepted",
		withToken(map[string]any{"state": st, "metadata": md, "version": next.Version, "timestamp": now}, req)}}
	if dl := restrict(delta(next.Desired, next.Reported), touched); dl != nil {
		out = append(out, outMsg{k.prefix() + "update/delta",
			withToken(map[string]any{"state": dl, "metadata": deltaMeta(dl, next.MetaDesired), "version": next.Version, "timestamp": now}, req)})
	}
	docs := map[string]any{"current": docBody(next), "timestamp": now}
	if !prev.Deleted {
		docs["previous"] = docBody(prev)
	}
	out = append(out, outMsg{k.prefix() + "update/documents", withToken(docs, req)})
	return out
}

// docBody is a document as update/documents shows it.
func docBody(d *shadowDoc) map[string]any {
	st, md := stateOf(d, false)
	return map[string]any{"state": st, "metadata": md, "version": d.Version}
}

func (s *shadowService) save(k shadowKey, d *shadowDoc) error {
	if s.store == nil {
		return nil
	}
	if err := s.store.save(k, d); err != nil {
		s.e.log.Error("IoT: shadow not saved", "thing", k.thing, "shadow", k.name, "err", err)
		return err
	}
	return nil
}
