package session

import (
	"context"
	"io"
	"testing"
)

// BenchmarkExecTrivial is the interpreter's share of a trivial cell's
// latency: go test ./kernel/session/ -run '^$' -bench ExecTrivial
func BenchmarkExecTrivial(b *testing.B) {
	s, err := New(Options{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		r := s.Exec(context.Background(), "6*7")
		if r.Data["text/plain"] != "42" {
			b.Fatal(r)
		}
	}
}

// BenchmarkNew is the cost of a fresh interpreter (%reset, engine start).
func BenchmarkNew(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := New(Options{Stdout: io.Discard, Stderr: io.Discard}); err != nil {
			b.Fatal(err)
		}
	}
}
