package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
)

// --trace and --pcap over IPv6: peekTCP walks extension headers, the trace
// prints bracketed addresses, the capture holds both families under one
// link type, and IPv6 super-segments are recorded as their wire segments.

// tcp6Packet builds an IPv6/TCP packet with gopacket, the independent
// reference for peekTCP.
func tcp6Packet(t testing.TB, flags segment.Flags, seq, ackn uint32, payload []byte) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, FlowLabel: 0xabcde,
		SrcIP: net.ParseIP("2001:2::1"), DstIP: net.ParseIP("2001:2::2")}
	tcp := &layers.TCP{SrcPort: 51234, DstPort: 80, Seq: seq, Ack: ackn, Window: 64800,
		SYN: flags.Has(segment.FlagSYN), ACK: flags.Has(segment.FlagACK), FIN: flags.Has(segment.FlagFIN),
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xa0}}}}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withExtHeader inserts an 8-byte extension header of type nh with body
// (6 bytes) between pkt's fixed IPv6 header and its TCP header. The TCP
// checksum stays valid: the pseudo-header counts the upper-layer length
// (RFC 8200 8.1).
func withExtHeader(pkt []byte, nh uint8, body [6]byte) []byte {
	out := append(append([]byte(nil), pkt[:40]...), pkt[6], 0)
	out = append(append(out, body[:]...), pkt[40:]...)
	out[6] = nh
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
	return out
}

func TestPeekTCP6(t *testing.T) {
	pkt := tcp6Packet(t, segment.FlagSYN, 1000, 0, []byte("hi"))
	padN := [6]byte{1, 4} // a PadN option filling the header (RFC 8200 4.2)
	atomic := [6]byte{0, 0, 0, 0, 0, 7}
	for name, p := range map[string][]byte{
		"plain":           pkt,
		"hop-by-hop":      withExtHeader(pkt, segment.ProtocolHopByHop, padN),
		"atomic fragment": withExtHeader(pkt, segment.ProtocolFragment, atomic), // RFC 6946: a whole datagram
	} {
		h, ok := peekTCP(p)
		if !ok {
			t.Fatalf("%s: not recognised", name)
		}
		if h.src.String() != "2001:2::1" || h.dst.String() != "2001:2::2" || h.srcPort != 51234 || h.dstPort != 80 ||
			h.seq != 1000 || h.flags != segment.FlagSYN || h.win != 64800 || h.payload != 2 || h.opts.MSS != 1440 {
			t.Fatalf("%s: %+v", name, h)
		}
	}
	for n := range len(pkt) {
		if _, ok := peekTCP(pkt[:n]); ok {
			t.Fatalf("truncated packet of %d bytes accepted", n)
		}
	}
	// A first fragment (offset 0, M set; 16 bytes of data, a multiple of
	// 8) carries part of a segment: not shown.
	first := withExtHeader(pkt[:40+16], segment.ProtocolFragment, [6]byte{0, 1, 0, 0, 0, 8})
	if _, ok := peekTCP(first); ok {
		t.Fatal("a fragment was shown as a segment")
	}
	udp := append([]byte(nil), pkt...)
	udp[6] = segment.ProtocolUDP
	if _, ok := peekTCP(udp); ok {
		t.Fatal("UDP accepted as TCP")
	}

	var out bytes.Buffer
	tr := newTracer(&out)
	h, _ := peekTCP(pkt)
	tr.packet(time.Time{}, h)
	if want := " [2001:2::1]:51234 > [2001:2::2]:80 [S] seq=1000 ack=0 win=64800 len=2 <mss 1440>\n"; !strings.HasSuffix(out.String(), want) {
		t.Fatalf("trace line %q, want suffix %q", out.String(), want)
	}
}

func FuzzPeekTCP6(f *testing.F) {
	pkt := tcp6Packet(f, segment.FlagSYN, 1, 0, nil)
	f.Add(pkt)
	f.Add(withExtHeader(pkt, segment.ProtocolHopByHop, [6]byte{1, 4}))
	f.Add([]byte{0x60, 0, 0, 0, 0, 0, 6, 64})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		peekTCP(pkt) // must not panic
	})
}

// gsoIPv6Link is a fake offload link that takes IPv6 super-segments.
type gsoIPv6Link struct{ fakeOffloadLink }

func (l *gsoIPv6Link) GSOIPv6() bool { return true }

// TestObserveKeepsIPv6Offload: the observed link offers IPv6 super-segments
// exactly when the device does.
func TestObserveKeepsIPv6Offload(t *testing.T) {
	type v6 interface{ GSOIPv6() bool }
	if g, ok := observe(&fakeOffloadLink{}, nil, newTracer(io.Discard)).(v6); ok && g.GSOIPv6() {
		t.Fatal("observing a device without IPv6 offloads offers them")
	}
	g, ok := observe(&gsoIPv6Link{}, nil, newTracer(io.Discard)).(v6)
	if !ok || !g.GSOIPv6() {
		t.Fatal("observing a device with IPv6 offloads hides them from the stack")
	}
	if _, ok := observe(&fakeLink{}, nil, newTracer(io.Discard)).(v6); ok {
		t.Fatal("a plain link gained an offload method under observation")
	}
}

