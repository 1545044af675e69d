package segment

// Differential tests of the IPv6 header and extension-header walk against
// gopacket v1.1.19 (layers.IPv6, IPv6HopByHop, IPv6Destination,
// IPv6Routing, IPv6Fragment).

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func randAddr6(r *rand.Rand) netip.Addr {
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], r.Uint64())
	binary.BigEndian.PutUint64(a[8:], r.Uint64())
	if a[0] == 0xff && r.IntN(2) == 0 {
		a[0] = 0x20 // keep most destinations unicast
	}
	if netip.AddrFrom16(a).Is4In6() {
		a[0] = 0x20
	}
	return netip.AddrFrom16(a)
}

// randTLVOptions returns random hop-by-hop/destination options as gopacket
// takes them, laid out so that the header is a multiple of 8 bytes without
// gopacket's own padding and with at most 7 padding bytes in a row. With
// bad, one option has an action other than skip.
func randTLVOptions(r *rand.Rand, bad bool) []*layers.IPv6HopByHopOption {
	var opts []*layers.IPv6HopByHopOption
	n := r.IntN(4)
	badAt := -1
	if bad {
		n++
		badAt = r.IntN(n)
	}
	used := 2
	for i := 0; i < n; i++ {
		typ := byte(2 + r.IntN(0x3e)) // action 00, not Pad1/PadN
		if i == badAt {
			typ = byte(1+r.IntN(3))<<6 | byte(r.IntN(0x40))
		}
		o := &layers.IPv6HopByHopOption{OptionType: typ, OptionData: randBytes(r, r.IntN(12))}
		opts = append(opts, o)
		used += 2 + len(o.OptionData)
	}
	if used%8 == 7 && len(opts) > 0 {
		// One byte short: no PadN is 1 byte long; grow an option.
		opts[len(opts)-1].OptionData = append(opts[len(opts)-1].OptionData, 0)
		used++
	}
	if pad := (8 - used%8) % 8; pad > 0 {
		opts = append(opts, &layers.IPv6HopByHopOption{OptionType: ipv6OptPadN, OptionData: make([]byte, pad-2)})
	}
	for _, o := range opts {
		o.OptionLength = uint8(len(o.OptionData))
	}
	return opts
}

