package bench

import (
	"encoding/binary"
	"hash/fnv"
)

// HeaderSize is the size of the binary header every bench message starts
// with; --size must be at least this.
//
//	0  2  magic "IB"
//	2  1  version (1)
//	3  1  flags (bit 0: warm-up message, not counted)
//	4  4  run tag: FNV-1a of the run ID, so other runs' messages are ignored
//	8  4  publisher ID: the publisher's index across all shards
//	12 8  sequence number, from 0 per publisher, counted messages only
//	20 8  timestamp, Unix ns: the intended send time in open-loop runs
//	      (--rate), the actual one otherwise
const HeaderSize = 28

const (
	headerVersion = 1
	flagWarmup    = 1 << 0
)

// Header is what a bench message says about itself.
type Header struct {
	Warmup    bool
	RunTag    uint32
	Publisher uint32
	Seq       uint64
	Time      int64
}

// RunTag is the header's tag for a run ID.
func RunTag(runID string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(runID))
	return h.Sum32()
}

// Put writes h into the first HeaderSize bytes of b.
func (h Header) Put(b []byte) {
	b[0], b[1], b[2] = 'I', 'B', headerVersion
	b[3] = 0
	if h.Warmup {
		b[3] = flagWarmup
	}
	binary.BigEndian.PutUint32(b[4:], h.RunTag)
	binary.BigEndian.PutUint32(b[8:], h.Publisher)
	binary.BigEndian.PutUint64(b[12:], h.Seq)
	binary.BigEndian.PutUint64(b[20:], uint64(h.Time))
}

// ParseHeader reads a header; ok is false when b is no bench message.
func ParseHeader(b []byte) (h Header, ok bool) {
	if len(b) < HeaderSize || b[0] != 'I' || b[1] != 'B' || b[2] != headerVersion {
		return Header{}, false
	}
	return Header{
		Warmup:    b[3]&flagWarmup != 0,
		RunTag:    binary.BigEndian.Uint32(b[4:]),
		Publisher: binary.BigEndian.Uint32(b[8:]),
		Seq:       binary.BigEndian.Uint64(b[12:]),
		Time:      int64(binary.BigEndian.Uint64(b[20:])),
	}, true
}
