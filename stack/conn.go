package stack

import (
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/timers"
)

// Conn is a TCP connection of a Stack. It implements net.Conn, plus
// CloseRead and CloseWrite like *net.TCPConn, and Info. All methods are
// safe for concurrent use; concurrent Writes are serialised so that the
// bytes of one Write are contiguous in the stream.
//
// Errors follow package net: io.EOF after the peer's FIN; *net.OpError
// wrapping os.ErrDeadlineExceeded (Timeout() true) when a deadline passes,
// syscall.ECONNRESET after a RST, syscall.ETIMEDOUT when retransmissions or
// keepalives give up (or the ICMP soft error seen meanwhile, e.g.
// EHOSTUNREACH), and net.ErrClosed after Close.
type Conn struct {
	s *Stack // the addresses and ports are the engine's (tuple)

	wmu sync.Mutex // held for a whole Write call: one writer at a time

	// omu guards the hand-over of built output to the goroutine writing
	// it (output.go): ready is output handed over while flushing (a
	// goroutine is writing), spare an empty slice kept for reuse. Taken
	// with or without mu, and nothing is taken under it.
	// flushWait says a Write waits (waitFlushLocked) for flushing to end;
	// flushDone, made on the first wait, is how the writer tells it.
	// (Here and below, small fields sit together so that the struct has
	// no padding: an idle Conn's memory is one of the README's figures,
	// TestManyConns.)
	omu       sync.Mutex
	ready     []outItem
	spare     []outItem
	flushDone chan struct{}
	flushWait bool
	flushing  bool

	// mu guards the engine connection and every field below it. Lock
	// order: mu before Stack.mu. Methods named ...Locked need it held. It
	// is released with unlock, which writes the output queued under it
	// (output.go).
	mu      connLock
	tc      *tcp.Conn
	pend    tcp.Event // events reported by the engine, handled by afterLocked
	ipID    uint16
	outData int32  // payload bytes in outq, for unlockInput's choice of writer
	flow    uint32 // IPv6 flow label (RFC 6437); IPv4 uses ipID
	armed   bool   // timer is queued for armedAt
	timer   timers.Timer
	armedAt time.Time // engine deadline the timer is armed for
	// listener is the listener of a passive open until the connection is
	// queued for Accept or gone; queued says it reached the accept queue.
	// Both are written with mu and Stack.mu held, so either lock suffices
	// to read them.
	listener *Listener
	queued   bool
	gone     bool // out of the demux table (CLOSED, TIME-WAIT, or stack closed)
	closed   bool // Close called (by the user or the stack)
	rdClosed bool // CloseRead called: arriving data is discarded

	// failErr is set with gone when the link failed under the stack
	// (linkFailed): what Read, Write and Dial report then.
	failErr error
	// lingerZero: SetLinger(0) was called, Close resets.
	lingerZero bool

	// ACK coalescing during a burst of input (see connSink.Output).
	// coalesce is set by the input goroutine around HandleSegment when
	// the link can tell it that no more packets are waiting (an
	// OffloadLink); held is the latest pure ACK held back, valid while
	// hasHeld; ackQueued says c is on Stack.ackq (input goroutine only).
	// lastAck, valid once ackValid, is the acknowledgment number of the
	// last ACK-bearing segment emitted (sent or held).
	coalesce  bool
	hasHeld   bool
	ackQueued bool
	ackValid  bool
	lastAck   segment.Seq
	held      *segment.Segment // allocated on a connection's first hold: idle ones never need it

	// Output built under mu and written after it (output.go): outq is
	// what the engine emitted during the current hold of mu; sentEnd,
	// valid once sentValid, is the end of the highest data queued (what
	// starts below it is a retransmission).
	outq      []outItem
	sentEnd   segment.Seq
	sentValid bool

	// Wake-ups for blocked calls. readCh and writeCh hold at most one
	// token ("look again"); a woken caller that leaves data or space
	// behind passes the token on. Close puts a token in each, and a call
	// that finds the Conn closed passes it on, so every blocked call
	// returns (no third channel closed by Close). Each is made when a
	// call first has to wait (wakeChLocked), so a Conn whose calls never
	// blocked holds neither (112 bytes of heap each, TestManyConns). They
	// are read and made with mu held; a signal sent after mu is released
	// goes to the channel read before, and one sent while none exists
	// is not needed: a call checks under mu before it makes one and waits.
	readCh, writeCh chan struct{}
	rd, wd          deadline
}

