package bench

import "testing"

func TestTracker(t *testing.T) {
	tests := []struct {
		name     string
		seqs     []uint64
		expected uint64
		unique   uint64
		dup, ooo uint64
		missing  uint64
		lost     uint64
	}{
		{"in order", []uint64{0, 1, 2, 3, 4}, 5, 5, 0, 0, 0, 0},
		{"duplicates", []uint64{0, 1, 1, 2, 0, 2, 3}, 4, 4, 3, 0, 0, 0},
		{"swap", []uint64{0, 2, 1, 3}, 4, 4, 0, 1, 0, 0},
		{"late fills middle of gap", []uint64{0, 5, 3, 1, 4, 2}, 6, 6, 0, 4, 0, 0},
		{"loss inside", []uint64{0, 1, 3, 4, 6}, 7, 5, 0, 0, 2, 2},
		{"loss at the tail", []uint64{0, 1, 2}, 5, 3, 0, 0, 0, 2},
		{"loss at the head", []uint64{2, 3}, 4, 2, 0, 0, 2, 2},
		{"duplicate of a late one", []uint64{0, 2, 1, 1}, 3, 3, 1, 1, 0, 0},
		{"nothing", nil, 3, 0, 0, 0, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr Tracker
			for _, s := range tt.seqs {
				tr.Observe(s)
			}
			if tr.Unique() != tt.unique || tr.Duplicated() != tt.dup || tr.OutOfOrder() != tt.ooo || tr.Missing() != tt.missing || tr.Lost(tt.expected) != tt.lost {
				t.Errorf("unique %d dup %d ooo %d missing %d lost %d; want %d %d %d %d %d",
					tr.Unique(), tr.Duplicated(), tr.OutOfOrder(), tr.Missing(), tr.Lost(tt.expected),
					tt.unique, tt.dup, tt.ooo, tt.missing, tt.lost)
			}
			if tr.Unique()+tr.Lost(tt.expected) != tt.expected {
				t.Errorf("unique + lost = %d, want %d", tr.Unique()+tr.Lost(tt.expected), tt.expected)
			}
		})
	}
}

func TestTrackerArrivals(t *testing.T) {
	var tr Tracker
	for _, c := range []struct {
		seq  uint64
		want Arrival
	}{{0, InOrder}, {2, InOrder}, {1, OutOfOrder}, {1, Duplicate}, {3, InOrder}, {3, Duplicate}} {
		if got := tr.Observe(c.seq); got != c.want {
			t.Errorf("Observe(%d) = %v, want %v", c.seq, got, c.want)
		}
	}
}

// Every 10th message lost over a long run: the gaps beyond maxGaps are
// settled, and the count stays exact.
func TestTrackerManyGaps(t *testing.T) {
	var tr Tracker
	const n = 100_000
	for s := uint64(0); s < n; s++ {
		if s%10 != 9 {
			tr.Observe(s)
		}
	}
	if got := tr.Lost(n); got != n/10 {
		t.Errorf("lost %d, want %d", got, n/10)
	}
	// The last message, 99 999, is lost too, but nothing came after it.
	if got := tr.Missing(); got != n/10-1 {
		t.Errorf("missing %d, want %d", got, n/10-1)
	}
	if len(tr.gaps) > maxGaps {
		t.Errorf("%d gaps kept, want at most %d", len(tr.gaps), maxGaps)
	}
}

// In-order delivery allocates nothing.
func TestTrackerInOrderIsCompact(t *testing.T) {
	var tr Tracker
	allocs := testing.AllocsPerRun(1000, func() { tr.Observe(tr.top) })
	if allocs != 0 || tr.gaps != nil {
		t.Errorf("%v allocations, gaps %v", allocs, tr.gaps)
	}
}

func BenchmarkTrackerInOrder(b *testing.B) {
	var tr Tracker
	for i := 0; i < b.N; i++ {
		tr.Observe(uint64(i))
	}
}

func BenchmarkRecorder(b *testing.B) {
	r := newRecorder()
	for i := 0; i < b.N; i++ {
		r.record(int64(200_000 + i%50_000))
	}
}
