package segment

// Differential tests against gopacket v1.1.19's layers, an independent
// implementation of the same wire formats.

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

const differentialSeeds = 3000

func randAddr4(r *rand.Rand) netip.Addr {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], r.Uint32())
	return netip.AddrFrom4(a)
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// randGopacketOptions returns a random TCP option list of at most 40 bytes
// as gopacket takes it, and the Options our parser must decode from it
// (last occurrence wins, unknown kinds counted).
func randGopacketOptions(r *rand.Rand) ([]layers.TCPOption, Options) {
	var opts []layers.TCPOption
	var want Options
	space := TCPMaxOptionsLen
	for k := r.IntN(8); k > 0; k-- {
		var o layers.TCPOption
		var apply func()
		switch r.IntN(9) {
		case 0:
			o = layers.TCPOption{OptionType: layers.TCPOptionKindNop}
		case 1:
			v := uint16(r.Uint32())
			o = layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionData: binary.BigEndian.AppendUint16(nil, v)}
			apply = func() { want.HasMSS, want.MSS = true, v }
		case 2:
			v := uint8(r.Uint32())
			o = layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{v}}
			apply = func() { want.HasWScale, want.WScale = true, v }
		case 3:
			o = layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted}
			apply = func() { want.SACKPermitted = true }
		case 4:
			a, b := r.Uint32(), r.Uint32()
			o = layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionData: binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, a), b)}
			apply = func() { want.HasTimestamp, want.TSVal, want.TSEcr = true, a, b }
		case 5, 6:
			n := 1 + r.IntN(MaxSACKBlocks)
			var blocks [MaxSACKBlocks]SACKBlock
			var data []byte
			for i := 0; i < n; i++ {
				blocks[i] = SACKBlock{Seq(r.Uint32()), Seq(r.Uint32())}
				data = binary.BigEndian.AppendUint32(data, uint32(blocks[i].Start))
				data = binary.BigEndian.AppendUint32(data, uint32(blocks[i].End))
			}
			o = layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionData: data}
			apply = func() { want.NumSACK, want.SACK = n, blocks }
		default:
			// Unknown or unimplemented kinds: 6, 7 (obsolete echo), 19 (MD5),
			// 29 (TCP-AO), 30 (MPTCP), 34 (TFO), 254 (experimental).
			kinds := []layers.TCPOptionKind{6, 7, 19, 29, 30, 34, 254}
			o = layers.TCPOption{OptionType: kinds[r.IntN(len(kinds))], OptionData: randBytes(r, r.IntN(8))}
			apply = func() { want.Unknown++ }
		}
		size := 1
		if o.OptionType != layers.TCPOptionKindNop {
			size = 2 + len(o.OptionData)
		}
		if size > space {
			continue
		}
		space -= size
		o.OptionLength = uint8(size)
		opts = append(opts, o)
		if apply != nil {
			apply()
		}
	}
	return opts, want
}

