package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/ipfrag"
	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/timers"
)

// Stack is a userspace TCP/IP stack (IPv4 and IPv6) running on one Link. Create it with
// New; all its methods are safe for concurrent use.
//
// Lock order (see the package documentation): Conn.mu, then Stack.mu. The
// input goroutine never holds Stack.mu while it calls into a connection.
type Stack struct {
	link  Link
	opts  Options
	addr4 netip.Addr // the stack's IPv4 address, or the zero Addr
	addr6 netip.Addr // its IPv6 address, or the zero Addr
	clock timers.Clock
	cfg   tcp.Config // shared, read-only engine configuration, IPv4 connections
	cfg6  tcp.Config // the same for IPv6 connections (MSS, GSO sizes)
	isn   *tcp.ISNGenerator
	// flowKey keys the IPv6 flow labels (RFC 6437 3) and the first
	// fragment identification.
	flowKey [16]byte
	jar     *cookieJar
	ctr     counters
	fwd     forwarder  // transparent TCP: pending requests (forwarder.go)
	mem     memTrimmer // frees buffer memory after load (memory.go)

	// bufs holds output buffers (MTU + header slack) for connections'
	// segments, gsoBufs larger ones for the segments a GSO link cuts:
	// taken when a segment is built and returned once it is written
	// (output.go), so an idle connection holds none and a busy one
	// allocates nothing.
	bufs    sync.Pool
	gsoBufs sync.Pool
	bufSize int

	// With an OffloadLink: ol is the link; csumOff says it computes TCP
	// checksums (and so takes every data segment through WriteGSO, headers
	// and payload apart, without a copy); gsoMax > 0 is the largest packet
	// it segments for us.
	ol      OffloadLink
	csumOff bool
	gsoMax  int
	// off6 says the link also offloads IPv6 (IPv6OffloadLink): IPv6
	// segments go through WriteGSO as IPv4 ones do. Without it they are
	// built whole, checksum included, and written with Write.
	off6 bool

	// mu is the demux lock. It guards the tables below; it is the innermost
	// lock (taken while a Conn.mu is held, never the other way round).
	mu        sync.Mutex
	conns     map[tcp.Tuple]*Conn
	listeners map[listenKey]*Listener
	// nListeners counts the open listeners (a dual-stack one has two
	// entries in the table).
	nListeners int
	tw         timeWaitTable
	ports      portPicker // ephemeral ports for Dial (RFC 6056 3.3.4)
	closed     bool
	draining   chan struct{} // closed when conns empties during Shutdown; nil otherwise

	// udp holds the UDP sockets, the transparent-mode handler and the UDP
	// counters (udp.go).
	udp udpState

	// loop delivers packets addressed to ourselves to our own input
	// (loopback.go).
	loop loopback
	// inMu is held by whichever goroutine processes input: the input
	// goroutine for each packet from the link, the loopback goroutine for
	// looped ones. inLoop says the packet being processed was looped.
	inMu   sync.Mutex
	inLoop bool

	// Owned by the goroutine holding inMu.
	inSeg   segment.Segment
	inChain segment.IPv6Chain // the IPv6 packet's extension headers (input6)
	frag    fragState         // IP reassembly and ICMP errors (frag.go)

	// fragStats is the reassembler's counters as of its last call, for
	// Stats (publishFragStats).
	fragStatsMu sync.Mutex
	fragStats   ipfrag.Stats
	rawSink     rawSink
	twReply     heldSegment // a TIME-WAIT record's answer, written after s.mu is released
	// ackq lists connections holding back a pure ACK during a burst of
	// input (see connSink.Output); burst counts packets since the last
	// flush; flushFn is flushAcks bound once (no allocation per read).
	ackq    []*Conn
	burst   int
	flushFn func()

	done     chan struct{} // closed by Close
	linkDone chan struct{} // closed when the input goroutine stops reading the link
	// flushers counts goroutines writing a connection's queued output
	// (output.go); once closing is set, the last one to finish signals
	// flushed, for Close (waitFlushers).
	flushers   atomic.Int32
	gate       pollGateState // pollGate's history (input goroutine only)
	closing    atomic.Bool
	flushed    chan struct{}
	handq      chan handOff  // batches the input goroutine hands to the writer (output.go)
	writerDone chan struct{} // closed when the writer has exited
	linkErr    error         // why it stopped, if not because of Close; set (with mu) before linkDone closes
	closeOnce  sync.Once
	closeErr   error
	wg         sync.WaitGroup // the input goroutine
}

