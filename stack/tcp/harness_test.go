package tcp_test

// The scripted-peer harness. A test is a timeline: at time T the peer sends
// segment X, by time T the engine must have sent exactly Y (and at time T,
// not earlier), and it must be in state S. The clock is a plain time.Time
// that only the harness moves; timers run when the harness advances the
// clock past Conn.Deadline(), one deadline at a time, in order.
//
// Sequence numbers in tests are relative, as tcpdump prints them: seq(1) on
// a peer segment means peerISS+1, ack(1) means engISS+1; on an expected
// engine segment it is the other way round. Both ISSs sit close to 2^32 or
// 2^31 so that every test also exercises sequence-number wraparound.
//
// Payload bytes are a function of their stream offset (pat), in both
// directions, so every byte the engine sends or delivers can be checked for
// identity, not just for length.

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

const (
	// engISS is the engine's initial sequence number (given to Connect and
	// AcceptSYN); 4 KiB below 2^32, so the engine's sequence space wraps.
	engISS segment.Seq = 0xFFFFF000
	// peerISS is the scripted peer's initial sequence number; just below
	// 2^31, so signed/unsigned confusion shows.
	peerISS segment.Seq = 0x7FFFF800

	ms = time.Millisecond
	s  = time.Second
)

var (
	// t0 is the harness epoch: "at" values are offsets from it.
	t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	localAddr  = netip.MustParseAddr("198.18.0.2")
	remoteAddr = netip.MustParseAddr("198.18.0.1")
	testTuple  = tcp.Tuple{LocalAddr: localAddr, LocalPort: 80, RemoteAddr: remoteAddr, RemotePort: 40000}
)

// pat is the payload byte at stream offset off, in either direction.
func pat(off int64) byte { return byte(off*131 + off>>9 + 17) }

// patBytes returns n pattern bytes starting at stream offset off.
func patBytes(off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = pat(off + int64(i))
	}
	return b
}

// ---------------------------------------------------------------------------
// The fake sink.

type outSeg struct {
	at  time.Time
	seg segment.Segment // Payload copied
}

type evRec struct {
	at time.Time
	ev tcp.Event
}

type recSink struct {
	h   *harness
	out []outSeg
	evs []evRec
}

func (r *recSink) Output(seg *segment.Segment) {
	cp := *seg
	cp.Payload = append([]byte(nil), seg.Payload...)
	if seg.Options.HasTimestamp {
		r.h.engTSVal = seg.Options.TSVal
	}
	r.out = append(r.out, outSeg{at: r.h.now, seg: cp})
	r.h.logf("%s  eng  > peer  %s", r.h.ts(r.h.now), r.h.fmtOut(&cp))
}

func (r *recSink) Notify(ev tcp.Event) {
	r.evs = append(r.evs, evRec{at: r.h.now, ev: ev})
	r.h.logf("%s  event         %s", r.h.ts(r.h.now), evString(ev))
}