// TestObservePcapRecordsTheWire6: as TestObservePcapRecordsTheWire for
// IPv6 super-segments (GSO_TCPV6), with an IPv4 packet in the same file:
// one capture of link type RAW holds both families, gopacket decodes each
// by its version nibble, every IPv6 wire segment has a valid checksum over
// the IPv6 pseudo-header, at most the MSS and the super-segment's flow
// label, and each direction's byte stream reassembles exactly.
func TestObservePcapRecordsTheWire6(t *testing.T) {
	const mss = 1428
	path := filepath.Join(t.TempDir(), "wire6.pcap")
	pf, err := createPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	var trace bytes.Buffer
	outHdr, outPayload := superSegment(t, "2001:2::2", "2001:2::1", 5000, segment.FlagACK|segment.FlagPSH|segment.FlagFIN, 4*mss+9)
	inHdr, in := superSegment(t, "2001:2::1", "2001:2::2", 9000, segment.FlagACK, 3*mss)
	pkt := append(append([]byte(nil), inHdr...), in...)
	binary.BigEndian.PutUint16(pkt[40+16:], 0x1234) // the kernel's partial checksum
	v4 := tcpPacket(t, true, false, false, 1, 0, nil)
	fl := &gsoIPv6Link{fakeOffloadLink{reads: []fakeRead{{pkt, true, mss}, {v4, true, 0}}}}
	l := observe(fl, pf, newTracer(&trace)).(stack.OffloadLink)
	buf := make([]byte, 65536)
	for range 2 {
		if _, _, err := l.ReadPacket(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.WriteGSO(outHdr, outPayload, mss); err != nil {
		t.Fatal(err)
	}
	if err := pf.Close(); err != nil {
		t.Fatal(err)
	}

	streams := map[string][]byte{}
	var six, four int
	for i, d := range readPcapFile(t, path) {
		p := gopacket.NewPacket(d, layers.LinkTypeRaw, gopacket.Default)
		if p.Layer(layers.LayerTypeTCP) == nil || p.ErrorLayer() != nil {
			t.Fatalf("gopacket cannot decode record %d as link type RAW: %v", i, p.ErrorLayer())
		}
		if p.Layer(layers.LayerTypeIPv4) != nil {
			four++
			continue
		}
		ip6, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if !ok {
			t.Fatalf("record %d is neither IPv4 nor IPv6", i)
		}
		six++
		if ip6.FlowLabel != 0x12345 {
			t.Fatalf("record %d: flow label %#x, want the super-segment's 0x12345", i, ip6.FlowLabel)
		}
		var s segment.Segment
		if err := segment.ParseIPv6TCP(d, &s); err != nil { // verifies the checksum
			t.Fatalf("record %d: %v", i, err)
		}
		if len(s.Payload) > mss {
			t.Fatalf("record %d carries %d bytes, more than the MSS %d", i, len(s.Payload), mss)
		}
		streams[s.Src.String()] = append(streams[s.Src.String()], s.Payload...)
	}
	if four != 1 || six != 5+3 {
		t.Fatalf("%d IPv4 and %d IPv6 records, want 1 and 8", four, six)
	}
	if !bytes.Equal(streams["2001:2::2"], outPayload) || !bytes.Equal(streams["2001:2::1"], in) {
		t.Fatalf("the streams do not reassemble (%d and %d bytes)", len(streams["2001:2::2"]), len(streams["2001:2::1"]))
	}
	lines := strings.Split(strings.TrimSpace(trace.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "198.18.0.1:51234 > 198.18.0.2:80 [S]") ||
		!strings.Contains(lines[1], "[2001:2::2]:80 > [2001:2::1]:51234 [FP.] seq=10712 ") || !strings.Contains(lines[1], " len=9") {
		t.Fatalf("trace should show the IPv4 SYN and the IPv6 FIN once, on the last 9-byte segment at seq 5000+4*1428:\n%s", trace.String())
	}
}

// TestObserveAllocs6: observing IPv6 super-segments allocates nothing per
// packet either.
func TestObserveAllocs6(t *testing.T) {
	hdr, payload := superSegment(t, "2001:2::1", "2001:2::2", 1, segment.FlagACK, 20*1428)
	pkt := append(append([]byte(nil), hdr...), payload...)
	pf, err := createPcap(filepath.Join(t.TempDir(), "a.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	syn := tcp6Packet(t, segment.FlagSYN, 1, 0, nil)
	l := observe(&nopOffloadLink{pkt: pkt, gso: 1428}, pf, newTracer(io.Discard)).(stack.OffloadLink)
	buf := make([]byte, 65536)
	allocs := testing.AllocsPerRun(50, func() {
		l.ReadPacket(buf, nil)
		l.WriteGSO(hdr, payload, 1428)
		l.Write(pkt[:100])
	})
	if allocs != 0 {
		t.Errorf("%v allocations per read and writes", allocs)
	}
	if a := testing.AllocsPerRun(100, func() { peekTCP(syn) }); a != 0 {
		t.Errorf("%v allocs per IPv6 peek", a)
	}
}