// New starts a stack on link with the given options: one goroutine reads
// packets from link until Close, or until the link fails (see Done).
// Options.Addr is required.
func New(link Link, opts Options) (*Stack, error) {
	o, err := opts.withDefaults(link)
	if err != nil {
		return nil, err
	}
	var secret [64]byte
	if _, err := io.ReadFull(o.Rand, secret[:]); err != nil {
		return nil, err
	}
	s := &Stack{
		link:       link,
		opts:       o,
		clock:      o.Clock,
		conns:      make(map[tcp.Tuple]*Conn),
		listeners:  make(map[listenKey]*Listener),
		done:       make(chan struct{}),
		linkDone:   make(chan struct{}),
		flushed:    make(chan struct{}, 1),
		handq:      make(chan handOff, handOffQueue),
		writerDone: make(chan struct{}),
	}
	for _, a := range o.Addrs {
		if a.Is4() {
			s.addr4 = a
		} else {
			s.addr6 = a
		}
	}
	s.cfg = engineConfig(&o, segment.IPv4MinHeaderLen)
	s.cfg6 = engineConfig(&o, segment.IPv6HeaderLen)
	if ol, ok := link.(OffloadLink); ok {
		s.ol = ol
		g := ol.GSOMaxSize()
		s.csumOff = g > 0
		if o6, ok := link.(IPv6OffloadLink); ok && s.csumOff {
			s.off6 = o6.GSOIPv6()
		}
		if g > o.MTU && !o.NoGSO {
			s.gsoMax = min(g, segment.IPv4MaxTotalLen)
			// Payload of one segment handed to the link: the packet
			// minus the largest IP and TCP headers we build.
			s.cfg.GSOMaxSize = s.gsoMax - segment.IPv4MinHeaderLen - segment.TCPMinHeaderLen - segment.TCPMaxOptionsLen
			if s.off6 {
				s.cfg6.GSOMaxSize = s.gsoMax - segment.IPv6HeaderLen - segment.TCPMinHeaderLen - segment.TCPMaxOptionsLen
			}
			if o.SendBufferSize <= 0 {
				// Segments of 64 KiB need a deeper queue than the
				// engine's 256 KiB default to keep several in flight
				// while the application refills it (measured: download
				// 18 -> 27 Gbit/s). Memory is still taken lazily, only
				// while data is queued.
				s.cfg.SendBufferSize = GSOSendBufferSize
				s.cfg6.SendBufferSize = GSOSendBufferSize
			}
		}
	}
	s.flushFn = s.flushAcksIdle
	if g, ok := link.(PollGater); ok {
		g.SetPollGate(s.pollGate)
	}
	var isnKey, cookieKey [16]byte
	copy(isnKey[:], secret[:16])
	copy(cookieKey[:], secret[16:])
	s.isn = tcp.NewISNGenerator(isnKey)
	s.cfg.TSOffsets = s.isn // RFC 7323 5.4: the timestamp clock's per-connection offset
	s.cfg6.TSOffsets = s.isn
	s.jar = newCookieJar(cookieKey, o.Clock.Now())
	copy(s.ports.key[:], secret[32:48])
	copy(s.flowKey[:], secret[48:])
	s.tw.init(s, o.MaxTimeWait, 2*o.MSL)
	// Room for the largest packet we build: MTU, plus slack should a
	// segment carry more option bytes than MSS accounting assumed.
	s.bufSize = o.MTU + segment.TCPMaxOptionsLen
	s.bufs.New = func() any { b := make([]byte, s.bufSize); return &b }
	// A GSO packet: up to gsoMax bytes (the engine's GSOMaxSize leaves
	// room for the largest headers), plus the same slack.
	s.gsoBufs.New = func() any { b := make([]byte, max(s.gsoMax, o.MTU)+segment.TCPMaxOptionsLen+1); return &b }
	s.rawSink = rawSink{s: s, buf: make([]byte, s.bufSize)}
	s.mem.start(s)
	s.wg.Add(1)
	go s.inputLoop()
	go s.writeLoop()
	return s, nil
}

