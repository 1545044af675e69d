package segment

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// ipWithOptions: an IPv4 header with 8 bytes of options (NOP padding and a
// router alert, RFC 2113), payload "abcd", built by hand.
func ipWithOptions() []byte {
	b := []byte{
		0x47, 0xb8, 0x00, 0x20, // version 4, IHL 7, TOS 0xb8 (EF), total 32
		0xbe, 0xef, 0x20, 0x00, // ID 0xbeef, MF
		0x11, 0x11, 0x00, 0x00, // TTL 17, proto 17, checksum
		192, 0, 2, 1,
		203, 0, 113, 9,
		0x94, 0x04, 0x00, 0x00, // router alert
		0x01, 0x01, 0x01, 0x00, // NOP NOP NOP EOL
		'a', 'b', 'c', 'd',
		0xee, 0xee, // link padding past total length
	}
	binary.BigEndian.PutUint16(b[10:], naiveChecksum(b[:28], 0))
	return b
}

func TestIPv4Accessors(t *testing.T) {
	ip := IPv4(mustHex(goldenPackets[0].hex))
	if err := ip.Validate(); err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("Version", ip.Version(), uint8(4))
	check("IHL", ip.IHL(), uint8(5))
	check("HeaderLen", ip.HeaderLen(), 20)
	check("TOS", ip.TOS(), uint8(0))
	check("TotalLen", ip.TotalLen(), uint16(60))
	check("ID", ip.ID(), uint16(0x1c46))
	check("Flags", ip.Flags(), uint8(2))
	check("DontFragment", ip.DontFragment(), true)
	check("MoreFragments", ip.MoreFragments(), false)
	check("FragOffset", ip.FragOffset(), uint16(0))
	check("TTL", ip.TTL(), uint8(64))
	check("Protocol", ip.Protocol(), uint8(ProtocolTCP))
	check("Checksum", ip.Checksum(), uint16(0x924e))
	check("Src", ip.Src(), netip.MustParseAddr("198.18.0.1"))
	check("Dst", ip.Dst(), netip.MustParseAddr("198.18.0.2"))
	check("len(Options)", len(ip.Options()), 0)
	check("len(Payload)", len(ip.Payload()), 40)
	check("IPVersion", IPVersion(ip), 4)

	// A header with options, MF set (so Validate says ErrFragment, after
	// all length checks passed), TOS and link padding.
	o := IPv4(ipWithOptions())
	if err := o.Validate(); err != ErrFragment {
		t.Fatalf("Validate = %v, want ErrFragment", err)
	}
	check("opt IHL", o.IHL(), uint8(7))
	check("opt HeaderLen", o.HeaderLen(), 28)
	check("opt TOS", o.TOS(), uint8(0xb8))
	check("opt ID", o.ID(), uint16(0xbeef))
	check("opt Flags", o.Flags(), uint8(1))
	check("opt MoreFragments", o.MoreFragments(), true)
	check("opt DontFragment", o.DontFragment(), false)
	check("opt TTL", o.TTL(), uint8(17))
	check("opt Protocol", o.Protocol(), uint8(ProtocolUDP))
	check("opt Src", o.Src(), netip.MustParseAddr("192.0.2.1"))
	check("opt Dst", o.Dst(), netip.MustParseAddr("203.0.113.9"))
	if !bytes.Equal(o.Options(), []byte{0x94, 0x04, 0, 0, 1, 1, 1, 0}) {
		t.Errorf("Options = %x", o.Options())
	}
	if string(o.Payload()) != "abcd" {
		t.Errorf("Payload = %q, want abcd (bounded by total length)", o.Payload())
	}
	// Clear MF: now valid.
	o[6] = 0
	binary.BigEndian.PutUint16(o[10:], 0)
	binary.BigEndian.PutUint16(o[10:], Checksum(o[:28], 0))
	if err := o.Validate(); err != nil {
		t.Fatalf("Validate after clearing MF = %v", err)
	}
	o[6], o[7] = 0x00, 0x01 // fragment offset 1
	binary.BigEndian.PutUint16(o[10:], 0)
	binary.BigEndian.PutUint16(o[10:], Checksum(o[:28], 0))
	check("FragOffset", o.FragOffset(), uint16(1))
}

// fixIPChecksum recomputes the header checksum of b, so a test can change
// one field and hit the check it means to hit.
func fixIPChecksum(b []byte) {
	hl := int(b[0]&0xf) * 4
	if hl < 20 || hl > len(b) {
		hl = 20
	}
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:], Checksum(b[:hl], 0))
}

