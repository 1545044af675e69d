package tcp_test

// Two engines talking over the in-memory lossy pipe (tun.NewPipe) on a
// manual clock, driven from one goroutine: segments are serialised with
// segment.BuildIPv4TCP and parsed back with segment.ParseIPv4TCP, exactly as
// the runtime will. For each seed, a random byte stream goes each way and
// must arrive exactly; both sides then close and must reach CLOSED (TIME-WAIT
// expiring on the simulated clock) with no timer left behind.

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

type lossyParams struct {
	seed      int64
	loss      float64
	dup       float64
	reorder   float64
	delay     time.Duration
	jitter    time.Duration
	streamLen int
	rcvBuf    int  // receive buffer of both engines
	autotune  bool // receive-buffer auto-tuning on (else RecvBufferMax -1, the buffers stay at rcvBuf)
	readTick  int  // 0: the application reads at once; else bytes read per 10 ms
	mss       uint16
	nagle     bool
	wscaleA   bool // A offers window scaling (B always does)
	delAck    time.Duration
	chunky    bool          // the application writes in random chunks of 1-3000 bytes
	simOpen   bool          // both sides Connect (simultaneous open, RFC 9293 3.5)
	abort     bool          // A aborts halfway (TestLossyPipeAbort)
	lossBA    float64       // if > 0, the loss B->A (loss is then A->B only)
	pause     time.Duration // if > 0, both applications stop reading for pause out of every 3*pause
}

func (p lossyParams) String() string {
	return fmt.Sprintf("seed=%d loss=%.0f%% dup=%.0f%% reorder=%.0f%% delay=%v jitter=%v stream=%dB each way rcvbuf=%d autotune=%v read/10ms=%d mss=%d nagle=%v wscaleA=%v delack=%v chunky=%v simopen=%v",
		p.seed, p.loss*100, p.dup*100, p.reorder*100, p.delay, p.jitter, p.streamLen, p.rcvBuf, p.autotune, p.readTick,
		p.mss, p.nagle, p.wscaleA, p.delAck, p.chunky, p.simOpen)
}

// paramsFor derives the impairments from the seed, so that a seed alone
// reproduces a run: loss cycles 0, 5, 10, 15, 20 %, reordering 0-10 %,
// duplication 0-5 %, delay 0-20 ms with jitter; receive buffers from 8 KiB
// (windows close often) to 256 KiB (window scaling); in some runs the
// applications read slowly, so zero windows and window updates happen; MSS
// 536-1460, Nagle, window scaling offered by one side only, delayed ACKs
// of 40 or 200 ms or none; receive-buffer auto-tuning in every other run
// of five seeds.
func paramsFor(seed int64, streamLen int) lossyParams {
	r := rand.New(rand.NewSource(seed * 7919))
	bufs := []int{8 << 10, 16 << 10, 64 << 10, 256 << 10}
	ticks := []int{0, 0, 4096, 16384}
	return lossyParams{
		rcvBuf:    bufs[r.Intn(len(bufs))],
		autotune:  seed/5%2 == 1, // not drawn from r: the other parameters of a seed stay as they were
		readTick:  ticks[r.Intn(len(ticks))],
		seed:      seed,
		loss:      float64(seed%5) * 0.05,
		dup:       float64(r.Intn(6)) / 100,
		reorder:   float64(r.Intn(11)) / 100,
		delay:     time.Duration(r.Intn(21)) * time.Millisecond,
		jitter:    time.Duration(r.Intn(3)) * time.Millisecond,
		streamLen: streamLen,
		mss:       []uint16{1460, 1460, 536, 1200}[r.Intn(4)],
		nagle:     r.Intn(4) == 0,
		wscaleA:   r.Intn(4) != 0,
		delAck:    []time.Duration{0, 0, 200 * time.Millisecond, -1}[r.Intn(4)],
		chunky:    r.Intn(2) == 0,
		simOpen:   r.Intn(8) == 0,
	}
}