var _ net.Conn = (*Conn)(nil)

// newConn makes a connection for tuple t, not yet in the demux table.
func (s *Stack) newConn(t tcp.Tuple) *Conn {
	c := &Conn{s: s}
	c.rd.clock, c.wd.clock = s.clock, s.clock
	c.tc = tcp.NewConn(s.cfgFor(t.LocalAddr), t, (*connSink)(c))
	if !t.LocalAddr.Is4() {
		// RFC 6437 3: one flow label per connection, for all its packets.
		c.flow = s.flowLabel(t.LocalAddr, t.LocalPort, t.RemoteAddr, t.RemotePort)
	}
	return c
}

// connSink is the engine's view of a Conn: its Output and Notify are not
// part of Conn's public method set.
type connSink Conn

// Notify implements tcp.Sink. Events are only recorded here (the engine
// must not be re-entered) and handled by afterLocked.
func (k *connSink) Notify(ev tcp.Event) { k.pend |= ev }

// wakeChLocked returns the wake-up channel *p, made on first use (mu
// held): a call about to wait takes it before it releases mu.
func wakeChLocked(p *chan struct{}) chan struct{} {
	if *p == nil {
		*p = make(chan struct{}, 1)
	}
	return *p
}

// signal puts a token in ch unless it holds one; a nil ch (no call ever
// waited) needs none.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// afterLocked runs after every engine call: it handles the events the call
// reported and re-arms the connection's timer to the engine's deadline.
func (c *Conn) afterLocked(now time.Time) {
	for c.pend != 0 {
		ev := c.pend
		c.pend = 0
		c.eventsLocked(now, ev)
	}
	if c.gone {
		c.stopTimerLocked()
		return
	}
	c.rearmLocked(now)
}

func (c *Conn) eventsLocked(now time.Time, ev tcp.Event) {
	const wakeAll = tcp.EventConnected | tcp.EventClosed | tcp.EventSoftError | tcp.EventTimeWait
	if ev&(tcp.EventReadable|wakeAll) != 0 {
		if c.rdClosed {
			c.discardLocked(now)
		}
		signal(c.readCh)
	}
	if ev&(tcp.EventWritable|wakeAll) != 0 {
		signal(c.writeCh)
	}
	s := c.s
	if ev&tcp.EventConnected != 0 && c.listener != nil && !c.queued {
		// A passive open completed: move it from the SYN queue to the
		// accept queue. Only the input goroutine completes passive opens
		// and it checked for room first, so the send normally succeeds.
		ok := false
		s.mu.Lock()
		if l := c.listener; !l.closed && !c.gone {
			select {
			case l.acceptq <- c:
				ok = true
				c.queued = true
				l.synq--
			default:
			}
		}
		s.mu.Unlock()
		if !ok {
			s.ctr.listenOverflows.Add(1)
			c.tc.Abort(now)
		}
	}
	if c.gone {
		return
	}
	switch {
	case ev&tcp.EventTimeWait != 0:
		tw := c.tc.TimeWait()
		c.leaveLocked(now, &tw)
	case ev&tcp.EventClosed != 0 || c.tc.State() == tcp.StateClosed:
		c.leaveLocked(now, nil)
	}
}