// TestGopacketIPv6Walk: random extension-header chains serialised by
// gopacket (hop-by-hop, destination options; routing and fragment headers
// as raw bytes, which gopacket v1.1.19 decodes but cannot serialise) walk
// with ours to the offsets, protocols, fragment fields and option
// pointers gopacket's decode gives.
func TestGopacketIPv6Walk(t *testing.T) {
	var stats [4]int
	for seed := uint64(0); seed < differentialSeeds; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x6e6e))
		src, dst := randAddr6(r), randAddr6(r)
		ip := &layers.IPv6{Version: 6, TrafficClass: uint8(r.Uint32()), FlowLabel: r.Uint32() & 0xfffff,
			HopLimit: uint8(r.Uint32()), SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
		var ls []gopacket.SerializableLayer
		nh := &ip.NextHeader
		bad := r.IntN(8) == 0
		badLayer := -1
		nExt := r.IntN(4)
		if bad {
			nExt++
		}
		kinds := make([]int, 0, 5)
		if r.IntN(2) == 0 {
			kinds = append(kinds, 0) // hop-by-hop
		}
		for len(kinds) < nExt {
			kinds = append(kinds, 1+r.IntN(2)) // destination options or routing
		}
		if bad {
			// The bad option goes in an options header; make one if
			// the chain has none.
			for i, k := range kinds {
				if k != 2 {
					badLayer = i
					break
				}
			}
			if badLayer < 0 {
				kinds[0], badLayer = 1, 0
			}
		}
		withFrag := r.IntN(3) == 0
		for i, k := range kinds {
			switch k {
			case 0:
				*nh = layers.IPProtocolIPv6HopByHop
				h := &layers.IPv6HopByHop{Options: randTLVOptions(r, i == badLayer)}
				ls, nh = append(ls, h), &h.NextHeader
			case 1:
				*nh = layers.IPProtocolIPv6Destination
				var opts []*layers.IPv6DestinationOption
				for _, o := range randTLVOptions(r, i == badLayer) {
					opts = append(opts, (*layers.IPv6DestinationOption)(o))
				}
				h := &layers.IPv6Destination{Options: opts}
				ls, nh = append(ls, h), &h.NextHeader
			case 2:
				*nh = layers.IPProtocolIPv6Routing
				rt := routing(0, 0, 0) // type 0, segments left 0: ignored
				ls = append(ls, gopacket.Payload(rt))
				nh = (*layers.IPProtocol)(&rt[0])
			}
		}
		var fragID uint32
		var fragMore bool
		if withFrag {
			*nh = layers.IPProtocolIPv6Fragment
			fragID, fragMore = r.Uint32(), r.IntN(2) == 0
			fh := frag(0, 0, fragMore, fragID)
			ls = append(ls, gopacket.Payload(fh))
			nh = (*layers.IPProtocol)(&fh[0])
		}
		upper := []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolICMPv6, layers.IPProtocolNoNextHeader}[r.IntN(4)]
		*nh = upper
		var body []byte
		switch upper {
		case layers.IPProtocolTCP:
			body = randBytes(r, 24+8*r.IntN(3)) // 8n: may be a first fragment
			body[12] = 0x50
		case layers.IPProtocolUDP:
			body = randBytes(r, 8+8*r.IntN(3))
		case layers.IPProtocolICMPv6:
			body = randBytes(r, 8+8*r.IntN(3))
			body[0] = 128 // echo request: random types may hold ND options gopacket decodes
		}
		ls = append([]gopacket.SerializableLayer{ip}, append(ls, gopacket.Payload(body))...)
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
			t.Fatalf("seed %d: serialise: %v", seed, err)
		}
		pkt := sb.Bytes()

		// gopacket's view: where each extension header starts, and the
		// first bytes past them.
		p := gopacket.NewPacket(pkt, layers.LayerTypeIPv6, gopacket.DecodeOptions{Lazy: false, NoCopy: true})
		off, wantPtr, wantAction := 0, -1, uint8(0)
		var gfrag *layers.IPv6Fragment
		fragOff := -1
		for _, l := range p.Layers() {
			switch g := l.(type) {
			case *layers.IPv6:
				off = IPv6HeaderLen
				continue
			case *layers.IPv6HopByHop:
				wantPtr, wantAction = optionPointer(wantPtr, wantAction, off, g.Options)
			case *layers.IPv6Destination:
				var o []*layers.IPv6HopByHopOption
				for _, x := range g.Options {
					o = append(o, (*layers.IPv6HopByHopOption)(x))
				}
				wantPtr, wantAction = optionPointer(wantPtr, wantAction, off, o)
			case *layers.IPv6Routing:
				if g.RoutingType != 0 || g.SegmentsLeft != 0 {
					t.Fatalf("seed %d: gopacket routing %+v", seed, g)
				}
			case *layers.IPv6Fragment:
				gfrag, fragOff = g, off
			default:
				continue
			}
			off += len(l.LayerContents())
		}
		if el := p.ErrorLayer(); el != nil && len(pkt) == IPv6HeaderLen {
			// gopacket refuses a payload length of 0 without a
			// hop-by-hop header; RFC 8200 does not, nor Linux.
			off = IPv6HeaderLen
		} else if el != nil {
			t.Fatalf("seed %d: gopacket: %v", seed, el.Error())
		}

		var c IPv6Chain
		err := WalkIPv6(pkt, &c)
		if wantPtr >= 0 {
			stats[0]++
			wantProblem := wantAction == IPv6OptionDiscardICMP || wantAction == IPv6OptionDiscardICMPUnicast && dst.IsMulticast() == false
			if err != ErrIPv6Option || c.OptionAction != wantAction || c.Problem != wantProblem ||
				wantProblem && (c.Pointer != uint32(wantPtr) || c.ProblemCode != ICMPv6UnknownOption) {
				t.Fatalf("seed %d: %v %+v, want option action %d at %d\n%x", seed, err, c, wantAction, wantPtr, pkt)
			}
			continue
		}
		if err != nil {
			t.Fatalf("seed %d: WalkIPv6: %v\n%x", seed, err, pkt)
		}
		if c.Protocol != uint8(upper) || c.Offset != off || c.End != len(pkt) || c.Offset+len(body) != len(pkt) {
			t.Fatalf("seed %d: protocol %d offset %d end %d, gopacket %d %d %d", seed, c.Protocol, c.Offset, c.End, upper, off, len(pkt))
		}
		if c.HasFragment != (gfrag != nil) {
			t.Fatalf("seed %d: fragment %v, gopacket %v", seed, c.HasFragment, gfrag)
		}
		if gfrag != nil {
			stats[1]++
			f := c.Fragment
			if f.Offset != int(gfrag.FragmentOffset)*8 || f.More != gfrag.MoreFragments || f.ID != gfrag.Identification ||
				f.NextHeader != uint8(gfrag.NextHeader) || f.HeaderOffset != fragOff || pkt[f.PrevField] != ProtocolFragment ||
				f.ID != fragID || f.More != fragMore {
				t.Fatalf("seed %d: fragment %+v, gopacket %+v at %d", seed, f, gfrag, fragOff)
			}
			// gopacket stops at a fragment header; our walk goes on
			// through a first fragment to the upper layer, which
			// is right after it here.
			if c.Offset != f.DataOffset() {
				t.Fatalf("seed %d: offset %d after fragment header at %d", seed, c.Offset, f.HeaderOffset)
			}
		}
		stats[2]++
		if len(kinds) > 1 {
			stats[3]++
		}
	}
	t.Logf("bad options %d, fragments %d, walked %d (%d with 2+ headers)", stats[0], stats[1], stats[2], stats[3])
	if stats[0] < 200 || stats[1] < 500 || stats[3] < 500 {
		t.Fatalf("generator too weak: %v", stats)
	}
}

