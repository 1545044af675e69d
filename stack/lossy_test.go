package stack_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/tun"
)

// TestConcurrentLossyEcho: 16 connections at once over a pipe with loss,
// duplication, reordering and jitter, each echoing 512 KiB both ways
// byte-exact; afterwards both stacks are left with no connection (the
// closing handshakes complete through the faults).
func TestConcurrentLossyEcho(t *testing.T) {
	f := tun.FaultConfig{Seed: 3, Loss: 0.02, Duplicate: 0.01, Reorder: 0.02, Delay: 200 * time.Microsecond, Jitter: 100 * time.Microsecond}
	p := newPair(t, nil, f, func(o *stack.Options) { o.MinRTO = 20 * time.Millisecond })
	echoServer(t, p.b, ":7", 2*time.Minute)
	const conns, size = 16, 512 << 10
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c1, err := p.a.Dial(t.Context(), "198.18.0.2:7")
			if err != nil {
				t.Error(err)
				return
			}
			defer c1.Close()
			c1.SetDeadline(time.Now().Add(2 * time.Minute))
			data := make([]byte, size)
			newPRNG(byte(i)).Read(data)
			want := sha256.Sum256(data)
			go func() {
				c1.Write(data)
				c1.(*stack.Conn).CloseWrite()
			}()
			got, err := io.ReadAll(c1)
			if err != nil {
				t.Errorf("conn %d: %v after %d bytes", i, err, len(got))
				return
			}
			if h := sha256.Sum256(got); !bytes.Equal(h[:], want[:]) || len(got) != size {
				t.Errorf("conn %d: %d bytes, hash mismatch", i, len(got))
			}
		}(i)
	}
	wg.Wait()
	if !waitFor(30*time.Second, func() bool { return p.a.Stats().Conns == 0 && p.b.Stats().Conns == 0 }) {
		t.Fatalf("connections left: A %d, B %d", p.a.Stats().Conns, p.b.Stats().Conns)
	}
	sa, sb := p.a.Stats(), p.b.Stats()
	ps := p.pa.Stats()
	t.Logf("pipe A->B: dropped %d duplicated %d reordered %d; retransmissions A %d B %d; TIME-WAIT A %d B %d",
		ps.Dropped, ps.Duplicated, ps.Reordered, sa.Retransmissions, sb.Retransmissions, sa.TimeWait, sb.TimeWait)
	if sa.TimeWait != conns {
		t.Fatalf("A (the active closer) has %d TIME-WAIT records, want %d", sa.TimeWait, conns)
	}
}