// leaveLocked marks c gone and takes it out of the demux table, adding its
// retransmissions to the stack's total. tw, if not nil, is the TIME-WAIT
// record that takes its place (unless the stack is closed).
func (c *Conn) leaveLocked(now time.Time, tw *tcp.TimeWait) {
	s := c.s
	// An ACK held for the end of the input burst goes out now: the flush
	// skips connections that are gone. It is typically the ACK of the
	// peer's FIN that moved us to TIME-WAIT (RFC 9293 3.10.7.4, eighth
	// step); dropping it left the peer in LAST-ACK until its RTO.
	if c.hasHeld {
		c.hasHeld = false
		c.queueHeldLocked()
	}
	c.gone = true
	info := c.tc.Info()
	s.ctr.connGone(&info)
	if f := s.opts.ConnGone; f != nil {
		f(&info)
	}
	s.mu.Lock()
	s.removeConnLocked(c)
	if tw != nil && !s.closed {
		s.tw.addLocked(now, c.tuple(), *tw)
	}
	s.mu.Unlock()
}

// discardLocked drops received data after CloseRead, so the window stays
// open (Linux likewise keeps acknowledging after shutdown(SHUT_RD)).
func (c *Conn) discardLocked(now time.Time) {
	var scratch [2048]byte
	for c.tc.Readable() > 0 {
		n, err := c.tc.Read(now, scratch[:])
		if n == 0 || err != nil {
			return
		}
	}
}

// rearmLocked points the connection's one timer at the engine's deadline.
// A firing re-checks the deadline, so a stale wake is harmless.
func (c *Conn) rearmLocked(now time.Time) {
	dl := c.tc.Deadline()
	if dl.IsZero() {
		c.stopTimerLocked()
		return
	}
	if c.armed && dl.Equal(c.armedAt) {
		return
	}
	d := dl.Sub(now)
	if c.timer == nil {
		c.timer = c.s.clock.AfterFunc(d, c.onTimer)
	} else {
		c.timer.Reset(d)
	}
	c.armed, c.armedAt = true, dl
}

func (c *Conn) stopTimerLocked() {
	if c.armed {
		c.timer.Stop()
		c.armed = false
	}
}

// onTimer is the timer callback (on the clock's goroutine, or inside
// Manual.Advance). The clock's goroutine serves every connection's timer
// in turn: it holds c.mu only for the engine call and writes only what
// that call emitted (unlockTimer).
func (c *Conn) onTimer() {
	c.mu.Lock()
	c.armed = false
	if c.gone {
		c.unlockTimer()
		return
	}
	now := c.s.now()
	if dl := c.tc.Deadline(); !dl.IsZero() && !now.Before(dl) {
		c.tc.HandleTimer(now)
	}
	c.afterLocked(now)
	c.unlockTimer()
}

// inputSegment hands an arriving segment to the engine. It reports false if
// the connection had already left the demux table (the caller looks again).
//
// The engine's time is read once the lock is held, as every other engine
// call does: a time read before waiting for the lock (held meanwhile by a
// Write that sent data) would stamp what this call sends as sent before
// data of lower sequence numbers, and RACK (RFC 8985 6.2), which orders
// transmissions by those stamps, then takes the lower data for delivered
// out of order and declares the rest lost. Measured on the local download
// before this: about 6,000 spurious retransmissions a second.
func (c *Conn) inputSegment(seg *segment.Segment) bool {
	c.mu.Lock()
	if c.gone {
		c.unlock()
		return false
	}
	now := c.s.now()
	if l := c.listener; l != nil && !c.queued && seg.Flags&segment.FlagRST == 0 &&
		c.tc.State() == tcp.StateSynReceived && len(l.acceptq) >= cap(l.acceptq) {
		// The handshake would complete into a full accept queue: drop the
		// ACK and let the SYN-ACK be retransmitted (as Linux does without
		// tcp_abort_on_overflow).
		c.unlock()
		c.s.ctr.listenOverflows.Add(1)
		return true
	}
	c.coalesce = c.s.ol != nil
	c.tc.HandleSegment(now, seg)
	c.coalesce = false
	c.afterLocked(now)
	c.unlockInput()
	return true
}