func evString(ev tcp.Event) string {
	names := []struct {
		e tcp.Event
		n string
	}{{tcp.EventConnected, "Connected"}, {tcp.EventReadable, "Readable"}, {tcp.EventWritable, "Writable"},
		{tcp.EventClosed, "Closed"}, {tcp.EventTimeWait, "TimeWait"}, {tcp.EventSoftError, "SoftError"}}
	var parts []string
	for _, x := range names {
		if ev&x.e != 0 {
			parts = append(parts, x.n)
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("Event(%#x)", uint16(ev))
	}
	return strings.Join(parts, "|")
}

// ---------------------------------------------------------------------------
// The harness.

type harness struct {
	t    testing.TB
	c    *tcp.Conn
	cfg  *tcp.Config
	sink *recSink
	now  time.Time

	// listening: the next SYN goes to AcceptSYN instead of HandleSegment.
	listening bool

	// Peer's view of the stream, relative to the ISSs.
	pNxt int64 // next sequence number the peer sends (relative to peerISS)
	eNxt int64 // highest engine sequence number seen (relative to engISS)
	pWnd uint16
	pWS  int // the peer's window shift (for reading engine windows), -1: none

	wOff int64 // app bytes written so far (engine's send stream offset)
	rOff int64 // app bytes read so far (engine's receive stream offset)

	// Options the peer's SYN offered (the engine may answer with them
	// only), and pTS: the peer stamps every segment with TSopt (its clock:
	// milliseconds since t0 plus pTSBase; TSecr: the engine's last TSval
	// seen, engTSVal), unless a template sets its own or noTS().
	pSynSACK, pSynTS bool
	pTS              bool
	engTSVal         uint32
	autoTS           *segment.Segment // the last segment in() stamped: send() restamps it at its time

	trans []tcp.Transition
	log   []string
	// maxLog, if positive, keeps only the last maxLog lines of the log.
	maxLog int
}

func (h *harness) logf(format string, args ...any) {
	if h.maxLog > 0 && len(h.log) >= h.maxLog {
		n := copy(h.log, h.log[len(h.log)-h.maxLog/2:])
		h.log = h.log[:n]
	}
	h.log = append(h.log, fmt.Sprintf(format, args...))
}

func (h *harness) ts(at time.Time) string {
	return fmt.Sprintf("%10.3fs", at.Sub(t0).Seconds())
}

// capture renders everything that happened so far, like a packet capture.
func (h *harness) capture() string {
	var b strings.Builder
	b.WriteString("timeline (relative seq/ack; eng ISS ")
	fmt.Fprintf(&b, "%d, peer ISS %d):\n", uint32(engISS), uint32(peerISS))
	for _, l := range h.log {
		b.WriteString("    ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

func (h *harness) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf(format+"\n%s", append(args, h.capture())...)
}

func (h *harness) errorf(format string, args ...any) {
	h.t.Helper()
	h.t.Errorf(format+"\n%s", append(args, h.capture())...)
}

// fmtSeg renders a segment with sequence numbers relative to the given
// bases, tcpdump style; when segment.Segment grows a String method the
// absolute rendering is appended.
func fmtSeg(seg *segment.Segment, seqBase, ackBase segment.Seq) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-3s seq %d", (seg.Flags &^ segment.FlagPSH).String(), int32(seg.Seq-seqBase))
	if seg.Flags&segment.FlagACK != 0 {
		fmt.Fprintf(&b, " ack %d", int32(seg.Ack-ackBase))
	}
	fmt.Fprintf(&b, " win %d len %d", seg.Window, len(seg.Payload))
	if seg.Flags&segment.FlagPSH != 0 {
		b.WriteString(" psh")
	}
	o := &seg.Options
	var opts []string
	if o.HasMSS {
		opts = append(opts, fmt.Sprintf("mss %d", o.MSS))
	}
	if o.HasWScale {
		opts = append(opts, fmt.Sprintf("wscale %d", o.WScale))
	}
	if o.SACKPermitted {
		opts = append(opts, "sackOK")
	}
	if o.HasTimestamp {
		opts = append(opts, fmt.Sprintf("TS val %d ecr %d", o.TSVal, o.TSEcr))
	}
	for i := 0; i < o.NumSACK && i < segment.MaxSACKBlocks; i++ {
		opts = append(opts, fmt.Sprintf("sack %d:%d", int32(o.SACK[i].Start-ackBase), int32(o.SACK[i].End-ackBase)))
	}
	if o.Unknown > 0 {
		opts = append(opts, fmt.Sprintf("unknown x%d", o.Unknown))
	}
	if len(opts) > 0 {
		b.WriteString(" [" + strings.Join(opts, ",") + "]")
	}
	if str, ok := any(seg).(fmt.Stringer); ok {
		b.WriteString("   (" + str.String() + ")")
	}
	return b.String()
}

func (h *harness) fmtOut(seg *segment.Segment) string { return fmtSeg(seg, engISS, peerISS) }
func (h *harness) fmtIn(seg *segment.Segment) string  { return fmtSeg(seg, peerISS, engISS) }

// ---------------------------------------------------------------------------
// Fixtures.

type hopts struct {
	cfgMods  []func(*tcp.Config)
	peerMSS  int // 0: no MSS option on the peer's SYN
	peerWS   int // -1: no window scale option
	peerWnd  uint16
	rtt      time.Duration // handshake round trip
	noTrace  bool
	synExtra []mod
	peerTS   bool // the peer offers timestamps and stamps every segment (harness.pTS)
	peerSACK bool // the peer's SYN carries SACK-permitted
}

type hopt func(*hopts)

// withConfig modifies the engine's Config (starting from DefaultConfig).
func withConfig(f func(*tcp.Config)) hopt {
	return func(o *hopts) { o.cfgMods = append(o.cfgMods, f) }
}

// peerMSSOpt sets the MSS option the peer puts on its SYN (0: none).
func peerMSSOpt(n int) hopt { return func(o *hopts) { o.peerMSS = n } }

// peerWScaleOpt sets the window scale the peer offers (-1: none).
func peerWScaleOpt(n int) hopt { return func(o *hopts) { o.peerWS = n } }

// peerWindow sets the raw window the peer advertises.
func peerWindow(w uint16) hopt { return func(o *hopts) { o.peerWnd = w } }

// handshakeRTT delays the peer's handshake reply.
func handshakeRTT(d time.Duration) hopt { return func(o *hopts) { o.rtt = d } }

// peerSYNMods adds modifiers to the peer's SYN or SYN-ACK.
func peerSYNMods(m ...mod) hopt { return func(o *hopts) { o.synExtra = append(o.synExtra, m...) } }

func buildOpts(opts []hopt) *hopts {
	o := &hopts{peerMSS: 1460, peerWS: -1, peerWnd: 65535}
	for _, f := range opts {
		f(o)
	}
	return o
}

func newHarness(t testing.TB, o *hopts) *harness {
	t.Helper()
	cfg := tcp.DefaultConfig()
	// The scripted-peer tests check RFC 5681's window arithmetic (initial
	// window, slow start, fast recovery) segment by segment: they run
	// NewReno unless a test picks another algorithm (the default, CUBIC,
	// has its own tests in cc_cubic_test.go).
	cfg.CongestionControl = "newreno"
	for _, f := range o.cfgMods {
		f(&cfg)
	}
	h := &harness{t: t, now: t0, pWnd: o.peerWnd, pWS: -1}
	if !o.noTrace {
		prev := cfg.Trace
		cfg.Trace = func(tr tcp.Transition) {
			h.trans = append(h.trans, tr)
			cause := "(app/timer)"
			if tr.Seg != nil {
				cause = "on " + h.fmtIn(tr.Seg)
			}
			h.logf("%s  state         %v -> %v %s", h.ts(tr.Time), tr.From, tr.To, cause)
			if prev != nil {
				prev(tr)
			}
		}
	}
	h.cfg = &cfg
	h.sink = &recSink{h: h}
	h.c = tcp.NewConn(h.cfg, testTuple, h.sink)
	return h
}

// newListen returns a connection that will take the next peer SYN through
// AcceptSYN (the listener's job in the runtime).
func newListen(t testing.TB, opts ...hopt) *harness {
	t.Helper()
	h := newHarness(t, buildOpts(opts))
	h.listening = true
	return h
}

// newSynSent returns a connection that has sent its SYN at t0 (consumed).
func newSynSent(t testing.TB, opts ...hopt) *harness {
	t.Helper()
	h := newHarness(t, buildOpts(opts))
	h.connect(0)
	h.expect(0, h.out("S", anyOpts()))
	h.expectState(tcp.StateSynSent)
	return h
}

// newEstablished does a real active-open handshake: SYN at 0, the peer's
// SYN-ACK after the handshake RTT, the engine's ACK at once.
func newEstablished(t testing.TB, opts ...hopt) *harness {
	t.Helper()
	o := buildOpts(opts)
	h := newHarness(t, o)
	h.connect(0)
	h.expect(0, h.out("S", anyOpts()))
	syn := []mod{seq(0), ack(1), win(o.peerWnd)}
	if o.peerMSS > 0 {
		syn = append(syn, mss(o.peerMSS))
	}
	if o.peerWS >= 0 {
		syn = append(syn, wscale(o.peerWS))
	}
	if o.peerSACK {
		syn = append(syn, sackOK())
	}
	h.pTS = o.peerTS
	syn = append(syn, o.synExtra...)
	h.send(o.rtt, h.in("S.", syn...))
	h.expect(o.rtt, h.out(".", seq(1), ack(1)))
	h.expectState(tcp.StateEstablished)
	if o.peerWS >= 0 {
		h.pWS = o.peerWS
	}
	h.sink.evs = nil
	return h
}

// newEstablishedPassive does a real passive-open handshake.
func newEstablishedPassive(t testing.TB, opts ...hopt) *harness {
	t.Helper()
	o := buildOpts(opts)
	h := newHarness(t, o)
	h.listening = true
	syn := []mod{seq(0), win(o.peerWnd)}
	if o.peerMSS > 0 {
		syn = append(syn, mss(o.peerMSS))
	}
	if o.peerWS >= 0 {
		syn = append(syn, wscale(o.peerWS))
	}
	if o.peerSACK {
		syn = append(syn, sackOK())
	}
	h.pTS = o.peerTS
	syn = append(syn, o.synExtra...)
	h.send(0, h.in("S", syn...))
	h.expect(0, h.out("S.", seq(0), ack(1), anyOpts()))
	h.send(o.rtt, h.in(".", seq(1), ack(1)))
	h.expectNothing(o.rtt)
	h.expectState(tcp.StateEstablished)
	h.sink.evs = nil
	return h
}

// ---------------------------------------------------------------------------
// Segment templates.

// tmpl is a segment being described by a test, with relative numbers.
type tmpl struct {
	flags           segment.Flags
	seq, ack        int64
	seqSet, ackSet  bool
	wnd             uint16
	wndSet          bool
	n               int
	payload         []byte // explicit payload; otherwise n pattern bytes
	opts            segment.Options
	optsAny         bool // expectation: options not compared
	mssSet, wsSet   bool
	absSeq, absAck  bool // seq/ack are absolute, not relative
	sackOK, tsSet   bool
	tsVal, tsEcr    uint32
	sackBlocks      []segment.SACKBlock
	unknownOptCount int
	noTS            bool // peer segment: no TSopt even when pTS
	sackWant        bool // expectation: exactly the SACK blocks in opts
	ecrWant         bool // expectation: TSopt with TSecr ecr
	ecr             uint32
}

// mod overrides one field of a template.
type mod func(*tmpl)

func seq(rel int64) mod { return func(t *tmpl) { t.seq, t.seqSet = rel, true } }
func ack(rel int64) mod { return func(t *tmpl) { t.ack, t.ackSet = rel, true } }
func win(w uint16) mod  { return func(t *tmpl) { t.wnd, t.wndSet = w, true } }
func data(n int) mod    { return func(t *tmpl) { t.n = n } }
func mss(v int) mod {
	return func(t *tmpl) { t.opts.HasMSS, t.opts.MSS, t.mssSet = true, uint16(v), true }
}
func wscale(v int) mod {
	return func(t *tmpl) { t.opts.HasWScale, t.opts.WScale, t.wsSet = true, uint8(v), true }
}
func sackOK() mod  { return func(t *tmpl) { t.opts.SACKPermitted = true } }
func anyOpts() mod { return func(t *tmpl) { t.optsAny = true } }
func rawPayload(p []byte) mod {
	return func(t *tmpl) { t.payload = append([]byte(nil), p...); t.n = len(p) }
}

// absSeqNum sets an absolute sequence number (not relative to an ISS).
func absSeqNum(v segment.Seq) mod {
	return func(t *tmpl) { t.seq, t.seqSet, t.absSeq = int64(v), true, true }
}

// absAckNum sets an absolute acknowledgment number.
func absAckNum(v segment.Seq) mod {
	return func(t *tmpl) { t.ack, t.ackSet, t.absAck = int64(v), true, true }
}

// ts adds a timestamp option.
func ts(val, ecr uint32) mod {
	return func(t *tmpl) { t.opts.HasTimestamp, t.opts.TSVal, t.opts.TSEcr = true, val, ecr }
}

// sackBlock adds a SACK block, relative to the engine's ISS (what the peer
// would SACK).
func sackBlock(start, end int64) mod {
	return func(t *tmpl) {
		if t.opts.NumSACK < segment.MaxSACKBlocks {
			t.opts.SACK[t.opts.NumSACK] = segment.SACKBlock{Start: engISS.Add(uint32(start)), End: engISS.Add(uint32(end))}
			t.opts.NumSACK++
		}
	}
}

// unknownOpts records options of unknown kind (as the parser would).
func unknownOpts(n int) mod { return func(t *tmpl) { t.opts.Unknown = n } }

func parseFlags(f string) segment.Flags {
	var fl segment.Flags
	for _, c := range f {
		switch c {
		case 'S':
			fl |= segment.FlagSYN
		case 'F':
			fl |= segment.FlagFIN
		case 'R':
			fl |= segment.FlagRST
		case 'P':
			fl |= segment.FlagPSH
		case 'U':
			fl |= segment.FlagURG
		case 'E':
			fl |= segment.FlagECE
		case 'W':
			fl |= segment.FlagCWR
		case '.':
			fl |= segment.FlagACK
		default:
			panic("bad flag string " + f)
		}
	}
	return fl
}

// in builds a segment the peer sends. Defaults: seq = the peer's next
// sequence number, ack = everything the engine has sent so far, window = the
// peer's window, no payload, no options. Payload bytes follow pat at their
// stream offset.
func (h *harness) in(flags string, mods ...mod) *segment.Segment {
	t := tmpl{flags: parseFlags(flags), seq: h.pNxt, ack: h.eNxt, wnd: h.pWnd}
	for _, m := range mods {
		m(&t)
	}
	auto := h.pTS && !t.noTS && !t.opts.HasTimestamp
	if auto {
		t.opts.HasTimestamp, t.opts.TSVal, t.opts.TSEcr = true, h.peerTSVal(), h.engTSVal
	}
	seg := &segment.Segment{
		Src: remoteAddr, Dst: localAddr, SrcPort: testTuple.RemotePort, DstPort: testTuple.LocalPort,
		Flags: t.flags, Window: t.wnd, Options: t.opts,
	}
	if t.absSeq {
		seg.Seq = segment.Seq(uint32(t.seq))
	} else {
		seg.Seq = peerISS.Add(uint32(t.seq))
	}
	if t.flags&segment.FlagACK != 0 || t.ackSet {
		if t.absAck {
			seg.Ack = segment.Seq(uint32(t.ack))
		} else {
			seg.Ack = engISS.Add(uint32(t.ack))
		}
	}
	if auto {
		h.autoTS = seg
	}
	if t.payload != nil {
		seg.Payload = t.payload
	} else if t.n > 0 {
		off := t.seq - 1
		if t.flags&segment.FlagSYN != 0 {
			off = t.seq
		}
		seg.Payload = patBytes(off, t.n)
	}
	return seg
}

// want is an expected engine segment.
type want struct{ t tmpl }

// out describes a segment the engine must send. Unset seq defaults to the
// engine's next new sequence number (advancing across the wants of one
// expect call), unset ack to everything the peer has sent, unset window is
// not compared, MSS and window scale options are compared exactly unless
// anyOpts() is given, SACK blocks when sacks() is. Whatever the template,
// SACK-permitted and TSopt must follow the negotiation (checkNegotiated).
// Payload bytes are compared against pat at their stream offset.
func (h *harness) out(flags string, mods ...mod) want {
	t := tmpl{flags: parseFlags(flags)}
	for _, m := range mods {
		m(&t)
	}
	return want{t}
}

// match compares got against w with the defaults resolved; it returns a
// description of the differences, empty if none.
func (h *harness) match(w want, got *segment.Segment, nextSeq int64) string {
	var diffs []string
	t := w.t
	if got.Flags&^segment.FlagPSH != t.flags&^segment.FlagPSH {
		diffs = append(diffs, fmt.Sprintf("flags %s, want %s", got.Flags&^segment.FlagPSH, t.flags&^segment.FlagPSH))
	}
	wantSeq := engISS.Add(uint32(nextSeq))
	if t.seqSet {
		wantSeq = engISS.Add(uint32(t.seq))
		if t.absSeq {
			wantSeq = segment.Seq(uint32(t.seq))
		}
	}
	if got.Seq != wantSeq {
		diffs = append(diffs, fmt.Sprintf("seq %d, want %d", int32(got.Seq-engISS), int32(wantSeq-engISS)))
	}
	if t.flags&segment.FlagACK != 0 {
		wantAck := peerISS.Add(uint32(h.pNxt))
		if t.ackSet {
			wantAck = peerISS.Add(uint32(t.ack))
			if t.absAck {
				wantAck = segment.Seq(uint32(t.ack))
			}
		}
		if got.Ack != wantAck {
			diffs = append(diffs, fmt.Sprintf("ack %d, want %d", int32(got.Ack-peerISS), int32(wantAck-peerISS)))
		}
	}
	if t.wndSet && got.Window != t.wnd {
		diffs = append(diffs, fmt.Sprintf("win %d, want %d", got.Window, t.wnd))
	}
	wantPayload := t.payload
	if wantPayload == nil && t.n > 0 {
		off := int64(int32(got.Seq-engISS)) - 1
		wantPayload = patBytes(off, t.n)
	}
	if len(got.Payload) != t.n {
		diffs = append(diffs, fmt.Sprintf("len %d, want %d", len(got.Payload), t.n))
	} else if !bytes.Equal(got.Payload, wantPayload) {
		diffs = append(diffs, "payload bytes differ from the stream at that offset")
	}
	if !t.optsAny {
		g, e := got.Options, t.opts
		if g.HasMSS != e.HasMSS || (e.HasMSS && g.MSS != e.MSS) {
			diffs = append(diffs, fmt.Sprintf("mss option %v/%d, want %v/%d", g.HasMSS, g.MSS, e.HasMSS, e.MSS))
		}
		if g.HasWScale != e.HasWScale || (e.HasWScale && g.WScale != e.WScale) {
			diffs = append(diffs, fmt.Sprintf("wscale option %v/%d, want %v/%d", g.HasWScale, g.WScale, e.HasWScale, e.WScale))
		}
	}
	if t.sackWant {
		g, e := got.Options, t.opts
		if g.NumSACK != e.NumSACK || g.SACK != e.SACK {
			diffs = append(diffs, fmt.Sprintf("SACK blocks %s, want %s", h.fmtSACK(&g), h.fmtSACK(&e)))
		}
	}
	if t.ecrWant && (!got.Options.HasTimestamp || got.Options.TSEcr != t.ecr) {
		diffs = append(diffs, fmt.Sprintf("TSopt %v ecr %d, want ecr %d", got.Options.HasTimestamp, got.Options.TSEcr, t.ecr))
	}
	diffs = append(diffs, h.checkNegotiated(got)...)
	if got.Src != localAddr || got.Dst != remoteAddr || got.SrcPort != testTuple.LocalPort || got.DstPort != testTuple.RemotePort {
		diffs = append(diffs, fmt.Sprintf("addressing %v:%d > %v:%d, want the connection's tuple", got.Src, got.SrcPort, got.Dst, got.DstPort))
	}
	return strings.Join(diffs, "; ")
}

func (h *harness) describeWant(w want) string {
	t := w.t
	var b strings.Builder
	b.WriteString(t.flags.String())
	if t.seqSet {
		fmt.Fprintf(&b, " seq %d", t.seq)
	} else {
		b.WriteString(" seq (next)")
	}
	if t.flags&segment.FlagACK != 0 {
		if t.ackSet {
			fmt.Fprintf(&b, " ack %d", t.ack)
		} else {
			fmt.Fprintf(&b, " ack (peer next %d)", h.pNxt)
		}
	}
	if t.wndSet {
		fmt.Fprintf(&b, " win %d", t.wnd)
	}
	fmt.Fprintf(&b, " len %d", t.n)
	return b.String()
}

// ---------------------------------------------------------------------------
// Timeline steps.

func (h *harness) at(d time.Duration) time.Time { return t0.Add(d) }

// advance moves the clock to at, calling HandleTimer at each Deadline() in
// order on the way (and at at itself if a deadline falls there).
func (h *harness) advance(at time.Duration) {
	h.t.Helper()
	h.advanceTo(h.at(at))
}

func (h *harness) advanceTo(target time.Time) {
	h.t.Helper()
	if target.Before(h.now) {
		h.fatalf("timeline goes backwards: %s after %s", h.ts(target), h.ts(h.now))
	}
	for i := 0; ; i++ {
		if i > 100000 {
			h.fatalf("more than 100000 timer firings before %s: timer loop", h.ts(target))
		}
		dl := h.c.Deadline()
		if dl.IsZero() || dl.After(target) {
			break
		}
		if dl.Before(h.now) {
			// A deadline in the past is due now.
			dl = h.now
		}
		h.now = dl
		h.c.HandleTimer(h.now)
		if nd := h.c.Deadline(); !nd.IsZero() && !nd.After(h.now) {
			// HandleTimer ran every expired timer; a deadline still at or
			// before now would spin the runtime's timer loop.
			h.fatalf("after HandleTimer(%s) Deadline() is still %s", h.ts(h.now), h.ts(nd))
		}
	}
	h.now = target
}

// send delivers a peer segment at time at (timers due before it run first).
func (h *harness) send(at time.Duration, seg *segment.Segment) {
	h.t.Helper()
	h.advance(at)
	if seg == h.autoTS {
		// Stamped by in() before the clock moved to at: the peer's
		// clock and echo as of now.
		seg.Options.TSVal, seg.Options.TSEcr = h.peerTSVal(), h.engTSVal
	}
	h.logf("%s  peer > eng   %s", h.ts(h.now), h.fmtIn(seg))
	if seg.Flags&segment.FlagSYN != 0 && seg.Flags&segment.FlagRST == 0 {
		h.pSynSACK, h.pSynTS = seg.Options.SACKPermitted, seg.Options.HasTimestamp
	}
	end := int64(int32(seg.Seq-peerISS)) + int64(seg.Len())
	if seg.Flags&segment.FlagRST == 0 && seg.Len() > 0 && end > h.pNxt {
		h.pNxt = end
	}
	if h.listening && seg.Flags&segment.FlagSYN != 0 && seg.Flags&(segment.FlagACK|segment.FlagRST) == 0 {
		h.listening = false
		h.c.AcceptSYN(h.now, engISS, seg)
	} else {
		h.c.HandleSegment(h.now, seg)
	}
	h.checkDeadline("HandleSegment")
}

// checkDeadline requires that after an entry point the next deadline, if
// any, lies in the future: a timer due now should have run in the call
// that made it due.
func (h *harness) checkDeadline(what string) {
	h.t.Helper()
	if dl := h.c.Deadline(); !dl.IsZero() && !dl.After(h.now) {
		h.fatalf("after %s at %s Deadline() is %s, not in the future", what, h.ts(h.now), h.ts(dl))
	}
}

// connect starts an active open at time at.
func (h *harness) connect(at time.Duration) {
	h.t.Helper()
	h.advance(at)
	h.logf("%s  app           Connect", h.ts(h.now))
	h.c.Connect(h.now, engISS)
}

// expect advances to at and requires that exactly the wanted segments were
// sent since the last expect, all of them at time at.
func (h *harness) expect(at time.Duration, wants ...want) {
	h.t.Helper()
	h.expectWithin(at, at, wants...)
}

// expectWithin advances to the end of [from, to] and requires exactly the
// wanted segments, each sent at a time within [from, to].
func (h *harness) expectWithin(from, to time.Duration, wants ...want) {
	h.t.Helper()
	h.advance(to)
	got := h.sink.out
	h.sink.out = nil
	var problems []string
	next := h.eNxt
	for i := 0; i < len(wants) || i < len(got); i++ {
		switch {
		case i >= len(got):
			problems = append(problems, fmt.Sprintf("  missing #%d: %s", i, h.describeWant(wants[i])))
		case i >= len(wants):
			problems = append(problems, fmt.Sprintf("  unexpected #%d at %s: %s", i, h.ts(got[i].at), h.fmtOut(&got[i].seg)))
		default:
			g := &got[i].seg
			d := h.match(wants[i], g, next)
			if got[i].at.Before(h.at(from)) || got[i].at.After(h.at(to)) {
				if d != "" {
					d += "; "
				}
				d += fmt.Sprintf("sent at %s, want within [%s, %s]", h.ts(got[i].at), h.ts(h.at(from)), h.ts(h.at(to)))
			}
			if d != "" {
				problems = append(problems, fmt.Sprintf("  #%d got %s\n      %s", i, h.fmtOut(g), d))
			}
			end := int64(int32(g.Seq-engISS)) + int64(g.Len())
			if g.Flags&segment.FlagRST == 0 && end > next {
				next = end
			}
		}
	}
	if len(problems) > 0 {
		h.fatalf("at %s: engine output does not match:\n%s", h.ts(h.at(to)), strings.Join(problems, "\n"))
	}
	h.eNxt = next
}

// expectNothing advances to at and requires that nothing was sent.
func (h *harness) expectNothing(at time.Duration) {
	h.t.Helper()
	h.expect(at)
}

// drainOut advances to at and returns (and forgets) everything sent, for
// tests that inspect output themselves.
func (h *harness) drainOut(at time.Duration) []outSeg {
	h.t.Helper()
	h.advance(at)
	got := h.sink.out
	h.sink.out = nil
	for _, g := range got {
		end := int64(int32(g.seg.Seq-engISS)) + int64(g.seg.Len())
		if g.seg.Flags&segment.FlagRST == 0 && end > h.eNxt {
			h.eNxt = end
		}
	}
	return got
}

func (h *harness) expectState(st tcp.State) {
	h.t.Helper()
	if got := h.c.State(); got != st {
		h.fatalf("state %v, want %v", got, st)
	}
}

func (h *harness) expectErr(target error) {
	h.t.Helper()
	if err := h.c.Err(); err != target {
		h.fatalf("Err() = %v, want %v", err, target)
	}
}

// events returns (and forgets) the events reported so far, OR-ed.
func (h *harness) events() tcp.Event {
	var e tcp.Event
	for _, r := range h.sink.evs {
		e |= r.ev
	}
	h.sink.evs = nil
	return e
}

func (h *harness) expectEvent(ev tcp.Event) {
	h.t.Helper()
	if got := h.events(); got&ev != ev {
		h.fatalf("events %s, want %s among them", evString(got), evString(ev))
	}
}

// write has the application write n pattern bytes at time at; it requires
// that all of them are accepted.
func (h *harness) write(at time.Duration, n int) {
	h.t.Helper()
	if k := h.tryWrite(at, n); k != n {
		h.fatalf("Write(%d) accepted %d", n, k)
	}
}

// tryWrite writes up to n pattern bytes and returns how many were taken.
func (h *harness) tryWrite(at time.Duration, n int) int {
	h.t.Helper()
	h.advance(at)
	k, err := h.c.Write(h.now, patBytes(h.wOff, n))
	h.logf("%s  app           Write(%d) = %d, %v", h.ts(h.now), n, k, err)
	if err != nil {
		h.fatalf("Write: %v", err)
	}
	if k < 0 || k > n {
		h.fatalf("Write returned %d for %d bytes", k, n)
	}
	h.wOff += int64(k)
	h.checkDeadline("Write")
	return k
}

// read drains up to max bytes at time at and checks they continue the
// peer's stream exactly; it returns the count and the error.
func (h *harness) read(at time.Duration, max int) (int, error) {
	h.t.Helper()
	h.advance(at)
	buf := make([]byte, max)
	n, err := h.c.Read(h.now, buf)
	h.logf("%s  app           Read(%d) = %d, %v", h.ts(h.now), max, n, err)
	if n < 0 || n > max {
		h.fatalf("Read returned %d for a %d-byte buffer", n, max)
	}
	if want := patBytes(h.rOff, n); !bytes.Equal(buf[:n], want) {
		h.fatalf("Read returned bytes that are not the peer's stream at offset %d", h.rOff)
	}
	h.rOff += int64(n)
	return n, err
}

// expectRead reads and requires exactly n bytes (and no error).
func (h *harness) expectRead(at time.Duration, n int) {
	h.t.Helper()
	got, err := h.read(at, n+1)
	if got != n || err != nil {
		h.fatalf("Read = %d, %v; want %d, nil", got, err, n)
	}
}

// readN reads exactly n bytes (more may remain readable).
func (h *harness) readN(at time.Duration, n int) {
	h.t.Helper()
	got, err := h.read(at, n)
	if got != n || err != nil {
		h.fatalf("Read = %d, %v; want %d, nil", got, err, n)
	}
}

// expectEOF requires that Read reports io.EOF with no more data.
func (h *harness) expectEOF(at time.Duration) {
	h.t.Helper()
	n, err := h.read(at, 1)
	if n != 0 || err != io.EOF {
		h.fatalf("Read = %d, %v; want 0, io.EOF", n, err)
	}
}

func (h *harness) close(at time.Duration) {
	h.t.Helper()
	h.advance(at)
	err := h.c.Close(h.now)
	h.logf("%s  app           Close = %v", h.ts(h.now), err)
	if err != nil {
		h.fatalf("Close: %v", err)
	}
}

func (h *harness) closeWrite(at time.Duration) {
	h.t.Helper()
	h.advance(at)
	err := h.c.CloseWrite(h.now)
	h.logf("%s  app           CloseWrite = %v", h.ts(h.now), err)
	if err != nil {
		h.fatalf("CloseWrite: %v", err)
	}
}

func (h *harness) abort(at time.Duration) {
	h.t.Helper()
	h.advance(at)
	h.logf("%s  app           Abort", h.ts(h.now))
	h.c.Abort(h.now)
}

// expectNoTimer requires that the connection has no deadline.
func (h *harness) expectNoTimer() {
	h.t.Helper()
	if dl := h.c.Deadline(); !dl.IsZero() {
		h.fatalf("Deadline() = %s, want none", h.ts(dl))
	}
}

// expectTransition requires that the last recorded transition went from
// -> to, caused by a segment (bySeg) or not.
func (h *harness) lastTransition() (tcp.Transition, bool) {
	if len(h.trans) == 0 {
		return tcp.Transition{}, false
	}
	return h.trans[len(h.trans)-1], true
}