// optionPointer returns the offset in the packet and the action of the
// first option with an action other than skip in an options header at off
// as gopacket decoded it, or keeps ptr and action if one was found before.
func optionPointer(ptr int, action uint8, off int, opts []*layers.IPv6HopByHopOption) (int, uint8) {
	if ptr >= 0 {
		return ptr, action
	}
	at := off + 2
	for _, o := range opts {
		if o.OptionType>>6 != 0 {
			return at, o.OptionType >> 6
		}
		at += o.ActualLength
	}
	return -1, 0
}

// TestPutIPv6HeaderGopacket: headers we write decode in gopacket to the
// same fields.
func TestPutIPv6HeaderGopacket(t *testing.T) {
	buf := make([]byte, 128)
	for seed := uint64(0); seed < 500; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x6e6f))
		h := IPv6Header{TrafficClass: uint8(r.Uint32()), FlowLabel: r.Uint32(), NextHeader: ProtocolUDP,
			HopLimit: uint8(r.Uint32()), Src: randAddr6(r), Dst: randAddr6(r)}
		pl := r.IntN(64)
		PutIPv6Header(buf, &h, pl)
		p := gopacket.NewPacket(buf[:IPv6HeaderLen+pl], layers.LayerTypeIPv6, gopacket.Default)
		g, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if g == nil || g.Version != 6 || g.TrafficClass != h.TrafficClass || g.FlowLabel != h.FlowLabel&0xfffff ||
			int(g.Length) != pl || g.NextHeader != layers.IPProtocolUDP || g.HopLimit != h.HopLimit ||
			!g.SrcIP.Equal(net.IP(h.Src.AsSlice())) || !g.DstIP.Equal(net.IP(h.Dst.AsSlice())) {
			t.Fatalf("seed %d: gopacket %+v, put %+v", seed, g, h)
		}
		v := IPv6(buf[:IPv6HeaderLen+pl])
		if pl > 0 && v.Validate() != nil || v.TrafficClass() != h.TrafficClass || v.FlowLabel() != h.FlowLabel&0xfffff ||
			v.Src() != h.Src || v.Dst() != h.Dst || v.HopLimit() != h.HopLimit || int(v.PayloadLen()) != pl {
			t.Fatalf("seed %d: view disagrees", seed)
		}
	}
}

// randGopacketTCP returns a random gopacket TCP layer and the Segment
// fields our parser must decode from it (addresses and payload aside).
func randGopacketTCP(r *rand.Rand) (*layers.TCP, Segment) {
	flags := Flags(r.Uint32())
	opts, wantOpts := randGopacketOptions(r)
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(r.Uint32()), DstPort: layers.TCPPort(r.Uint32()),
		Seq: r.Uint32(), Ack: r.Uint32(), Window: uint16(r.Uint32()), Urgent: uint16(r.Uint32()),
		FIN: flags.Has(FlagFIN), SYN: flags.Has(FlagSYN), RST: flags.Has(FlagRST), PSH: flags.Has(FlagPSH),
		ACK: flags.Has(FlagACK), URG: flags.Has(FlagURG), ECE: flags.Has(FlagECE), CWR: flags.Has(FlagCWR),
		NS: r.IntN(4) == 0, Options: opts,
	}
	return tcp, Segment{SrcPort: uint16(tcp.SrcPort), DstPort: uint16(tcp.DstPort), Seq: Seq(tcp.Seq), Ack: Seq(tcp.Ack),
		Flags: flags, Window: tcp.Window, Urgent: tcp.Urgent, Options: wantOpts}
}