// TestGopacketBuildsOursParses: packets serialised by gopacket (random
// header fields, IP options, TCP options and payloads) parse with ours to
// the same fields.
func TestGopacketBuildsOursParses(t *testing.T) {
	for seed := uint64(0); seed < differentialSeeds; seed++ {
		r := rand.New(rand.NewPCG(seed, 0xd1ff))
		src, dst := randAddr4(r), randAddr4(r)
		ip := &layers.IPv4{
			Version: 4, TOS: uint8(r.Uint32()), Id: uint16(r.Uint32()), TTL: uint8(r.Uint32()),
			Protocol: layers.IPProtocolTCP, SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice()),
		}
		if r.IntN(2) == 0 {
			ip.Flags = layers.IPv4DontFragment
		}
		if r.IntN(5) == 0 {
			// Router alert (RFC 2113) plus padding: IHL 6 or 7.
			ip.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
			if r.IntN(2) == 0 {
				ip.Options = append(ip.Options, layers.IPv4Option{OptionType: 1}, layers.IPv4Option{OptionType: 1},
					layers.IPv4Option{OptionType: 1}, layers.IPv4Option{OptionType: 0})
			}
		}
		flags := Flags(r.Uint32())
		opts, wantOpts := randGopacketOptions(r)
		tcp := &layers.TCP{
			SrcPort: layers.TCPPort(r.Uint32()), DstPort: layers.TCPPort(r.Uint32()),
			Seq: r.Uint32(), Ack: r.Uint32(), Window: uint16(r.Uint32()), Urgent: uint16(r.Uint32()),
			FIN: flags.Has(FlagFIN), SYN: flags.Has(FlagSYN), RST: flags.Has(FlagRST), PSH: flags.Has(FlagPSH),
			ACK: flags.Has(FlagACK), URG: flags.Has(FlagURG), ECE: flags.Has(FlagECE), CWR: flags.Has(FlagCWR),
			NS:      r.IntN(4) == 0, // a reserved bit to us: must be ignored
			Options: opts,
		}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		payload := randBytes(r, r.IntN(1400))
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatalf("seed %d: gopacket serialise: %v", seed, err)
		}
		pkt := sb.Bytes()

		var seg Segment
		if err := ParseIPv4TCP(pkt, &seg); err != nil {
			t.Fatalf("seed %d: ParseIPv4TCP: %v\n%x", seed, err, pkt)
		}
		want := Segment{
			Src: src, Dst: dst, SrcPort: uint16(tcp.SrcPort), DstPort: uint16(tcp.DstPort),
			Seq: Seq(tcp.Seq), Ack: Seq(tcp.Ack), Flags: flags, Window: tcp.Window, Urgent: tcp.Urgent,
			Options: wantOpts, Payload: payload,
		}
		if !segEqual(&seg, &want) {
			t.Fatalf("seed %d:\n got %v %+v\nwant %v %+v\n%x", seed, seg.String(), seg.Options, want.String(), want.Options, pkt)
		}
		v := IPv4(pkt)
		if v.TOS() != ip.TOS || v.ID() != ip.Id || v.TTL() != ip.TTL || v.DontFragment() != (ip.Flags == layers.IPv4DontFragment) ||
			v.IHL() != ip.IHL || v.TotalLen() != ip.Length || v.Checksum() != ip.Checksum {
			t.Fatalf("seed %d: IPv4 view disagrees with gopacket", seed)
		}
		tv := TCP(v.Payload())
		if tv.DataOffset() != tcp.DataOffset || tv.Checksum() != tcp.Checksum {
			t.Fatalf("seed %d: TCP view disagrees with gopacket", seed)
		}
	}
}

// randOurOptions returns random Options as the engine might fill them.
func randOurOptions(r *rand.Rand) Options {
	var o Options
	if r.IntN(2) == 0 {
		o.HasMSS, o.MSS = true, uint16(r.Uint32())
	}
	if r.IntN(2) == 0 {
		o.HasWScale, o.WScale = true, uint8(r.IntN(15))
	}
	o.SACKPermitted = r.IntN(2) == 0
	if r.IntN(2) == 0 {
		o.HasTimestamp, o.TSVal, o.TSEcr = true, r.Uint32(), r.Uint32()
	}
	if r.IntN(2) == 0 {
		o.NumSACK = 1 + r.IntN(MaxSACKBlocks)
		for i := 0; i < o.NumSACK; i++ {
			o.SACK[i] = SACKBlock{Seq(r.Uint32()), Seq(r.Uint32())}
		}
	}
	return o
}

// optionsFromGopacket converts gopacket's decoded option list to Options,
// independently of our parser.
func optionsFromGopacket(t *testing.T, opts []layers.TCPOption) Options {
	var o Options
	for _, x := range opts {
		d := x.OptionData
		switch x.OptionType {
		case layers.TCPOptionKindEndList, layers.TCPOptionKindNop:
		case layers.TCPOptionKindMSS:
			o.HasMSS, o.MSS = true, binary.BigEndian.Uint16(d)
		case layers.TCPOptionKindWindowScale:
			o.HasWScale, o.WScale = true, d[0]
		case layers.TCPOptionKindSACKPermitted:
			o.SACKPermitted = true
		case layers.TCPOptionKindTimestamps:
			o.HasTimestamp, o.TSVal, o.TSEcr = true, binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:])
		case layers.TCPOptionKindSACK:
			o.NumSACK = len(d) / 8
			for i := 0; i < o.NumSACK; i++ {
				o.SACK[i] = SACKBlock{Seq(binary.BigEndian.Uint32(d[8*i:])), Seq(binary.BigEndian.Uint32(d[8*i+4:]))}
			}
		default:
			t.Fatalf("we wrote option kind %d", x.OptionType)
		}
	}
	return o
}