func TestIPv4ValidateErrors(t *testing.T) {
	base := mustHex(goldenPackets[2].hex) // 65 bytes, IHL 5
	tests := []struct {
		name   string
		mutate func(b []byte) []byte
		want   error
	}{
		{"ok", func(b []byte) []byte { return b }, nil},
		{"ok with trailing padding", func(b []byte) []byte { return append(b, 0, 0, 0) }, nil},
		{"empty", func(b []byte) []byte { return b[:0] }, ErrShort},
		{"19 bytes", func(b []byte) []byte { return b[:19] }, ErrShort},
		{"version 6", func(b []byte) []byte { b[0] = 0x65; fixIPChecksum(b); return b }, ErrVersion},
		{"version 0", func(b []byte) []byte { b[0] = 0x05; return b }, ErrVersion},
		{"IHL 0", func(b []byte) []byte { b[0] = 0x40; return b }, ErrIHL},
		{"IHL 4", func(b []byte) []byte { b[0] = 0x44; return b }, ErrIHL},
		{"IHL 15 beyond 20-byte packet", func(b []byte) []byte { b[0] = 0x4f; return b[:20] }, ErrIHL},
		{"total length < header", func(b []byte) []byte { b[2], b[3] = 0, 19; fixIPChecksum(b); return b }, ErrTotalLength},
		{"total length 0", func(b []byte) []byte { b[2], b[3] = 0, 0; fixIPChecksum(b); return b }, ErrTotalLength},
		{"total length > packet", func(b []byte) []byte { return b[:64] }, ErrTotalLength},
		{"total length 65535", func(b []byte) []byte { b[2], b[3] = 0xff, 0xff; fixIPChecksum(b); return b }, ErrTotalLength},
		{"bad checksum", func(b []byte) []byte { b[11] ^= 1; return b }, ErrChecksum},
		{"changed TTL", func(b []byte) []byte { b[8]--; return b }, ErrChecksum},
		{"MF", func(b []byte) []byte { b[6] |= 0x20; fixIPChecksum(b); return b }, ErrFragment},
		{"offset", func(b []byte) []byte { b[7] = 1; fixIPChecksum(b); return b }, ErrFragment},
		{"max offset", func(b []byte) []byte { b[6], b[7] = 0x1f, 0xff; fixIPChecksum(b); return b }, ErrFragment},
		{"reserved flag only", func(b []byte) []byte { b[6] = 0x80; fixIPChecksum(b); return b }, nil},
	}
	for _, tc := range tests {
		b := tc.mutate(append([]byte(nil), base...))
		if err := IPv4(b).Validate(); err != tc.want {
			t.Errorf("%s: Validate = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestPutIPv4Header(t *testing.T) {
	// The IPv4 header of the golden SYN, rebuilt from fields.
	want := mustHex(goldenPackets[0].hex)[:20]
	h := IPv4Header{ID: 0x1c46, DF: true, TTL: 64, Protocol: ProtocolTCP, Src: addrKernel, Dst: addrStack}
	b := bytes.Repeat([]byte{0xaa}, 20)
	if n := PutIPv4Header(b, &h, 40); n != 20 {
		t.Fatalf("n = %d", n)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("header\n got %x\nwant %x", b, want)
	}
	// TOS, no DF, IPv4-mapped addresses.
	h = IPv4Header{TOS: 0x10, ID: 7, TTL: 1, Protocol: ProtocolUDP,
		Src: netip.AddrFrom16(addrKernel.As16()), Dst: netip.AddrFrom16(addrStack.As16())}
	PutIPv4Header(b, &h, 100)
	ip := IPv4(append(b, make([]byte, 100)...))
	if err := ip.Validate(); err != nil {
		t.Fatal(err)
	}
	if ip.TOS() != 0x10 || ip.ID() != 7 || ip.TTL() != 1 || ip.DontFragment() || ip.Protocol() != ProtocolUDP ||
		ip.TotalLen() != 120 || ip.Src() != addrKernel || ip.Dst() != addrStack {
		t.Fatalf("fields wrong: %x", b)
	}
}

func TestIPVersion(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want int
	}{{nil, 0}, {[]byte{0x45}, 4}, {[]byte{0x60, 0}, 6}, {[]byte{0xf0}, 15}} {
		if got := IPVersion(tc.b); got != tc.want {
			t.Errorf("IPVersion(%x) = %d, want %d", tc.b, got, tc.want)
		}
	}
}
