package integration

// The raw peer of the conformance tests: the test itself plays the TCP peer
// of `tunstack serve` from the kernel side of the TUN, segment by segment,
// in the spirit of gVisor's packetimpact. Packets go out through a raw
// IPv4 socket (IPPROTO_RAW, which implies IP_HDRINCL) built with package
// segment, and what the stack emits is read from an AF_PACKET socket bound
// to the TUN device. The kernel has no socket on the peer's ports, so it
// would answer every segment of the stack with a RST of its own: an
// nftables rule in the test's namespace drops TCP RSTs the kernel
// originates, and lets the test's own RSTs through by their socket mark.
//
// Everything lives in the private namespace of tuntest.RunInNetns; every
// wait is bounded.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/tun/tuntest"
)

const (
	// rawMark is the socket mark of the test's raw socket: the nftables
	// rule drops kernel RSTs only when the packet does not carry it.
	rawMark = 0x7457
	// rawTTL is the TTL of crafted packets.
	rawTTL = 64
	// nftConformanceTable is the nftables table a conformance test adds.
	nftConformanceTable = "tunstack_conformance"

	// The services of `tunstack serve`.
	portEcho    = 7
	portDiscard = 9
	portChargen = 19
	portHTTP    = 80
	portClosed  = 81 // nothing listens here
)

var (
	stackIP = netip.MustParseAddr(stackAddr)
	hostIP  = netip.MustParseAddr(hostAddr)
	// nextPeerPort hands out the kernel-side ports of raw peers. The
	// kernel itself never uses them (no socket is bound there); a fresh
	// port per peer keeps the stack's connections apart.
	nextPeerPort atomic.Uint32
)

func init() { nextPeerPort.Store(20000) }

// rawPkt is one packet the stack sent, stamped when it was read.
type rawPkt struct {
	at  time.Time
	seg segment.Segment // Payload is a private copy
	raw []byte
}

func (r *rawPkt) String() string { return r.seg.String() }

// rawNet is one conformance test's view of the link: a running `tunstack
// serve`, a raw socket to send and a packet socket to receive.
type rawNet struct {
	t      *testing.T
	proc   *proc
	mode   linkMode
	fam    family // the family of the peers newPeer makes (ipv4 unless conformanceIn says)
	sendFD int    // raw IPv4 socket (IPPROTO_RAW: we write the header)
	send6  int    // raw IPv6 socket (IPPROTO_RAW, likewise)
	recvFD int

	mu     sync.Mutex
	queues map[uint16]chan *rawPkt // TCP by destination (peer) port
	toTUN  map[netip.Addr]int      // packets the kernel wrote to the TUN, by destination
	icmp   chan *rawPkt
	// pathEcho receives the echo replies to waitPath's probes.
	pathEcho chan *rawPkt

	stop     atomic.Bool
	done     chan struct{}
	unrouted atomic.Int64 // TCP segments from the stack to ports no peer holds
	// catchAll, when set (under mu), receives those segments (what does
	// not fit is dropped).
	catchAll chan *rawPkt
}

// conformance starts `tunstack serve --trace` in link mode m with extra
// flags and the raw plumbing around it. Everything is undone at the end of
// the test.
func conformance(t *testing.T, m linkMode, flags ...string) *rawNet {
	t.Helper()
	return conformanceIn(t, m, ipv4, flags...)
}

// conformanceIn is conformance with peers of family fam.
func conformanceIn(t *testing.T, m linkMode, fam family, flags ...string) *rawNet {
	t.Helper()
	tuntest.Require(t)
	if fam.name == "ipv6" {
		flags = append(flags, ipv6ConformanceFlags...)
	}
	dropKernelRSTs(t)
	// A short grace: at the end the raw peers answer no FIN, so waiting
	// for graceful closes would only slow the test down.
	args := append([]string{"--trace", "--grace", "50ms"}, m.flags...)
	proc := serve(t, append(args, flags...)...)
	want := fmt.Sprintf("offload=%v", m.offload)
	if l := proc.waitLine(regexp.MustCompile(`msg=serving`), time.Second); !regexp.MustCompile(`\b` + want + `\b`).MatchString(l) {
		t.Fatalf("link mode %s: the serving line %q does not say %s", m.name, l, want)
	}
	n := newRawNet(t, devName)
	n.proc = proc
	n.mode = m
	n.fam = fam
	n.waitPath(t)
	return n
}