// TestGopacketBuildsOursParsesIPv6: TCP over IPv6 serialised by gopacket,
// with random hop-by-hop and destination options headers in front, parses
// with ours (Parse and ParseIPv6TCP) to the same fields: gopacket's
// checksum over its IPv6 pseudo-header verifies with ours.
func TestGopacketBuildsOursParsesIPv6(t *testing.T) {
	for seed := uint64(0); seed < differentialSeeds; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x6d1f))
		src, dst := randAddr6(r), randAddr6(r)
		ip := &layers.IPv6{Version: 6, TrafficClass: uint8(r.Uint32()), FlowLabel: r.Uint32() & 0xfffff,
			HopLimit: uint8(r.Uint32()), SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
		ls := []gopacket.SerializableLayer{ip}
		nh := &ip.NextHeader
		if r.IntN(3) == 0 {
			*nh = layers.IPProtocolIPv6HopByHop
			h := &layers.IPv6HopByHop{Options: randTLVOptions(r, false)}
			ls, nh = append(ls, h), &h.NextHeader
		}
		if r.IntN(3) == 0 {
			*nh = layers.IPProtocolIPv6Destination
			var opts []*layers.IPv6DestinationOption
			for _, o := range randTLVOptions(r, false) {
				opts = append(opts, (*layers.IPv6DestinationOption)(o))
			}
			h := &layers.IPv6Destination{Options: opts}
			ls, nh = append(ls, h), &h.NextHeader
		}
		*nh = layers.IPProtocolTCP
		tcp, want := randGopacketTCP(r)
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		want.Src, want.Dst = src, dst
		want.Payload = randBytes(r, r.IntN(1400))
		ls = append(ls, tcp, gopacket.Payload(want.Payload))
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatalf("seed %d: serialise: %v", seed, err)
		}
		pkt := sb.Bytes()
		var seg Segment
		if err := Parse(pkt, &seg); err != nil {
			t.Fatalf("seed %d: Parse: %v\n%x", seed, err, pkt)
		}
		if !segEqual(&seg, &want) {
			t.Fatalf("seed %d:\n got %v %+v\nwant %v %+v", seed, seg.String(), seg.Options, want.String(), want.Options)
		}
		v := IPv6(pkt)
		if v.TrafficClass() != ip.TrafficClass || v.FlowLabel() != ip.FlowLabel || v.HopLimit() != ip.HopLimit || v.PayloadLen() != ip.Length {
			t.Fatalf("seed %d: IPv6 view disagrees with gopacket", seed)
		}
	}
}

// TestOursBuildsGopacketDecodesIPv6: packets built by BuildIPv6TCP decode
// in gopacket to the same fields, and re-serialising gopacket's layers with
// checksum computation reproduces our bytes exactly.
func TestOursBuildsGopacketDecodesIPv6(t *testing.T) {
	buf := make([]byte, 2048)
	for seed := uint64(0); seed < differentialSeeds; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x6075))
		seg := Segment{
			Src: randAddr6(r), Dst: randAddr6(r), SrcPort: uint16(r.Uint32()), DstPort: uint16(r.Uint32()),
			Seq: Seq(r.Uint32()), Ack: Seq(r.Uint32()), Flags: Flags(r.Uint32()), Window: uint16(r.Uint32()),
			Urgent: uint16(r.Uint32()), Options: randOurOptions(r), Payload: randBytes(r, r.IntN(1440)),
		}
		flow, hop := r.Uint32(), uint8(r.Uint32())
		n, err := BuildIPv6TCP(buf, &seg, flow, hop)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		pkt := append([]byte(nil), buf[:n]...)
		p := gopacket.NewPacket(pkt, layers.LayerTypeIPv6, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("seed %d: gopacket decode error: %v", seed, el.Error())
		}
		ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			t.Fatalf("seed %d: layers missing: %v", seed, p)
		}
		if ip.Version != 6 || ip.TrafficClass != 0 || ip.FlowLabel != flow&0xfffff || int(ip.Length) != n-IPv6HeaderLen ||
			ip.NextHeader != layers.IPProtocolTCP || ip.HopLimit != hop ||
			!ip.SrcIP.Equal(net.IP(seg.Src.AsSlice())) || !ip.DstIP.Equal(net.IP(seg.Dst.AsSlice())) {
			t.Fatalf("seed %d: IPv6 fields differ: %+v", seed, ip)
		}
		checkGopacketTCP(t, seed, pkt, &seg, ip, tcp)
	}
}
