package stack_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
)

// Transparent destinations of the forwarding tests (inside the
// benchmarking ranges, RFC 2544 / RFC 5180, beside the stacks' own).
var (
	fwdPrefix4 = netip.MustParsePrefix("198.19.0.0/16")
	fwdPrefix6 = netip.MustParsePrefix("2001:2:0:1::/64")
	fwdDst4    = netip.MustParseAddrPort("198.19.5.5:443")
	fwdDst6    = netip.MustParseAddrPort("[2001:2:0:1::5]:443")
	fwdClient6 = netip.MustParseAddr("2001:2::1")
)

// fwdRaw is a stack in transparent mode on a scripted raw link and a
// manual clock, with a handler that hands each request to the test.
type fwdRaw struct {
	l     *rawLink
	s     *stack.Stack
	clock *timers.Manual
	reqs  chan *stack.TCPRequest
}

// newFwdRaw starts it. h, if not nil, runs inside the handler before the
// request is passed on (to answer synchronously, or panic).
func newFwdRaw(t *testing.T, cfg stack.TCPForwarderConfig, h func(*stack.TCPRequest)) *fwdRaw {
	t.Helper()
	f := &fwdRaw{l: newRawLink(), clock: timers.NewManual(time.Unix(1000, 0)), reqs: make(chan *stack.TCPRequest, 100000)}
	s, err := stack.New(f.l, stack.Options{
		Addrs:               []netip.Addr{addrB, netip.MustParseAddr("2001:2::2")},
		Clock:               f.clock,
		TransparentPrefixes: []netip.Prefix{fwdPrefix4, fwdPrefix6},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f.s = s
	if err := s.SetTCPForwarder(func(r *stack.TCPRequest) {
		if h != nil {
			h(r)
		}
		f.reqs <- r
	}, cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

// syn returns a SYN from src:sport to dst with sequence number seq.
func fwdSyn(src netip.Addr, sport uint16, dst netip.AddrPort, seq segment.Seq) *segment.Segment {
	return &segment.Segment{
		Src: src, Dst: dst.Addr(), SrcPort: sport, DstPort: dst.Port(), Seq: seq,
		Flags: segment.FlagSYN, Window: 65535,
		Options: segment.Options{HasMSS: true, MSS: 1460, SACKPermitted: true},
	}
}

// send injects seg as an IPv4 or IPv6 packet.
func (f *fwdRaw) send(t testing.TB, seg *segment.Segment) {
	t.Helper()
	buf := make([]byte, 1600)
	var n int
	var err error
	if seg.Src.Is4() {
		n, err = segment.BuildIPv4TCP(buf, seg, 1, 64)
	} else {
		n, err = segment.BuildIPv6TCP(buf, seg, 0, 64)
	}
	if err != nil {
		t.Fatal(err)
	}
	f.l.inject(buf[:n])
}

// request waits for the handler's next request.
func (f *fwdRaw) request(t testing.TB) *stack.TCPRequest {
	t.Helper()
	select {
	case r := <-f.reqs:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the handler was not called")
		return nil
	}
}

// noRequest checks that the handler is not called (after the input
// goroutine has processed what was injected: sync).
func (f *fwdRaw) noRequest(t testing.TB) {
	t.Helper()
	f.sync(t)
	select {
	case r := <-f.reqs:
		t.Fatalf("unexpected handler call for %v -> %v", r.Source(), r.Destination())
	default:
	}
}

// sync waits until the stack has processed every injected packet: it
// injects an ICMP echo request to the stack and waits for its reply,
// leaving the packets written before it in out.
func (f *fwdRaw) sync(t testing.TB) {
	t.Helper()
	msg := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1}
	f.l.inject(icmpPacket(addrA, addrB, msg))
	deadline := time.After(5 * time.Second)
	var held [][]byte
	for {
		select {
		case p := <-f.l.out:
			if ip, m, err := segment.ParseIPv4ICMP(p); err == nil && m.Type() == segment.ICMPv4TypeEchoReply && m.ID() == 0x1234 && ip.Dst() == addrA {
				for _, h := range held {
					select {
					case f.l.out <- h:
					default: // as the link drops when full
					}
				}
				return
			}
			held = append(held, p)
		case <-deadline:
			t.Fatal("the stack did not answer the sync ping")
		}
	}
}

// out is what the stack wrote: a TCP segment, or an ICMP error.
type out struct {
	tcp      *segment.Segment
	icmp     bool
	src, dst netip.Addr
	typ      uint8
	code     uint8
	quote    segment.Quoted
}

// next returns the next packet the stack wrote, decoded; it fails the
// test if none comes within a second.
func (f *fwdRaw) next(t testing.TB) out {
	t.Helper()
	p := f.l.next(t, 5*time.Second)
	if p == nil {
		t.Fatal("the stack wrote nothing")
	}
	return decodeOut(t, p)
}

// nothing checks that the stack wrote nothing (after a sync).
func (f *fwdRaw) nothing(t testing.TB) {
	t.Helper()
	f.sync(t)
	select {
	case p := <-f.l.out:
		o := decodeOut(t, p)
		t.Fatalf("unexpected packet: %+v", o)
	default:
	}
}

func decodeOut(t testing.TB, p []byte) out {
	t.Helper()
	var o out
	switch segment.IPVersion(p) {
	case 4:
		ip := segment.IPv4(p)
		if err := ip.Validate(); err != nil {
			t.Fatalf("bad IPv4 packet: %v", err)
		}
		o.src, o.dst = ip.Src(), ip.Dst()
		if ip.Protocol() == segment.ProtocolICMP {
			_, m, err := segment.ParseIPv4ICMP(p)
			o.setICMP(t, m, err)
			return o
		}
		o.tcp = new(segment.Segment)
		if err := segment.ParseTCP(o.src, o.dst, ip.Payload(), o.tcp); err != nil {
			t.Fatal(err)
		}
	case 6:
		var ch segment.IPv6Chain
		if err := segment.WalkIPv6(p, &ch); err != nil {
			t.Fatal(err)
		}
		ip := segment.IPv6(p)
		o.src, o.dst = ip.Src(), ip.Dst()
		if ch.Protocol == segment.ProtocolICMPv6 {
			_, m, err := segment.ParseIPv6ICMP(p)
			o.setICMP(t, m, err)
			return o
		}
		o.tcp = new(segment.Segment)
		if err := segment.ParseTCP(o.src, o.dst, p[ch.Offset:ch.End], o.tcp); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("not an IP packet: % x", p)
	}
	return o
}

// icmpError is what ICMPv4 and ICMPv6 views have in common.
type icmpError interface {
	Type() uint8
	Code() uint8
	Quoted() (segment.Quoted, error)
}

// setICMP fills o from an ICMP error message m (parsed with err).
func (o *out) setICMP(t testing.TB, m icmpError, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	q, err := m.Quoted()
	if err != nil {
		t.Fatal(err)
	}
	o.icmp, o.typ, o.code, o.quote = true, m.Type(), m.Code(), q
}