// newRawNet opens the raw sockets on the TUN device dev, which must exist.
func newRawNet(t *testing.T, dev string) *rawNet {
	t.Helper()
	n := &rawNet{
		t:        t,
		queues:   map[uint16]chan *rawPkt{},
		toTUN:    map[netip.Addr]int{},
		icmp:     make(chan *rawPkt, 64),
		pathEcho: make(chan *rawPkt, 64),
		done:     make(chan struct{}),
		fam:      ipv4,
		sendFD:   -1, send6: -1, recvFD: -1,
	}
	n.recvFD = openTapSocket(t, dev, 4<<20)
	// Send: raw IPv4 and IPv6 sockets; we write the whole IP header
	// (IPPROTO_RAW implies IP_HDRINCL, and IPV6_HDRINCL on IPv6).
	for _, s := range []struct {
		fd     *int
		domain int
	}{{&n.sendFD, unix.AF_INET}, {&n.send6, unix.AF_INET6}} {
		sfd, err := unix.Socket(s.domain, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err == nil {
			*s.fd = sfd
			err = unix.SetsockoptInt(sfd, unix.SOL_SOCKET, unix.SO_MARK, rawMark)
		}
		if err != nil {
			for _, c := range []int{n.recvFD, n.sendFD, n.send6} {
				if c >= 0 {
					unix.Close(c)
				}
			}
			t.Fatalf("raw send socket (domain %d): %v", s.domain, err)
		}
	}
	go n.reader()
	t.Cleanup(n.close)
	return n
}

func (n *rawNet) close() {
	n.stop.Store(true)
	<-n.done
	unix.Close(n.recvFD)
	unix.Close(n.sendFD)
	unix.Close(n.send6)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func netInterfaceIndex(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}

// dropKernelRSTs installs, for the duration of the test, nftables rules
// dropping TCP RSTs that the kernel (198.18.0.1, 2001:2::1) sends to the
// stack, i.e. every RST not carrying the raw socket's mark.
func dropKernelRSTs(t *testing.T) {
	t.Helper()
	nft := needTool(t, "nft", "nftables")
	rules := fmt.Sprintf(`table inet %s {
	chain out {
		type filter hook output priority 0; policy accept;
		ip saddr %s ip daddr %s tcp flags & rst == rst meta mark != %#x counter drop
		ip6 saddr %s ip6 daddr %s tcp flags & rst == rst meta mark != %#x counter drop
	}
}
`, nftConformanceTable, hostAddr, stackAddr, rawMark, hostAddr6, stackAddr6, rawMark)
	exec.Command(nft, "delete", "table", "inet", nftConformanceTable).Run() // a leftover from a failed test
	cmd := exec.Command(nft, "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v\n%s\n%s", err, out, rules)
	}
	t.Cleanup(func() { exec.Command(nft, "delete", "table", "inet", nftConformanceTable).Run() })
}

// reader reads every packet the stack writes to the TUN and routes it to
// the queue of its destination port (TCP) or to the ICMP queue. Packets the
// stack sends must be well formed: a bad checksum or header fails the test.
func (n *rawNet) reader() {
	defer close(n.done)
	buf := make([]byte, 1<<16)
	for !n.stop.Load() {
		m, from, err := unix.Recvfrom(n.recvFD, buf, 0)
		if err != nil {
			continue // EAGAIN on the receive timeout, EINTR
		}
		at := time.Now()
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			// The kernel's transmissions into the TUN (ours included):
			// counted by destination, so a test can tell that what it
			// sent did reach the stack.
			if dst, ok := ipDst(buf[vnetHdrLen:m]); ok {
				n.mu.Lock()
				n.toTUN[dst]++
				n.mu.Unlock()
			}
			continue
		}
		if m < vnetHdrLen+20 {
			continue
		}
		pkt := append([]byte(nil), buf[vnetHdrLen:m]...)
		if segment.IPVersion(pkt) == 6 {
			n.read6(at, buf[:vnetHdrLen], pkt)
			continue
		}
		if segment.IPVersion(pkt) != 4 {
			continue
		}
		switch pkt[9] {
		case segment.ProtocolTCP:
			wire, err := wireSegments(buf[:vnetHdrLen], pkt)
			if err != nil {
				n.t.Errorf("the stack sent a malformed TCP packet (%v): % x", err, pkt)
				continue
			}
			for _, w := range wire {
				n.routeTCP(at, w)
			}
		case segment.ProtocolICMP:
			ip, m, err := segment.ParseIPv4ICMP(pkt)
			if err != nil {
				n.t.Errorf("the stack sent a malformed ICMP packet (%v): % x", err, pkt)
				continue
			}
			if netip.AddrFrom4([4]byte(ip[12:16])) == hostIP {
				continue
			}
			ch := n.icmp
			if m.Type() == 0 && m.ID() == pathProbeID {
				// An answer to waitPath's probes, which go out every
				// 10 ms: on a loaded machine several answers come, and
				// they must not reach the next test reading n.icmp.
				ch = n.pathEcho
			}
			select {
			case ch <- &rawPkt{at: at, raw: pkt}:
			default:
			}
		}
	}
}

