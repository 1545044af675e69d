package tun

import "github.com/tunstack/tunstack/timers"

// PipeEnd is one end of an in-memory point-to-point link made by NewPipe.
// It satisfies stack.Link. All methods are safe for concurrent use.
type PipeEnd struct {
	rx  *queue // packets sent by the peer, waiting to be read here
	tx  *line  // the direction this end writes into
	mtu int
}

// NewPipe returns the two ends of an in-memory link carrying packets of up
// to mtu bytes. Packets written to a pass through the faults aToB before
// they can be read from b, and the other way round. clock drives delay,
// jitter, rate and reorder holds: with a timers.Manual clock the pipe is
// fully deterministic. NewPipe panics on a nil clock or mtu <= 0
// (programming errors, never network input).
func NewPipe(clock timers.Clock, mtu int, aToB, bToA FaultConfig) (a, b *PipeEnd) {
	qa := newQueue(mtu, bToA.limit())
	qb := newQueue(mtu, aToB.limit())
	a = &PipeEnd{rx: qa, tx: newLine(clock, mtu, aToB, qb), mtu: mtu}
	b = &PipeEnd{rx: qb, tx: newLine(clock, mtu, bToA, qa), mtu: mtu}
	return a, b
}

// Read blocks until a packet arrives and copies it into p. A packet longer
// than p is truncated and ErrShortBuffer returned. After Close (even with
// packets unread) it returns ErrClosed, which matches net.ErrClosed.
func (e *PipeEnd) Read(p []byte) (int, error) { return e.rx.read(p) }

// TryRead is a non-blocking Read: ok is false if no packet is waiting or
// the end is closed. A packet longer than p is truncated.
func (e *PipeEnd) TryRead(p []byte) (n int, ok bool) { return e.rx.tryRead(p) }

// Write sends a copy of p towards the other end and never blocks. It
// returns ErrTooBig (and drops the packet) if len(p) > MTU, ErrClosed after
// Close. A packet lost to the configured faults is still a successful
// Write, as on a real link.
func (e *PipeEnd) Write(p []byte) (int, error) {
	if err := e.tx.send(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// SetNotify registers f to be called each time a packet becomes readable
// at this end (nil unregisters). f is called with no pipe lock held, on the
// goroutine that wrote the packet or on the clock's timer goroutine
// (inside Advance for a timers.Manual clock); it may call any PipeEnd
// method, and should be quick.
func (e *PipeEnd) SetNotify(f func()) { e.rx.setNotify(f) }

// MTU returns the largest packet the pipe carries.
func (e *PipeEnd) MTU() int { return e.mtu }

// Stats returns the counters of the direction this end writes into.
func (e *PipeEnd) Stats() Stats { return e.tx.getStats() }

// Close closes this end: pending and later Reads return ErrClosed, later
// Writes fail, packets in flight from this end are discarded (counted as
// dropped), and packets the peer sends from now on are dropped. The peer
// end stays open. Close is idempotent and returns nil.
func (e *PipeEnd) Close() error {
	e.tx.close()
	e.rx.close()
	return nil
}