// icmpError reports an ICMP destination unreachable (RFC 1122 4.2.3.9) as
// a soft error, if seq, the sequence number quoted from our segment, is one
// we have sent and not seen acknowledged (RFC 5927 4.1).
func (c *Conn) icmpError(now time.Time, seq segment.Seq, err error) bool {
	c.mu.Lock()
	defer c.unlock()
	if c.gone {
		return false
	}
	// RFC 5927 4.1: only an error quoting data in flight is believed, the
	// same check as for path MTU and hard errors.
	if !c.sentUnackedLocked(seq) {
		return false
	}
	c.tc.SoftError(err)
	c.pend |= tcp.EventSoftError
	c.afterLocked(now)
	return true
}

// Read reads data received on the connection, blocking until some is
// available, the peer has closed its side (io.EOF), an error occurs, or the
// read deadline passes.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		if c.rd.isExpired() {
			return 0, c.timeoutError("read")
		}
		c.mu.Lock()
		if c.closed {
			rch := c.readCh
			c.unlock()
			signal(rch) // wake the next blocked reader (Close)
			return 0, c.closedError("read")
		}
		if err := c.failErr; err != nil {
			c.unlock()
			return 0, c.opError("read", err)
		}
		if c.rdClosed {
			c.unlock()
			return 0, io.EOF
		}
		if len(p) == 0 {
			c.unlock()
			return 0, nil
		}
		now := c.s.now()
		n, err := c.tc.Read(now, p)
		c.afterLocked(now)
		more := c.tc.Readable() > 0
		if n == 0 && err == nil && c.gone {
			// Left the table without an EOF or error on record (the
			// connection was aborted locally): report what the engine
			// knows, or EOF.
			if err = c.tc.Err(); err == nil {
				err = io.EOF
			}
		}
		rch := c.readCh
		if n == 0 && err == nil {
			rch = wakeChLocked(&c.readCh) // it waits below
		}
		c.unlock()
		if n > 0 {
			if more {
				signal(rch)
			}
			return n, nil
		}
		if err != nil {
			signal(rch) // let other blocked readers see it too
			return 0, c.opError("read", err)
		}
		select {
		case <-rch:
		case <-c.rd.wait():
		}
	}
}

// Write writes p to the connection. It blocks while the send buffer is full
// (backpressure) and returns once every byte has been queued for sending,
// or with the count queued so far and an error (deadline, reset, close).
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for {
		if c.wd.isExpired() {
			return written, c.timeoutError("write")
		}
		c.mu.Lock()
		if c.closed {
			wch := c.writeCh
			c.unlock()
			signal(wch) // wake the next blocked writer (Close)
			return written, c.closedError("write")
		}
		if err := c.failErr; err != nil {
			c.unlock()
			return written, c.opError("write", err)
		}
		if written == len(p) {
			c.unlock()
			return written, nil
		}
		c.waitFlushLocked()
		now := c.s.now()
		n, err := c.tc.Write(now, p[written:])
		c.afterLocked(now)
		if n == 0 && err == nil && c.gone {
			if err = c.tc.Err(); err == nil {
				err = syscall.EPIPE
			}
		}
		space := c.tc.Writable() > 0
		wch := c.writeCh
		if n == 0 && err == nil {
			wch = wakeChLocked(&c.writeCh) // it waits below (n < len(p) here)
		}
		c.unlock()
		written += n
		if err != nil {
			signal(wch)
			return written, c.opError("write", err)
		}
		if written == len(p) {
			if space {
				signal(wch)
			}
			return written, nil
		}
		if n > 0 {
			continue
		}
		select {
		case <-wch:
		case <-c.wd.wait():
		}
	}
}

