package session

import "sync/atomic"

// WireStats count what the session wrote, over all its connections.
type WireStats struct {
	Publishes    uint64 // PUBLISH packets, resends included
	PublishBytes uint64 // their size on the wire: fixed header to payload
	// FullBytes is what they would have taken with every topic in full
	// (no topic aliases): PublishBytes plus what aliases saved.
	FullBytes uint64
}

// Wire returns the counts so far.
func (s *Session) Wire() WireStats {
	return WireStats{Publishes: s.wire.n.Load(), PublishBytes: s.wire.bytes.Load(), FullBytes: s.wire.full.Load()}
}

// wireCount is updated by the writers, one PUBLISH at a time.
type wireCount struct{ n, bytes, full atomic.Uint64 }

func (w *wireCount) add(size, full int) {
	w.n.Add(1)
	w.bytes.Add(uint64(size))
	w.full.Add(uint64(full))
}
