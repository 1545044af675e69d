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

// sendBufferPair is a connected pair whose sender, with congestion
// control cc, has sent and had acknowledged a first Write, so its
// congestion state exists and nothing is in flight.
func sendBufferPair(t *testing.T, cc string) *uPair {
	t.Helper()
	cfg := DefaultConfig()
	cfg.CongestionControl = cc
	p := uNewPair(t, &cfg, &cfg)
	p.connect()
	if _, err := p.a.Write(p.now, make([]byte, 10000)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && (p.a.ccBox == nil || p.a.sndMax != p.a.SndUna); i++ {
		p.step(10 * time.Millisecond)
	}
	if p.a.ccBox == nil || p.a.sndMax != p.a.SndUna {
		t.Fatalf("the first Write was not acknowledged: %+v", p.a.Info())
	}
	return p
}

// Send-buffer auto-tuning only grows the bound, as Linux's
// tcp_sndbuf_expand only raises sk_sndbuf: a window cut after a loss
// (BBR's inflight_shortterm in every lossy round) must not cut the buffer
// the data behind a hole at SND.UNA sits in.
func TestUnitSendBufferBoundOnlyGrows(t *testing.T) {
	p := sendBufferPair(t, "cubic")
	p.a.ccs.Cwnd = 1 << 20
	if got := p.a.sndLimit(); got != 2<<20 {
		t.Fatalf("send buffer bound with cwnd 1 MiB: %d, want 2 MiB (2 x cwnd)", got)
	}
	p.a.ccs.Cwnd = 100 << 10
	if got := p.a.sndLimit(); got != 2<<20 {
		t.Fatalf("send buffer bound after cwnd fell to 100 KiB: %d, want the 2 MiB it reached", got)
	}
	if got := p.a.Writable(); got != 2<<20-p.a.sndBuf.n {
		t.Fatalf("Writable %d, want %d", got, 2<<20-p.a.sndBuf.n)
	}
}

// With BBR the bound is three times the window (Linux's bbr_sndbuf_expand:
// BBR may keep sending at its model's rate during recovery); with CUBIC
// twice (tcp_sndbuf_expand's default).
func TestUnitSendBufferBBRThreeWindows(t *testing.T) {
	for _, tc := range []struct {
		cc   string
		want int
	}{{"bbr", 3 << 20}, {"cubic", 2 << 20}} {
		p := sendBufferPair(t, tc.cc)
		p.a.ccs.Cwnd = 1 << 20
		if got := p.a.sndLimit(); got != tc.want {
			t.Fatalf("%s: send buffer bound with cwnd 1 MiB: %d, want %d", tc.cc, got, tc.want)
		}
	}
}
