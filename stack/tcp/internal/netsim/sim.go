package netsim

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// Options describes one simulated bulk transfer: engine A connects to
// engine B and sends Bytes bytes, which B's application reads and checks.
type Options struct {
	AB, BA Path        // the path from A to B (data) and back (ACKs)
	Config *tcp.Config // both engines' configuration; nil: tcp.DefaultConfig()
	Bytes  int64       // the stream A sends
	// Limit stops the run at this much simulated time after the Connect,
	// done or not (goodput is then over what was delivered); 0: one hour.
	Limit time.Duration
	// Close, after the transfer, closes both sides (A half-closes when it
	// has written everything, B closes on EOF, A then closes) and runs
	// until both are CLOSED with no timer left, TIME-WAIT included.
	Close bool
	// Seed selects the stream's content and the initial sequence numbers.
	Seed uint64
	// Trace, for debugging, is called every TraceEvery of simulated time
	// (0: never) with the time since the Connect, A's counters and the
	// A->B link's.
	Trace      func(t time.Duration, sender tcp.Info, ab LinkStats)
	TraceEvery time.Duration
}

// Result is what a run measured.
type Result struct {
	// Delivered is the number of bytes B's application read, each checked
	// against the stream A wrote.
	Delivered int64
	// Done: all Bytes delivered and EOF seen (and, with Options.Close,
	// both sides CLOSED cleanly with no timer left).
	Done bool
	// Handshake is the time from Connect until A reached ESTABLISHED.
	Handshake time.Duration
	// Elapsed is the time from Connect until B read the last byte, or
	// until the limit if the transfer did not finish.
	Elapsed time.Duration
	// End is the simulated time at which the run stopped.
	End time.Duration
	// Sender and Receiver are A's and B's counters at the end.
	Sender, Receiver tcp.Info
	AB, BA           LinkStats
	// Err is why the run failed: a connection error, bytes that differ
	// from the stream, or no progress possible.
	Err error
}

// Goodput returns the application-level throughput in bits per second:
// Delivered over Elapsed.
func (r *Result) Goodput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Delivered) * 8 / r.Elapsed.Seconds()
}

// epoch is the simulated clock's start: fixed, so runs are reproducible.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	addrA = netip.MustParseAddr("198.18.0.1")
	addrB = netip.MustParseAddr("198.18.0.2")
)

// maxEvents bounds the iterations of a run's event loop (a livelock guard
// far above what any bounded transfer needs).
const maxEvents = 200_000_000

// endpoint is one engine and its application.
type endpoint struct {
	sim             *sim
	c               *tcp.Conn
	out             *Link // the link this engine sends on
	passive, opened bool  // B waits for a SYN (AcceptSYN)
	iss             segment.Seq
	send, recv      *stream
	wOff, rOff      int64
	wroteFIN        bool
	sawEOF          bool
	closed          bool
	lastRead        time.Time
}

func (e *endpoint) Output(seg *segment.Segment) { e.out.Send(e.sim.now, seg) }

func (e *endpoint) Notify(tcp.Event) {}

type sim struct {
	o      Options
	now    time.Time
	ab, ba *Link
	a, b   *endpoint
	rbuf   []byte
	res    Result
}

// Run simulates the transfer o describes and returns what it measured.
func Run(o Options) Result {
	cfg := o.Config
	if cfg == nil {
		d := tcp.DefaultConfig()
		cfg = &d
	}
	if o.Limit <= 0 {
		o.Limit = time.Hour
	}
	s := &sim{o: o, now: epoch, ab: NewLink(o.AB), ba: NewLink(o.BA), rbuf: make([]byte, 64<<10)}
	s.a = &endpoint{sim: s, out: s.ab, iss: segment.Seq(0xfff00000 + uint32(o.Seed)),
		send: newStream(o.Seed, o.Bytes), recv: newStream(0, 0)}
	s.b = &endpoint{sim: s, out: s.ba, passive: true, iss: segment.Seq(0x7ff00000 + uint32(o.Seed)),
		send: newStream(0, 0), recv: newStream(o.Seed, o.Bytes)}
	s.a.c = tcp.NewConn(cfg, tcp.Tuple{LocalAddr: addrA, LocalPort: 40000, RemoteAddr: addrB, RemotePort: 80}, s.a)
	s.b.c = tcp.NewConn(cfg, tcp.Tuple{LocalAddr: addrB, LocalPort: 80, RemoteAddr: addrA, RemotePort: 40000}, s.b)
	s.run()
	s.res.End = s.now.Sub(epoch)
	s.res.Sender, s.res.Receiver = s.a.c.Info(), s.b.c.Info()
	s.res.AB, s.res.BA = s.ab.Stats(), s.ba.Stats()
	s.res.Delivered = s.b.rOff
	if s.res.Elapsed == 0 {
		s.res.Elapsed = s.now.Sub(epoch)
	}
	return s.res
}