// routeTCP hands one wire segment the stack sent to the queue of its
// destination port.
func (n *rawNet) routeTCP(at time.Time, pkt []byte) {
	r := &rawPkt{at: at, raw: pkt}
	if err := segment.Parse(pkt, &r.seg); err != nil {
		n.t.Errorf("the stack sent a malformed TCP packet (%v): % x", err, pkt)
		return
	}
	if r.seg.Src == hostIP || r.seg.Src == hostIP6 {
		return // the kernel's own (seen on the way in by some kernels)
	}
	r.seg.Payload = append([]byte(nil), r.seg.Payload...)
	n.mu.Lock()
	q, ca := n.queues[r.seg.DstPort], n.catchAll
	n.mu.Unlock()
	if q == nil {
		n.unrouted.Add(1)
		if ca != nil {
			select {
			case ca <- r:
			default:
			}
		}
		return
	}
	select {
	case q <- r:
	default:
		n.t.Errorf("raw peer queue for port %d overflowed", r.seg.DstPort)
	}
}

// sentTo returns how many packets the kernel has written into the TUN for
// destination a.
func (n *rawNet) sentTo(a netip.Addr) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.toTUN[a]
}

// write sends one complete IPv4 or IPv6 packet through the raw socket of
// its family.
func (n *rawNet) write(t *testing.T, pkt []byte) {
	t.Helper()
	if err := n.rawSend(pkt); err != nil {
		t.Fatalf("raw send: %v", err)
	}
}

// waitState waits for the --trace line of this peer's connection
// entering state, e.g. "TIME-WAIT", and fails p.t after timeout.
func (p *peer) waitState(state string, timeout time.Duration) string {
	p.t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(p.traceAddr()+" ") + `.* -> ` + regexp.QuoteMeta(state) + `( |$)`)
	if l, ok := p.n.proc.findLine(re, 0, timeout); ok {
		return l
	}
	p.t.Fatalf("the connection from port %d did not enter %s within %v (no trace line)", p.port, state, timeout)
	return ""
}

// peer is one TCP connection (or connection attempt) played by the test.
// Our side's sequence space: iss, nxt. The stack's: irs, rcvNxt (the next
// byte we expect from it) and sndMax (the highest sequence number it has
// sent, i.e. its SND.NXT as far as we can see).
type peer struct {
	synTSVal uint32 // the TSval our SYN carried (synOpts.timestamp)
	t        *testing.T
	n        *rawNet
	port     uint16     // ours, on 198.18.0.1 (2001:2::1 over IPv6)
	sport    uint16     // the stack's
	src      netip.Addr // where our segments come from: the kernel side's address
	dst      netip.Addr // where our segments go: the stack's address
	in       chan *rawPkt

	iss, nxt    segment.Seq
	irs, rcvNxt segment.Seq
	sndMax      segment.Seq
	synced      bool
	wnd         uint16 // window field we send
	// The stack's window: the shift it announced in its SYN-ACK (when we
	// offered scaling) and the last window field and ACK it sent.
	stackShift uint8
	lastWnd    uint16
	lastAck    segment.Seq
	ipID       uint16
	// unacked holds the ends of data segments not yet acknowledged one by
	// one (windowRound).
	unacked []segment.Seq
}