// TestOursBuildsGopacketDecodes: packets built by BuildIPv4TCP decode in
// gopacket to the same fields, and re-serialising gopacket's decoded layers
// with checksum computation reproduces our bytes exactly, so both our
// checksums are what gopacket computes.
func TestOursBuildsGopacketDecodes(t *testing.T) {
	buf := make([]byte, 2048)
	for seed := uint64(0); seed < differentialSeeds; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x0075))
		seg := Segment{
			Src: randAddr4(r), Dst: randAddr4(r), SrcPort: uint16(r.Uint32()), DstPort: uint16(r.Uint32()),
			Seq: Seq(r.Uint32()), Ack: Seq(r.Uint32()), Flags: Flags(r.Uint32()), Window: uint16(r.Uint32()),
			Urgent: uint16(r.Uint32()), Options: randOurOptions(r), Payload: randBytes(r, r.IntN(1460)),
		}
		id, ttl := uint16(r.Uint32()), uint8(r.Uint32())
		n, err := BuildIPv4TCP(buf, &seg, id, ttl)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		pkt := append([]byte(nil), buf[:n]...)

		p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("seed %d: gopacket decode error: %v\n%x", seed, el.Error(), pkt)
		}
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			t.Fatalf("seed %d: layers missing: %v", seed, p)
		}
		if ip.Version != 4 || ip.IHL != 5 || int(ip.Length) != n || ip.Id != id || ip.TTL != ttl ||
			ip.Flags != layers.IPv4DontFragment || ip.FragOffset != 0 || ip.Protocol != layers.IPProtocolTCP ||
			!ip.SrcIP.Equal(net.IP(seg.Src.AsSlice())) || !ip.DstIP.Equal(net.IP(seg.Dst.AsSlice())) {
			t.Fatalf("seed %d: IPv4 fields differ: %+v", seed, ip)
		}
		checkGopacketTCP(t, seed, pkt, &seg, ip, tcp)
	}
}

// checkGopacketTCP checks gopacket's decode of pkt, which we built from
// seg: the TCP fields and options are seg's, gopacket finds the checksum
// over ip's pseudo-header valid, and re-serialising ip and tcp with
// checksum computation reproduces pkt exactly.
func checkGopacketTCP(t *testing.T, seed uint64, pkt []byte, seg *Segment, ip interface {
	gopacket.NetworkLayer
	gopacket.SerializableLayer
}, tcp *layers.TCP) {
	t.Helper()
	f := seg.Flags
	if uint16(tcp.SrcPort) != seg.SrcPort || uint16(tcp.DstPort) != seg.DstPort || Seq(tcp.Seq) != seg.Seq ||
		Seq(tcp.Ack) != seg.Ack || tcp.Window != seg.Window || tcp.Urgent != seg.Urgent ||
		tcp.FIN != f.Has(FlagFIN) || tcp.SYN != f.Has(FlagSYN) || tcp.RST != f.Has(FlagRST) ||
		tcp.PSH != f.Has(FlagPSH) || tcp.ACK != f.Has(FlagACK) || tcp.URG != f.Has(FlagURG) ||
		tcp.ECE != f.Has(FlagECE) || tcp.CWR != f.Has(FlagCWR) || tcp.NS ||
		int(tcp.DataOffset)*4 != TCPHeaderLen(&seg.Options) || !bytes.Equal(tcp.Payload, seg.Payload) {
		t.Fatalf("seed %d: TCP fields differ", seed)
	}
	// Options: what gopacket decodes is what we meant to send, less
	// SACK blocks that did not fit (the first ones are kept).
	wantOpts := seg.Options
	_, nsack, _ := optionsLayout(&wantOpts)
	wantOpts.NumSACK = nsack
	for i := nsack; i < MaxSACKBlocks; i++ {
		wantOpts.SACK[i] = SACKBlock{}
	}
	if got := optionsFromGopacket(t, tcp.Options); got != wantOpts {
		t.Fatalf("seed %d: options\n got %+v\nwant %+v", seed, got, wantOpts)
	}

	// Checksums: gopacket's ComputeChecksum sums the header as
	// decoded, checksum field included, so a valid segment gives 0.
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	if c, err := tcp.ComputeChecksum(); err != nil || c != 0 {
		t.Fatalf("seed %d: gopacket says our TCP checksum %#x is off by %#x (%v)", seed, tcp.Checksum, c, err)
	}
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, tcp, gopacket.Payload(tcp.Payload)); err != nil {
		t.Fatalf("seed %d: reserialise: %v", seed, err)
	}
	if !bytes.Equal(sb.Bytes(), pkt) {
		t.Fatalf("seed %d: gopacket re-serialisation differs\nours %x\ngopk %x", seed, pkt, sb.Bytes())
	}
}

