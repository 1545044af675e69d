package integration

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunstack/tunstack/segment"
)

// The conformance tests in both address families. The raw peer speaks
// IPv4 or IPv6 (rawNet.fam decides which its peers use); the scenarios
// that only play TCP are family-neutral and run for IPv6 as well
// (TestConformanceIPv6); those that craft IPv4 headers or ICMP messages
// (ping, IP options, bad source addresses, ...) stay IPv4 only, their IPv6
// counterparts being covered elsewhere (TestPing6, TestPingFragmented,
// TestPathMTUMidConnection, the stack's unit tests).

var (
	stackIP6 = netip.MustParseAddr(stackAddr6)
	hostIP6  = netip.MustParseAddr(hostAddr6)
)

// ipv6ConformanceFlags: the IPv6 stack runs on a 1520-byte MTU, so that its
// MSS is 1520 - 40 - 20 = 1460 (RFC 8200 8.3, RFC 9293 3.7.1), the same as
// the IPv4 stack's on 1500 bytes: every scenario's segment sizes then hold
// unchanged in both families.
var ipv6ConformanceFlags = []string{"--mtu", "1520"}

// notFamilyNeutral are the shared scenarios that build IPv4 headers or
// ICMPv4 messages of their own, with why they do not run over IPv6.
var notFamilyNeutral = map[string]string{
	"RFC1122_3_2_2_6_Ping":             "ICMPv4 echo (IPv6: TestPing6, TestPingFragmented)",
	"RFC1122_3_2_1_3_NotOurAddress":    "IPv4 broadcast and foreign destinations",
	"RFC1122_3_2_1_3_BadSourceAddress": "IPv4 source address classes",
	"RFC9293_3_1_BadChecksum":          "corrupts IPv4 header bytes",
	"RFC9293_3_1_Options":              "IPv4 header options",
}

func (f family) stackIP() netip.Addr { return netip.MustParseAddr(f.stack) }
func (f family) hostIP() netip.Addr  { return netip.MustParseAddr(f.host) }

// TestConformanceIPv6 runs the family-neutral scenarios of TestConformance
// over IPv6, in every link mode (TestConformanceIPv6/MODE/SCENARIO): the
// raw peer sends from 2001:2::1 through a raw IPv6 socket, the stack
// answers from 2001:2::2, and each answer is judged by the same RFC clause
// as over IPv4. RFC1191_PathMTU runs as RFC 8201's IPv6 path MTU discovery
// (a Packet Too Big instead of a fragmentation needed).
func TestConformanceIPv6(t *testing.T) {
	inEveryMode(t, func(t *testing.T, m linkMode) {
		n := conformanceIn(t, m, ipv6)
		var run []string
		for _, sc := range sharedScenarios {
			if _, skip := notFamilyNeutral[sc.name]; !skip {
				run = append(run, sc.name)
			}
		}
		confScenarios(t, n, run)
	})
}

// inEveryModeAndIPv6 runs f over IPv4 in every link mode (subtests named
// by mode, as inEveryMode), then over IPv6 in the default mode (subtest
// "default-ipv6"): the scenarios that need flags of their own start a
// stack each, so IPv6 gets the mode users get (and the only one with IPv6
// offloads) rather than all three.
func inEveryModeAndIPv6(t *testing.T, f func(t *testing.T, m linkMode, fam family)) {
	for _, m := range linkModes {
		t.Run(m.name, func(t *testing.T) { f(t, m, ipv4) })
	}
	m := linkModes[0]
	t.Run(m.name+"-ipv6", func(t *testing.T) { f(t, m, ipv6) })
}

// ipDst returns the destination address of an IPv4 or IPv6 packet.
func ipDst(pkt []byte) (netip.Addr, bool) {
	switch {
	case segment.IPVersion(pkt) == 4 && len(pkt) >= 20:
		return netip.AddrFrom4([4]byte(pkt[16:20])), true
	case segment.IPVersion(pkt) == 6 && len(pkt) >= 40:
		return netip.AddrFrom16([16]byte(pkt[24:40])), true
	}
	return netip.Addr{}, false
}

// rawSend writes one complete IP packet through the raw socket of its
// family, to its destination.
func (n *rawNet) rawSend(pkt []byte) error {
	dst, ok := ipDst(pkt)
	switch {
	case !ok:
		return errors.New("not an IPv4 or IPv6 packet")
	case dst.Is4():
		return unix.Sendto(n.sendFD, pkt, 0, &unix.SockaddrInet4{Addr: dst.As4()})
	default:
		return unix.Sendto(n.send6, pkt, 0, &unix.SockaddrInet6{Addr: dst.As16()})
	}
}

// buildRawTCP builds s as an IPv4 packet (IP ID id) or an IPv6 packet
// (flow label 0), as its addresses are, with the raw peer's TTL or hop
// limit.
func buildRawTCP(buf []byte, s *segment.Segment, id uint16) (int, error) {
	if s.Src.Is4() {
		return segment.BuildIPv4TCP(buf, s, id, rawTTL)
	}
	return segment.BuildIPv6TCP(buf, s, 0, rawTTL)
}

