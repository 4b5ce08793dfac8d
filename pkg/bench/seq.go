package bench

import "sort"

// maxGaps bounds the memory a Tracker spends on one publisher: beyond it the
// oldest gap is settled as lost, and a message from it arriving later counts
// as a duplicate.
const maxGaps = 4096

// Arrival is what Observe concluded about one message.
type Arrival int

const (
	InOrder    Arrival = iota // the next expected, or later (leaving a gap)
	OutOfOrder                // fills a gap left earlier
	Duplicate                 // seen before
)

// Tracker follows one publisher's sequence numbers at one receiver. In the
// usual case (in order, no loss) it holds two integers; each gap costs one
// interval until it is filled or settled.
type Tracker struct {
	top     uint64 // one more than the highest sequence number seen
	gaps    []span // missing numbers below top, sorted, disjoint
	missing uint64 // total length of gaps
	settled uint64 // gaps given up because of maxGaps

	unique     uint64
	duplicated uint64
	outOfOrder uint64
}

type span struct{ lo, hi uint64 } // [lo, hi)

// Observe records the arrival of seq.
func (t *Tracker) Observe(seq uint64) Arrival {
	switch {
	case seq == t.top:
		t.top++
	case seq > t.top:
		t.addGap(span{t.top, seq})
		t.top = seq + 1
	default:
		if !t.fill(seq) {
			t.duplicated++
			return Duplicate
		}
		t.unique++
		t.outOfOrder++
		return OutOfOrder
	}
	t.unique++
	return InOrder
}

func (t *Tracker) addGap(g span) {
	if len(t.gaps) == maxGaps {
		old := t.gaps[0]
		t.settled += old.hi - old.lo
		t.missing -= old.hi - old.lo
		t.gaps = append(t.gaps[:0], t.gaps[1:]...)
	}
	t.gaps = append(t.gaps, g)
	t.missing += g.hi - g.lo
}

// fill removes seq from the gaps; false when it was not missing.
func (t *Tracker) fill(seq uint64) bool {
	i := sort.Search(len(t.gaps), func(i int) bool { return t.gaps[i].hi > seq })
	if i == len(t.gaps) || seq < t.gaps[i].lo {
		return false
	}
	g := t.gaps[i]
	t.missing--
	switch {
	case g.hi-g.lo == 1:
		t.gaps = append(t.gaps[:i], t.gaps[i+1:]...)
	case seq == g.lo:
		t.gaps[i].lo++
	case seq == g.hi-1:
		t.gaps[i].hi--
	default:
		t.gaps = append(t.gaps, span{})
		copy(t.gaps[i+2:], t.gaps[i+1:])
		t.gaps[i] = span{g.lo, seq}
		t.gaps[i+1] = span{seq + 1, g.hi}
		if len(t.gaps) > maxGaps {
			old := t.gaps[0]
			t.settled += old.hi - old.lo
			t.missing -= old.hi - old.lo
			t.gaps = append(t.gaps[:0], t.gaps[1:]...)
		}
	}
	return true
}

// Unique is the number of distinct sequence numbers received.
func (t *Tracker) Unique() uint64 { return t.unique }

// Duplicated is the number of repeated arrivals.
func (t *Tracker) Duplicated() uint64 { return t.duplicated }

// OutOfOrder is the number of arrivals that filled an earlier gap.
func (t *Tracker) OutOfOrder() uint64 { return t.outOfOrder }

// Missing is the number of sequence numbers below the highest seen that
// have not arrived (yet).
func (t *Tracker) Missing() uint64 { return t.missing + t.settled }

// Lost is the number of messages of 0…expected-1 that never arrived; with
// expected 0 (unknown), the ones missing below the highest seen.
func (t *Tracker) Lost(expected uint64) uint64 {
	if expected == 0 {
		return t.Missing()
	}
	if t.unique >= expected {
		return 0
	}
	return expected - t.unique
}