// engineConfig maps Options onto the engine's Config for connections
// whose IP header is ipHeader bytes long (20: IPv4, 40: IPv6).
func engineConfig(o *Options, ipHeader int) tcp.Config {
	c := tcp.DefaultConfig()
	// RFC 9293 3.7.1 (IPv4), RFC 8200 8.3 (IPv6): the MSS is the MTU less
	// the fixed IP and TCP headers.
	mss := o.MTU - ipHeader - segment.TCPMinHeaderLen
	if mss < 64 {
		mss = 64
	}
	c.MSS = uint16(mss)
	c.IPHeaderLen = ipHeader
	// A size set in Options is a maximum: it also caps the engine's
	// auto-tuning of that buffer.
	if o.SendBufferSize > 0 {
		c.SendBufferSize, c.SendBufferMax = o.SendBufferSize, o.SendBufferSize
	}
	if o.ReceiveBufferSize > 0 {
		c.RecvBufferSize, c.RecvBufferMax = o.ReceiveBufferSize, o.ReceiveBufferSize
	}
	c.MSL = o.MSL
	if o.MinRTO > 0 {
		c.RTO.Min = o.MinRTO
	}
	if o.MaxRTO > 0 {
		c.RTO.Max = o.MaxRTO
	}
	c.UserTimeout = o.UserTimeout
	c.Nagle = o.Nagle
	if o.KeepaliveCount > 0 {
		c.Keepalive = true
		c.KeepaliveCount = o.KeepaliveCount
		if o.KeepaliveIdle > 0 {
			c.KeepaliveIdle = o.KeepaliveIdle
		}
		if o.KeepaliveInterval > 0 {
			c.KeepaliveInterval = o.KeepaliveInterval
		}
	}
	c.Trace = o.Trace
	c.CongestionControl = o.CongestionControl
	return c
}

// Addr returns the stack's IPv4 address, or its IPv6 address if it has no
// IPv4 one.
func (s *Stack) Addr() netip.Addr { return s.opts.Addr }

// Addrs returns the stack's addresses: its IPv4 address first, if any, then
// its IPv6 address, if any.
func (s *Stack) Addrs() []netip.Addr { return append([]netip.Addr(nil), s.opts.Addrs...) }

// ours reports whether a is one of the stack's addresses.
func (s *Stack) ours(a netip.Addr) bool {
	return a.IsValid() && (a == s.addr4 || a == s.addr6)
}

// addrFor returns the stack's address of remote's family, or false if it
// has none (source address selection, RFC 6724, is trivial with one
// address per family).
func (s *Stack) addrFor(remote netip.Addr) (netip.Addr, bool) {
	if remote.Is4() {
		return s.addr4, s.addr4.IsValid()
	}
	return s.addr6, s.addr6.IsValid()
}

// cfgFor returns the engine configuration for a connection from local.
func (s *Stack) cfgFor(local netip.Addr) *tcp.Config {
	if local.Is4() {
		return &s.cfg
	}
	return &s.cfg6
}

func (s *Stack) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// Done is closed when the stack stops reading its link: after Close, or
// when the link fails underneath it (e.g. the TUN device was deleted), in
// which case Err says why. A program embedding the stack can select on it
// to notice a dead link.
func (s *Stack) Done() <-chan struct{} { return s.linkDone }

// Err returns why the stack stopped reading its link, once Done is closed:
// nil after Close, an error wrapping the link's error otherwise. Before
// Done is closed it returns nil.
func (s *Stack) Err() error {
	select {
	case <-s.linkDone:
		return s.linkErr
	default:
		return nil
	}
}

