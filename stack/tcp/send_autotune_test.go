package tcp

import (
	"testing"
	"time"
)

// While send-buffer auto-tuning raises the bound with every ACK, the ring
// still grows by doubling (a power of two, up to SendBufferMax), not to
// each new bound: growing it copies everything queued, and a ring resized
// to every bound copied megabytes per Write (found by the netsim matrix:
// 3x the CPU of a fixed 4 MiB buffer for the same 1 Gbit/s transfer).
func TestUnitSendBufferGrowsByDoubling(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SendBufferSize, cfg.SendBufferMax, cfg.RecvBufferSize = 16<<10, 4<<20, 16<<20
	p := uNewPair(t, &cfg, &cfg)
	p.connect()
	data := make([]byte, 64<<10)
	buf := make([]byte, 64<<10)
	grew, last, got := 0, 0, 0
	for iter := 0; got < 64<<20; iter++ {
		if iter > 1_000_000 {
			t.Fatalf("stuck after %d bytes: %+v", got, p.a.Info())
		}
		for {
			n, err := p.a.Write(p.now, data)
			if err != nil {
				t.Fatal(err)
			}
			if c := len(p.a.sndBuf.buf); c > last {
				grew++
				last = c
			}
			if n == 0 {
				break
			}
		}
		p.pump()
		for {
			n, _ := p.b.Read(p.now, buf)
			if n == 0 {
				break
			}
			got += n
		}
		p.pump()
		p.step(time.Millisecond)
	}
	if last != cfg.SendBufferMax {
		t.Fatalf("the send ring reached %d bytes, want SendBufferMax %d (cwnd %d)", last, cfg.SendBufferMax, p.a.Info().Cwnd)
	}
	// 16 KiB to 4 MiB is 8 doublings.
	if grew > 9 {
		t.Fatalf("the send ring grew %d times on its way to %d bytes, want at most 9 (doubling)", grew, last)
	}
}
