// Package ui records what a stack's TCP connections do (every segment in
// and out, every state change, and periodic samples of their congestion
// and RTT state) and serves it over HTTP: a JSON API and a web page
// (embedded, no network fetches) that draws each connection's ladder
// diagram, state timeline and plots.
//
// A Recorder is fed from four places, all optional:
//   - Recorder.Link wraps the stack's link and records every TCP segment
//     that crosses it (a super-segment of an offloading link is one
//     record, shown as the wire
//     segments it stands for, as --pcap records it);
//   - Recorder.Trace is a stack.Options.Trace hook: state transitions;
//   - Recorder.ConnGone is a stack.Options.ConnGone hook: the final
//     figures of each connection (a curl lives a few milliseconds, less
//     than a sampling period);
//   - Recorder.Attach samples the stack's connections (Stack.Conns) and
//     TIME-WAIT records (Stack.TimeWaits) at a bounded rate (10 Hz).
//
// Wired together (tunstack serve --ui does this):
//
//	rec := ui.NewRecorder(ui.Config{})
//	s, _ := stack.New(rec.Link(dev), stack.Options{Trace: rec.Trace, ConnGone: rec.ConnGone, ...})
//	rec.Attach(s)
//	go http.ListenAndServe("127.0.0.1:8080", rec.Handler())
//
// Nothing is wrapped, hooked or started unless the program asks for it: a
// stack without a Recorder pays nothing.
//
// # Memory bound
//
// Per connection the Recorder keeps a ring of at most Config.MaxEvents
// events (40 bytes each; default 4096: 160 KiB; a super-segment is one
// event, and api/conn/{id} shows at most the newest MaxEvents wire
// segments) and a ring of at most
// Config.MaxSamples samples (48 bytes each; default 3600, six minutes at
// 10 Hz: 169 KiB); both grow on demand, so a short connection (a curl)
// takes a few KiB. It keeps at most Config.MaxConns live connections
// (default 256; further connections are not recorded while the table is
// full, and counted) and Config.MaxClosed closed ones (default 128; the
// oldest closed is evicted first). With the defaults the worst case is
// (256+128) x (160+169) KiB, about 124 MiB, reached only when 384
// connections each have more than 4096 segments and six minutes of
// changing samples (a WireTap adds at most 4096 pending segments of 96
// bytes, 384 KiB); the payload of segments is never kept (the pcap export
// has headers only).
package ui

import (
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
)

// Config bounds a Recorder. Zero fields take the defaults.
type Config struct {
	MaxEvents  int // segment and state events kept per connection, and wire segments shown (default 4096)
	MaxConns   int // live connections recorded (default 256)
	MaxClosed  int // closed connections kept (default 128), oldest evicted first
	MaxSamples int // plot samples kept per connection (default 3600)
	// SampleInterval is the period of Attach's sampling (default 100 ms).
	SampleInterval time.Duration
	// EventsInterval is the shortest period between two updates of
	// /api/events (default 250 ms).
	EventsInterval time.Duration
	// Now is the recorder's clock (default time.Now); tests set it.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultMaxEvents      = 4096
	DefaultMaxConns       = 256
	DefaultMaxClosed      = 128
	DefaultMaxSamples     = 3600
	DefaultSampleInterval = 100 * time.Millisecond
	DefaultEventsInterval = 250 * time.Millisecond
)

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxEvents, DefaultMaxEvents)
	def(&c.MaxConns, DefaultMaxConns)
	def(&c.MaxClosed, DefaultMaxClosed)
	def(&c.MaxSamples, DefaultMaxSamples)
	if c.SampleInterval <= 0 {
		c.SampleInterval = DefaultSampleInterval
	}
	if c.EventsInterval <= 0 {
		c.EventsInterval = DefaultEventsInterval
	}
}

