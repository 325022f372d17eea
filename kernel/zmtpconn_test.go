package kernel

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
)

// recordConn records each Write call.
type recordConn struct {
	net.Conn
	writes [][]byte
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.writes = append(r.writes, append([]byte(nil), p...))
	return len(p), nil
}

// writeFrame writes a frame the way zmq4 does: header, then body.
func writeFrame(c *zmtpConn, body []byte, more bool) {
	var flag byte
	if more {
		flag |= zmtpMore
	}
	if len(body) > 255 {
		hdr := make([]byte, 9)
		hdr[0] = flag | zmtpLong
		binary.BigEndian.PutUint64(hdr[1:], uint64(len(body)))
		c.Write(hdr)
	} else {
		c.Write([]byte{flag, byte(len(body))})
	}
	if len(body) > 0 {
		c.Write(body)
	}
}

func TestZMTPConnWritesWholeMessages(t *testing.T) {
	rec := &recordConn{}
	c := &zmtpConn{Conn: rec, greeting: zmtpGreetingLen}
	greeting := bytes.Repeat([]byte{0xff}, 64)
	c.Write(greeting[:10]) // the greeting in pieces still goes out as one
	c.Write(greeting[10:])
	if len(rec.writes) != 1 || len(rec.writes[0]) != 64 {
		t.Fatalf("greeting: %d writes", len(rec.writes))
	}
	// A message of an empty delimiter frame, a long frame and a short last
	// frame: one write.
	long := bytes.Repeat([]byte("x"), 300)
	writeFrame(c, nil, true)
	writeFrame(c, long, true)
	writeFrame(c, []byte("last"), false)
	if len(rec.writes) != 2 {
		t.Fatalf("message written in %d pieces", len(rec.writes)-1)
	}
	want := append(append([]byte{zmtpMore, 0, zmtpMore | zmtpLong, 0, 0, 0, 0, 0, 0, 1, 44}, long...), append([]byte{0, 4}, "last"...)...)
	if !bytes.Equal(rec.writes[1], want) {
		t.Fatalf("bytes changed:\n%v\n%v", rec.writes[1], want)
	}
	// An empty last frame ends a message too; a header split over writes
	// is followed.
	c.Write([]byte{0})
	c.Write([]byte{0})
	if len(rec.writes) != 3 || !bytes.Equal(rec.writes[2], []byte{0, 0}) {
		t.Fatalf("empty frame: %v", rec.writes)
	}
	// A large body is written through, not copied.
	big := bytes.Repeat([]byte("y"), zmtpDirect+1)
	writeFrame(c, big, false)
	if n := len(rec.writes); n != 5 || len(rec.writes[3]) != 9 || len(rec.writes[4]) != len(big) {
		t.Fatalf("large frame: %d writes", n-3)
	}
}
