package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func sample(t testing.TB, s *Signer) [][]byte {
	h, _ := json.Marshal(NewHeader("execute_request", "sess"))
	return Encode([][]byte{[]byte("id1")}, h, []byte("{}"), []byte("{}"), []byte(`{"code":"6*7"}`), nil, s)
}

func TestRoundTripSigned(t *testing.T) {
	s, err := NewSigner("hmac-sha256", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(sample(t, s), s)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.MsgType != "execute_request" || m.Header.Version != "5.3" || string(m.Identities[0]) != "id1" {
		t.Fatalf("decoded %+v", m.Header)
	}
	if string(m.Content) != `{"code":"6*7"}` {
		t.Fatalf("content %s", m.Content)
	}
}

func TestKnownSignature(t *testing.T) {
	// Reference value from Python: hmac.new(b"key", b"abcd", hashlib.sha256).hexdigest()
	s, _ := NewSigner("hmac-sha256", []byte("key"))
	got := string(s.Sign([]byte("a"), []byte("b"), []byte("c"), []byte("d")))
	const want = "2a31ec0ee8d878c9eece9fb0df79b3b90b2256240163aa5ee50d176d3d1121f8"
	if got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

func TestWrongSignatureRejected(t *testing.T) {
	s, _ := NewSigner("hmac-sha256", []byte("secret"))
	other, _ := NewSigner("hmac-sha256", []byte("other"))
	if _, err := Decode(sample(t, other), s); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("want ErrBadSignature, got %v", err)
	}
	f := sample(t, s)
	f[len(f)-1] = []byte(`{"code":"os.Exit(1)"}`) // tampered content
	if _, err := Decode(f, s); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered content accepted: %v", err)
	}
}

func TestUnsigned(t *testing.T) {
	s, _ := NewSigner("", nil)
	f := sample(t, s)
	if len(f[2]) != 0 {
		t.Fatalf("unsigned message has signature %q", f[2])
	}
	if _, err := Decode(f, s); err != nil {
		t.Fatal(err)
	}
}

func TestMalformed(t *testing.T) {
	s, _ := NewSigner("", nil)
	cases := map[string][][]byte{
		"empty":        nil,
		"no delimiter": {[]byte("a"), []byte("b")},
		"short":        {Delimiter, nil, []byte("{}")},
		"bad json":     {Delimiter, nil, []byte("{"), []byte("{}"), []byte("{}"), []byte("{}")},
		"no type":      {Delimiter, nil, []byte(`{"msg_id":"x"}`), []byte("{}"), []byte("{}"), []byte("{}")},
		"bad content":  {Delimiter, nil, []byte(`{"msg_type":"x"}`), []byte("{}"), []byte("{}"), []byte("[")},
	}
	for name, f := range cases {
		if _, err := Decode(f, s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNewID(t *testing.T) {
	a, b := NewID(), NewID()
	if a == b || len(a) != 36 || a[14] != '4' {
		t.Fatalf("ids %s %s", a, b)
	}
}

// FuzzDecode feeds arbitrary frames (split from the fuzz input at 0xff bytes)
// to Decode, signed and unsigned: it must never panic, and whatever it accepts
// with a key must carry a valid signature.
func FuzzDecode(f *testing.F) {
	s, _ := NewSigner("hmac-sha256", []byte("k"))
	good := sample(f, s)
	f.Add(bytes.Join(good, []byte{0xff}), true)
	f.Add(bytes.Join(good[1:], []byte{0xff}), true)
	f.Add([]byte("<IDS|MSG>\xff\xff{\xff{}\xff{}\xff{}"), false)
	f.Add([]byte("<IDS|MSG>"), false)
	f.Add([]byte("a\xffb\xffc"), true)
	f.Add([]byte("<IDS|MSG>\xffdeadbeef\xff{\"msg_type\":\"x\"}\xff{}\xff{}\xff{}"), true)
	f.Add([]byte("<IDS|MSG>\xff\xff{\"msg_type\":\"x\"}\xff\xff\xff"), false)
	f.Fuzz(func(t *testing.T, data []byte, signed bool) {
		frames := bytes.Split(data, []byte{0xff})
		signer, _ := NewSigner("", nil)
		if signed {
			signer = s
		}
		m, err := Decode(frames, signer)
		if err == nil && m.Header.MsgType == "" {
			t.Fatal("accepted a message without msg_type")
		}
	})
}