// TestGopacketUDPAndICMP: the small builders agree with gopacket too.
func TestGopacketUDPAndICMP(t *testing.T) {
	buf := make([]byte, 2048)
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x0d9))
		src := netip.AddrPortFrom(randAddr4(r), uint16(r.Uint32()))
		dst := netip.AddrPortFrom(randAddr4(r), uint16(r.Uint32()))
		payload := randBytes(r, r.IntN(1400))
		n, err := BuildIPv4UDP(buf, src, dst, payload)
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(buf[:n], layers.LayerTypeIPv4, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if p.ErrorLayer() != nil || ip == nil || udp == nil {
			t.Fatalf("seed %d: decode: %v", seed, p)
		}
		if uint16(udp.SrcPort) != src.Port() || uint16(udp.DstPort) != dst.Port() || int(udp.Length) != 8+len(payload) ||
			!bytes.Equal(udp.Payload, payload) {
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
		if !bytes.Equal(sb.Bytes(), buf[:n]) {
			t.Fatalf("seed %d: UDP re-serialisation differs\nours %x\ngopk %x", seed, buf[:n], sb.Bytes())
		}

		// Echo request built by gopacket, answered by us, checked by gopacket.
		reqIP := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, TOS: uint8(r.Uint32()),
			Id: uint16(r.Uint32()), SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0),
			Id: uint16(r.Uint32()), Seq: uint16(r.Uint32())}
		data := randBytes(r, r.IntN(200))
		sb = gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			reqIP, icmp, gopacket.Payload(data)); err != nil {
			t.Fatal(err)
		}
		req := append([]byte(nil), sb.Bytes()...)
		n, err = ICMPv4EchoReply(buf, req)
		if err != nil {
			t.Fatalf("seed %d: echo reply: %v", seed, err)
		}
		p = gopacket.NewPacket(buf[:n], layers.LayerTypeIPv4, gopacket.Default)
		rip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		ric, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if p.ErrorLayer() != nil || rip == nil || ric == nil {
			t.Fatalf("seed %d: decode reply: %v", seed, p)
		}
		if !rip.SrcIP.Equal(reqIP.DstIP) || !rip.DstIP.Equal(reqIP.SrcIP) || ric.TypeCode.Type() != layers.ICMPv4TypeEchoReply ||
			ric.Id != icmp.Id || ric.Seq != icmp.Seq || !bytes.Equal(ric.Payload, data) {
			t.Fatalf("seed %d: reply fields differ: %v", seed, p)
		}
		sb = gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			rip, ric, gopacket.Payload(ric.Payload)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sb.Bytes(), buf[:n]) {
			t.Fatalf("seed %d: reply re-serialisation differs (checksums)\nours %x\ngopk %x", seed, buf[:n], sb.Bytes())
		}
	}
}
