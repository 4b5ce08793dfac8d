package session

import (
	"bytes"
	"testing"
	"unsafe"
)

// Inbound messages share slabs and arrays (no allocation each) but never
// each other's bytes: appending to one payload must not change the next.
func TestCarverKeepsMessagesApart(t *testing.T) {
	var cv carver
	a := cv.bytes([]byte("first"))
	b := cv.bytes([]byte("second"))
	_ = append(a, "XXXXXXXX"...)
	if string(a) != "first" || string(b) != "second" {
		t.Fatalf("payloads %q %q after an append to the first", a, b)
	}
	if &a[0] == &b[0] || cap(a) != len(a) {
		t.Fatalf("carved payload has capacity %d for %d bytes", cap(a), len(a))
	}
	big := bytes.Repeat([]byte("z"), carveMax+1)
	if got := cv.bytes(big); !bytes.Equal(got, big) || &got[0] == &big[0] {
		t.Fatal("a large payload must be copied into its own buffer")
	}
	t1, t2 := cv.str([]byte("a/b")), cv.str([]byte("a/b"))
	if unsafe.StringData(t1) != unsafe.StringData(t2) {
		t.Error("the same topic twice should share one string")
	}
	if t3 := cv.str([]byte("a/c")); t3 != "a/c" {
		t.Errorf("topic %q", t3)
	}
	m1, m2 := cv.message(), cv.message()
	if m1 == m2 {
		t.Fatal("two messages share one struct")
	}
	var nilCarver *carver
	if got := nilCarver.bytes([]byte("x")); string(got) != "x" || nilCarver.str([]byte("t")) != "t" || nilCarver.message() == nil {
		t.Fatal("a nil carver must allocate plainly")
	}
	allocs := testing.AllocsPerRun(1000, func() {
		_ = cv.bytes([]byte("a payload of some size"))
		_ = cv.str([]byte("a/b"))
	})
	if allocs > 0.1 {
		t.Errorf("%.2f allocations per message, want amortised ~0", allocs)
	}
}