// Close shuts the stack down at once: listeners stop accepting, every
// connection is closed as by Conn.Close (a FIN, or a RST if it still holds
// unread data or is not yet established), blocked calls return
// net.ErrClosed, timers are stopped, output the connections had already
// queued (such as the ACK of a peer's FIN) is written, waiting at most 1 s
// for a blocked link, then the link is closed and the input
// goroutine has exited when Close returns. The peers' replies to those FINs
// are not waited for; use Shutdown for that. Close is idempotent.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		ls := s.listenersLocked()
		s.mu.Unlock()
		s.fwd.close()
		for _, l := range ls {
			l.Close()
		}
		for _, c := range s.snapshotConns() {
			c.shutdownByStack()
		}
		close(s.done)
		s.stopLoop()
		s.mem.stop()
		s.stopFrag()
		s.waitFlushers()
		s.closeErr = s.link.Close()
		s.wg.Wait()
		// The input and loopback goroutines, the writer's only
		// senders, have stopped.
		close(s.handq)
		<-s.writerDone
		s.mu.Lock()
		s.tw.stop()
		s.mu.Unlock()
	})
	return s.closeErr
}

// Shutdown closes the stack gracefully: it closes every listener, closes
// every connection (FIN after queued data), and waits until all
// connections have finished their closing handshakes (TIME-WAIT records do
// not count) or ctx is done; then it calls Close. The connections are
// closed on their users' behalf: later calls on them return net.ErrClosed.
// It returns ctx.Err() if ctx ended first, else Close's error.
func (s *Stack) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.Close()
	}
	ls := s.listenersLocked()
	if s.draining == nil {
		s.draining = make(chan struct{})
		if len(s.conns) == 0 {
			close(s.draining)
		}
	}
	drained := s.draining
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	for _, c := range s.snapshotConns() {
		c.Close()
	}
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.done:
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// listenersLocked copies the listeners out of their table, to be closed
// after Stack.mu is released (Listener.Close takes it).
func (s *Stack) listenersLocked() []*Listener {
	ls := make([]*Listener, 0, s.nListeners)
	for k, l := range s.listeners {
		if k.fam == fam4 || l.fams == fam6 { // a dual-stack one once
			ls = append(ls, l)
		}
	}
	return ls
}

// --- output ---

// rawSink writes segments that belong to no connection (RSTs for segments
// that reached nothing, SYN-cookie SYN-ACKs, TIME-WAIT ACKs). Owned by the
// input goroutine.
type rawSink struct {
	s   *Stack
	buf []byte
	id  uint16
}

// Output implements tcp.Sink.
func (r *rawSink) Output(seg *segment.Segment) {
	r.id++
	r.s.writeSegment(r.buf, seg, r.id)
}

// Notify implements tcp.Sink; nothing here has an application to notify.
func (r *rawSink) Notify(tcp.Event) {}

// heldSegment is a tcp.Sink that keeps the one segment it is given (a
// TIME-WAIT record's ACK or RST, which carries no payload) so that it can be
// written after the demux lock is released.
type heldSegment struct {
	seg segment.Segment
	ok  bool
}

// Output implements tcp.Sink.
func (h *heldSegment) Output(seg *segment.Segment) {
	h.seg = *seg
	h.seg.Payload = nil // only valid during the call; TIME-WAIT answers carry none
	h.ok = true
}

// Notify implements tcp.Sink; nothing here has an application to notify.
func (h *heldSegment) Notify(tcp.Event) {}

// flush writes the held segment, if any, through out.
func (h *heldSegment) flush(out tcp.Sink) {
	if h.ok {
		h.ok = false
		out.Output(&h.seg)
	}
}

// writeSegment serialises seg into buf and writes it to the link. A
// segment with no connection (a RST, a SYN-ACK with a cookie, a TIME-WAIT
// record's ACK) has the IPv6 flow label of its 4-tuple, as the connection
// would (RFC 6437 3).
func (s *Stack) writeSegment(buf []byte, seg *segment.Segment, id uint16) {
	var n int
	var err error
	if seg.Src.Is4() {
		n, err = segment.BuildIPv4TCP(buf, seg, id, segment.DefaultTTL)
	} else {
		n, err = segment.BuildIPv6TCP(buf, seg, s.flowLabel(seg.Src, seg.SrcPort, seg.Dst, seg.DstPort), segment.DefaultHopLimit)
	}
	if err != nil {
		s.ctr.linkWriteErrors.Add(1)
		return
	}
	s.send(buf[:n], seg.Flags&segment.FlagRST != 0)
}

// --- connection table ---

// insertConn adds c to the demux table. It fails if the tuple is taken or
// the stack is closed.
func (s *Stack) insertConnLocked(c *Conn) bool {
	if s.closed {
		return false
	}
	t := c.tuple()
	if _, ok := s.conns[t]; ok {
		return false
	}
	s.conns[t] = c
	return true
}