func (s *sim) run() {
	s.a.c.Connect(s.now, s.a.iss)
	limit := epoch.Add(s.o.Limit)
	nextTrace := epoch
	for ev := 0; ev < maxEvents; ev++ {
		if err := s.settle(); err != nil {
			s.res.Err = err
			return
		}
		for s.o.Trace != nil && s.o.TraceEvery > 0 && !s.now.Before(nextTrace) {
			s.o.Trace(s.now.Sub(epoch), s.a.c.Info(), s.ab.Stats())
			nextTrace = nextTrace.Add(s.o.TraceEvery)
		}
		if s.finished() {
			s.res.Done = true
			return
		}
		next, ok := s.next()
		if !ok {
			s.res.Err = errors.New("no packet in flight and no timer armed, but not finished")
			return
		}
		if next.After(limit) {
			s.now = limit
			return
		}
		s.now = next
	}
	s.res.Err = fmt.Errorf("event limit %d reached", maxEvents)
}

// settle runs everything due at s.now (packets, timers, the applications)
// until nothing more is.
func (s *sim) settle() error {
	for {
		s.ab.Deliver(s.now, s.b.input)
		s.ba.Deliver(s.now, s.a.input)
		for _, e := range [2]*endpoint{s.a, s.b} {
			if dl := e.c.Deadline(); !dl.IsZero() && !dl.After(s.now) {
				e.c.HandleTimer(s.now)
			}
		}
		// Before the application runs: it may move A on from
		// ESTABLISHED at once (a short stream half-closed).
		if st := s.a.c.State(); s.res.Handshake == 0 && st != tcp.StateClosed && st != tcp.StateSynSent {
			s.res.Handshake = s.now.Sub(epoch)
		}
		for _, e := range [2]*endpoint{s.a, s.b} {
			if err := e.app(); err != nil {
				return err
			}
			if e.c.State() == tcp.StateClosed && e.c.Err() != nil {
				return fmt.Errorf("%s: connection failed: %w", e.name(), e.c.Err())
			}
		}
		if next, ok := s.next(); !ok || next.After(s.now) {
			return nil
		}
	}
}

// next returns the time of the earliest pending event: a packet's arrival
// or an engine's timer.
func (s *sim) next() (time.Time, bool) {
	var t time.Time
	ok := false
	take := func(c time.Time) {
		if !ok || c.Before(t) {
			t, ok = c, true
		}
	}
	for _, l := range [2]*Link{s.ab, s.ba} {
		if c, has := l.Next(); has {
			take(c)
		}
	}
	for _, e := range [2]*endpoint{s.a, s.b} {
		if dl := e.c.Deadline(); !dl.IsZero() {
			take(dl)
		}
	}
	return t, ok
}

func (s *sim) finished() bool {
	if !s.b.sawEOF {
		return false
	}
	if !s.o.Close {
		return true
	}
	for _, e := range [2]*endpoint{s.a, s.b} {
		if !e.closed || e.c.State() != tcp.StateClosed || !e.c.Deadline().IsZero() {
			return false
		}
	}
	return true
}

func (e *endpoint) name() string {
	if e == e.sim.a {
		return "A"
	}
	return "B"
}

// input hands one arriving segment to the engine; the first SYN to the
// passive side opens it (AcceptSYN, as a listener would).
func (e *endpoint) input(seg *segment.Segment) {
	now := e.sim.now
	if e.passive && !e.opened {
		if seg.Flags&(segment.FlagSYN|segment.FlagACK|segment.FlagRST) == segment.FlagSYN {
			e.opened = true
			e.c.AcceptSYN(now, e.iss, seg)
		}
		return
	}
	e.c.HandleSegment(now, seg)
}

// app runs e's application: write what fits, half-close after the last
// byte, read and check everything readable, and with Options.Close close
// on EOF.
func (e *endpoint) app() error {
	now := e.sim.now
	switch e.c.State() {
	case tcp.StateClosed, tcp.StateListen, tcp.StateSynSent, tcp.StateSynReceived:
		return nil
	}
	for e.wOff < e.send.n {
		n, err := e.c.Write(now, e.send.at(e.wOff))
		if err != nil {
			return fmt.Errorf("%s: Write at %d: %w", e.name(), e.wOff, err)
		}
		if n == 0 {
			break
		}
		e.wOff += int64(n)
	}
	if e.wOff == e.send.n && e.send.n > 0 && !e.wroteFIN {
		e.wroteFIN = true
		if err := e.c.CloseWrite(now); err != nil {
			return fmt.Errorf("%s: CloseWrite: %w", e.name(), err)
		}
	}
	for !e.sawEOF {
		n, err := e.c.Read(now, e.sim.rbuf)
		if n > 0 {
			if !e.recv.matches(e.rOff, e.sim.rbuf[:n]) {
				return fmt.Errorf("%s: bytes %d..%d read differ from the stream sent", e.name(), e.rOff, e.rOff+int64(n))
			}
			e.rOff += int64(n)
			e.lastRead = now
		}
		if err == io.EOF {
			if e.rOff != e.recv.n {
				return fmt.Errorf("%s: EOF after %d of %d bytes", e.name(), e.rOff, e.recv.n)
			}
			e.sawEOF = true
			if e == e.sim.b {
				last := e.lastRead
				if last.IsZero() { // an empty stream
					last = now
				}
				e.sim.res.Elapsed = last.Sub(epoch)
			}
			break
		}
		if err != nil {
			return fmt.Errorf("%s: Read: %w", e.name(), err)
		}
		if n == 0 {
			break
		}
	}
	if e.sawEOF && e.sim.o.Close && !e.closed {
		e.closed = true
		if err := e.c.Close(now); err != nil {
			return fmt.Errorf("%s: Close: %w", e.name(), err)
		}
	}
	return nil
}
