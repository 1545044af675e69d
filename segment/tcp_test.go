package segment

import (
	"bytes"
	"testing"
)

func TestTCPAccessors(t *testing.T) {
	// The golden SYN-ACK's TCP part.
	tcp := TCP(mustHex(goldenPackets[1].hex)[20:])
	if err := tcp.Validate(); err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("SrcPort", tcp.SrcPort(), uint16(80))
	check("DstPort", tcp.DstPort(), uint16(40000))
	check("Seq", tcp.Seq(), Seq(0xfffffff0))
	check("Ack", tcp.Ack(), Seq(0x01020305))
	check("DataOffset", tcp.DataOffset(), uint8(10))
	check("HeaderLen", tcp.HeaderLen(), 40)
	check("Flags", tcp.Flags(), FlagSYN|FlagACK)
	check("Window", tcp.Window(), uint16(65535))
	check("Checksum", tcp.Checksum(), uint16(0xe7f6))
	check("Urgent", tcp.Urgent(), uint16(0))
	check("len(Options)", len(tcp.Options()), 20)
	check("len(Payload)", len(tcp.Payload()), 0)

	u := TCP(mustHex(goldenPackets[5].hex)[20:])
	if err := u.Validate(); err != nil {
		t.Fatal(err)
	}
	check("Urgent", u.Urgent(), uint16(2))
	check("Flags", u.Flags(), FlagFIN|FlagACK|FlagURG)
	check("Payload", string(u.Payload()), "xyz")
	check("len(Options)", len(u.Options()), 0)

	// Every flag bit maps to its constant; the reserved nibble is not a flag.
	for i, f := range []Flags{FlagFIN, FlagSYN, FlagRST, FlagPSH, FlagACK, FlagURG, FlagECE, FlagCWR} {
		b := make(TCP, 20)
		b[12] = 0x5f // data offset 5, all four reserved bits set
		b[13] = 1 << i
		if b.Flags() != f {
			t.Errorf("bit %d: Flags = %v, want %v", i, b.Flags(), f)
		}
	}
}

