package bench

import "testing"

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []Header{
		{RunTag: RunTag("abc"), Publisher: 7, Seq: 42, Time: 1_700_000_000_123_456_789},
		{Warmup: true, Publisher: 1<<32 - 1, Seq: 1<<64 - 1, Time: -1},
	} {
		b := make([]byte, HeaderSize+3)
		h.Put(b)
		got, ok := ParseHeader(b)
		if !ok || got != h {
			t.Errorf("ParseHeader(Put(%+v)) = %+v, %v", h, got, ok)
		}
	}
}

func TestParseHeaderRejects(t *testing.T) {
	good := make([]byte, HeaderSize)
	Header{Seq: 1}.Put(good)
	for name, b := range map[string][]byte{
		"short":       good[:HeaderSize-1],
		"not bench":   []byte("hello world, this is a plain payload"),
		"new version": append([]byte{'I', 'B', 9}, good[3:]...),
	} {
		if _, ok := ParseHeader(b); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}