// Recorder records connections. Its methods are safe for concurrent use.
//
// Locking: mu guards the tables (which connection a tuple is, the closed
// list); each connRec has its own lock for its rings. The data path takes
// mu for one map lookup and the connection's lock for one ring write, never
// both at once; mu is taken before a connRec's lock when both are needed.
type Recorder struct {
	cfg   Config
	start time.Time // the origin of the events' clock (monotonic)

	mu        sync.Mutex
	live      map[tcp.Tuple]*connRec // connections not closed, TIME-WAIT included
	byID      map[uint64]*connRec    // live and closed
	closed    []*connRec             // closed, oldest first, at most MaxClosed
	nextID    uint64
	untracked uint64 // connections not recorded because live was full

	version atomic.Uint64 // bumped on every change, for /api/events

	// The connection of the last segment recorded in each direction: a
	// bulk transfer finds its record here without taking mu.
	lastIn, lastOut atomic.Pointer[connRec]

	wire   wireState   // WireTap's
	wireOn atomic.Bool // WireTap was called

	stopOnce sync.Once
	stop     chan struct{}
	wg       sync.WaitGroup
}

// NewRecorder returns an empty Recorder bounded by cfg.
func NewRecorder(cfg Config) *Recorder {
	cfg.setDefaults()
	return &Recorder{
		cfg:   cfg,
		start: now(cfg.Now),
		live:  make(map[tcp.Tuple]*connRec),
		byID:  make(map[uint64]*connRec),
		stop:  make(chan struct{}),
	}
}

// Close stops Attach's sampling and ends the /api/events streams. The
// recorded data stays readable.
func (r *Recorder) Close() error {
	r.stopOnce.Do(func() { close(r.stop) })
	r.wg.Wait()
	return nil
}

// Untracked returns how many connections were not recorded because
// Config.MaxConns live connections were being recorded already.
func (r *Recorder) Untracked() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.untracked
}

// clock returns nanoseconds since the recorder started.
// With the default clock it is time.Since, which reads only the monotonic
// clock: half the cost of time.Now on the data path.
func (r *Recorder) clock() int64 {
	if r.cfg.Now == nil {
		return int64(time.Since(r.start))
	}
	return int64(r.cfg.Now().Sub(r.start))
}

func now(f func() time.Time) time.Time {
	if f == nil {
		return time.Now()
	}
	return f()
}

// wall turns a recorder clock reading back into a time.
func (r *Recorder) wall(at int64) time.Time { return r.start.Add(time.Duration(at)) }

// connRec is one recorded connection.
type connRec struct {
	id      uint64
	key     tcp.Tuple
	idText  string
	startAt int64 // recorder clock at its first event: the origin of its "t"

	mu         sync.Mutex
	events     ring[event]
	samples    ring[sample]
	state      tcp.State
	stateKnown bool // a transition or a sample said the state
	traced     bool // a transition did: samples leave the state alone
	closed     bool
	lastAt     int64  // recorder clock at the last event
	sndMax     uint32 // highest sequence number sent plus one (SND.MAX)
	sentAny    bool
	info       rowInfo // the last sample
	hasInfo    bool
	twLeft     time.Duration // TIME-WAIT left at twAt (Attach)
	twAt       int64
	hasTW      bool
	seenGen    uint64 // the sampling round that last saw it in the stack

	gone     atomic.Bool // closed: no longer the record of its tuple
	unsorted bool        // events were added out of time order (WireTap's drops)
}

func connID(id uint64) string { return "c" + strconv.FormatUint(id, 10) }

// lookup returns the connection of k, creating it if there is room. A SYN
// without ACK from the peer (in) on a connection that is in TIME-WAIT
// starts a new one (the stack reopens, RFC 9293 3.10.7.4).
func (r *Recorder) lookup(k tcp.Tuple, synIn bool, at int64) *connRec {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.live[k]
	if c != nil && synIn {
		c.mu.Lock()
		reopen := c.stateKnown && c.state == tcp.StateTimeWait
		c.mu.Unlock()
		if reopen {
			r.closeLocked(c)
			c = nil
		}
	}
	if c == nil {
		c = r.createLocked(k, at, true)
	}
	return c
}