// newPeer registers a fresh kernel-side port talking to the stack's sport,
// for test t. At the end of t the port is unregistered and a RST at our
// SND.NXT ends whatever connection is left, so that a stack shared between
// subtests is not kept busy by old ones.
func (n *rawNet) newPeer(t *testing.T, sport uint16) *peer {
	p := &peer{
		t:     t,
		n:     n,
		port:  uint16(nextPeerPort.Add(1)),
		sport: sport,
		in:    make(chan *rawPkt, 4096),
		iss:   segment.Seq(0x1000_0000 + uint32(time.Now().UnixNano()&0xffffff)),
		wnd:   65535,
		src:   n.fam.hostIP(),
		dst:   n.fam.stackIP(),
	}
	p.nxt = p.iss
	n.mu.Lock()
	n.queues[p.port] = p.in
	n.mu.Unlock()
	t.Cleanup(p.release)
	return p
}

// release unregisters the peer and resets its connection, if any.
func (p *peer) release() {
	p.n.mu.Lock()
	if p.n.queues[p.port] == p.in {
		delete(p.n.queues, p.port)
	}
	p.n.mu.Unlock()
	if !p.synced || p.sport == 0 {
		return
	}
	s := segment.Segment{Src: p.src, Dst: p.dst, SrcPort: p.port, DstPort: p.sport, Seq: p.nxt, Flags: segment.FlagRST}
	buf := make([]byte, 64)
	if m, err := buildRawTCP(buf, &s, 0); err == nil {
		p.n.rawSend(buf[:m])
	}
}

// sendSeg sends s after filling in the addresses and ports.
func (p *peer) sendSeg(s segment.Segment) {
	p.t.Helper()
	s.Src, s.Dst, s.SrcPort, s.DstPort = p.src, p.dst, p.port, p.sport
	buf := make([]byte, 40+60+len(s.Payload))
	p.ipID++
	m, err := buildRawTCP(buf, &s, p.ipID)
	if err != nil {
		p.t.Fatalf("building %v: %v", &s, err)
	}
	p.n.write(p.t, buf[:m])
}

// send sends a segment with our current window and no options.
func (p *peer) send(flags segment.Flags, seq, ack segment.Seq, payload []byte) {
	p.t.Helper()
	p.sendSeg(segment.Segment{Seq: seq, Ack: ack, Flags: flags, Window: p.wnd, Payload: payload})
}

// ack sends a pure ACK of everything received so far.
func (p *peer) ack() {
	p.t.Helper()
	p.send(segment.FlagACK, p.nxt, p.rcvNxt, nil)
}

// sendData sends payload at p.nxt with ACK and PSH, and advances p.nxt.
func (p *peer) sendData(payload []byte) {
	p.t.Helper()
	p.send(segment.FlagACK|segment.FlagPSH, p.nxt, p.rcvNxt, payload)
	p.nxt = p.nxt.Add(uint32(len(payload)))
}

// next returns the next segment the stack sent to this peer, or nil after
// timeout.
func (p *peer) next(timeout time.Duration) *rawPkt {
	select {
	case r := <-p.in:
		if r.seg.Src != p.dst || r.seg.Dst != p.src || r.seg.SrcPort != p.sport && p.sport != 0 {
			p.t.Errorf("the stack answered %v:%d -> %v:%d from the wrong address or port: %v",
				p.src, p.port, p.dst, p.sport, &r.seg)
		}
		end := r.seg.Seq.Add(r.seg.Len())
		if !p.synced || end.GreaterThan(p.sndMax) {
			p.sndMax = end
		}
		if r.seg.Flags.Has(segment.FlagACK) && !r.seg.Flags.Has(segment.FlagSYN) {
			p.lastWnd, p.lastAck = r.seg.Window, r.seg.Ack
		}
		return r
	case <-time.After(timeout):
		return nil
	}
}

// want describes a segment the RFC requires: exact flags, sequence number,
// acknowledgment number (checked only when ACK is set) and payload length.
type want struct {
	flags    segment.Flags
	seq, ack segment.Seq
	n        int
}

