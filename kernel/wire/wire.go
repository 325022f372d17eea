// Package wire encodes and decodes Jupyter messages (messaging protocol 5.3)
// as multipart ZeroMQ frames, and signs and verifies them with HMAC-SHA256.
package wire

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"
)

// ProtocolVersion is the messaging protocol this kernel speaks; jupyter_kernel_test
// rejects every message of a kernel that announces an older version.
const ProtocolVersion = "5.3"

// Delimiter separates routing identities from the signed part of a message.
var Delimiter = []byte("<IDS|MSG>")

// Header is a message header.
type Header struct {
	MsgID    string `json:"msg_id"`
	Session  string `json:"session"`
	Username string `json:"username"`
	Date     string `json:"date"`
	MsgType  string `json:"msg_type"`
	Version  string `json:"version"`
}

// Message is one decoded Jupyter message. Header, ParentHeader, Metadata and
// Content keep the raw JSON so that a reply can echo the parent header byte
// for byte and handlers decode only what they need.
type Message struct {
	Identities   [][]byte
	Header       Header
	RawHeader    json.RawMessage
	ParentHeader json.RawMessage
	Metadata     json.RawMessage
	Content      json.RawMessage
	Buffers      [][]byte
}

// Errors returned by Decode. They never carry user data beyond sizes so they
// are safe to log.
var (
	ErrNoDelimiter  = errors.New("wire: no <IDS|MSG> delimiter")
	ErrShort        = errors.New("wire: fewer than 5 frames after the delimiter")
	ErrBadSignature = errors.New("wire: bad HMAC signature")
)

// Signer computes and checks message signatures. The zero value (empty key)
// disables signing, as the protocol prescribes.
type Signer struct {
	key  []byte
	pool sync.Pool
}

// NewSigner returns a signer for scheme hmac-sha256 (the only scheme Jupyter
// uses); an empty key disables signing.
func NewSigner(scheme string, key []byte) (*Signer, error) {
	if len(key) > 0 && scheme != "hmac-sha256" && scheme != "" {
		return nil, fmt.Errorf("wire: unsupported signature scheme %q (valid: hmac-sha256)", scheme)
	}
	s := &Signer{key: append([]byte(nil), key...)}
	s.pool.New = func() any { return hmac.New(sha256.New, s.key) }
	return s, nil
}

// Sign returns the hex signature of the four signed frames ("" when unsigned).
func (s *Signer) Sign(frames ...[]byte) []byte {
	if s == nil || len(s.key) == 0 {
		return nil
	}
	h := s.pool.Get().(hash.Hash)
	h.Reset()
	for _, f := range frames {
		h.Write(f)
	}
	sum := h.Sum(nil)
	s.pool.Put(h)
	out := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(out, sum)
	return out
}

// Verify reports whether sig is the signature of frames, in constant time.
func (s *Signer) Verify(sig []byte, frames ...[]byte) bool {
	if s == nil || len(s.key) == 0 {
		return true
	}
	return hmac.Equal(sig, s.Sign(frames...))
}

// Decode parses multipart frames into a message, verifying the signature.
// It never panics on malformed input.
func Decode(frames [][]byte, s *Signer) (*Message, error) {
	d := -1
	for i, f := range frames {
		if bytes.Equal(f, Delimiter) {
			d = i
			break
		}
	}
	if d < 0 {
		return nil, ErrNoDelimiter
	}
	if len(frames)-d-1 < 5 {
		return nil, ErrShort
	}
	sig := frames[d+1]
	h, p, m, c := frames[d+2], frames[d+3], frames[d+4], frames[d+5]
	if !s.Verify(sig, h, p, m, c) {
		return nil, ErrBadSignature
	}
	msg := &Message{
		Identities:   frames[:d],
		RawHeader:    h,
		ParentHeader: p,
		Metadata:     m,
		Content:      c,
		Buffers:      frames[d+6:],
	}
	if err := json.Unmarshal(h, &msg.Header); err != nil {
		return nil, fmt.Errorf("wire: header: %w", err)
	}
	if msg.Header.MsgType == "" {
		return nil, errors.New("wire: header has no msg_type")
	}
	for _, part := range []struct {
		name string
		raw  *json.RawMessage
	}{{"parent_header", &msg.ParentHeader}, {"metadata", &msg.Metadata}, {"content", &msg.Content}} {
		if len(*part.raw) == 0 {
			*part.raw = json.RawMessage("{}")
		}
		if !json.Valid(*part.raw) {
			return nil, fmt.Errorf("wire: %s is not valid JSON", part.name)
		}
	}
	return msg, nil
}

// Encode serialises a message into frames, signing it.
func Encode(ids [][]byte, header, parent, metadata, content []byte, buffers [][]byte, s *Signer) [][]byte {
	frames := make([][]byte, 0, len(ids)+6+len(buffers))
	frames = append(frames, ids...)
	frames = append(frames, Delimiter, s.Sign(header, parent, metadata, content), header, parent, metadata, content)
	return append(frames, buffers...)
}

// NewID returns a random UUID4 string, used for message and session ids.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// Now returns the current time in the ISO 8601 form the protocol requires.
func Now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000000Z") }

// NewHeader builds a header for a message of the given type.
func NewHeader(msgType, session string) Header {
	return Header{MsgID: NewID(), Session: session, Username: "esa", Date: Now(), MsgType: msgType, Version: ProtocolVersion}
}
