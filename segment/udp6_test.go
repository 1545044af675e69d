package segment

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestUDPBuildParseIPv6: BuildIPv6UDP's packet has the fields asked for,
// a checksum that verifies over the RFC 8200 8.1 pseudo-header (naive
// reference), and parses back.
func TestUDPBuildParseIPv6(t *testing.T) {
	src := netip.MustParseAddrPort("[2001:2::2]:5353")
	dst := netip.MustParseAddrPort("[2001:2::1]:53")
	buf := make([]byte, 2048)
	for _, payload := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("0123456789"), 100)} {
		n, err := BuildIPv6UDP(buf, src, dst, payload, 0x12345)
		if err != nil {
			t.Fatal(err)
		}
		pkt := buf[:n]
		if n != 48+len(payload) || UDPHeadersLen(src.Addr()) != 48 {
			t.Fatalf("length %d", n)
		}
		ip := IPv6(pkt)
		if ip.Validate() != nil || ip.NextHeader() != ProtocolUDP || ip.HopLimit() != DefaultHopLimit ||
			ip.FlowLabel() != 0x12345 || int(ip.PayloadLen()) != 8+len(payload) || ip.Src() != src.Addr() || ip.Dst() != dst.Addr() {
			t.Fatalf("IPv6 header %x", pkt[:40])
		}
		if naiveSum(pkt[40:], naivePseudo(src.Addr(), dst.Addr(), ProtocolUDP, 8+len(payload))) != 0xffff {
			t.Fatal("UDP checksum does not verify against the naive reference")
		}
		s, d, p, err := ParseIPv6UDP(pkt)
		if err != nil || s != src || d != dst || !bytes.Equal(p, payload) {
			t.Fatalf("parse: %v %v %v %q", err, s, d, p)
		}
	}
}

