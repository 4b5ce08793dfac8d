package broker

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC() // and the sync.Pool victim caches (the codec pools its buffers)
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestAnnouncedSizeIsNotAllocated: packets announcing large sizes cost
// only the bytes that arrive: 100 connections sending the 5-byte header of
// a 256 MB CONNECT, 100 announcing a CONNECT just under the 1 MiB limit and
// sending 70 kB of it, two trickling a 256 MB CONNECT, and two connected
// clients announcing a 256 MB PUBLISH and sending 100 kB of it.
func TestAnnouncedSizeIsNotAllocated(t *testing.T) {
	b := quietBroker(t, nil)
	before := heapInuse()
	var conns []*raw
	for range 100 {
		r := dialRaw(t, b)
		_ = r.write([]byte{0x10, 0xFF, 0xFF, 0xFF, 0x7F})
		conns = append(conns, r)
	}
	chunk := make([]byte, 70_000)
	copy(chunk, encodePacket(connectPacket("x", 5, true))[2:12])
	for range 100 {
		r := dialRaw(t, b)
		_ = r.write(append([]byte{0x10, 0xBF, 0x84, 0x3D}, chunk...)) // 1,000,000 bytes announced
		conns = append(conns, r)
	}
	for range 128 {
		r := dialRaw(t, b)
		_ = r.write([]byte{0x10, 0xFF, 0xFF, 0xFF, 0x7F})
		for range 10 {
			_ = r.write([]byte{0, 4, 'M', 'Q', 'T', 'T'})
		}
		conns = append(conns, r)
	}
	for i := range 2 {
		r := dialRaw(t, b)
		r.connect(connectPacket("big-"+string(rune('a'+i)), 5, true))
		_ = r.write([]byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0, 1, 'a', 0})
		_ = r.write(make([]byte, 100_000))
		conns = append(conns, r)
	}
	// The broker reads what arrived in its own time: take the largest
	// growth seen over a second.
	var peak uint64
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		if h := heapInuse(); h > before && h-before > peak {
			peak = h - before
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("heap growth with %d hostile connections: %.1f MB", len(conns), float64(peak)/1e6)
	if peak > 50<<20 {
		t.Fatalf("heap grew by %d MB", peak>>20)
	}
	healthy(t, b, "after-memory")
}

// TestTopicAliasDoesNotPinPayload: a topic alias keeps its topic name and
// a subscription its filter, not the packet that set them (the codec's
// strings point into the packet body, payload included).
func TestTopicAliasDoesNotPinPayload(t *testing.T) {
	b := quietBroker(t, nil)
	r := dialRaw(t, b)
	r.connect(connectPacket("alias", 5, true))
	payload := make([]byte, 8<<20)
	var user []packets.UserProperty
	for range 128 {
		user = append(user, packets.UserProperty{Key: "k", Val: strings.Repeat("x", 65000)})
	}
	before := heapInuse()
	for i := range 8 {
		r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1, TopicName: "alias/t",
			Payload: payload, Properties: packets.Properties{TopicAlias: uint16(i + 1), TopicAliasFlag: true}})
		r.expect(packets.Puback)
	}
	t.Logf("heap growth after the publishes: %.1f MB", float64(int64(heapInuse())-int64(before))/1e6)
	// A subscription keeps its filter, not the SUBSCRIBE's user properties.
	for i := range 8 {
		r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
			Filters:    packets.Subscriptions{{Filter: "pin/" + string(rune('a'+i)), Qos: 1}},
			Properties: packets.Properties{User: user}})
		r.expect(packets.Suback)
	}
	grew := int64(heapInuse()) - int64(before)
	runtime.KeepAlive(payload)
	runtime.KeepAlive(user)
	t.Logf("heap growth after 8 aliased 8 MB publishes and 8 SUBSCRIBEs of 8 MB: %.1f MB", float64(grew)/1e6)
	if grew > 16<<20 {
		t.Fatalf("heap grew by %d MB: aliases or subscriptions keep their packets", grew>>20)
	}
}
