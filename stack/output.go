package stack

import (
	"sync"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// A connection's output: built under Conn.mu, written after it.
//
// The engine runs under Conn.mu and hands every segment it emits to
// connSink.Output, which serialises it into a pooled buffer and appends it
// to the connection's output queue; state transitions for Options.Trace are
// queued the same way (connSink.Trace). Nothing is written to the link, and
// no trace hook runs, while Conn.mu is held: the goroutine that released the
// lock (Conn.unlock) writes the queue afterwards. So the input goroutine,
// the clock's goroutine and applications never wait on each other's link
// writes or trace output, only on each other's engine calls.
//
// Order. One goroutine at a time writes a connection's output (flushing);
// a goroutine that releases Conn.mu with output queued while another is
// writing hands its batch over (Conn.ready, under Conn.omu, a lock held
// only to move slices) and leaves; the writer takes it before it lets go. Segments and trace
// records therefore leave in the order the engine produced them, whichever
// goroutines produced them.
//
// The clock's goroutine runs every connection's timer callback in turn, so
// it never writes more than its own batch: if others queued output for the
// same connection while it wrote, a new goroutine takes over (rare: it needs
// another goroutine's engine call on this connection during the write).
//
// Buffers. A packet is built into a pooled buffer at once, payload
// included, except the payload of new data on a GSO link, which stays in
// the engine's send buffer: those bytes do not change until the peer
// acknowledges them, and the engine gives that buffer's memory back
// through the queue (tcp.BufferReleaser), so not before the packets that
// point into it are written (queueLocked says why retransmissions are
// copied). The queue's slices rotate between the producers and the writer
// and keep their capacity, so a busy connection allocates nothing per
// segment.

// outItem is one queued packet or trace record.
// It is kept small: a connection keeps its queue slices.
type outItem struct {
	bp *[]byte   // pooled buffer: the packet, or its headers (gso)
	tr *traceRec // a state transition instead of a packet
	// pay is, for gso, the payload: the engine's send buffer (new data)
	// or a copy in bp after the headers (a retransmission); for free, a
	// block of the engine's send buffer to give back (tcp.PutBuffer).
	pay  []byte
	n    int32  // packet length, or header length when gso
	mss  uint16 // WriteGSO's segment size (gso only)
	gso  bool   // written with WriteGSO: no TCP checksum computed, payload may exceed mss
	rst  bool
	free bool
}

// traceRec is a queued state transition. Transition.Seg points into the
// input goroutine's segment, valid only during the engine call, so the
// segment is copied, payload included (one allocation per transition, only
// while tracing, which is for debugging).
type traceRec struct {
	tr  tcp.Transition
	seg segment.Segment
}

// connLock is Conn.mu. It has no Unlock method on purpose: the lock is
// released with Conn.unlock, which writes what the engine queued meanwhile;
// a plain Unlock could strand queued segments until the next engine call.
type connLock struct{ m sync.Mutex }

// Lock locks the connection.
func (l *connLock) Lock() { l.m.Lock() }

// Output implements tcp.Sink: the segment is built into a pooled buffer and
// queued, to be written once c.mu is released (see the top of this file).
//
// ACK coalescing. While the input goroutine works through a burst of
// packets that were already waiting on the link, a pure ACK that
// acknowledges new data is held back instead of queued: a later ACK of the
// same connection supersedes it, and whatever is held goes out when the
// link has no more packets waiting (before the input goroutine would
// block) or after ackBurst packets. This is a deliberate deviation from
// RFC 5681 4.2's "an ACK SHOULD be generated for at least every second
// full-sized segment", the same one Linux makes with GRO (one ACK per
// aggregated burst, a "stretch ACK"): the data is acknowledged no later
// than it would be if the segments had arrived as one, the sender never
// waits on us while we are idle, and each TUN write costs as much as a
// whole segment's processing on the kernel side. Duplicate ACKs (the same
// acknowledgment number, signalling a gap) and everything else are queued
// at once, after the held ACK, so their number and order are unchanged.
func (k *connSink) Output(seg *segment.Segment) {
	isAck := seg.Flags&segment.FlagACK != 0
	pure := seg.Flags == segment.FlagACK && len(seg.Payload) == 0
	// An ACK carrying SACK blocks reports a hole or a duplicate (D-SACK,
	// RFC 2883, reported once): like a duplicate ACK it goes out at once,
	// or a later ACK would supersede what only it carried.
	if pure && seg.Options.NumSACK == 0 && k.coalesce && k.ackValid && seg.Ack.GreaterThan(k.lastAck) {
		if k.hasHeld {
			k.s.ctr.acksCoalesced.Add(1)
		}
		if k.held == nil {
			k.held = new(segment.Segment)
		}
		*k.held = *seg
		k.held.Payload = nil
		k.hasHeld = true
		k.lastAck = seg.Ack
		if !k.ackQueued {
			k.ackQueued = true
			k.s.ackq = append(k.s.ackq, (*Conn)(k))
		}
		return
	}
	if k.hasHeld {
		k.hasHeld = false
		if isAck && !(pure && seg.Ack == k.held.Ack) && !seg.Seq.LessThan(k.held.Seq) {
			// This segment carries an acknowledgment at least as new
			// and a right window edge at least as far (the engine's
			// RCV.NXT and edge never move back): the held ACK is moot.
			// Not so for a retransmission (SEG.SEQ below the held
			// ACK's SND.MAX): it may lie wholly below the peer's
			// RCV.NXT, and the peer then drops it unprocessed, ACK
			// field and all (RFC 9293 3.10.7.4).
			k.s.ctr.acksCoalesced.Add(1)
		} else {
			(*Conn)(k).queueHeldLocked()
		}
	}
	if isAck {
		k.ackValid, k.lastAck = true, seg.Ack
	}
	(*Conn)(k).queueLocked(seg)
}

// queueHeldLocked queues the held ACK.
func (c *Conn) queueHeldLocked() { c.queueLocked(c.held) }

// Trace implements tcp.Tracer: the transition is queued with the output,
// for Options.Trace to see after c.mu is released.
func (k *connSink) Trace(tr tcp.Transition) {
	r := &traceRec{tr: tr}
	if tr.Seg != nil {
		r.seg = *tr.Seg
		r.seg.Payload = append([]byte(nil), tr.Seg.Payload...)
		r.tr.Seg = &r.seg
	}
	k.outq = append(k.outq, outItem{tr: r})
}

// ReleaseBuffer implements tcp.BufferReleaser: a block of the send buffer
// goes back to the engine only once the segments queued before, which may
// point into it, are written.
func (k *connSink) ReleaseBuffer(b []byte) {
	k.outq = append(k.outq, outItem{pay: b, free: true})
}

// queueLocked builds seg into a pooled buffer and queues it. On a link with
// checksum offload a segment carrying data is built as headers only, for
// WriteGSO: no checksum is computed, and a payload longer than mss (the
// engine sends such only when the link segments, tcp.Config.GSOMaxSize) is
// cut by the link. The payload of new data is not copied: it stays in the
// engine's send buffer, unchanged until acknowledged, and the buffer's
// memory is not reused before this item is written (ReleaseBuffer). A
// retransmission is copied behind the headers: the peer may acknowledge
// the original before we write it, and new data then take its place
// (tcp.BufferReleaser).
func (c *Conn) queueLocked(seg *segment.Segment) {
	s := c.s
	c.ipID++
	v6 := !seg.Src.Is4()
	it := outItem{rst: seg.Flags&segment.FlagRST != 0}
	var n int
	var err error
	if len(seg.Payload) > 0 && (s.csumOff && !v6 || s.off6 && v6) {
		it.gso, it.mss = true, c.tc.SendMSS()
		end := seg.Seq.Add(uint32(len(seg.Payload)))
		if c.sentValid && seg.Seq.LessThan(c.sentEnd) {
			it.bp = s.outBuf(c.headerLen(seg) + len(seg.Payload))
			n, err = c.buildHeaders(*it.bp, seg)
			if err == nil {
				it.pay = (*it.bp)[n : n+len(seg.Payload)]
				copy(it.pay, seg.Payload)
			}
		} else {
			it.bp = s.outBuf(0)
			n, err = c.buildHeaders(*it.bp, seg)
			it.pay = seg.Payload
		}
		if !c.sentValid || end.GreaterThan(c.sentEnd) {
			c.sentEnd, c.sentValid = end, true
		}
	} else {
		it.bp = s.outBuf(0)
		if v6 {
			n, err = segment.BuildIPv6TCP(*it.bp, seg, c.flow, segment.DefaultHopLimit)
		} else {
			n, err = segment.BuildIPv4TCP(*it.bp, seg, c.ipID, segment.DefaultTTL)
		}
	}
	it.n = int32(n) // a packet is at most 64 KiB
	if err != nil {
		s.ctr.linkWriteErrors.Add(1)
		s.putOutBuf(it.bp)
		return
	}
	c.outData += int32(len(seg.Payload))
	c.outq = append(c.outq, it)
}

// headerLen returns the length of seg's IP and TCP headers.
func (c *Conn) headerLen(seg *segment.Segment) int {
	if seg.Src.Is4() {
		return segment.IPv4TCPHeaderLen(seg)
	}
	return segment.IPv6TCPHeaderLen(seg)
}

// buildHeaders writes seg's IP and TCP headers, the TCP checksum left to
// the link (WriteGSO), for len(seg.Payload) bytes of payload.
func (c *Conn) buildHeaders(buf []byte, seg *segment.Segment) (int, error) {
	if seg.Src.Is4() {
		return segment.BuildIPv4TCPHeadersOnly(buf, seg, len(seg.Payload), c.ipID, segment.DefaultTTL)
	}
	return segment.BuildIPv6TCPHeadersOnly(buf, seg, len(seg.Payload), c.flow, segment.DefaultHopLimit)
}

// unlock releases c.mu and then writes the output the engine queued while
// it was held, unless another goroutine is writing this connection's
// output already: that one takes it over. Every engine call is followed by
// unlock, never by a bare release of the lock.
func (c *Conn) unlock() { c.release(releaseInline) }

// unlockTimer is unlock for the clock's goroutine: it writes its own batch
// only and leaves what others queue meanwhile to a new goroutine, so that
// one connection's traffic never holds up the other connections' timers.
func (c *Conn) unlockTimer() { c.release(releaseOnce) }

// unlockInput is unlock for the input goroutine: a batch carrying at least
// handOffData bytes of data is written by the stack's writer goroutine
// (writeLoop), so that the input goroutine goes back to reading the link. A
// bulk sender's data is clocked out by the ACKs the input goroutine reads;
// written inline, each TUN write (in which the kernel runs its whole
// receive path) held up the reading of the next ACK. Small batches (ACKs,
// request/response) stay inline: handing them over costs more than their
// write. Measured on the 2-core benchmark host, local download: 24.4 ->
// 28.3 Gbit/s, 0.32 -> 0.28 CPU-s per GB.
func (c *Conn) unlockInput() { c.release(releaseHandOff) }

// handOffData is the batch size from which unlockInput hands the write
// over: a few full-sized segments.
const handOffData = 16 << 10

// handOffQueue bounds the batches waiting for the writer; with the queue
// full the input goroutine writes its batch itself.
const handOffQueue = 64

// handOff is a batch of a connection's output for the writer goroutine.
type handOff struct {
	c *Conn
	q []outItem
}

// writeLoop is the writer goroutine: it writes the batches the input
// goroutine hands over, each as Conn.flush (so also what other goroutines
// hand that connection meanwhile), until Close closes the queue.
func (s *Stack) writeLoop() {
	defer close(s.writerDone)
	for h := range s.handq {
		h.c.flush(h.q, false)
	}
}

const (
	releaseInline  = iota // write the batch, and what is handed over meanwhile
	releaseOnce           // write the batch; a new goroutine takes the rest
	releaseHandOff        // as releaseInline, by the writer goroutine if the batch is large
)

func (c *Conn) release(mode int) {
	data := c.outData
	c.outData = 0
	if len(c.outq) == 0 {
		c.mu.m.Unlock()
		return
	}
	c.omu.Lock()
	if c.flushing {
		c.ready = append(c.ready, c.outq...)
		clear(c.outq)
		c.outq = c.outq[:0]
		c.omu.Unlock()
		c.mu.m.Unlock()
		return
	}
	c.flushing = true
	q := c.outq
	c.outq, c.spare = c.spare[:0], nil
	c.omu.Unlock()
	// Counted before Conn.mu is released: an application that sees the
	// effect of this engine call (EOF, say) and closes the stack finds
	// the batch counted, and Close waits for it (waitFlushers).
	c.s.flushers.Add(1)
	c.mu.m.Unlock()
	if mode == releaseHandOff && data >= handOffData {
		select {
		case c.s.handq <- handOff{c, q}:
			return
		default: // the writer is behind: write it here
		}
	}
	c.flush(q, mode == releaseOnce)
}

// flush writes q, then whatever other goroutines handed over meanwhile,
// until nothing is left; with once it hands the rest to a new goroutine.
// c.flushing is set on entry and cleared on return (unless handed over).
// Only omu is taken here, never c.mu: producers keep running the engine.
func (c *Conn) flush(q []outItem, once bool) {
	for {
		c.s.writeOut(q)
		c.omu.Lock()
		if len(c.ready) == 0 {
			c.flushing = false
			if c.flushWait {
				c.flushWait = false
				signal(c.flushDone)
			}
			if cap(q) <= maxSpare {
				c.spare = q[:0]
			}
			c.omu.Unlock()
			c.s.flusherDone()
			return
		}
		q, c.ready = c.ready, q[:0]
		c.omu.Unlock()
		if once {
			go c.flush(q, false)
			return
		}
	}
}

// pollGate is the link's busy-poll gate (PollGater), asked by the input
// goroutine's read before each further look at an empty device. It parks
// the read when another goroutine is writing output now and has been at
// most of the recent looks (a bulk sender: its writes follow each other
// back to back); a ping-pong exchange, whose answer is written while the
// read spins for the next request, keeps spinning. Measured on the 2-core
// benchmark host: download +12 %, 19 % less CPU per GB than spinning
// beside the writer, echo latency unchanged.
func (s *Stack) pollGate() bool {
	g := &s.gate
	busy := s.flushers.Load() > 0
	g.looks++
	if busy {
		g.busy++
	}
	if g.looks >= 256 { // a moving window of about the last 256 looks
		g.looks, g.busy = g.looks/2, g.busy/2
	}
	return !busy || 4*g.busy < 3*g.looks
}

// pollGateState is pollGate's history: of the recent looks, how many found
// output being written. Input goroutine only.
type pollGateState struct{ looks, busy uint32 }

// waitFlushLocked returns once no goroutine is writing this connection's
// output. Conn.Write calls it, with c.mu held, before new data goes into
// the send ring: on a link with checksum offload a queued packet of new
// data points into that ring (queueLocked does not copy it), and space the
// peer has acknowledged is reused for new data at once. Normally the peer
// can only acknowledge bytes whose packet has been written, but a packet
// may still be on its way to the link when a retransmission of the same
// bytes (a copy) has been acknowledged; the ring must not be written under
// it. Waiting here also orders the writer's reads of the ring before the
// application's writes for the race detector. The writer never takes c.mu,
// and no producer can hand it more while c.mu is held, so the wait ends;
// it is the wait for the connection's lock that writing under the lock
// used to cost, now only while another goroutine writes this connection's
// output.
func (c *Conn) waitFlushLocked() {
	if !c.s.csumOff {
		return // every queued payload is a copy
	}
	c.omu.Lock()
	for c.flushing {
		if c.flushDone == nil {
			c.flushDone = make(chan struct{}, 1)
		}
		c.flushWait = true
		c.omu.Unlock()
		<-c.flushDone
		c.omu.Lock()
	}
	c.omu.Unlock()
}

// flusherDone uncounts a goroutine that has written its connection's
// output, and wakes a Close waiting for the last one.
func (s *Stack) flusherDone() {
	if s.flushers.Add(-1) == 0 && s.closing.Load() {
		select {
		case s.flushed <- struct{}{}:
		default:
		}
	}
}

// closeFlushWait bounds how long Close waits for output already queued to
// reach the link: a link whose Write blocks until it is closed must not
// hang Close.
const closeFlushWait = time.Second

// waitFlushers returns once no goroutine is writing queued output, or
// after closeFlushWait. Output queued before Close is then on the link
// before the link closes: typically the ACK of the peer's FIN that a
// connection queued on entering TIME-WAIT while its application, seeing
// EOF, closed the stack (lost, it left the peer in LAST-ACK until its RTO).
func (s *Stack) waitFlushers() {
	s.closing.Store(true)
	var timeout <-chan time.Time
	for s.flushers.Load() > 0 {
		if timeout == nil {
			t := time.NewTimer(closeFlushWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-s.flushed:
		case <-timeout:
			return
		}
	}
}

// maxSpare bounds the queue capacity a connection keeps for reuse. Batches
// of a busy connection on a link without GSO reach a send buffer's worth
// of MTU-sized segments (256 KiB / 1460 = 180), and each must be reused
// for the data path to allocate nothing (with 64 here, BenchmarkPipe-
// Throughput allocated 4 times per 64 KiB); a pathological batch beyond
// this (a send buffer of megabytes) is dropped rather than kept for the
// connection's lifetime (1024 items: 56 KiB).
const maxSpare = 1024

// writeOut writes a batch of queued packets to the link and hands its trace
// records to Options.Trace, in order, with no lock held. It returns the
// buffers to their pools and clears the items.
func (s *Stack) writeOut(q []outItem) {
	for i := range q {
		it := &q[i]
		switch {
		case it.tr != nil:
			s.opts.Trace(it.tr.tr)
		case it.free:
			tcp.PutBuffer(it.pay)
		case it.gso:
			s.sendGSO((*it.bp)[:it.n], it.pay, int(it.mss))
			s.putOutBuf(it.bp)
		default:
			s.send((*it.bp)[:it.n], it.rst)
			s.putOutBuf(it.bp)
		}
		*it = outItem{}
	}
}

// outBuf returns a pooled output buffer of at least n bytes (0: the MTU
// size).
func (s *Stack) outBuf(n int) *[]byte {
	if n > s.bufSize {
		return s.gsoBufs.Get().(*[]byte)
	}
	return s.bufs.Get().(*[]byte)
}

func (s *Stack) putOutBuf(bp *[]byte) {
	if len(*bp) > s.bufSize {
		s.gsoBufs.Put(bp)
		return
	}
	s.bufs.Put(bp)
}

// send writes one complete packet to the link and counts it.
func (s *Stack) send(pkt []byte, rst bool) {
	if s.isLoop(pkt) {
		if !s.loopPacket(pkt) {
			s.ctr.linkWriteErrors.Add(1)
			return
		}
	} else if _, err := s.link.Write(pkt); err != nil {
		s.ctr.linkWriteErrors.Add(1)
		return
	}
	s.ctr.segmentsOut.Add(1)
	if rst {
		s.ctr.rstsSent.Add(1)
	}
}

// sendGSO hands a packet's headers and payload to the link, which
// completes the TCP checksum and cuts a payload longer than mss.
func (s *Stack) sendGSO(hdr, payload []byte, mss int) {
	if s.isLoop(hdr) {
		// Looped whole: our input takes super-segments.
		if !s.loopPacket(hdr, payload) {
			s.ctr.linkWriteErrors.Add(1)
		} else {
			s.ctr.segmentsOut.Add(1)
		}
		return
	}
	if _, err := s.ol.WriteGSO(hdr, payload, mss); err != nil {
		s.ctr.linkWriteErrors.Add(1)
		return
	}
	// Counted as the segments the link puts on the wire.
	s.ctr.segmentsOut.Add(uint64((len(payload) + mss - 1) / mss))
	if len(payload) > mss {
		s.ctr.gsoWrites.Add(1)
	}
}
