package kernel

import (
	"sort"
	"testing"
	"time"
)

// BenchmarkExecuteTrivial measures one execute round trip of "6*7" through
// real zmq sockets, from sending the request to having both the
// execute_reply and the idle status, as a frontend waits for them.
//
//	go test ./kernel/ -run '^$' -bench ExecuteTrivial -benchtime 500x
func BenchmarkExecuteTrivial(b *testing.B) {
	c, stop := startKernel(b)
	defer stop()
	for i := 0; i < 20; i++ {
		c.execute("6*7", 10*time.Second)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		r := c.execute("6*7", 10*time.Second)
		lat = append(lat, time.Since(t0))
		if r.result != "42" {
			b.Fatalf("%+v", r)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e3 }
	b.ReportMetric(pct(0.5), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(lat[0])/1e3, "min-µs")
}
