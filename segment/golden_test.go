package segment

import "net/netip"

// Golden packets. The bytes were produced by an independent Python script
// (struct.pack plus a word-by-word RFC 1071 checksum), not by this package;
// the SYN uses the option order Linux sends. Each entry lists what parsing
// must yield and the IP ID/TTL the builder needs to reproduce it byte for
// byte.
type goldenPacket struct {
	name string
	hex  string
	seg  Segment
	id   uint16
	ttl  uint8
}

var (
	addrKernel = netip.MustParseAddr("198.18.0.1")
	addrStack  = netip.MustParseAddr("198.18.0.2")
)

var goldenPackets = []goldenPacket{
	{
		name: "SYN",
		hex:  "4500003c1c4640004006924ec6120001c61200029c4000500102030400000000a002faf0f0170000020405b40402080a000030390000000001030307",
		seg: Segment{Src: addrKernel, Dst: addrStack, SrcPort: 40000, DstPort: 80, Seq: 0x01020304,
			Flags: FlagSYN, Window: 64240,
			Options: Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 12345, HasWScale: true, WScale: 7}},
		id: 0x1c46, ttl: 64,
	},
	{
		name: "SynAck",
		hex:  "4500003c000140004006ae93c6120002c612000100509c40fffffff001020305a012ffffe7f60000020405b40402080a00000309000030390103030e",
		seg: Segment{Src: addrStack, Dst: addrKernel, SrcPort: 80, DstPort: 40000, Seq: 0xfffffff0, Ack: 0x01020305,
			Flags: FlagSYN | FlagACK, Window: 65535,
			Options: Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 777, TSEcr: 12345, HasWScale: true, WScale: 14}},
		id: 1, ttl: 64,
	},
	{
		name: "Data",
		hex:  "450000411c47400040069248c6120001c61200029c40005001020305fffffff1801801f6ca3b00000101080a000030700000030968656c6c6f2c20776f726c640a",
		seg: Segment{Src: addrKernel, Dst: addrStack, SrcPort: 40000, DstPort: 80, Seq: 0x01020305, Ack: 0xfffffff1,
			Flags: FlagPSH | FlagACK, Window: 502,
			Options: Options{HasTimestamp: true, TSVal: 12400, TSEcr: 777},
			Payload: []byte("hello, world\n")},
		id: 0x1c47, ttl: 64,
	},
	{
		name: "SackAck",
		hex:  "45000048000240004006ae86c6120002c612000100509c40fffffff101020312d0100400964200000101080a0000032000003070010105120102100001021400fffffff000000010",
		seg: Segment{Src: addrStack, Dst: addrKernel, SrcPort: 80, DstPort: 40000, Seq: 0xfffffff1, Ack: 0x01020312,
			Flags: FlagACK, Window: 1024,
			Options: Options{HasTimestamp: true, TSVal: 800, TSEcr: 12400, NumSACK: 2,
				SACK: [MaxSACKBlocks]SACKBlock{{0x01021000, 0x01021400}, {0xfffffff0, 0x00000010}}}},
		id: 2, ttl: 64,
	},
	{
		name: "Rst",
		hex:  "45000028ffff4000ff0667cd0a0000010a0000020001ffffdeadbeef0000000050040000fe3f0000",
		seg: Segment{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: 1, DstPort: 65535,
			Seq: 0xdeadbeef, Flags: FlagRST},
		id: 0xffff, ttl: 255,
	},
	{
		name: "FinUrgOdd",
		hex:  "4500002b010240000306eaa3c6120001c612000215b300077fffffff80000000503110000b53000278797a",
		seg: Segment{Src: addrKernel, Dst: addrStack, SrcPort: 5555, DstPort: 7, Seq: 0x7fffffff, Ack: 0x80000000,
			Flags: FlagFIN | FlagACK | FlagURG, Window: 4096, Urgent: 2, Payload: []byte("xyz")},
		id: 0x0102, ttl: 3,
	},
}