// removeConnLocked takes c out of the demux table (on CLOSED or TIME-WAIT).
func (s *Stack) removeConnLocked(c *Conn) {
	if t := c.tuple(); s.conns[t] == c {
		delete(s.conns, t)
		if s.draining != nil && len(s.conns) == 0 {
			select {
			case <-s.draining:
			default:
				close(s.draining)
			}
		}
	}
	if l := c.listener; l != nil && !c.queued {
		l.synq--
		c.listener = nil
	}
}

// --- input ---

// inputLoop is the stack's one input goroutine: it reads each packet into a
// reused buffer and processes it to completion before reading the next;
// during a burst it reads ahead into an arena (readahead.go).
func (s *Stack) inputLoop() {
	defer s.wg.Done()
	defer close(s.linkDone)
	buf := make([]byte, 65536)
	ral, _ := s.ol.(ReadAheadLink)
	ra := readAhead{max: len(buf), mtu: s.link.MTU()}
	var errs, reads, sinceFill int
	ahead := false // the last look for more packets found some
	// held says ACKs were held back when inMu was last released (read
	// here without it: the loopback goroutine flushes what it holds before
	// it lets go, so a stale true costs one empty flush, never an ACK).
	held := false
	for {
		var pkt []byte
		csumOK := false
		fromArena := ra.count > 0
		if fromArena {
			// Working through a burst: keep the device's queue short.
			if sinceFill++; sinceFill >= readAheadEvery {
				sinceFill = 0
				ahead = ra.fill(ral, &s.ctr) > 0
			}
			pkt, csumOK = ra.front()
		} else {
			var n int
			var err error
			if s.ol != nil {
				// Pure ACKs held back during a burst go out before the read
				// blocks (flushFn), and at least every ackBurst packets.
				idle := s.flushFn
				if !held {
					idle = nil
				}
				n, csumOK, err = s.ol.ReadPacket(buf, idle)
			} else {
				n, err = s.link.Read(buf)
			}
			if err != nil {
				s.flushAcksIdle()
				select {
				case <-s.done:
					return
				default:
				}
				if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) || errors.Is(err, io.EOF) {
					s.linkFailed(fmt.Errorf("stack: link closed under the stack: %w", err))
					return
				}
				// A transient read error (e.g. a short buffer): count, go on,
				// but do not spin on a link that only returns errors.
				errs++
				if errs > 1000 {
					s.linkFailed(fmt.Errorf("stack: giving up on the link after 1000 read errors: %w", err))
					return
				}
				continue
			}
			errs = 0
			pkt = buf[:n]
			if reads++; ral != nil && (ahead || reads%readAheadProbe == 0) {
				sinceFill = 0
				ahead = ra.fill(ral, &s.ctr) > 0
			}
		}
		s.inMu.Lock()
		s.input(pkt, csumOK)
		if s.burst++; s.burst >= ackBurst {
			s.flushAcks()
		}
		held = len(s.ackq) != 0
		s.inMu.Unlock()
		if fromArena {
			ra.pop()
		}
	}
}

// flushAcksIdle is flushAcks for the input goroutine when it is not
// processing a packet (before it blocks in a read).
func (s *Stack) flushAcksIdle() {
	s.inMu.Lock()
	s.flushAcks()
	s.inMu.Unlock()
}

// ackBurst bounds how many packets the input goroutine processes while it
// holds back pure ACKs (see connSink.Output): about one 64 KiB burst of
// full-sized segments, the stretch Linux's GRO produces too.
const ackBurst = 32

// flushAcks sends the pure ACKs held back during a burst of input. Input
// goroutine only.
func (s *Stack) flushAcks() {
	s.burst = 0
	for i, c := range s.ackq {
		c.mu.Lock()
		c.ackQueued = false
		if c.hasHeld {
			c.hasHeld = false
			if !c.gone {
				c.queueHeldLocked()
			}
		}
		c.unlock()
		s.ackq[i] = nil
	}
	s.ackq = s.ackq[:0]
}

// now reads the stack's clock.
func (s *Stack) now() time.Time { return s.clock.Now() }