func (w want) String() string {
	s := fmt.Sprintf("[%v] seq=%d", w.flags, uint32(w.seq))
	if w.flags.Has(segment.FlagACK) {
		s += fmt.Sprintf(" ack=%d", uint32(w.ack))
	}
	return s + fmt.Sprintf(" len=%d", w.n)
}

func (w want) matches(s *segment.Segment) bool {
	if s.Flags != w.flags || s.Seq != w.seq || len(s.Payload) != w.n {
		return false
	}
	return !w.flags.Has(segment.FlagACK) || s.Ack == w.ack
}

// expect fails the test unless the next segment from the stack arrives
// within timeout and is exactly w (PSH is ignored: whether data carries it
// is the sender's choice).
func (p *peer) expect(timeout time.Duration, w want, why string) *rawPkt {
	p.t.Helper()
	r := p.next(timeout)
	if r == nil {
		p.t.Fatalf("%s: no segment within %v, want %v", why, timeout, w)
	}
	s := r.seg
	s.Flags &^= segment.FlagPSH
	if !w.matches(&s) {
		p.t.Fatalf("%s: got %v, want %v", why, p.show(r), w)
	}
	return r
}

// expectNone fails the test if the stack sends this peer anything within d.
func (p *peer) expectNone(d time.Duration, why string) {
	p.t.Helper()
	if r := p.next(d); r != nil {
		p.t.Fatalf("%s: got %v, want nothing within %v", why, p.show(r), d)
	}
}

// show prints a segment with sequence numbers relative to the ISNs too.
func (p *peer) show(r *rawPkt) string {
	s := &r.seg
	rel := fmt.Sprintf(" (rel seq=%d ack=%d)", int64(uint32(s.Seq-p.irs)), int64(uint32(s.Ack-p.iss)))
	return s.String() + rel
}

// synOpts are the options of the SYNs the tests send.
type synOpts struct {
	mss       uint16 // 0: no MSS option
	wscale    int    // <0: no window scale option
	sackPerm  bool
	timestamp bool
	window    uint16
}

var linuxSyn = synOpts{mss: 1460, wscale: 7, sackPerm: true, timestamp: true, window: 64240}

// linuxSynNoSACK is linuxSyn without SACK-permitted (net.ipv4.tcp_sack=0):
// the stack's sender then recovers as RFC 5681/6582 and RFC 6298 say, with
// no RACK-TLP probe (RFC 8985, used only with SACK) ahead of the RTO. The
// conformance tests of those RFCs' sender rules use it.
var linuxSynNoSACK = synOpts{mss: 1460, wscale: 7, timestamp: true, window: 64240}

// syn sends our SYN.
func (p *peer) syn(o synOpts) {
	p.t.Helper()
	s := segment.Segment{Seq: p.iss, Flags: segment.FlagSYN, Window: o.window}
	if o.mss != 0 {
		s.Options.HasMSS, s.Options.MSS = true, o.mss
	}
	if o.wscale >= 0 {
		s.Options.HasWScale, s.Options.WScale = true, uint8(o.wscale)
	}
	s.Options.SACKPermitted = o.sackPerm
	if o.timestamp {
		s.Options.HasTimestamp, s.Options.TSVal = true, uint32(time.Now().UnixMilli())
		p.synTSVal = s.Options.TSVal
	}
	p.sendSeg(s)
	p.nxt = p.iss.Add(1)
}

// expectSynAck waits for the SYN-ACK answering our SYN and checks its
// sequence space: ACK of our ISS+1, SYN and ACK only, no payload.
func (p *peer) expectSynAck(timeout time.Duration) *rawPkt {
	p.t.Helper()
	r := p.next(timeout)
	if r == nil {
		p.t.Fatalf("no SYN-ACK within %v", timeout)
	}
	if r.seg.Flags != segment.FlagSYN|segment.FlagACK || r.seg.Ack != p.iss.Add(1) || len(r.seg.Payload) != 0 {
		p.t.Fatalf("got %v, want a SYN-ACK with ack=%d and no data (RFC 9293 3.5)", &r.seg, uint32(p.iss.Add(1)))
	}
	p.irs = r.seg.Seq
	p.rcvNxt = p.irs.Add(1)
	if r.seg.Options.HasWScale {
		p.stackShift = min(r.seg.Options.WScale, 14)
	}
	p.lastWnd, p.lastAck = r.seg.Window, r.seg.Ack
	p.sndMax = p.rcvNxt
	p.synced = true
	return r
}

