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
// RSTs to segments that reach nothing, and ICMP echo replies.
func TestInputAllocs(t *testing.T) {
	a, b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	s, err := New(&nullLink{done: make(chan struct{})}, Options{Addr: b})
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
	work := make([]byte, 1500)
	for name, p := range map[string][]byte{"rst": pkt, "bad checksum": bad, "icmp echo": echo} {
		if got := testing.AllocsPerRun(200, func() {
			copy(work, p) // the echo reply is built in place
			s.input(work[:len(p)], false)
		}); got != 0 {
			t.Errorf("%s: %v allocs per packet", name, got)
		}
	}
}