// TestUDPZeroChecksum covers RFC 768 and RFC 8200 8.1: a zero checksum
// over IPv4 means "none" and is accepted, over IPv6 it is an error; a
// datagram whose sum comes out as zero is sent with 0xffff in both
// families, and that parses.
func TestUDPZeroChecksum(t *testing.T) {
	for _, fam := range []struct {
		name     string
		src, dst netip.AddrPort
		zeroErr  error
	}{
		{"ipv4", netip.MustParseAddrPort("198.18.0.1:1000"), netip.MustParseAddrPort("198.18.0.2:2000"), nil},
		{"ipv6", netip.MustParseAddrPort("[2001:2::1]:1000"), netip.MustParseAddrPort("[2001:2::2]:2000"), ErrUDPZeroChecksum},
	} {
		t.Run(fam.name, func(t *testing.T) {
			buf := make([]byte, 128)
			hl := UDPHeadersLen(fam.src.Addr()) - UDPHeaderLen // the IP header
			// Find the payload word that makes the sum zero: build with a
			// zero payload word, then put the checksum field's value there.
			n, _ := BuildUDP(buf, fam.src, fam.dst, []byte{0, 0}, 0, 0)
			c := binary.BigEndian.Uint16(buf[hl+6:])
			n, err := BuildUDP(buf, fam.src, fam.dst, []byte{byte(c >> 8), byte(c)}, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := binary.BigEndian.Uint16(buf[hl+6:]); got != 0xffff {
				t.Fatalf("checksum field %#04x, want 0xffff for a computed zero", got)
			}
			sp, dp, p, err := ParseUDP(fam.src.Addr(), fam.dst.Addr(), buf[hl:n])
			if err != nil || sp != fam.src.Port() || dp != fam.dst.Port() || len(p) != 2 {
				t.Fatalf("0xffff checksum: %v", err)
			}
			// A zero checksum field: none (IPv4) or invalid (IPv6).
			buf[hl+6], buf[hl+7] = 0, 0
			if _, _, _, err := ParseUDP(fam.src.Addr(), fam.dst.Addr(), buf[hl:n]); err != fam.zeroErr {
				t.Fatalf("zero checksum: %v, want %v", err, fam.zeroErr)
			}
			// A zero checksum with corrupt data is still accepted over
			// IPv4 (nothing to verify), refused over IPv6.
			buf[n-1] ^= 0x55
			if _, _, _, err := ParseUDP(fam.src.Addr(), fam.dst.Addr(), buf[hl:n]); err != fam.zeroErr {
				t.Fatalf("zero checksum, data changed: %v, want %v", err, fam.zeroErr)
			}
		})
	}
}

func TestUDPErrorsIPv6(t *testing.T) {
	src := netip.MustParseAddrPort("[2001:2::1]:1")
	dst := netip.MustParseAddrPort("[2001:2::2]:2")
	buf := make([]byte, 100)
	n, _ := BuildIPv6UDP(buf, src, dst, []byte("abcdef"), 0)
	for _, tc := range []struct {
		name string
		mut  func([]byte) []byte
		want error
	}{
		{"bad checksum", func(b []byte) []byte { b[47] ^= 1; return b }, ErrUDPChecksum},
		{"payload flip", func(b []byte) []byte { b[50] ^= 1; return b }, ErrUDPChecksum},
		{"src flip", func(b []byte) []byte { b[9] ^= 1; return b }, ErrUDPChecksum},
		{"short", func(b []byte) []byte { binary.BigEndian.PutUint16(b[4:], 7); return b[:47] }, ErrShort},
		{"length 7", func(b []byte) []byte { b[45] = 7; return b }, ErrUDPLength},
		{"length beyond IP", func(b []byte) []byte { b[45] = 15; return b }, ErrUDPLength},
		{"not UDP", func(b []byte) []byte { b[6] = ProtocolTCP; return b }, ErrProtocol},
		{"payload length beyond packet", func(b []byte) []byte { b[5]++; return b }, ErrPayloadLength},
	} {
		b := tc.mut(append([]byte(nil), buf[:n]...))
		if _, _, _, err := ParseIPv6UDP(b); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, _, _, err := ParseUDP(src.Addr(), netip.MustParseAddr("198.18.0.2"), buf[40:n]); err != ErrAddress {
		t.Errorf("mixed families: %v", err)
	}
	if _, err := BuildUDP(buf, src, netip.MustParseAddrPort("198.18.0.2:1"), nil, 0, 0); err != ErrAddress {
		t.Errorf("build, mixed families: %v", err)
	}
	if _, err := BuildIPv6UDP(buf, netip.MustParseAddrPort("[::ffff:198.18.0.1]:1"), dst, nil, 0); err != ErrAddress {
		t.Errorf("build, IPv4-mapped source: %v", err)
	}
	if _, err := BuildIPv6UDP(make([]byte, 53), src, dst, []byte("abcdef"), 0); err != ErrBufferTooSmall {
		t.Errorf("small buffer: %v", err)
	}
	big := make([]byte, 65536+48)
	if _, err := BuildIPv6UDP(big, src, dst, big[:65535-8+1], 0); err != ErrPayloadTooLarge {
		t.Errorf("too large: %v", err)
	}
	if n, err := BuildIPv6UDP(big, src, dst, big[:65535-8], 0); err != nil || n != 65575 {
		t.Errorf("largest: %d %v", n, err)
	}
}

// TestUDPIPv6ExtensionHeaders: ParseIPv6UDP finds UDP behind a destination
// options header (gopacket builds it), refuses a non-atomic fragment and
// accepts an atomic one.
func TestUDPIPv6ExtensionHeaders(t *testing.T) {
	src, dst := netip.MustParseAddrPort("[2001:2::1]:4000"), netip.MustParseAddrPort("[2001:2::2]:53")
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Destination,
		SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
	do := &layers.IPv6Destination{}
	do.NextHeader = layers.IPProtocolUDP
	do.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionData: []byte{0, 0, 0, 0}}}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, do, udp, gopacket.Payload("query")); err != nil {
		t.Fatal(err)
	}
	pkt := sb.Bytes()
	s, d, p, err := ParseIPv6UDP(pkt)
	if err != nil || s != src || d != dst || string(p) != "query" {
		t.Fatalf("behind destination options: %v %v %v %q", err, s, d, p)
	}
	// Fragment header: first fragment of two, then atomic.
	buf := make([]byte, 100)
	n, _ := BuildIPv6UDP(buf, src, dst, []byte("querys!!"), 0) // a multiple of 8 with the header (RFC 8200 4.5)
	frag := make([]byte, 0, n+8)
	frag = append(frag, buf[:40]...)
	frag = append(frag, ProtocolUDP, 0, 0, 1, 0, 0, 0, 9) // offset 0, M=1, id 9
	frag = append(frag, buf[40:n]...)
	frag[6] = ProtocolFragment
	binary.BigEndian.PutUint16(frag[4:], uint16(n-40+8))
	if _, _, _, err := ParseIPv6UDP(frag); err != ErrFragment {
		t.Fatalf("first fragment: %v, want ErrFragment", err)
	}
	frag[43] = 0 // M=0, offset 0: atomic (RFC 6946)
	if _, _, p, err := ParseIPv6UDP(frag); err != nil || string(p) != "querys!!" {
		t.Fatalf("atomic fragment: %v %q", err, p)
	}
}

