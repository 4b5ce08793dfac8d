package reliability

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// wedge is how a peer stops answering.
type wedge string

const (
	// silent accepts TCP and never reads or answers.
	silent wedge = "silent broker"
	// deaf answers CONNACK, reads the first packet after it, then never
	// reads again: once the socket buffers are full, every write to it
	// blocks.
	deaf wedge = "deaf broker"
	// mute is an HTTP proxy that accepts and never answers CONNECT.
	mute wedge = "mute proxy"
	// stalled is a TLS server that reads the ClientHello and never answers.
	stalled wedge = "stalled TLS"
)

// wedgedPeer is a listener whose connections get as far as the wedge lets
// them, then hang until the test ends.
type wedgedPeer struct {
	kind    wedge
	ln      net.Listener
	arrived chan struct{} // closed when the first client got as far as it can

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	once   sync.Once
	wg     sync.WaitGroup
}

func startWedged(t *testing.T, kind wedge) *wedgedPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &wedgedPeer{kind: kind, ln: ln, arrived: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.stop)
	return p
}

func (p *wedgedPeer) addr() string { return p.ln.Addr().String() }

// args are the connection flags that lead a command to the peer.
func (p *wedgedPeer) args() []string {
	switch p.kind {
	case mute:
		// The broker behind the proxy is never reached.
		return []string{"--endpoint", "mqtt://192.0.2.1:1883", "--proxy", "http://" + p.addr()}
	case stalled:
		return []string{"--endpoint", "mqtts://" + p.addr()}
	}
	return []string{"--endpoint", "mqtt://" + p.addr()}
}

func (p *wedgedPeer) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns = append(p.conns, c)
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			if p.serve(c) {
				p.once.Do(func() { close(p.arrived) })
			}
		}()
	}
}

// serve takes the connection as far as the wedge allows; the connection
// stays open (unread) until stop.
func (p *wedgedPeer) serve(c net.Conn) bool {
	r := bufio.NewReader(c)
	switch p.kind {
	case silent:
		return true
	case deaf:
		if _, err := packets.ReadPacket(r); err != nil {
			return false
		}
		if _, err := packets.NewControlPacket(packets.CONNACK).WriteTo(c); err != nil {
			return false
		}
		// The client got going (its first SUBSCRIBE or PUBLISH is here):
		// from now on nothing is read.
		_, err := packets.ReadPacket(r)
		return err == nil
	case mute:
		var req bytes.Buffer
		for !bytes.HasSuffix(req.Bytes(), []byte("\r\n\r\n")) {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return false
			}
			req.Write(line)
		}
		return true
	case stalled:
		var hdr [5]byte // a TLS record header: a handshake (ClientHello)
		_, err := io.ReadFull(r, hdr[:])
		return err == nil && hdr[0] == 22
	}
	return false
}

func (p *wedgedPeer) stop() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	p.wg.Wait()
}

// mqttClient is a raw MQTT 5 client: CONNECT, and CONNACK read.
func mqttClient(t *testing.T, addr, id string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cp := packets.NewControlPacket(packets.CONNECT)
	cp.Content.(*packets.Connect).ClientID = id
	cp.Content.(*packets.Connect).CleanStart = true
	if _, err := cp.WriteTo(c); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	if ack, err := packets.ReadPacket(r); err != nil || ack.Type != packets.CONNACK {
		t.Fatalf("%s: no CONNACK: %v", id, err)
	}
	return c, r
}

// wedgeBroker leaves the broker at addr with clients that stopped: one that
// connected TCP and sent nothing, one that sent half a CONNECT, and a
// subscriber that stopped reading while a publisher floods its filter, so
// the broker's writes to it block.
func wedgeBroker(t *testing.T, addr string) {
	t.Helper()
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idle.Close() })
	half, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { half.Close() })
	var connect bytes.Buffer
	cp := packets.NewControlPacket(packets.CONNECT)
	cp.Content.(*packets.Connect).ClientID = "wedge-half"
	cp.WriteTo(&connect)
	if _, err := half.Write(connect.Bytes()[:connect.Len()/2]); err != nil {
		t.Fatal(err)
	}

	sub, r := mqttClient(t, addr, "wedge-deaf-sub")
	sp := packets.NewControlPacket(packets.SUBSCRIBE)
	sp.Content.(*packets.Subscribe).PacketID = 1
	sp.Content.(*packets.Subscribe).Subscriptions = []packets.SubOptions{{Topic: "wedge/flood/#", QoS: 0}}
	if _, err := sp.WriteTo(sub); err != nil {
		t.Fatal(err)
	}
	if ack, err := packets.ReadPacket(r); err != nil || ack.Type != packets.SUBACK {
		t.Fatalf("no SUBACK: %v", err)
	}
	// From here the subscriber reads nothing.

	pub, _ := mqttClient(t, addr, "wedge-flood-pub")
	payload := bytes.Repeat([]byte("x"), 64<<10)
	var flood bytes.Buffer
	pp := packets.NewControlPacket(packets.PUBLISH)
	pp.Content.(*packets.Publish).Topic = "wedge/flood/x"
	pp.Content.(*packets.Publish).Payload = payload
	pp.WriteTo(&flood)
	// 32 MB, far more than the socket buffers between the broker and the
	// subscriber hold; a broker that stops reading the publisher (held up
	// by the subscriber) ends the flood at the write deadline.
	pub.SetWriteDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < 512; i++ {
		if _, err := pub.Write(flood.Bytes()); err != nil {
			t.Logf("flood ended after %d messages: %v", i, err)
			break
		}
	}
}