// pipeEndpoint is one engine, its application and its end of the pipe.
type pipeEndpoint struct {
	name    string
	c       *tcp.Conn
	link    *tun.PipeEnd
	cfg     *tcp.Config
	tuple   tcp.Tuple
	passive bool // waits for a SYN (AcceptSYN)
	opened  bool

	send, recv      []byte // the stream this side sends; what it must receive
	wOff, rOff      int
	wroteFIN        bool
	sawEOF          bool
	closed          bool
	buildBuf        []byte
	ipID            uint16
	outErr          error
	trace           *[]string
	readBuf         []byte
	segsIn, segsOut int
	readBudget      int
	aborted         bool       // the application called Abort
	rng             *rand.Rand // write chunk sizes
	twStart, twEnd  time.Time  // TIME-WAIT entered and left (Config.Trace)
}

func (e *pipeEndpoint) Output(seg *segment.Segment) {
	e.ipID++
	n, err := segment.BuildIPv4TCP(e.buildBuf, seg, e.ipID, 64)
	if err != nil {
		if e.outErr == nil {
			e.outErr = fmt.Errorf("%s: BuildIPv4TCP(%v): %v", e.name, seg, err)
		}
		return
	}
	e.segsOut++
	e.note("out %s", seg)
	if _, err := e.link.Write(e.buildBuf[:n]); err != nil && e.outErr == nil {
		e.outErr = fmt.Errorf("%s: pipe Write: %v", e.name, err)
	}
}

func (e *pipeEndpoint) Notify(tcp.Event) {}

func (e *pipeEndpoint) note(format string, args ...any) {
	l := *e.trace
	if len(l) >= 120 {
		copy(l, l[1:])
		l = l[:len(l)-1]
	}
	*e.trace = append(l, e.name+" "+fmt.Sprintf(format, args...))
}

type lossyRun struct {
	p        lossyParams
	clock    *timers.Manual
	a, b     *pipeEndpoint
	trace    []string
	now      time.Time
	nextTick time.Time // next application read tick (p.readTick > 0)
	wd       [2]watch  // progress watchdog of A and B (lossy_watchdog_test.go)
	probe    func()
}

func newLossyRun(p lossyParams) *lossyRun {
	r := &lossyRun{p: p, clock: timers.NewManual(t0), now: t0, nextTick: t0}
	fc := func(s int64, loss float64) tun.FaultConfig {
		return tun.FaultConfig{Seed: s, Loss: loss, Duplicate: p.dup, Reorder: p.reorder, Delay: p.delay, Jitter: p.jitter}
	}
	lossBA := p.loss
	if p.lossBA > 0 {
		lossBA = p.lossBA
	}
	la, lb := tun.NewPipe(r.clock, 1500, fc(p.seed, p.loss), fc(p.seed^0x5eed, lossBA))
	rng := rand.New(rand.NewSource(p.seed))
	mk := func(name string, link *tun.PipeEnd, t tcp.Tuple, passive bool) *pipeEndpoint {
		cfg := tcp.DefaultConfig()
		cfg.RecvBufferSize = p.rcvBuf
		if !p.autotune {
			cfg.RecvBufferMax = -1 // small windows stay small (zero windows, window updates)
		}
		cfg.SendBufferSize = 64 << 10
		cfg.MSS = p.mss
		cfg.Nagle = p.nagle
		cfg.DelayedAckTimeout = p.delAck
		cfg.WindowScale = name == "B" || p.wscaleA
		e := &pipeEndpoint{name: name, link: link, cfg: &cfg, tuple: t, passive: passive,
			buildBuf: make([]byte, 2048), readBuf: make([]byte, 5000), trace: &r.trace}
		cfg.Trace = func(tr tcp.Transition) {
			if tr.To == tcp.StateTimeWait {
				e.twStart = tr.Time
			}
			if tr.From == tcp.StateTimeWait {
				e.twEnd = tr.Time
			}
		}
		e.send = make([]byte, p.streamLen)
		rng.Read(e.send)
		e.rng = rand.New(rand.NewSource(rng.Int63()))
		e.c = tcp.NewConn(e.cfg, t, e)
		return e
	}
	ta := tcp.Tuple{LocalAddr: remoteAddr, LocalPort: 40000, RemoteAddr: localAddr, RemotePort: 80}
	tb := tcp.Tuple{LocalAddr: localAddr, LocalPort: 80, RemoteAddr: remoteAddr, RemotePort: 40000}
	r.a = mk("A", la, ta, false)
	r.b = mk("B", lb, tb, !p.simOpen)
	r.a.recv, r.b.recv = r.b.send, r.a.send
	return r
}