// handshake does the three-way handshake with o and returns the SYN-ACK.
func (p *peer) handshake(o synOpts) *rawPkt {
	p.t.Helper()
	if o.window != 0 {
		// Our later segments advertise the same window, unscaled.
		p.wnd = o.window
		if o.wscale > 0 {
			p.wnd = uint16(min(int(o.window)>>min(o.wscale, 14), 0xffff))
		}
	}
	p.syn(o)
	sa := p.expectSynAck(2 * time.Second)
	p.ack()
	return sa
}

// rightEdge is the right edge of the stack's receive window as last
// advertised: SEG.ACK + SEG.WND << shift (RFC 7323 2.3).
func (p *peer) rightEdge() segment.Seq {
	return p.lastAck.Add(uint32(p.lastWnd) << p.stackShift)
}

// readStream collects n bytes of the stack's data in order, ACKing each
// segment at once (like a quick receiver). Retransmitted bytes are
// dropped; out-of-order data is not expected here and fails the test. A
// FIN right after the n bytes is ACKed and reported.
func (p *peer) readStream(n int, timeout time.Duration) (data []byte, fin bool) {
	p.t.Helper()
	data, fin = p.read(n, false, true, timeout)
	if len(data) != n {
		p.t.Fatalf("received %d bytes, want %d", len(data), n)
	}
	return data, fin
}

// read collects the stack's data in order until it has n bytes (n < 0: no
// limit) or, with untilFIN, until the FIN arrived. Every segment is ACKed
// at once, the FIN only if ackFIN (otherwise p.rcvNxt stays at the FIN's
// sequence number and the caller has it in the return value).
func (p *peer) read(n int, untilFIN, ackFIN bool, timeout time.Duration) (data []byte, fin bool) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !fin && (untilFIN || n < 0 || len(data) < n) {
		r := p.next(time.Until(deadline))
		if r == nil {
			p.t.Fatalf("received %d bytes (want %d, until FIN %v) within %v", len(data), n, untilFIN, timeout)
		}
		s := &r.seg
		if s.Flags.Has(segment.FlagRST) || s.Flags.Has(segment.FlagSYN) {
			p.t.Fatalf("unexpected %v while reading data", p.show(r))
		}
		if !s.Flags.Has(segment.FlagACK) {
			p.t.Fatalf("segment without ACK (RFC 9293 3.10.7.4: once synchronized every segment carries ACK): %v", p.show(r))
		}
		if s.Seq.GreaterThan(p.rcvNxt) {
			p.t.Fatalf("out-of-order data from the stack: %v, expected seq=%d", p.show(r), uint32(p.rcvNxt))
		}
		pl := s.Payload
		if skip := int(p.rcvNxt.Sub(s.Seq)); skip > 0 {
			pl = pl[min(skip, len(pl)):]
		}
		data = append(data, pl...)
		p.rcvNxt = p.rcvNxt.Add(uint32(len(pl)))
		end := s.Seq.Add(uint32(len(s.Payload)))
		if s.Flags.Has(segment.FlagFIN) && end == p.rcvNxt {
			if n >= 0 && len(data) < n {
				p.t.Fatalf("FIN after %d of %d bytes: %v", len(data), n, p.show(r))
			}
			fin = true
			if !ackFIN {
				break
			}
			p.rcvNxt = p.rcvNxt.Add(1)
		}
		p.ack()
	}
	return data, fin
}

// echoRoundTrip sends msg to an echo connection and checks it comes back,
// i.e. the connection is alive and its sequence spaces are where we think.
func (p *peer) echoRoundTrip(msg []byte) {
	p.t.Helper()
	p.sendData(msg)
	got, _ := p.readStream(len(msg), 3*time.Second)
	if !bytes.Equal(got, msg) {
		p.t.Fatalf("echo returned %q, want %q", got, msg)
	}
}

// pattern returns n bytes that differ at every position modulo 251, so a
// byte delivered twice or out of place shows.
func pattern(n, offset int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i + offset) % 251)
	}
	return b
}