// read6 handles one IPv6 packet the stack wrote, read with its virtio-net
// header vnet: TCP goes to the peers' queues, ICMPv6 to the ICMP queue (or
// waitPath's). A packet whose headers do not parse fails the test.
func (n *rawNet) read6(at time.Time, vnet, pkt []byte) {
	var c segment.IPv6Chain
	if err := segment.WalkIPv6(pkt, &c); err != nil {
		n.t.Errorf("the stack sent a malformed IPv6 packet (%v): % x", err, pkt[:min(len(pkt), 80)])
		return
	}
	switch c.Protocol {
	case segment.ProtocolTCP:
		wire, err := wireSegments(vnet, pkt)
		if err != nil {
			n.t.Errorf("the stack sent a malformed TCP/IPv6 packet (%v): % x", err, pkt[:min(len(pkt), 80)])
			return
		}
		for _, w := range wire {
			n.routeTCP(at, w)
		}
	case segment.ProtocolICMPv6:
		ip, m, err := segment.ParseIPv6ICMP(pkt)
		if err != nil {
			n.t.Errorf("the stack sent a malformed ICMPv6 packet (%v): % x", err, pkt[:min(len(pkt), 80)])
			return
		}
		if ip.Src() == hostIP6 {
			return
		}
		ch := n.icmp
		if m.Type() == segment.ICMPv6TypeEchoReply && m.ID() == pathProbeID {
			ch = n.pathEcho // see reader
		}
		select {
		case ch <- &rawPkt{at: at, raw: pkt}:
		default:
		}
	}
}

// icmpv6Echo builds an ICMPv6 echo request (RFC 4443 4.1) from the kernel
// side to the stack.
func icmpv6Echo(id, seq uint16, payload []byte) []byte {
	b := make([]byte, 40+8+len(payload))
	segment.PutIPv6Header(b, &segment.IPv6Header{NextHeader: segment.ProtocolICMPv6, HopLimit: rawTTL, Src: hostIP6, Dst: stackIP6}, 8+len(payload))
	m := b[40:]
	m[0] = segment.ICMPv6TypeEchoRequest
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], payload)
	binary.BigEndian.PutUint16(m[2:], segment.Checksum(m, segment.PseudoHeaderSum(hostIP6, stackIP6, segment.ProtocolICMPv6, len(m))))
	return b
}

// pathProbe is waitPath's k-th echo request in the peers' family.
func (n *rawNet) pathProbe(k int) []byte {
	if n.fam.name == "ipv6" {
		return icmpv6Echo(pathProbeID, uint16(k), []byte("path?"))
	}
	return icmpEcho(pathProbeID, uint16(k), []byte("path?"))
}

// pathTestMTU is the narrow path of the RFC1191_PathMTU scenario: 1000
// bytes for IPv4; for IPv6 the minimum link MTU, 1280, below which no
// Packet Too Big may take a path (RFC 8201 4).
func (n *rawNet) pathTestMTU() int {
	if n.fam.name == "ipv6" {
		return segment.IPv6MinMTU
	}
	return 1000
}

// tooBig builds what a router on a path of MTU mtu sends for orig, a
// packet the stack sent: an ICMP fragmentation needed (RFC 1191 4), or for
// IPv6 a Packet Too Big (RFC 4443 3.2) quoting as much of orig as fits in
// 1280 bytes.
func (n *rawNet) tooBig(t *testing.T, orig []byte, mtu int) []byte {
	t.Helper()
	if segment.IPVersion(orig) == 4 {
		return icmpFragNeeded(orig, uint16(mtu))
	}
	b := make([]byte, segment.IPv6MinMTU)
	k, err := segment.ICMPv6Error(b, segment.ICMPv6TypePacketTooBig, 0, uint32(mtu), hostIP6, orig)
	if err != nil {
		t.Fatalf("building a Packet Too Big: %v", err)
	}
	return b[:k]
}

// traceAddr is how --trace prints the peer's end: 198.18.0.1:PORT, or
// [2001:2::1]:PORT.
func (p *peer) traceAddr() string { return netip.AddrPortFrom(p.src, p.port).String() }

// checkUnfragmentable checks the IP header of a TCP segment the stack
// sent: an IPv4 packet carries DF (TCP relies on path MTU discovery, RFC
// 9293 3.7.2) and a TTL of at least 32; an IPv6 packet has no extension
// headers (so no fragment header: RFC 8200 5, a source that does PMTUD
// need not fragment) and a hop limit of at least 32.
func checkUnfragmentable(ip []byte) error {
	if segment.IPVersion(ip) == 6 {
		if ip[6] != segment.ProtocolTCP || ip[7] < 32 {
			return fmt.Errorf("IPv6 next header %d hop limit %d: want TCP directly (no extension headers) and a hop limit of at least 32", ip[6], ip[7])
		}
		return nil
	}
	if ip[6]&0x40 == 0 || ip[8] < 32 {
		return fmt.Errorf("IPv4 header flags %#x TTL %d: want DF set and a TTL of at least 32", ip[6], ip[8])
	}
	return nil
}

// confScenarios runs the named shared scenarios as subtests against n, as
// confShared does.
func confScenarios(t *testing.T, n *rawNet, names []string) {
	want := map[string]bool{}
	for _, name := range names {
		want[name] = true
	}
	for _, sc := range sharedScenarios {
		if !want[sc.name] {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			if sc.timerBound {
				t.Parallel()
			}
			from := len(n.proc.out.snapshot())
			sc.run(t, n)
			if t.Failed() {
				lines := n.proc.out.snapshot()[from:]
				if len(lines) > 200 {
					lines = lines[len(lines)-200:]
				}
				t.Logf("tunstack output during this subtest:\n%s", strings.Join(lines, "\n"))
			}
		})
	}
}