func (r *lossyRun) fail(format string, args ...any) error {
	var b strings.Builder
	fmt.Fprintf(&b, format, args...)
	fmt.Fprintf(&b, "\n  at simulated %v; A %v (sent %d/%d, got %d/%d) B %v (sent %d/%d, got %d/%d)",
		r.now.Sub(t0), r.a.c.State(), r.a.wOff, len(r.a.send), r.a.rOff, len(r.a.recv),
		r.b.c.State(), r.b.wOff, len(r.b.send), r.b.rOff, len(r.b.recv))
	fmt.Fprintf(&b, "\n  A info %+v\n  B info %+v", r.a.c.Info(), r.b.c.Info())
	b.WriteString("\n  last segments:")
	for _, l := range r.trace {
		b.WriteString("\n    " + l)
	}
	return fmt.Errorf("%s", b.String())
}

// input delivers every packet waiting at e's end of the pipe.
func (r *lossyRun) input(e *pipeEndpoint) error {
	var pkt [2048]byte
	var seg segment.Segment
	for {
		n, ok := e.link.TryRead(pkt[:])
		if !ok {
			return nil
		}
		if err := segment.ParseIPv4TCP(pkt[:n], &seg); err != nil {
			return r.fail("%s: ParseIPv4TCP of our own packet: %v", e.name, err)
		}
		e.segsIn++
		e.note("in  %s", &seg)
		if e.aborted {
			// The Conn is gone; the runtime answers for it (RFC 9293
			// 3.10.7.1).
			var rst segment.Segment
			if tcp.ResetFor(&seg, &rst) {
				e.Output(&rst)
			}
			continue
		}
		if e.passive && !e.opened {
			if seg.Flags&(segment.FlagSYN|segment.FlagACK|segment.FlagRST) == segment.FlagSYN {
				e.opened = true
				e.c.AcceptSYN(r.now, 0x80000000+segment.Seq(r.p.seed), &seg)
			}
			continue
		}
		e.c.HandleSegment(r.now, &seg)
	}
}

// app runs e's application: write what fits, then half-close; read what is
// there and check it; once both directions are done, Close.
func (r *lossyRun) app(e *pipeEndpoint) error {
	if r.p.abort && e == r.a && !e.aborted && e.rOff >= len(e.recv)/2 {
		e.aborted, e.closed = true, true
		e.c.Abort(r.now)
		return nil
	}
	if e.aborted {
		return nil
	}
	st := e.c.State()
	if st == tcp.StateSynSent || st == tcp.StateSynReceived || st == tcp.StateListen || (st == tcp.StateClosed && !e.wroteFIN) {
		return nil
	}
	// A connection closed cleanly by both FINs may still hold data the
	// application has not read: reading goes on in CLOSED.
	for e.wOff < len(e.send) && st != tcp.StateClosed {
		// Chunky writes make segments of odd sizes, so retransmissions
		// (repacketised up to the MSS) overlap several originals.
		end := len(e.send)
		if r.p.chunky {
			end = min(end, e.wOff+1+e.rng.Intn(3000))
		}
		n, err := e.c.Write(r.now, e.send[e.wOff:end])
		if err == syscall.ECONNRESET && r.p.abort {
			return nil
		}
		if err != nil {
			return r.fail("%s: Write: %v", e.name, err)
		}
		if n == 0 {
			break
		}
		e.wOff += n
	}
	// In abort runs A never half-closes: B must not reach LAST-ACK or
	// CLOSING, where an RST ends the connection without an error.
	if e.wOff == len(e.send) && !e.wroteFIN && st != tcp.StateClosed && !(r.p.abort && e == r.a) {
		e.wroteFIN = true
		if err := e.c.CloseWrite(r.now); err != nil {
			return r.fail("%s: CloseWrite: %v", e.name, err)
		}
	}
	for !e.sawEOF && !r.paused() {
		buf := e.readBuf
		if r.p.readTick > 0 {
			if e.readBudget == 0 {
				break
			}
			buf = buf[:min(len(buf), e.readBudget)]
		}
		n, err := e.c.Read(r.now, buf)
		if r.p.readTick > 0 {
			e.readBudget -= n
		}
		if n > 0 {
			if e.rOff+n > len(e.recv) || !bytes.Equal(e.readBuf[:n], e.recv[e.rOff:e.rOff+n]) {
				return r.fail("%s: received bytes %d..%d differ from the stream sent", e.name, e.rOff, e.rOff+n)
			}
			e.rOff += n
		}
		if err == io.EOF {
			if e.rOff != len(e.recv) {
				return r.fail("%s: EOF after %d of %d bytes", e.name, e.rOff, len(e.recv))
			}
			e.sawEOF = true
			break
		}
		if err == syscall.ECONNRESET && r.p.abort {
			return nil // the bytes before the reset were checked
		}
		if err != nil {
			return r.fail("%s: Read: %v", e.name, err)
		}
		if n == 0 {
			break
		}
	}
	if e.sawEOF && e.wroteFIN && !e.closed {
		e.closed = true
		if err := e.c.Close(r.now); err != nil {
			return r.fail("%s: Close: %v", e.name, err)
		}
	}
	return nil
}