// gopacketTCP decodes a packet with gopacket, an implementation independent
// of package segment, for cross-checking options.
func gopacketTCP(t *testing.T, raw []byte) *layers.TCP {
	t.Helper()
	first := layers.LayerTypeIPv4
	if segment.IPVersion(raw) == 6 {
		first = layers.LayerTypeIPv6
	}
	pk := gopacket.NewPacket(raw, first, gopacket.Default)
	if el := pk.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode %x: %v", raw, el.Error())
	}
	tl, ok := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		t.Fatalf("gopacket finds no TCP layer in % x", raw)
	}
	return tl
}

// icmpEcho builds an ICMP echo request from the kernel side to the stack.
func icmpEcho(id, seq uint16, payload []byte) []byte {
	b := make([]byte, 20+8+len(payload))
	segment.PutIPv4Header(b, &segment.IPv4Header{ID: id, TTL: rawTTL, Protocol: segment.ProtocolICMP, Src: hostIP, Dst: stackIP}, 8+len(payload))
	m := b[20:]
	m[0], m[1] = 8, 0 // echo request
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], payload)
	binary.BigEndian.PutUint16(m[2:], segment.Checksum(m, 0))
	return b
}

// sharedScenarios run as subtests of TestConformance against one `tunstack
// serve` per link mode with that mode's flags; each is named after the RFC
// clause it checks. Scenarios that need other flags (a small buffer, a
// short MSL) or the active open are top-level tests of their own.
//
// A scenario marked timerBound spends seconds waiting on the stack's
// retransmission timer or for silence, judges the timing it measures with
// a tolerance of hundreds of milliseconds, and touches nothing but its own
// peer (no ICMP, no counts of the TUN's traffic, no other connection):
// those run in parallel with each other once the rest are done, which
// keeps the matrix of link modes short. Scenarios that judge intervals of
// 200 ms by their ratio (RTO backoff, persist, first RTT sample) stay
// sequential, alone with the stack.
var sharedScenarios = []struct {
	name       string
	run        func(*testing.T, *rawNet)
	timerBound bool
}{
	{"RFC7323_2_2_SynAckOptions", confRFC7323_2_2_SynAckOptions, false},
	{"RFC9293_3_7_1_NoMSSMeans536", confRFC9293_3_7_1_NoMSSMeans536, false},
	{"RFC9293_3_7_1_PeerMSS", confRFC9293_3_7_1_PeerMSS, false},
	{"RFC1191_PathMTU", confRFC1191_PathMTU, false},
	{"RFC6298_SynAckRetransmission", confRFC6298_SynAckRetransmission, true},
	{"RFC9293_3_10_7_4_SynReceived", confRFC9293_3_10_7_4_SynReceived, false},
	{"RFC3168_6_1_1_EcnSynToNonEcnHost", confRFC3168_6_1_1_EcnSynToNonEcnHost, false},
	{"RFC5961_3_2_RST", confRFC5961_3_2_RST, false},
	{"RFC5961_4_2_SynInEstablished", confRFC5961_4_2_SynInEstablished, false},
	{"RFC9293_3_10_7_4_AckAcceptability", confRFC9293_3_10_7_4_AckAcceptability, true},
	{"RFC9293_3_10_7_4_SeqAcceptability", confRFC9293_3_10_7_4_SeqAcceptability, true},
	{"RFC9293_3_10_7_1_NoConnectionRST", confRFC9293_3_10_7_1_NoConnectionRST, false},
	{"RFC9293_3_10_7_2_Listen", confRFC9293_3_10_7_2_Listen, false},
	{"RFC9293_3_10_7_2_ListenIgnoresSynRst", confRFC9293_3_10_7_2_ListenIgnoresSynRst, false},
	{"RFC9293_3_10_7_2_SynWithData", confRFC9293_3_10_7_2_SynWithData, false},
	{"RFC1122_3_2_2_6_Ping", confRFC1122_3_2_2_6_Ping, false},
	{"RFC1122_3_2_1_3_NotOurAddress", confRFC1122_3_2_1_3_NotOurAddress, false},
	{"RFC1122_3_2_1_3_BadSourceAddress", confRFC1122_3_2_1_3_BadSourceAddress, false},
	{"RFC6528_ISN", confRFC6528_ISN, false},
	{"RFC9293_3_1_BadChecksum", confRFC9293_3_1_BadChecksum, false},
	{"RFC9293_3_1_Options", confRFC9293_3_1_Options, false},
	{"RFC5681_4_2_DelayedAck", confRFC5681_4_2_DelayedAck, false},
	{"RFC5681_4_2_OutOfOrder", confRFC5681_4_2_OutOfOrder, false},
	{"RFC9293_3_10_7_4_OverlapTrim", confRFC9293_3_10_7_4_OverlapTrim, false},
	{"RFC9293_3_10_7_4_OutOfOrderFIN", confRFC9293_3_10_7_4_OutOfOrderFIN, false},
	{"RFC9293_3_10_7_4_BoundedReassembly", confRFC9293_3_10_7_4_BoundedReassembly, false},
	{"RFC9293_3_8_5_UrgentInline", confRFC9293_3_8_5_UrgentInline, false},
	{"RFC6298_5_5_RTOBackoff", confRFC6298_5_5_RTOBackoff, false},
	{"RFC6298_2_2_FirstSampleRTO", confRFC6298_2_2_FirstSampleRTO, false},
	{"RFC6298_5_7_RTOAfterSynAckTimeout", confRFC6298_5_7_RTOAfterSynAckTimeout, true},
	{"RFC5681_3_1_LossWindow", confRFC5681_3_1_LossWindow, false},
	{"RFC5681_3_2_FastRetransmit", confRFC5681_3_2_FastRetransmit, false},
	{"RFC6582_3_2_PartialAck", confRFC6582_3_2_PartialAck, false},
	{"RFC9293_3_8_6_1_ZeroWindowProbe", confRFC9293_3_8_6_1_ZeroWindowProbe, false},
	{"RFC9293_3_8_6_2_1_SenderSWS", confRFC9293_3_8_6_2_1_SenderSWS, false},
	{"RFC7323_2_WindowScaling", confRFC7323_2_WindowScaling, false},
	{"RFC9293_3_6_DiscardCloseAfterEOF", confRFC9293_3_6_DiscardCloseAfterEOF, false},
	{"RFC9293_3_6_HalfClose", confRFC9293_3_6_HalfClose, false},
	{"RFC9293_3_6_PassiveClose", confRFC9293_3_6_PassiveClose, false},
	{"RFC9293_3_6_SimultaneousClose", confRFC9293_3_6_SimultaneousClose, false},
	{"RFC9293_3_10_4_CloseWithZeroWindow", confRFC9293_3_10_4_CloseWithZeroWindow, false},
	{"RFC1122_4_2_2_13_DataAfterClose", confRFC1122_4_2_2_13_DataAfterClose, false},
	{"RFC1122_4_2_2_13_TimeWaitReopen", confRFC1122_4_2_2_13_TimeWaitReopen, false},
}