// recordOf returns the record of tuple k, live or, failing that, the most
// recently closed one; nil if there is none. It never creates one.
func (r *Recorder) recordOf(k tcp.Tuple) *connRec {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.live[k]; c != nil {
		return c
	}
	for i := len(r.closed) - 1; i >= 0; i-- {
		if c := r.closed[i]; c.key == k {
			return c
		}
	}
	return nil
}

// createLocked adds a live connection, or returns nil when MaxConns are
// live already (counted as untracked when count is set).
func (r *Recorder) createLocked(k tcp.Tuple, at int64, count bool) *connRec {
	if len(r.live) >= r.cfg.MaxConns {
		if count {
			r.untracked++
		}
		return nil
	}
	r.nextID++
	c := &connRec{id: r.nextID, key: k, idText: connID(r.nextID), startAt: at, lastAt: at}
	c.events.max = r.cfg.MaxEvents
	c.samples.max = r.cfg.MaxSamples
	r.live[k] = c
	r.byID[c.id] = c
	r.version.Add(1)
	return c
}

// closeLocked moves c from the live table to the closed list, evicting the
// oldest closed connection beyond MaxClosed.
func (r *Recorder) closeLocked(c *connRec) {
	if r.live[c.key] != c {
		return
	}
	delete(r.live, c.key)
	c.gone.Store(true)
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	r.closed = append(r.closed, c)
	if n := len(r.closed) - r.cfg.MaxClosed; n > 0 {
		for _, old := range r.closed[:n] {
			delete(r.byID, old.id)
		}
		r.closed = append(r.closed[:0], r.closed[n:]...)
	}
	r.version.Add(1)
}

// conn returns the connection with the given id ("c17"), live or closed.
func (r *Recorder) conn(id string) *connRec {
	if len(id) < 2 || id[0] != 'c' {
		return nil
	}
	n, err := strconv.ParseUint(id[1:], 10, 64)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[n]
}

// conns returns every recorded connection, by id.
func (r *Recorder) conns() []*connRec {
	r.mu.Lock()
	out := make([]*connRec, 0, len(r.byID))
	for _, c := range r.closed {
		out = append(out, c)
	}
	for _, c := range r.live {
		out = append(out, c)
	}
	r.mu.Unlock()
	sortByID(out)
	return out
}

func sortByID(cs []*connRec) {
	// Insertion sort: the closed ones come first and in order already.
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && cs[j].id < cs[j-1].id; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

// Trace records a state transition: pass it as stack.Options.Trace, or
// call it from the program's own hook. A transition to CLOSED closes the
// connection's record.
func (r *Recorder) Trace(tr tcp.Transition) {
	at := r.clock()
	if tr.To == tcp.StateClosed {
		// The end of a record that is gone already (evicted, or closed
		// when the stack dropped it without a transition) starts none.
		r.mu.Lock()
		_, ok := r.live[tr.Tuple]
		r.mu.Unlock()
		if !ok {
			return
		}
	}
	c := r.lookup(tr.Tuple, false, at)
	if c == nil {
		return
	}
	e := event{at: at, kind: kindState, from: uint8(tr.From), to: uint8(tr.To)}
	if s := tr.Seg; s != nil {
		e.bits |= bitCause
		if s.Src == tr.Tuple.RemoteAddr && s.SrcPort == tr.Tuple.RemotePort {
			e.bits |= bitCauseIn
		}
		e.flags, e.seq, e.ack = s.Flags, uint32(s.Seq), uint32(s.Ack)
	}
	c.mu.Lock()
	c.events.push(e)
	c.state, c.stateKnown, c.traced, c.lastAt = tr.To, true, true, at
	c.mu.Unlock()
	r.version.Add(1)
	if tr.To == tcp.StateClosed {
		r.mu.Lock()
		r.closeLocked(c)
		r.mu.Unlock()
	}
}

// addrPort formats one end of a tuple as host:port (IPv6 in brackets).
func addrPort(a netip.Addr, p uint16) string { return netip.AddrPortFrom(a, p).String() }
