package tcp_test

import (
	"testing"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// TIME-WAIT with timestamps: the record's ACKs carry TSopt (RFC 7323 3.2),
// PAWS applies (5.3), and a SYN is told new by its TSval (RFC 6191 2).
func TestTimeWait_RFC6191_TimestampRecord(t *testing.T) {
	h := toTimeWait(t, peerTSOpt())
	tw := h.c.TimeWait()
	if !tw.TSOK || tw.TSRecent != pTSBase+30 {
		t.Fatalf("record TSOK %v TS.Recent %d, want true and %d", tw.TSOK, tw.TSRecent, pTSBase+30)
	}
	engTS := h.engTSVal // our TSval at 30 ms
	rec := &recSink{h: h}
	// A retransmitted FIN: ACKed with TSopt (our clock 70 ms on, TS.Recent
	// now the FIN's TSval), the expiry pushed.
	fin := h.in("F.", seq(1), ack(2), ts(pTSBase+100, engTS))
	if v := tw.HandleSegment(h.at(100*ms), fin, rec); v != tcp.TimeWaitKeep || len(rec.out) != 1 {
		t.Fatalf("retransmitted FIN: verdict %v, %d segments", v, len(rec.out))
	}
	if o := rec.out[0].seg.Options; !o.HasTimestamp || o.TSVal != engTS+70 || o.TSEcr != pTSBase+100 {
		t.Fatalf("record ACK options %+v, want TS %d/%d", o, engTS+70, pTSBase+100)
	}
	rec.out = nil
	exp := tw.Expiry
	// PAWS: the same FIN with an old TSval is answered but changes nothing.
	old := h.in("F.", seq(1), ack(2), ts(pTSBase+50, engTS))
	if v := tw.HandleSegment(h.at(200*ms), old, rec); v != tcp.TimeWaitKeep || len(rec.out) != 1 || !tw.Expiry.Equal(exp) {
		t.Fatalf("old FIN: verdict %v, %d segments, expiry moved %v", v, len(rec.out), tw.Expiry.Sub(exp))
	}
	rec.out = nil
	// A SYN with an older TSval is not new, even above RCV.NXT.
	if v := tw.HandleSegment(h.at(300*ms), h.in("S", seq(5000), ts(pTSBase+99, 0)), rec); v != tcp.TimeWaitKeep || len(rec.out) != 1 {
		t.Fatalf("SYN with an old TSval: verdict %v, %d segments; want keep and an ACK", v, len(rec.out))
	}
	rec.out = nil
	// A SYN with TS.Recent's own TSval (sent in the millisecond tick of
	// the FIN) is new only above RCV.NXT (RFC 6191 2; Linux's
	// tcp_timewait_state_process wants a strictly newer TSval too).
	if v := tw.HandleSegment(h.at(300*ms), h.in("S", seq(0), ts(pTSBase+100, 0)), rec); v != tcp.TimeWaitKeep || len(rec.out) != 1 {
		t.Fatalf("SYN with TS.Recent's TSval below RCV.NXT: verdict %v, %d segments; want keep and an ACK", v, len(rec.out))
	}
	rec.out = nil
	if v := tw.HandleSegment(h.at(300*ms), h.in("S", seq(5000), ts(pTSBase+100, 0)), rec); v != tcp.TimeWaitReopen || len(rec.out) != 0 {
		t.Fatalf("SYN with TS.Recent's TSval above RCV.NXT: verdict %v, %d segments; want reopen", v, len(rec.out))
	}
	// A SYN with a newer TSval is, even below RCV.NXT (RFC 6191 2).
	if v := tw.HandleSegment(h.at(400*ms), h.in("S", seq(0), ts(pTSBase+400, 0)), rec); v != tcp.TimeWaitReopen || len(rec.out) != 0 {
		t.Fatalf("SYN with a newer TSval: verdict %v, %d segments; want reopen", v, len(rec.out))
	}
	// Without TSopt on the SYN, the sequence number decides.
	if v := tw.HandleSegment(h.at(500*ms), h.in("S", seq(0), noTS()), rec); v != tcp.TimeWaitKeep {
		t.Fatalf("SYN without TSopt below RCV.NXT: verdict %v, want keep", v)
	}
}

// The same on a Conn kept in TIME-WAIT: a SYN below RCV.NXT with a newer
// TSval reopens (the Conn gives way), with no RST.
func TestTimeWait_RFC6191_ConnReopensByTimestamp(t *testing.T) {
	h := toTimeWait(t, peerTSOpt())
	h.send(5*s, h.in("S", seq(1), mss(1460)))
	for _, o := range h.drainOut(5 * s) {
		if o.seg.Flags&segment.FlagRST != 0 {
			h.fatalf("RST in answer to a reopening SYN: %s", h.fmtOut(&o.seg))
		}
	}
	h.expectState(tcp.StateClosed)
}