// Close closes the connection: a FIN after the data already written (RFC
// 9293 3.10.4), or a RST if received data was left unread (as Linux does,
// RFC 9293 3.10.4 permits either for "ABORT"-like closes; RFC 2525 2.17).
// Blocked Read and Write calls return net.ErrClosed. The closing handshake
// continues in the background; the Conn is then dropped from the stack.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.unlock()
		return c.closedError("close")
	}
	c.closed = true
	if !c.gone {
		now := c.s.now()
		if c.lingerZero {
			c.tc.Abort(now) // SetLinger(0): discard and reset
		} else {
			c.tc.Close(now)
		}
		c.afterLocked(now)
	}
	rch, wch := c.readCh, c.writeCh
	c.unlock()
	signal(rch) // blocked Read and Write calls find it closed
	signal(wch)
	c.rd.stop()
	c.wd.stop()
	return nil
}

// shutdownByStack is Close from Stack.Close: the connection is closed as by
// Close and then dropped from the stack at once, its timer stopped.
func (c *Conn) shutdownByStack() {
	now := c.s.now()
	c.mu.Lock()
	first := !c.closed
	c.closed = true
	if !c.gone {
		if first {
			c.tc.Close(now)
		}
		c.pend = 0
		c.leaveLocked(now, nil)
	}
	c.stopTimerLocked()
	rch, wch := c.readCh, c.writeCh
	c.unlock()
	if first {
		signal(rch) // as Close
		signal(wch)
	}
	c.rd.stop()
	c.wd.stop()
}

// abort resets the connection (RST) without closing the user's handle:
// used for connections that never reached the user.
func (c *Conn) abort() {
	c.mu.Lock()
	if !c.gone {
		now := c.s.now()
		c.tc.Abort(now)
		c.afterLocked(now)
	}
	c.unlock()
}

// CloseWrite shuts down the sending side (half-close): a FIN follows the
// data already written, and the connection can still Read until the peer's
// FIN. Write then fails.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	defer c.unlock()
	if c.closed {
		return c.closedError("close")
	}
	if c.gone {
		return nil
	}
	now := c.s.now()
	err := c.tc.CloseWrite(now)
	c.afterLocked(now)
	return c.opError("close", err)
}

// CloseRead shuts down the reading side: Read returns io.EOF from now on
// and data that arrives later is acknowledged and discarded.
func (c *Conn) CloseRead() error {
	c.mu.Lock()
	if c.closed {
		c.unlock()
		return c.closedError("close")
	}
	c.rdClosed = true
	if !c.gone {
		c.discardLocked(c.s.now())
	}
	rch := c.readCh
	c.unlock()
	signal(rch)
	return nil
}

// LocalAddr returns the local address, a *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return c.laddr() }

// RemoteAddr returns the remote address, a *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr() }

// tuple returns the connection's addresses and ports: the engine's, which
// never change (tcp.NewConn), so they are read without mu; the Conn keeps
// no copy (64 bytes of heap per idle Conn, TestManyConns).
func (c *Conn) tuple() tcp.Tuple { return c.tc.Tuple() }

// laddr and raddr make the addresses from the tuple when asked, rather
// than keep two *net.TCPAddr (128 bytes of heap) in every idle Conn
// (TestManyConns): only errors, LocalAddr/RemoteAddr and Info need them.
func (c *Conn) laddr() *net.TCPAddr {
	t := c.tuple()
	return &net.TCPAddr{IP: t.LocalAddr.AsSlice(), Port: int(t.LocalPort)}
}

func (c *Conn) raddr() *net.TCPAddr {
	t := c.tuple()
	return &net.TCPAddr{IP: t.RemoteAddr.AsSlice(), Port: int(t.RemotePort)}
}

// SetDeadline sets the read and write deadlines (see net.Conn). The time is
// read on the stack's Clock.
// After Close the deadline setters return net.ErrClosed.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the deadline for Read calls, pending ones included.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for Write calls, pending ones
// included. A Write that times out may have queued part of its data.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	c.wd.set(t)
	return nil
}

// Info returns a snapshot of the connection's engine state and counters.
func (c *Conn) Info() ConnInfo {
	c.mu.Lock()
	in, held := c.tc.Info(), c.hasHeld
	c.unlock()
	return ConnInfo{Info: in, LocalAddr: c.laddr(), RemoteAddr: c.raddr(), AckHeld: held}
}