// TestGopacketUDPIPv6: our IPv6/UDP packets decode in gopacket to the same
// fields and re-serialise byte for byte (checksum included); gopacket's
// packets parse in ours to its fields.
func TestGopacketUDPIPv6(t *testing.T) {
	buf := make([]byte, 2048)
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x0d6))
		src := netip.AddrPortFrom(randAddr6(r), uint16(r.Uint32()))
		dst := netip.AddrPortFrom(randAddr6(r), uint16(r.Uint32()))
		payload := randBytes(r, r.IntN(1400))
		fl := r.Uint32() & 0xfffff
		n, err := BuildIPv6UDP(buf, src, dst, payload, fl)
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(buf[:n], layers.LayerTypeIPv6, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if p.ErrorLayer() != nil || ip == nil || udp == nil {
			t.Fatalf("seed %d: decode: %v", seed, p)
		}
		if uint16(udp.SrcPort) != src.Port() || uint16(udp.DstPort) != dst.Port() || int(udp.Length) != 8+len(payload) ||
			!bytes.Equal(udp.Payload, payload) || ip.FlowLabel != fl || ip.HopLimit != DefaultHopLimit {
			t.Fatalf("seed %d: UDP fields differ", seed)
		}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			ip, udp, gopacket.Payload(udp.Payload)); err != nil {
			t.Fatal(err)
		}
		g := sb.Bytes()
		if binary.BigEndian.Uint16(g[46:]) == 0 {
			// gopacket sends a computed zero as zero; RFC 768 and RFC
			// 8200 8.1 want 0xffff, which is what we send.
			g[46], g[47] = 0xff, 0xff
		}
		if !bytes.Equal(g, buf[:n]) {
			t.Fatalf("seed %d: re-serialisation differs\nours %x\ngopk %x", seed, buf[:n], g)
		}
		// gopacket builds, we parse (IPv4 too, through ParseUDP).
		for _, v4 := range []bool{false, true} {
			var nl gopacket.SerializableLayer
			var ps, pd netip.Addr
			if v4 {
				ps, pd = randAddr4(r), randAddr4(r)
				l := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP(ps.AsSlice()), DstIP: net.IP(pd.AsSlice())}
				_ = udp.SetNetworkLayerForChecksum(l)
				nl = l
			} else {
				ps, pd = randAddr6(r), randAddr6(r)
				l := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: net.IP(ps.AsSlice()), DstIP: net.IP(pd.AsSlice())}
				_ = udp.SetNetworkLayerForChecksum(l)
				nl = l
			}
			data := randBytes(r, r.IntN(600))
			sb = gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
				nl, udp, gopacket.Payload(data)); err != nil {
				t.Fatal(err)
			}
			pkt := sb.Bytes()
			hl := UDPHeadersLen(ps) - UDPHeaderLen
			if binary.BigEndian.Uint16(pkt[hl+6:]) == 0 {
				continue // gopacket's zero for a computed zero: covered by TestUDPZeroChecksum
			}
			sp, dp, pl, err := ParseUDP(ps, pd, pkt[hl:])
			if err != nil || sp != uint16(udp.SrcPort) || dp != uint16(udp.DstPort) || !bytes.Equal(pl, data) {
				t.Fatalf("seed %d v4=%v: ParseUDP of gopacket's packet: %v", seed, v4, err)
			}
		}
	}
}

func TestUDPNoAllocs(t *testing.T) {
	src := netip.MustParseAddrPort("[2001:2::1]:1")
	dst := netip.MustParseAddrPort("[2001:2::2]:2")
	buf := make([]byte, 2048)
	payload := make([]byte, 1000)
	n, _ := BuildIPv6UDP(buf, src, dst, payload, 1)
	pkt := append([]byte(nil), buf[:n]...)
	if a := testing.AllocsPerRun(100, func() { _, _ = BuildIPv6UDP(buf, src, dst, payload, 1) }); a != 0 {
		t.Errorf("BuildIPv6UDP: %v allocs", a)
	}
	if a := testing.AllocsPerRun(100, func() { _, _, _, _ = ParseIPv6UDP(pkt) }); a != 0 {
		t.Errorf("ParseIPv6UDP: %v allocs", a)
	}
	if a := testing.AllocsPerRun(100, func() { _, _, _, _ = ParseUDP(src.Addr(), dst.Addr(), pkt[40:]) }); a != 0 {
		t.Errorf("ParseUDP: %v allocs", a)
	}
}