func TestTCPValidateErrors(t *testing.T) {
	base := mustHex(goldenPackets[2].hex)[20:] // 45 bytes, data offset 8
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"ok", base, nil},
		{"empty", base[:0], ErrShort},
		{"19 bytes", base[:19], ErrShort},
		{"header only, options cut", base[:20], ErrDataOffset},
		{"offset 0", withByte(base, 12, 0x00), ErrDataOffset},
		{"offset 4", withByte(base, 12, 0x40), ErrDataOffset},
		{"offset 15 beyond segment", withByte(base, 12, 0xf0), ErrDataOffset},
		{"offset 5", withByte(base, 12, 0x50), nil},
		{"offset 8 exact", base[:32], nil},
		{"offset 8, 31 bytes", base[:31], ErrDataOffset},
	}
	for _, tc := range tests {
		if err := TCP(tc.b).Validate(); err != tc.want {
			t.Errorf("%s: Validate = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func withByte(b []byte, i int, v byte) []byte {
	c := append([]byte(nil), b...)
	c[i] = v
	return c
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want Options
		err  error
	}{
		{"empty", nil, Options{}, nil},
		{"EOL only", []byte{0}, Options{}, nil},
		{"NOPs", []byte{1, 1, 1, 1}, Options{}, nil},
		{"MSS", []byte{2, 4, 0x05, 0xb4}, Options{HasMSS: true, MSS: 1460}, nil},
		{"MSS 0", []byte{2, 4, 0, 0}, Options{HasMSS: true}, nil},
		{"WS", []byte{1, 3, 3, 14}, Options{HasWScale: true, WScale: 14}, nil},
		{"WS 15 kept as sent", []byte{3, 3, 15, 0}, Options{HasWScale: true, WScale: 15}, nil},
		{"SACK-permitted", []byte{4, 2, 1, 1}, Options{SACKPermitted: true}, nil},
		{"timestamps", []byte{1, 1, 8, 10, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}, Options{HasTimestamp: true, TSVal: 1, TSEcr: 0xffffffff}, nil},
		{"SACK 1", []byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2},
			Options{NumSACK: 1, SACK: [4]SACKBlock{{1, 2}}}, nil},
		{"SACK 4", append([]byte{5, 34}, seqBytes(1, 2, 3, 4, 5, 6, 0xfffffff0, 0x10)...),
			Options{NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {0xfffffff0, 0x10}}}, nil},
		{"unknown kinds skipped", []byte{30, 4, 0xaa, 0xbb, 99, 2, 2, 4, 0x02, 0x00}, Options{HasMSS: true, MSS: 512, Unknown: 2}, nil},
		{"unknown long", append([]byte{254, 38}, make([]byte, 36)...), Options{Unknown: 1}, nil},
		{"MD5 sig (RFC 2385) is unknown", append([]byte{19, 18}, make([]byte, 16)...), Options{Unknown: 1}, nil},
		{"stops at EOL, junk after", []byte{2, 4, 1, 0, 0, 2, 0, 0xff}, Options{HasMSS: true, MSS: 256}, nil},
		{"last wins", []byte{2, 4, 0, 1, 2, 4, 0, 2}, Options{HasMSS: true, MSS: 2}, nil},
		{"second SACK replaces all blocks", append(append([]byte{5, 18}, seqBytes(1, 2, 3, 4)...), append([]byte{5, 10}, seqBytes(5, 6)...)...),
			Options{NumSACK: 1, SACK: [4]SACKBlock{{5, 6}}}, nil},
		{"Linux SYN", mustHex(goldenPackets[0].hex)[40:60],
			Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 12345, HasWScale: true, WScale: 7}, nil},
		// Malformed.
		{"kind without length", []byte{2}, Options{}, ErrBadOption},
		{"NOP then kind without length", []byte{1, 1, 1, 8}, Options{}, ErrBadOption},
		{"unknown without length", []byte{99}, Options{}, ErrBadOption},
		{"length 0", []byte{2, 0, 0, 0}, Options{}, ErrBadOption},
		{"length 1", []byte{2, 1, 0, 0}, Options{}, ErrBadOption},
		{"unknown length 0", []byte{77, 0, 1, 1}, Options{}, ErrBadOption},
		{"unknown length 1", []byte{77, 1, 1, 1}, Options{}, ErrBadOption},
		{"overrun", []byte{2, 4, 5}, Options{}, ErrBadOption},
		{"unknown overrun", []byte{1, 99, 10, 0, 0}, Options{}, ErrBadOption},
		{"timestamp overrun", []byte{8, 10, 0, 0, 0, 0, 0, 0, 0}, Options{}, ErrBadOption},
		{"MSS length 3", []byte{2, 3, 5, 1}, Options{}, ErrBadOption},
		{"MSS length 5", []byte{2, 5, 5, 1, 0, 0, 0, 0}, Options{}, ErrBadOption},
		{"WS length 2", []byte{3, 2, 1, 1}, Options{}, ErrBadOption},
		{"WS length 4", []byte{3, 4, 7, 0}, Options{}, ErrBadOption},
		{"SACK-permitted length 3", []byte{4, 3, 0, 1}, Options{}, ErrBadOption},
		{"timestamps length 8", []byte{8, 8, 0, 0, 0, 0, 0, 0}, Options{}, ErrBadOption},
		{"timestamps length 12", append([]byte{8, 12}, make([]byte, 10)...), Options{}, ErrBadOption},
		{"SACK no blocks", []byte{5, 2, 1, 1}, Options{}, ErrBadOption},
		{"SACK partial block", append([]byte{5, 6}, 0, 0, 0, 1), Options{}, ErrBadOption},
		{"SACK length 11", append([]byte{5, 11}, make([]byte, 9)...), Options{}, ErrBadOption},
		{"SACK 5 blocks", append([]byte{5, 42}, make([]byte, 40)...), Options{}, ErrBadOption},
		{"good then bad", []byte{2, 4, 5, 0xb4, 3, 3, 7, 8, 0}, Options{}, ErrBadOption},
	}
	for _, tc := range tests {
		var o Options
		o.Unknown = 99 // ParseOptions must overwrite everything
		o.NumSACK = 3
		err := ParseOptions(tc.b, &o)
		if err != tc.err {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil && o != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, o, tc.want)
		}
	}
}

