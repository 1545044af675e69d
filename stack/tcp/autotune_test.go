package tcp_test

import (
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
)

// Receive-buffer auto-tuning (autotune.go; Linux's dynamic right-sizing).

// bulkRounds has the scripted peer keep our window full on a path with a
// fixed round trip: every rtt it sends the whole offered window (in 64 KiB
// pieces, as a receive offload would merge them), the application reads
// everything 1 ms later if read is set, and the engine's ACKs go back. The
// peer echoes the TSval of the last ACK it has received, the one from the
// round before. It returns the largest window offered.
func bulkRounds(h *harness, rtt time.Duration, rounds int, read bool) uint32 {
	var most uint32
	at := h.now.Sub(t0)
	for range rounds {
		info := h.c.Info()
		most = max(most, info.RcvWnd)
		end := h.pNxt + int64(info.RcvWnd)
		ecr := h.engTSVal
		for h.pNxt < end {
			n := int(min(end-h.pNxt, 64<<10))
			h.send(at, h.in("P.", data(n), ts(pTSBase+uint32(at/ms), ecr)))
		}
		if read {
			if q := h.c.Info().RecvQueued; q > 0 {
				h.readN(at+ms, q)
			}
		}
		h.drainOut(at + ms)
		at += rtt
	}
	return most
}

// A sender that keeps the window full at a 40 ms RTT: the receive buffer,
// and the window with it, grows past the initial 256 KiB up to the 6 MiB
// limit (within the window scale offered, RFC 7323 2.2), measured with the
// receiver's RTT from TSecr.
func TestAutotune_GrowsWithReadRate(t *testing.T) {
	h := newEstablished(t, peerWScaleOpt(7), peerTSOpt(), peerSACKOpt(), handshakeRTT(40*ms))
	most := bulkRounds(h, 40*ms, 12, true)
	info := h.c.Info()
	if most <= 256<<10 || info.RecvBufLimit != tcp.DefaultRecvBufferMax {
		h.fatalf("largest window %d, buffer bound %d: want beyond 256 KiB, bound %d", most, info.RecvBufLimit, tcp.DefaultRecvBufferMax)
	}
	if info.RcvRTT < 39*ms || info.RcvRTT > 42*ms {
		h.fatalf("receiver RTT %v, want about 40ms", info.RcvRTT)
	}
	t.Logf("largest window %d KiB, bound %d KiB, receiver RTT %v", most>>10, info.RecvBufLimit>>10, info.RcvRTT)
}

// An application that does not read gets no growth: the window closes at
// the initial buffer size.
func TestAutotune_NoGrowthWithoutReads(t *testing.T) {
	h := newEstablished(t, peerWScaleOpt(7), peerTSOpt(), handshakeRTT(40*ms))
	most := bulkRounds(h, 40*ms, 12, false)
	info := h.c.Info()
	if most > 256<<10 || info.RecvBufLimit != 256<<10 || info.RcvWnd != 0 {
		h.fatalf("largest window %d, bound %d, window now %d: want at most 256 KiB, 256 KiB, 0", most, info.RecvBufLimit, info.RcvWnd)
	}
}

// SetRecvBufferSize fixes the buffer (as SO_RCVBUF does): no growth.
func TestAutotune_LockedBySetRecvBufferSize(t *testing.T) {
	h := newEstablished(t, peerWScaleOpt(7), peerTSOpt(), handshakeRTT(40*ms))
	h.c.SetRecvBufferSize(256 << 10)
	bulkRounds(h, 40*ms, 12, true)
	if got := h.c.Info().RecvBufLimit; got != 256<<10 {
		h.fatalf("buffer bound %d after SetRecvBufferSize(256 KiB), want unchanged", got)
	}
}