func BenchmarkParseUDP(b *testing.B) {
	for _, fam := range []struct{ name, src, dst string }{{"ipv4", "198.18.0.1:1", "198.18.0.2:2"}, {"ipv6", "[2001:2::1]:1", "[2001:2::2]:2"}} {
		b.Run(fam.name, func(b *testing.B) {
			src, dst := netip.MustParseAddrPort(fam.src), netip.MustParseAddrPort(fam.dst)
			buf := make([]byte, 2048)
			n, _ := BuildUDP(buf, src, dst, make([]byte, 1200), 0, 0)
			hl := UDPHeadersLen(src.Addr()) - UDPHeaderLen
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, _, _, err := ParseUDP(src.Addr(), dst.Addr(), buf[hl:n]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzParseUDP: ParseUDP never panics; what it accepts has a payload
// inside the input and consistent with the length field, and rebuilding
// it with BuildUDP and parsing again gives the same ports and payload.
func FuzzParseUDP(f *testing.F) {
	buf := make([]byte, 256)
	n, _ := BuildIPv6UDP(buf, netip.MustParseAddrPort("[2001:2::1]:1"), netip.MustParseAddrPort("[2001:2::2]:2"), []byte("seed"), 0)
	f.Add(true, append([]byte(nil), buf[40:n]...), true)
	n, _ = BuildIPv4UDP(buf, netip.MustParseAddrPort("198.18.0.1:1"), netip.MustParseAddrPort("198.18.0.2:2"), []byte("seed"))
	f.Add(false, append([]byte(nil), buf[20:n]...), false)
	f.Fuzz(func(t *testing.T, v6 bool, b []byte, fix bool) {
		src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
		if v6 {
			src, dst = netip.MustParseAddr("2001:2::1"), netip.MustParseAddr("2001:2::2")
		}
		b = append([]byte(nil), b...)
		if fix && len(b) >= 8 {
			if l := int(binary.BigEndian.Uint16(b[4:])); l >= 8 && l <= len(b) {
				b[6], b[7] = 0, 0
				binary.BigEndian.PutUint16(b[6:], Checksum(b[:l], PseudoHeaderSum(src, dst, ProtocolUDP, l)))
			}
		}
		sp, dp, p, err := ParseUDP(src, dst, b)
		if err != nil {
			return
		}
		if len(p) != int(binary.BigEndian.Uint16(b[4:]))-8 || (len(p) > 0 && &p[0] != &b[8]) {
			t.Fatalf("payload %d bytes, length field %d", len(p), binary.BigEndian.Uint16(b[4:]))
		}
		out := make([]byte, 48+len(p))
		n, err := BuildUDP(out, netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp), p, 7, 7)
		if err != nil {
			t.Fatal(err)
		}
		hl := UDPHeadersLen(src) - UDPHeaderLen
		sp2, dp2, p2, err := ParseUDP(src, dst, out[hl:n])
		if err != nil || sp2 != sp || dp2 != dp || !bytes.Equal(p2, p) {
			t.Fatalf("rebuild: %v", err)
		}
	})
}

// TestParseUDPRandom runs the fuzz property over seeded random datagrams
// (plain go test has no fuzzing engine), half with fixed checksums, and
// checks the generator reaches past validation in both families.
func TestParseUDPRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ok := map[bool]int{}
	for i := 0; i < 20000; i++ {
		v6 := r.IntN(2) == 0
		src, dst := randAddr4(r), randAddr4(r)
		if v6 {
			src, dst = randAddr6(r), randAddr6(r)
		}
		b := randBytes(r, r.IntN(64))
		if len(b) >= 8 && r.IntN(4) != 0 {
			binary.BigEndian.PutUint16(b[4:], uint16(len(b)-r.IntN(3)))
		}
		if len(b) >= 8 && r.IntN(2) == 0 {
			if l := int(binary.BigEndian.Uint16(b[4:])); l >= 8 && l <= len(b) {
				b[6], b[7] = 0, 0
				binary.BigEndian.PutUint16(b[6:], Checksum(b[:l], PseudoHeaderSum(src, dst, ProtocolUDP, l)))
			}
		}
		_, _, p, err := ParseUDP(src, dst, b)
		if err == nil {
			ok[v6]++
			if len(p) != int(binary.BigEndian.Uint16(b[4:]))-8 {
				t.Fatalf("payload length %d", len(p))
			}
		}
	}
	if ok[false] < 1000 || ok[true] < 1000 {
		t.Fatalf("generator too weak: %v parsed", ok)
	}
}
