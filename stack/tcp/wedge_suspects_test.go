package tcp_test

import (
	"testing"

	"github.com/tunstack/tunstack/stack/tcp"
)

// Issue 8 section 2 listed suspects for a connection that stopped making
// progress under random loss against the Linux kernel. Each test below
// plays the kernel's part of one suspect with a scripted peer; all of them
// hold (the cause was the RTO backoff carried across loss episodes,
// rto_backoff_test.go, and, on the runtime's coalescing path, a held ACK
// superseded by a retransmission, stack/coalesce_internal_test.go). They
// stay as regression tests.

// Linux probes a zero window with an empty segment at SND.UNA-1
// (tcp_xmit_probe_skb), which is below our RCV.NXT and so unacceptable
// (RFC 9293 3.10.7.4); the reply must be an ACK at once, carrying the
// window as it is now: zero while the buffer is full, open after the
// application read, even though the window update sent on that read was
// lost.
func TestEstablished_Issue8_LinuxZeroWindowProbeAnsweredWithWindow(t *testing.T) {
	h := newEstablished(t, smallRcvBuf(8192), noDelAck())
	nxt := h.fillWindow(10*ms, 1, 1460, 1)
	probe := h.in(".", seq(nxt-1), ack(1))
	h.send(20*ms, probe)
	h.expect(20*ms, h.out(".", seq(1), ack(nxt), win(0)))
	// The application drains the buffer; its window update is lost.
	h.expectRead(30*ms, int(nxt-1))
	if out := h.drainOut(30 * ms); len(out) != 1 || out[0].seg.Window == 0 {
		h.fatalf("no window update after the read: %d segments", len(out))
	}
	h.send(230*ms, h.in(".", seq(nxt-1), ack(1)))
	out := h.drainOut(230 * ms)
	if len(out) != 1 || out[0].seg.Window < 1460 || out[0].seg.Ack != peerISS.Add(uint32(nxt)) {
		h.fatalf("Linux's probe after a lost window update drew %d segments (window %d), want one ACK of %d with the open window",
			len(out), firstWindow(out), nxt)
	}
	// The peer resumes: the data is accepted.
	h.send(240*ms, h.in(".", seq(nxt), ack(1), data(1460)))
	h.expect(240*ms, h.out(".", seq(1), ack(nxt+1460)))
}

// The persist/RTO hand-over. Data is in flight when the peer's window
// closes: the ACK of everything sent, with window 0, stops the
// retransmission timer and starts the persist timer (RFC 9293 3.8.6.1;
// RFC 6298 5.2). The peer's window update is lost; the probe one RTO later
// (one byte, or a Linux-style empty segment) draws the open window and the
// queued data flows at once. No retransmission timer may be left armed
// with nothing in flight, and no persist timer with data in flight.
func TestEstablished_Issue8_PersistTakesOverFromRTOWhenWindowCloses(t *testing.T) {
	h := newEstablished(t, handshakeRTT(100*ms))
	const total = 20000 // more than the initial window: some stays queued
	h.write(1*s, total)
	h.drainOut(1 * s)
	sent := h.c.Info().SndNxt.Sub(h.c.Info().SndUna)
	h.send(1*s+100*ms, h.in(".", seq(1), ack(int64(sent)+1), win(0)))
	in := h.c.Info()
	rto := in.RTO // after the sample this ACK gave
	if !in.RtxAt.IsZero() || in.PersistAt.IsZero() {
		h.fatalf("window closed with all acknowledged: rtx %v persist %v, want only the persist timer", in.RtxAt, in.PersistAt)
	}
	h.expectNothing(1*s + 100*ms + rto - 1)
	o := h.drainOut(1*s + 100*ms + rto)
	if len(o) != 1 || len(o[0].seg.Payload) > 1 {
		h.fatalf("persist timer: %d segments, want one probe", len(o))
	}
	// The peer answers the probe with the window it opened meanwhile
	// (without taking the probe's byte, as the update crossed it).
	h.send(1*s+200*ms+rto, h.in(".", seq(1), ack(int64(sent)+1), win(65535)))
	var n int
	for _, x := range h.drainOut(1*s + 200*ms + rto) {
		n += len(x.seg.Payload)
	}
	if n < total-int(sent)-1 {
		h.fatalf("after the probe's answer opened the window %d bytes went out, want the remaining %d", n, total-int(sent))
	}
	if in := h.c.Info(); in.RtxAt.IsZero() || !in.PersistAt.IsZero() {
		h.fatalf("data in flight: rtx %v persist %v, want only the retransmission timer", in.RtxAt, in.PersistAt)
	}
}

// A reassembly queue at its limits (every out-of-order slot used, and data
// out of order up to the window's right edge) must still take the in-order
// retransmission that fills the first hole: it needs no slot and its bytes
// lie inside the window the engine advertised, so the buffer has room. The
// ACK then covers everything held.
func TestEstablished_Issue8_FullReassemblyQueueTakesInOrderFill(t *testing.T) {
	h := newEstablished(t, smallRcvBuf(8192), noDelAck(), withConfig(func(c *tcp.Config) { c.MaxOOORanges = 2 }))
	// Holes at [1,1001) and [2001,3001); held ranges [1001,2001) and
	// [3001,8193) reach the right edge of the 8 KiB window.
	h.send(10*ms, h.in(".", seq(1001), ack(1), data(1000)))
	h.send(10*ms, h.in(".", seq(3001), ack(1), data(5192)))
	// A third range would need a slot the queue does not have.
	h.send(10*ms, h.in(".", seq(2501), ack(1), data(100)))
	h.drainOut(10 * ms)
	if in := h.c.Info(); in.OOO.Len() != 2 {
		h.fatalf("out-of-order ranges %v, want 2 (the limit)", in.OOO)
	}
	h.send(20*ms, h.in(".", seq(1), ack(1), data(1000)))
	h.expect(20*ms, h.out(".", seq(1), ack(2001)))
	h.send(30*ms, h.in(".", seq(2001), ack(1), data(1000)))
	h.expect(30*ms, h.out(".", seq(1), ack(8193), win(0)))
	h.expectRead(40*ms, 8192)
}