func seqBytes(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = append(b, byte(x>>24), byte(x>>16), byte(x>>8), byte(x))
	}
	return b
}

// TestPutOptionsLayout pins the exact bytes written for the option sets the
// engine sends, and that every result parses back to the input.
func TestPutOptionsLayout(t *testing.T) {
	sack := func(n int) Options {
		o := Options{NumSACK: n}
		for i := 0; i < n; i++ {
			o.SACK[i] = SACKBlock{Seq(i*100 + 1), Seq(i*100 + 2)}
		}
		return o
	}
	withTS := func(o Options) Options { o.HasTimestamp, o.TSVal, o.TSEcr = true, 0x01020304, 0x05060708; return o }
	tests := []struct {
		name string
		o    Options
		want []byte
	}{
		{"none", Options{}, nil},
		{"MSS", Options{HasMSS: true, MSS: 1460}, []byte{2, 4, 5, 0xb4}},
		{"Linux SYN", Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 12345, HasWScale: true, WScale: 7},
			mustHex("020405b40402080a000030390000000001030307")},
		{"SYN no TS", Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasWScale: true, WScale: 7},
			[]byte{2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7}},
		{"TS only", withTS(Options{}), mustHex("0101080a0102030405060708")},
		{"WS only", Options{HasWScale: true, WScale: 2}, []byte{1, 3, 3, 2}},
		{"SACK 1", sack(1), append([]byte{1, 1, 5, 10}, seqBytes(1, 2)...)},
		{"SACK 4", sack(4), append([]byte{1, 1, 5, 34}, seqBytes(1, 2, 101, 102, 201, 202, 301, 302)...)},
		{"TS SACK 3", withTS(sack(3)), append(mustHex("0101080a01020304050607080101051a"), seqBytes(1, 2, 101, 102, 201, 202)...)},
		// With TS only 3 blocks fit (RFC 2018 3); the 4th is dropped.
		{"TS SACK 4 trimmed", withTS(sack(4)), append(mustHex("0101080a01020304050607080101051a"), seqBytes(1, 2, 101, 102, 201, 202)...)},
		{"MSS WS TS SACK 4 trimmed to 2", func() Options {
			o := withTS(sack(4))
			o.HasMSS, o.MSS, o.HasWScale, o.WScale = true, 536, true, 1
			return o
		}(), append(mustHex("020402180101080a01020304050607080103030101010512"), seqBytes(1, 2, 101, 102)...)},
		// Aligned would be 4+12+4+4+24 = 48: packed, 3+10+26 = 39 -> 40.
		{"WS TS SACK 3 packed", func() Options { o := withTS(sack(3)); o.HasWScale, o.WScale = true, 9; return o }(),
			append(mustHex("030309080a0102030405060708051a"), append(seqBytes(1, 2, 101, 102, 201, 202), 1)...)},
	}
	for _, tc := range tests {
		n := TCPOptionsLen(&tc.o)
		b := bytes.Repeat([]byte{0xee}, 48)
		if got := PutOptions(b, &tc.o); got != n {
			t.Errorf("%s: PutOptions wrote %d, TCPOptionsLen says %d", tc.name, got, n)
		}
		if !bytes.Equal(b[:n], tc.want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, b[:n], tc.want)
		}
		if n%4 != 0 || n > TCPMaxOptionsLen {
			t.Errorf("%s: length %d", tc.name, n)
		}
		if b[n] != 0xee {
			t.Errorf("%s: wrote past %d", tc.name, n)
		}
		var back Options
		if err := ParseOptions(b[:n], &back); err != nil {
			t.Errorf("%s: parse back: %v", tc.name, err)
		}
	}
}
