package stack

import (
	"net"
	"net/netip"
	"testing"

	"github.com/tunstack/tunstack/segment"
)

// nullLink reads nothing until closed and discards writes.
type nullLink struct{ done chan struct{} }

func (l *nullLink) Read(p []byte) (int, error) { <-l.done; return 0, net.ErrClosed }
func (l *nullLink) Write(p []byte) (int, error) {
	return len(p), nil
}
func (l *nullLink) MTU() int     { return 1500 }
func (l *nullLink) Close() error { close(l.done); return nil }

// TestInputAllocs: the input path does not allocate for dropped packets,
// RSTs to segments that reach nothing, and ICMP echo replies, over IPv4 and
// IPv6.
func TestInputAllocs(t *testing.T) {
	a, b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	a6, b6 := netip.MustParseAddr("2001:2::1"), netip.MustParseAddr("2001:2::2")
	s, err := New(&nullLink{done: make(chan struct{})}, Options{Addrs: []netip.Addr{b, b6}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, 1500)
	syn := &segment.Segment{Src: a, Dst: b, SrcPort: 1, DstPort: 2, Seq: 9, Flags: segment.FlagSYN}
	n, _ := segment.BuildIPv4TCP(buf, syn, 0, 64)
	pkt := buf[:n]
	bad := append([]byte(nil), pkt...)
	bad[10] ^= 1
	echo := make([]byte, 28)
	msg := []byte{8, 0, 0, 0, 0, 1, 0, 1}
	sum := segment.Checksum(msg, 0)
	msg[2], msg[3] = byte(sum>>8), byte(sum)
	segment.PutIPv4Header(echo, &segment.IPv4Header{TTL: 64, Protocol: segment.ProtocolICMP, Src: a, Dst: b}, 8)
	copy(echo[20:], msg)
	syn6 := &segment.Segment{Src: a6, Dst: b6, SrcPort: 1, DstPort: 2, Seq: 9, Flags: segment.FlagSYN}
	n, _ = segment.BuildIPv6TCP(make([]byte, 1500), syn6, 0, 64)
	buf6 := make([]byte, n)
	segment.BuildIPv6TCP(buf6, syn6, 0, 64)
	bad6 := append([]byte(nil), buf6...)
	bad6[len(bad6)-1] ^= 1
	echo6 := make([]byte, 48)
	segment.PutIPv6Header(echo6, &segment.IPv6Header{NextHeader: segment.ProtocolICMPv6, HopLimit: 64, Src: a6, Dst: b6}, 8)
	m6 := echo6[40:]
	copy(m6, []byte{128, 0, 0, 0, 0, 1, 0, 1})
	sum6 := segment.Checksum(m6, segment.PseudoHeaderSum(a6, b6, segment.ProtocolICMPv6, 8))
	m6[2], m6[3] = byte(sum6>>8), byte(sum6)
	mcast := append([]byte(nil), echo6...)
	copy(mcast[24:40], netip.MustParseAddr("ff02::2").AsSlice())
	work := make([]byte, 1500)
	for name, p := range map[string][]byte{"rst": pkt, "bad checksum": bad, "icmp echo": echo,
		"rst ipv6": buf6, "bad checksum ipv6": bad6, "icmpv6 echo": echo6, "ipv6 multicast": mcast} {
		if got := testing.AllocsPerRun(200, func() {
			copy(work, p) // the echo reply is built in place
			s.input(work[:len(p)], false)
		}); got != 0 {
			t.Errorf("%s: %v allocs per packet", name, got)
		}
	}
}
