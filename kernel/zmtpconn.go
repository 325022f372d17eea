package kernel

import (
	"bufio"
	"encoding/binary"
	"net"
	"sync"
)

// zmq4 writes each frame of a ROUTER or REP message with two write calls
// (header, body), so a Jupyter reply of seven frames cost fourteen system
// calls and as many TCP segments, each waking the frontend; and it reads
// every frame header and body with its own read call. zmtpConn sits under
// zmq4 on the kernel's connections: reads come from a buffer, and writes
// are collected until a message's last frame (a frame without the MORE
// flag) and then written at once. It follows ZMTP 3 framing: the 64-byte
// greeting, then frames of a flags byte, a 1- or 8-byte size, and the body.
type zmtpConn struct {
	net.Conn
	r *bufio.Reader

	wmu      sync.Mutex
	buf      []byte
	greeting int    // greeting bytes still to pass
	hdr      []byte // header bytes of the frame being written
	body     uint64 // body bytes of the frame being written still to come
	last     bool   // the frame being written ends its message
}

const (
	zmtpGreetingLen = 64
	zmtpMore        = 0x01
	zmtpLong        = 0x02
	// A body this large is written through rather than copied.
	zmtpDirect = 64 << 10
)

func newZMTPConn(c net.Conn) *zmtpConn {
	return &zmtpConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10), greeting: zmtpGreetingLen}
}

func (c *zmtpConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *zmtpConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := len(p)
	for len(p) > 0 {
		switch {
		case c.greeting > 0:
			k := min(len(p), c.greeting)
			c.buf = append(c.buf, p[:k]...)
			p, c.greeting = p[k:], c.greeting-k
			if c.greeting == 0 {
				if err := c.flush(); err != nil {
					return 0, err
				}
			}
		case c.body > 0:
			k := len(p)
			if uint64(k) > c.body {
				k = int(c.body)
			}
			if c.body >= zmtpDirect {
				if err := c.flush(); err != nil {
					return 0, err
				}
				if _, err := c.Conn.Write(p[:k]); err != nil {
					return 0, err
				}
			} else {
				c.buf = append(c.buf, p[:k]...)
			}
			p, c.body = p[k:], c.body-uint64(k)
			if c.body == 0 && c.last {
				if err := c.flush(); err != nil {
					return 0, err
				}
			}
		default: // a frame header
			c.hdr = append(c.hdr, p[0])
			c.buf = append(c.buf, p[0])
			p = p[1:]
			need := 2
			if c.hdr[0]&zmtpLong != 0 {
				need = 9
			}
			if len(c.hdr) < need {
				continue
			}
			if need == 2 {
				c.body = uint64(c.hdr[1])
			} else {
				c.body = binary.BigEndian.Uint64(c.hdr[1:9])
			}
			c.last = c.hdr[0]&zmtpMore == 0
			c.hdr = c.hdr[:0]
			if c.body == 0 && c.last {
				if err := c.flush(); err != nil {
					return 0, err
				}
			}
		}
	}
	return n, nil
}

func (c *zmtpConn) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > 1<<20 {
		c.buf = nil // do not keep a large message's buffer
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// zmtpListener wraps accepted connections in zmtpConn.
type zmtpListener struct{ net.Listener }

func (l zmtpListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newZMTPConn(c), nil
}
