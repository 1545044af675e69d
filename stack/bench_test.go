package stack_test

import (
	"io"
	"testing"

	"github.com/tunstack/tunstack/tun"
)

// BenchmarkPipeThroughput measures one connection's throughput over the
// in-memory pipe (no faults, real clock): bytes written on stack A and read
// on stack B, over IPv4 and over IPv6. Run:
//
//	go test -run '^$' -bench BenchmarkPipeThroughput -benchtime 3s ./stack
func BenchmarkPipeThroughput(b *testing.B) {
	for _, host := range []string{"198.18.0.2", "2001:2::2"} {
		name := "IPv4"
		if host != "198.18.0.2" {
			name = "IPv6"
		}
		b.Run(name, func(b *testing.B) { benchPipeThroughput(b, host) })
	}
}

func benchPipeThroughput(b *testing.B, host string) {
	p := newPair6(b, tun.FaultConfig{})
	c1, c2 := p.connectTo(b, host, 9)
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