func (r *lossyRun) run() error {
	const maxSim = 2 * time.Hour
	const maxIter = 2_000_000
	r.a.c.Connect(r.now, 0x10000000+segment.Seq(r.p.seed))
	if r.p.simOpen {
		r.b.c.Connect(r.now, 0x80000000+segment.Seq(r.p.seed))
	}
	for iter := 0; ; iter++ {
		// Work done in one endpoint may deliver packets to the other
		// synchronously (zero delay): only move time when both are quiet.
		for progress := true; progress; {
			progress = false
			for _, e := range []*pipeEndpoint{r.a, r.b} {
				before := e.segsIn
				if err := r.input(e); err != nil {
					return err
				}
				if err := r.app(e); err != nil {
					return err
				}
				if e.outErr != nil {
					return r.fail("%v", e.outErr)
				}
				if e.segsIn != before {
					progress = true
				}
			}
		}
		doneA := r.a.c.State() == tcp.StateClosed && r.a.closed
		doneB := r.b.c.State() == tcp.StateClosed && (r.b.closed || r.p.abort)
		if doneA && doneB {
			break
		}
		for _, e := range []*pipeEndpoint{r.a, r.b} {
			if e.c.State() == tcp.StateClosed && e.c.Err() != nil && !r.p.abort {
				return r.fail("%s: connection failed: %v\n%s", e.name, e.c.Err(), r.stuckDump())
			}
		}
		next := time.Time{}
		for _, dl := range []time.Time{r.a.c.Deadline(), r.b.c.Deadline()} {
			if !dl.IsZero() && (next.IsZero() || dl.Before(next)) {
				next = dl
			}
		}
		if pt, ok := r.clock.Next(); ok && (next.IsZero() || pt.Before(next)) {
			next = pt
		}
		tick := r.p.readTick > 0 && (!r.a.sawEOF || !r.b.sawEOF)
		if tick && (next.IsZero() || r.nextTick.Before(next)) {
			next = r.nextTick
		}
		if pe := r.pauseEdge(); !pe.IsZero() && (next.IsZero() || pe.Before(next)) {
			next = pe
		}
		if next.IsZero() {
			return r.fail("deadlock: no timer and no packet in flight, but not both CLOSED")
		}
		if next.Before(r.now) {
			next = r.now
		}
		if next.Sub(t0) > maxSim {
			return r.fail("simulated time limit %v exceeded", maxSim)
		}
		if iter > maxIter {
			return r.fail("iteration limit exceeded")
		}
		r.now = next
		r.clock.AdvanceTo(next)
		if tick && !r.now.Before(r.nextTick) {
			r.nextTick = r.now.Add(10 * time.Millisecond)
			r.a.readBudget, r.b.readBudget = r.p.readTick, r.p.readTick
		}
		for _, e := range []*pipeEndpoint{r.a, r.b} {
			if dl := e.c.Deadline(); !dl.IsZero() && !dl.After(r.now) {
				e.c.HandleTimer(r.now)
			}
		}
		if r.probe != nil {
			r.probe()
		}
		if err := r.watchdog(); err != nil {
			return err
		}
	}
	if r.p.abort {
		// A's RST (or, if it was lost, the RSTs the runtime answers B's
		// retransmissions with) reset B: ECONNRESET, no timer on either
		// side.
		for _, e := range []*pipeEndpoint{r.a, r.b} {
			if dl := e.c.Deadline(); !dl.IsZero() {
				return r.fail("%s: CLOSED with a timer still armed for %v", e.name, dl.Sub(t0))
			}
		}
		if err := r.a.c.Err(); err != nil {
			return r.fail("A: Err %v after its own Abort, want nil", err)
		}
		if err := r.b.c.Err(); err != syscall.ECONNRESET {
			return r.fail("B: Err %v after the peer aborted, want ECONNRESET", err)
		}
		return nil
	}
	// Both CLOSED: nothing may be left scheduled, and at least one side
	// went through TIME-WAIT for at least 2*MSL (more if a retransmitted
	// FIN restarted it).
	tw := 0
	for _, e := range []*pipeEndpoint{r.a, r.b} {
		if e.twStart.IsZero() {
			continue
		}
		tw++
		if d := e.twEnd.Sub(e.twStart); e.twEnd.IsZero() || d < 2*tcp.DefaultMSL {
			return r.fail("%s: TIME-WAIT from %v lasted %v, want at least 2*MSL", e.name, e.twStart.Sub(t0), d)
		}
	}
	if tw == 0 {
		return r.fail("both sides closed and neither went through TIME-WAIT")
	}
	for _, e := range []*pipeEndpoint{r.a, r.b} {
		if dl := e.c.Deadline(); !dl.IsZero() {
			return r.fail("%s: CLOSED with a timer still armed for %v", e.name, dl.Sub(t0))
		}
		if e.c.Err() != nil {
			return r.fail("%s: closed with error %v", e.name, e.c.Err())
		}
		if e.rOff != len(e.recv) || e.wOff != len(e.send) {
			return r.fail("%s: incomplete transfer", e.name)
		}
	}
	return nil
}

