package integration

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// fragStats counts, per direction, the IP packets crossing the TUN that
// belong to one ICMP exchange: how many, how many of them fragments, the
// largest.
type fragStats struct {
	mu                 sync.Mutex
	toStack, fromStack int // ICMP/ICMPv6 packets or fragments
	fragsIn, fragsOut  int // of which fragments: to the stack, from it
	maxFromStack       int // bytes, the largest packet the stack wrote
	malformed          []string
}

// see classifies one packet of family fam: an ICMP message or fragment
// between the two addresses. IPv4: MF set or a non-zero offset (RFC 791);
// IPv6: a fragment header that is not atomic (RFC 8200 4.5, RFC 6946),
// found by walking the extension headers.
func (s *fragStats) see(fam family, p *tapPkt) {
	pkt := p.pkt
	stack, host := netip.MustParseAddr(fam.stack), netip.MustParseAddr(fam.host)
	var src, dst netip.Addr
	var frag bool
	switch segment.IPVersion(pkt) {
	case 4:
		if fam.name != "ipv4" || len(pkt) < 20 || pkt[9] != segment.ProtocolICMP {
			return
		}
		src, dst = netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
		frag = binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0
	case 6:
		if fam.name != "ipv6" || len(pkt) < 40 {
			return
		}
		var c segment.IPv6Chain
		if err := segment.WalkIPv6(pkt, &c); err != nil {
			s.mu.Lock()
			s.malformed = append(s.malformed, fmt.Sprintf("%v: % x", err, pkt[:min(len(pkt), 64)]))
			s.mu.Unlock()
			return
		}
		if c.Protocol != segment.ProtocolICMPv6 {
			return
		}
		ip := segment.IPv6(pkt)
		src, dst = ip.Src(), ip.Dst()
		frag = c.HasFragment && !c.Fragment.Atomic()
	default:
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case p.toStack && src == host && dst == stack:
		s.toStack++
		if frag {
			s.fragsIn++
		}
	case !p.toStack && src == stack && dst == host:
		s.fromStack++
		s.maxFromStack = max(s.maxFromStack, len(pkt))
		if frag {
			s.fragsOut++
		}
	}
}

// TestPingFragmented: ping -s 4000 (an ICMP echo of 4008 bytes, above the
// 1500-byte MTU) in both families. The kernel fragments each request
// (RFC 791; RFC 8200 4.5, a source may fragment); the stack reassembles it
// (RFC 1122 3.3.2 makes reassembly a MUST; RFC 8200 4.5), answers, and
// fragments its reply to the MTU, as Linux does, so every packet it writes
// fits the device and ping gets all its replies.
func TestPingFragmented(t *testing.T) {
	const mtu, count = 1500, 3
	ping := needTool(t, "ping", "iputils-ping")
	serve(t, "--mtu", fmt.Sprint(mtu))
	inEveryFamily(t, func(t *testing.T, fam family) {
		var st fragStats
		tapTUN(t, devName, func(p *tapPkt) { st.see(fam, p) })
		out, stderr, err := command(t, 30*time.Second, nil, ping, fam.flag, "-n", "-c", fmt.Sprint(count),
			"-i", "0.2", "-W", "3", "-s", "4000", fam.stack)
		// ping has its replies; the tap reads them from its own socket,
		// maybe a moment later.
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			st.mu.Lock()
			enough := st.fragsOut >= 3*count
			st.mu.Unlock()
			if enough || err != nil {
				break
			}
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		summary := fmt.Sprintf("to the stack %d packets (%d fragments), from it %d (%d fragments, largest %d bytes)",
			st.toStack, st.fragsIn, st.fromStack, st.fragsOut, st.maxFromStack)
		t.Log(summary)
		if err != nil || !strings.Contains(string(out), fmt.Sprintf("%d received", count)) {
			t.Fatalf("ping %s -s 4000 %s: %v\n%s%s\non the TUN: %s", fam.flag, fam.stack, err, out, stderr, summary)
		}
		if len(st.malformed) > 0 {
			t.Fatalf("malformed IPv6 packets on the TUN: %s", strings.Join(st.malformed, "\n"))
		}
		// 4008 bytes of ICMP in at most 1500-byte packets: at least 3
		// fragments per datagram either way.
		if st.fragsIn < 3*count {
			t.Fatalf("the kernel sent %d fragments, want at least %d: the test did not exercise reassembly (%s)", st.fragsIn, 3*count, summary)
		}
		if st.fragsOut < 3*count {
			t.Fatalf("the stack sent %d fragments for %d replies of 4008 bytes, want at least %d (%s)", st.fragsOut, count, 3*count, summary)
		}
		if st.maxFromStack > mtu {
			t.Fatalf("the stack wrote a %d-byte packet to a device of MTU %d: the reply was not fragmented to the MTU", st.maxFromStack, mtu)
		}
	})
}
