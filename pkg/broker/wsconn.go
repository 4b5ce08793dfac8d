package broker

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// wsConn is a websocket as a net.Conn carrying MQTT: each Write is one
// binary message; a Read continues across message boundaries, since an MQTT
// packet may span messages and a message may hold several packets.
type wsConn struct {
	ws   *websocket.Conn
	info ConnInfo

	rmu sync.Mutex
	r   io.Reader // the message being read

	wmu      sync.Mutex
	deadline atomic.Int64 // write deadline, UnixNano; 0 for none
}

func newWSConn(ws *websocket.Conn, info ConnInfo) *wsConn {
	return &wsConn{ws: ws, info: info}
}

// UpgradeInfo is what the listener learned at the upgrade.
func (c *wsConn) UpgradeInfo() ConnInfo { return c.info }

func (c *wsConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, wsReadError(err)
			}
			if typ != websocket.BinaryMessage {
				return 0, errors.New("websocket: text message received: MQTT over websockets uses binary messages")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// wsReadError makes a clean websocket close look like a clean TCP close.
func wsReadError(err error) error {
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
		return io.EOF
	}
	return err
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// gorilla keeps the write deadline in a plain field read by writers:
	// set it only here, under the write lock.
	var t time.Time
	if d := c.deadline.Load(); d != 0 {
		t = time.Unix(0, d)
	}
	_ = c.ws.SetWriteDeadline(t)
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a close frame when it can and closes the connection.
// NetConn is the connection under the websocket, for closing it hard.
func (c *wsConn) NetConn() net.Conn { return c.ws.NetConn() }

func (c *wsConn) Close() error {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	return c.ws.Close()
}

func (c *wsConn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

func (c *wsConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline applies to later writes and, through the socket, to a
// write in progress.
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	var d int64
	if !t.IsZero() {
		d = t.UnixNano()
	}
	c.deadline.Store(d)
	return c.ws.UnderlyingConn().SetWriteDeadline(t)
}