func TestLossyPipe(t *testing.T) {
	seeds := 500
	if testing.Short() {
		seeds = 50
	}
	streamLen := 200 << 10
	for seed := int64(1); seed <= int64(seeds); seed++ {
		p := paramsFor(seed, streamLen)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := newLossyRun(p)
			if err := r.run(); err != nil {
				t.Fatalf("%v\n%v\nreproduce: go test ./stack/tcp -run 'TestLossyPipe/seed=%d$' -v", p, err, seed)
			}
			sa, sb := r.a.link.Stats(), r.b.link.Stats()
			t.Logf("%v: done at simulated %v, longest stall %v; A->B %d packets (%d dropped, %d duplicated, %d reordered), B->A %d (%d, %d, %d)",
				p, r.now.Sub(t0), r.longestStall(), sa.Sent, sa.Dropped, sa.Duplicated, sa.Reordered, sb.Sent, sb.Dropped, sb.Duplicated, sb.Reordered)
		})
	}
}

// TestLossyPipeAbort: halfway through, A's application aborts. A sends RST
// and is CLOSED at once; B must end CLOSED with ECONNRESET even when that RST
// is lost, because every later segment from B reaches no connection and the
// runtime's ResetFor answers it with an RST B accepts (its sequence number is
// B's own acknowledgment, exactly RCV.NXT). No timer may remain on either
// side.
func TestLossyPipeAbort(t *testing.T) {
	seeds := 100
	if testing.Short() {
		seeds = 20
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		p := paramsFor(seed, 100<<10)
		// A reads at once, so it reaches half of B's stream while B
		// still has unacknowledged data.
		p.abort, p.simOpen, p.readTick = true, false, 0
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := newLossyRun(p)
			if err := r.run(); err != nil {
				t.Fatalf("%v abort\n%v\nreproduce: go test ./stack/tcp -run 'TestLossyPipeAbort/seed=%d$' -v", p, err, seed)
			}
		})
	}
}
