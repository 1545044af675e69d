//go:build linux

package tun_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/tun"
	"github.com/tunstack/tunstack/tun/tuntest"
)

// echo6Request builds an ICMPv6 echo request (RFC 4443 4.1) from the
// stack's IPv6 address to the host side's, with payload bytes of data.
func echo6Request(id, seq uint16, payload int) []byte {
	p := make([]byte, 40+8+payload)
	m := p[40:]
	m[0] = 128
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	for i := range payload {
		m[8+i] = byte(i)
	}
	binary.BigEndian.PutUint16(m[2:], segment.Checksum(m, segment.PseudoHeaderSum(stack6, host6, segment.ProtocolICMPv6, len(m))))
	segment.PutIPv6Header(p, &segment.IPv6Header{NextHeader: segment.ProtocolICMPv6, HopLimit: 64, Src: stack6, Dst: host6}, len(m))
	return p
}

// isEcho6Reply reports the kernel's answer to echo6Request.
func isEcho6Reply(p []byte, n int) bool {
	return len(p) == n && p[0]>>4 == 6 && p[6] == segment.ProtocolICMPv6 && p[40] == 129
}

// superSegmentHdr returns IPv4 or IPv6 TCP headers for a segment of n
// payload bytes from the stack's address to dst, port 9, with the TCP
// checksum left to the link.
func superSegmentHdr(t testing.TB, src, dst netip.Addr, n int) []byte {
	seg := segment.Segment{Src: src, Dst: dst, SrcPort: 9, DstPort: 9, Seq: 1, Ack: 1, Flags: segment.FlagACK, Window: 100}
	hdr := make([]byte, 100)
	var k int
	var err error
	if src.Is4() {
		k, err = segment.BuildIPv4TCPHeadersOnly(hdr, &seg, n, 1, 64)
	} else {
		k, err = segment.BuildIPv6TCPHeadersOnly(hdr, &seg, n, 1, 64)
	}
	if err != nil {
		t.Fatal(err)
	}
	return hdr[:k]
}

// TestDeviceOffloadIPv6ZeroAllocs is TestDeviceOffloadZeroAllocs for
// IPv6: with the virtio-net header, an ICMPv6 echo through Write and Read,
// a WriteGSO of IPv6 headers, and ReadPacket (with an idle callback) until
// the kernel's IPv6 echo reply allocate nothing.
func TestDeviceOffloadIPv6ZeroAllocs(t *testing.T) {
	tuntest.Require(t)
	d := openTest(t, tun.Config{Name: "tv6z0", MTU: 1500, Addrs: dualHost, Up: true, Offload: true})
	if !d.GSOIPv6() {
		t.Fatal("TSO6 refused")
	}
	req, buf := echo6Request(1, 1, 56), make([]byte, 65535)
	payload := make([]byte, 3000)
	hdr := superSegmentHdr(t, stack6, host6, len(payload))
	d.SetReadDeadline(time.Now().Add(10 * time.Second))
	idle := func() {}
	var err error
	readReply := func(read func() (int, error)) {
		for err == nil {
			n, e := read()
			if e != nil {
				err = e
				return
			}
			if isEcho6Reply(buf[:n], len(req)) {
				return
			}
		}
	}
	readFn := func() (int, error) { return d.Read(buf) }
	readPacketFn := func() (int, error) { n, _, e := d.ReadPacket(buf, idle); return n, e }
	allocs := testing.AllocsPerRun(200, func() {
		if _, e := d.Write(req); e != nil {
			err = e
		}
		readReply(readFn)
		if _, e := d.WriteGSO(hdr, payload, 1440); e != nil {
			err = e
		}
		if _, e := d.Write(req); e != nil {
			err = e
		}
		readReply(readPacketFn)
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Fatalf("%v allocs per round", allocs)
	}
}

// BenchmarkDeviceEcho6 is BenchmarkDeviceEcho over IPv6 (ICMPv6 echo).
func BenchmarkDeviceEcho6(b *testing.B) {
	tuntest.Require(b)
	d, err := tun.Open(tun.Config{Name: "tbench6", MTU: 1500, Addrs: dualHost, Up: true})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	req, buf := echo6Request(1, 1, 1400), make([]byte, 1500)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Write(req); err != nil {
			b.Fatal(err)
		}
		for {
			n, err := d.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			if isEcho6Reply(buf[:n], len(req)) {
				break
			}
		}
	}
}

// BenchmarkDeviceWriteGSO measures WriteGSO of a 60000-byte TCP
// super-segment (MSS 1440) of each family on an offload device: one
// writev of the virtio-net header, the headers and the payload. The
// destination is on the link but not the host's, and the namespace does
// not forward, so the kernel drops it after taking it in.
func BenchmarkDeviceWriteGSO(b *testing.B) {
	tuntest.Require(b)
	d, err := tun.Open(tun.Config{Name: "tbenchg", MTU: 1500, Addrs: dualHost, Up: true, Offload: true})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	payload := make([]byte, 60000)
	for _, bc := range []struct {
		name     string
		src, dst netip.Addr
	}{
		{"IPv4", stackAddr, netip.MustParseAddr("198.18.0.3")},
		{"IPv6", stack6, netip.MustParseAddr("2001:2::3")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			hdr := superSegmentHdr(b, bc.src, bc.dst, len(payload))
			b.SetBytes(int64(len(hdr) + len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.WriteGSO(hdr, payload, 1440); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
