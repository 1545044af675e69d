package stack_test

import (
	"io"
	"testing"

	"github.com/tunstack/tunstack/tun"
)

// BenchmarkPipeThroughput measures one connection's throughput over the
// in-memory pipe (no faults, real clock): bytes written on stack A and read
// on stack B. Run:
//
//	go test -run '^$' -bench BenchmarkPipeThroughput -benchtime 3s ./stack
func BenchmarkPipeThroughput(b *testing.B) {
	p := newPair(b, nil, tun.FaultConfig{}, nil)
	c1, c2 := p.connect(b, 9)
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	done := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, c2)
		done <- n
	}()
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c1.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c1.Close()
	n := <-done
	b.StopTimer()
	if n != int64(b.N)*chunk {
		b.Fatalf("received %d bytes, want %d", n, int64(b.N)*chunk)
	}
}
