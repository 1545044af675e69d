package segment

// Differential tests of ICMPv6 against gopacket v1.1.19 (layers.ICMPv6,
// ICMPv6Echo).

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var serializeFix = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

// TestGopacketICMPv6Echo: echo requests serialised by gopacket are
// answered by ICMPv6EchoReply with a reply gopacket decodes to the same
// identifier, sequence number and data, and re-serialises to the same
// bytes (checksum included).
func TestGopacketICMPv6Echo(t *testing.T) {
	buf := make([]byte, 2048)
	for seed := uint64(0); seed < 500; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x1c6))
		src, dst := randAddr6(r), randAddr6(r)
		if dst.IsMulticast() {
			continue
		}
		ip := &layers.IPv6{Version: 6, TrafficClass: uint8(r.Uint32()), FlowLabel: r.Uint32() & 0xfffff, HopLimit: 64,
			NextHeader: layers.IPProtocolICMPv6, SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
		if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		echo := &layers.ICMPv6Echo{Identifier: uint16(r.Uint32()), SeqNumber: uint16(r.Uint32())}
		data := randBytes(r, r.IntN(1400))
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, serializeFix, ip, icmp, echo, gopacket.Payload(data)); err != nil {
			t.Fatal(err)
		}
		n, err := ICMPv6EchoReply(buf, sb.Bytes())
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		p := gopacket.NewPacket(buf[:n], layers.LayerTypeIPv6, gopacket.Default)
		rip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		ric, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		rec, _ := p.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
		if p.ErrorLayer() != nil || rip == nil || ric == nil || rec == nil {
			t.Fatalf("seed %d: decode: %v", seed, p)
		}
		if !rip.SrcIP.Equal(ip.DstIP) || !rip.DstIP.Equal(ip.SrcIP) || rip.TrafficClass != ip.TrafficClass ||
			ric.TypeCode.Type() != layers.ICMPv6TypeEchoReply || rec.Identifier != echo.Identifier ||
			rec.SeqNumber != echo.SeqNumber || len(ric.Payload) < 4 || !bytes.Equal(ric.Payload[4:], data) {
			t.Fatalf("seed %d: reply differs: %v\nrequest %v %+v", seed, p, ip, echo)
		}
		if err := ric.SetNetworkLayerForChecksum(rip); err != nil {
			t.Fatal(err)
		}
		sb = gopacket.NewSerializeBuffer()
		// gopacket's ICMPv6Echo keeps no payload: re-serialise the
		// ICMPv6 layer with its whole body.
		if err := gopacket.SerializeLayers(sb, serializeFix, rip, ric, gopacket.Payload(ric.Payload)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sb.Bytes(), buf[:n]) {
			t.Fatalf("seed %d: reply re-serialisation differs\nours %x\ngopk %x", seed, buf[:n], sb.Bytes())
		}
	}
}

// TestGopacketICMPv6Errors: error messages serialised by gopacket quoting
// a TCP/IPv6 packet (cut at random) parse with ours to the same field and
// quoted ports; error messages we build re-serialise in gopacket to the
// same bytes.
func TestGopacketICMPv6Errors(t *testing.T) {
	buf := make([]byte, 2048)
	types := []uint8{ICMPv6TypeDestUnreach, ICMPv6TypePacketTooBig, ICMPv6TypeTimeExceeded, ICMPv6TypeParamProblem}
	for seed := uint64(0); seed < 500; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x1c7))
		seg := dataSegment6(r.IntN(1400))
		seg.Src, seg.Dst = randAddr6(r), randAddr6(r)
		for seg.Src.IsMulticast() || seg.Dst.IsMulticast() {
			// No error about a packet from or to a multicast address
			// (RFC 4443 2.4(e)).
			seg.Src, seg.Dst = randAddr6(r), randAddr6(r)
		}
		seg.SrcPort, seg.DstPort, seg.Seq = uint16(r.Uint32()), uint16(r.Uint32()), Seq(r.Uint32())
		inv := make([]byte, 1500)
		k, err := BuildIPv6TCP(inv, &seg, r.Uint32(), 64)
		if err != nil {
			t.Fatal(err)
		}
		inv = inv[:k]
		router := randAddr6(r)
		for router.IsMulticast() {
			router = randAddr6(r)
		}
		typ, param := types[r.IntN(len(types))], r.Uint32()

		// gopacket builds, we parse.
		ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6,
			SrcIP: net.IP(router.AsSlice()), DstIP: net.IP(seg.Src.AsSlice())}
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, uint8(r.IntN(3)))}
		if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		cut := 48 + r.IntN(len(inv)-47)
		body := binary.BigEndian.AppendUint32(nil, param)
		body = append(body, inv[:cut]...)
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, serializeFix, ip, icmp, gopacket.Payload(body)); err != nil {
			t.Fatal(err)
		}
		_, m, err := ParseIPv6ICMP(sb.Bytes())
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		q, err := m.Quoted()
		if err != nil {
			t.Fatalf("seed %d: quoted (%d bytes): %v", seed, cut, err)
		}
		sp, dp, sq := q.TCPPorts()
		if m.Type() != typ || m.MTU() != param || m.Pointer() != param || q.Src != seg.Src || q.Dst != seg.Dst ||
			sp != seg.SrcPort || dp != seg.DstPort || sq != seg.Seq {
			t.Fatalf("seed %d: %+v ports %d %d seq %d", seed, q, sp, dp, sq)
		}

		// We build, gopacket decodes and re-serialises.
		n, err := ICMPv6Error(buf, typ, uint8(r.IntN(3)), param, router, inv)
		if err != nil {
			t.Fatalf("seed %d: ICMPv6Error: %v", seed, err)
		}
		p := gopacket.NewPacket(buf[:n], layers.LayerTypeIPv6, gopacket.Default)
		gip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		gic, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		if gip == nil || gic == nil || gic.TypeCode.Type() != typ || !gip.DstIP.Equal(net.IP(seg.Src.AsSlice())) ||
			binary.BigEndian.Uint32(gic.Payload) != param || !bytes.Equal(gic.Payload[4:], inv[:min(len(inv), IPv6MinMTU-48)]) {
			t.Fatalf("seed %d: gopacket decode: %v", seed, p)
		}
		if err := gic.SetNetworkLayerForChecksum(gip); err != nil {
			t.Fatal(err)
		}
		sb = gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, serializeFix, gip, gic, gopacket.Payload(gic.Payload)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sb.Bytes(), buf[:n]) {
			t.Fatalf("seed %d: error re-serialisation differs\nours %x\ngopk %x", seed, buf[:n], sb.Bytes())
		}
	}
}