// TestConformance plays the TCP peer of `tunstack serve` segment by segment
// and checks each answer against the RFC clause the subtest is named after,
// in every link mode (TestConformance/MODE/SCENARIO). One stack per mode
// serves all its subtests (fresh ports each; leftovers are reset), so the
// run stays short: `go test -run 'TestConformance' ./integration/`.
func TestConformance(t *testing.T) { inEveryMode(t, confShared) }

func confShared(t *testing.T, m linkMode) {
	n := conformance(t, m)
	var all []string
	for _, sc := range sharedScenarios {
		all = append(all, sc.name)
	}
	confScenarios(t, n, all)
}

// sameSynRetransmission reports whether b repeats SYN (or SYN-ACK) a: the
// same options except TSval, which follows the stack's timestamp clock
// (RFC 7323 5.4: milliseconds) and must have advanced by about the time
// between them.
func sameSynRetransmission(a, b *rawPkt) bool {
	oa, ob := a.seg.Options, b.seg.Options
	if oa.HasTimestamp {
		// at is when the test read the packet, which a loaded machine
		// delays: the clock is checked to a quarter second.
		d := time.Duration(ob.TSVal-oa.TSVal) * time.Millisecond
		if gap := b.at.Sub(a.at); d <= 0 || d < gap-250*time.Millisecond || d > gap+250*time.Millisecond {
			return false
		}
		ob.TSVal = oa.TSVal
	}
	return oa == ob
}
