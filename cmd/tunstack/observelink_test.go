package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
)

// fakeOffloadLink is an in-memory link with offloads: reads return queued
// packets with the csumOK and gso size given, WriteGSO records its
// arguments and, as tun.Device does, overwrites the TCP checksum field of
// hdr.
type fakeOffloadLink struct {
	fakeLink
	reads     []fakeRead
	idleCalls int
	gsoCalls  []fakeGSO
	gate      func() bool
}

func (l *fakeOffloadLink) SetPollGate(gate func() bool) { l.gate = gate }

type fakeRead struct {
	pkt    []byte
	csumOK bool
	gso    int
}

type fakeGSO struct {
	hdr, payload []byte
	mss          int
}

func (l *fakeOffloadLink) ReadPacketGSO(p []byte, idle func()) (int, bool, int, error) {
	if idle != nil {
		l.idleCalls++
		idle()
	}
	if len(l.reads) == 0 {
		return 0, false, 0, os.ErrClosed
	}
	r := l.reads[0]
	l.reads = l.reads[1:]
	return copy(p, r.pkt), r.csumOK, r.gso, nil
}

func (l *fakeOffloadLink) ReadPacket(p []byte, idle func()) (int, bool, error) {
	n, ok, _, err := l.ReadPacketGSO(p, idle)
	return n, ok, err
}

func (l *fakeOffloadLink) GSOMaxSize() int { return 65535 }

func (l *fakeOffloadLink) WriteGSO(hdr, payload []byte, mss int) (int, error) {
	l.gsoCalls = append(l.gsoCalls, fakeGSO{append([]byte(nil), hdr...), append([]byte(nil), payload...), mss})
	binary.BigEndian.PutUint16(hdr[ipHeaderLen(hdr)+16:], 0xdead) // a partial sum, as the device leaves
	return len(hdr) + len(payload), nil
}

// ipHeaderLen is the length of the IP header (no IPv6 extension headers)
// at the start of pkt.
func ipHeaderLen(pkt []byte) int {
	if segment.IPVersion(pkt) == 6 {
		return segment.IPv6HeaderLen
	}
	return int(pkt[0]&0x0f) * 4
}

// superSegment returns the headers of a TCP segment, IPv4 or IPv6 as src
// and dst are, with payloadLen bytes of payload (TCP checksum left zero, as
// the stack hands them to an offload link) and the payload.
func superSegment(t *testing.T, src, dst string, seq uint32, flags segment.Flags, payloadLen int) (hdr, payload []byte) {
	t.Helper()
	s := segment.Segment{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: 80, DstPort: 51234,
		Seq: segment.Seq(seq), Ack: 1, Flags: flags, Window: 1000,
		Options: segment.Options{HasTimestamp: true, TSVal: 1, TSEcr: 2}}
	payload = make([]byte, payloadLen)
	for i := range payload {
		payload[i] = byte(i % 251)
	}
	hdr = make([]byte, 100)
	build := func(b []byte, s *segment.Segment, n int) (int, error) {
		return segment.BuildIPv4TCPHeadersOnly(b, s, n, 100, 64)
	}
	if s.Src.Is6() {
		build = func(b []byte, s *segment.Segment, n int) (int, error) {
			return segment.BuildIPv6TCPHeadersOnly(b, s, n, 0x12345, 64)
		}
	}
	n, err := build(hdr, &s, payloadLen)
	if err != nil {
		t.Fatal(err)
	}
	return hdr[:n], payload
}

// TestObserveKeepsTheLinkType: observing a link with offloads gives the
// stack a link with offloads whose methods reach the device unchanged
// (the idle callback of ReadPacket included, which flushes held ACKs);
// observing a plain link gives a plain link.
func TestObserveKeepsTheLinkType(t *testing.T) {
	if _, ok := observe(&fakeLink{}, nil, newTracer(io.Discard)).(stack.OffloadLink); ok {
		t.Fatal("a plain link became an OffloadLink under observation")
	}
	fl := &fakeOffloadLink{reads: []fakeRead{{pkt: tcpPacket(t, false, true, false, 1, 1, []byte("x")), csumOK: true}}}
	ol, ok := observe(fl, nil, newTracer(io.Discard)).(stack.OffloadLink)
	if !ok {
		t.Fatal("an OffloadLink lost its offloads under observation")
	}
	if ol.GSOMaxSize() != 65535 {
		t.Fatalf("GSOMaxSize %d", ol.GSOMaxSize())
	}
	flushed := 0
	n, csumOK, err := ol.ReadPacket(make([]byte, 2000), func() { flushed++ })
	if err != nil || n == 0 || !csumOK || flushed != 1 || fl.idleCalls != 1 {
		t.Fatalf("ReadPacket: n %d csumOK %v err %v, idle called %d times", n, csumOK, err, flushed)
	}
	hdr, payload := superSegment(t, "198.18.0.2", "198.18.0.1", 7, segment.FlagACK, 3000)
	if _, err := ol.WriteGSO(hdr, payload, 1448); err != nil {
		t.Fatal(err)
	}
	if len(fl.gsoCalls) != 1 || fl.gsoCalls[0].mss != 1448 || !bytes.Equal(fl.gsoCalls[0].payload, payload) {
		t.Fatalf("WriteGSO did not reach the device unchanged: %+v", fl.gsoCalls)
	}
	pg, ok := ol.(stack.PollGater)
	if !ok {
		t.Fatal("the observed link hides the device's busy-poll gate (stack.PollGater)")
	}
	pg.SetPollGate(func() bool { return false })
	if fl.gate == nil || fl.gate() {
		t.Fatal("SetPollGate did not reach the device")
	}
}

// TestObservePcapRecordsTheWire: super-segments written with WriteGSO and
// read as GRO super-segments (with the device's segment size, and without
// it, where the MTU decides) are recorded as wire segments of at most the
// MSS with valid IPv4 and TCP checksums, consecutive IPv4 IDs, and
// payloads that reassemble each direction's byte stream exactly; the
// tracer shows the FIN once, on the last segment.
func TestObservePcapRecordsTheWire(t *testing.T) {
	const mss = 1448
	path := filepath.Join(t.TempDir(), "wire.pcap")
	pf, err := createPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	var trace bytes.Buffer
	outHdr, outPayload := superSegment(t, "198.18.0.2", "198.18.0.1", 5000, segment.FlagACK|segment.FlagPSH|segment.FlagFIN, 10*mss+7)
	// The kernel's super-segments: a partial checksum in the field.
	in1Hdr, in1 := superSegment(t, "198.18.0.1", "198.18.0.2", 9000, segment.FlagACK, 5*mss)
	in2Hdr, in2 := superSegment(t, "198.18.0.1", "198.18.0.2", 9000+5*mss, segment.FlagACK|segment.FlagPSH, 3*mss-1)
	pkt1 := append(append([]byte(nil), in1Hdr...), in1...)
	pkt2 := append(append([]byte(nil), in2Hdr...), in2...)
	binary.BigEndian.PutUint16(pkt1[20+16:], 0x1234)
	fl := &fakeOffloadLink{reads: []fakeRead{{pkt1, true, mss}, {pkt2, true, 0}}}
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
	ids := map[string][]uint16{}
	var wireSegments int
	for _, d := range readPcapFile(t, path) {
		wireSegments++
		var s segment.Segment
		if err := segment.ParseIPv4TCP(d, &s); err != nil { // verifies both checksums
			t.Fatalf("segment %d: %v", wireSegments, err)
		}
		if len(s.Payload) > mss {
			t.Fatalf("segment %d carries %d bytes, more than the MSS %d", wireSegments, len(s.Payload), mss)
		}
		p := gopacket.NewPacket(d, layers.LayerTypeIPv4, gopacket.Default)
		if p.Layer(layers.LayerTypeTCP) == nil || p.ErrorLayer() != nil {
			t.Fatalf("gopacket cannot decode segment %d: %v", wireSegments, p.ErrorLayer())
		}
		dir := s.Src.String()
		streams[dir] = append(streams[dir], s.Payload...)
		ids[dir] = append(ids[dir], segment.IPv4(d).ID())
	}
	if want := 11 + 5 + 3; wireSegments != want {
		t.Fatalf("%d wire segments recorded, want %d", wireSegments, want)
	}
	if !bytes.Equal(streams["198.18.0.2"], outPayload) {
		t.Fatalf("the stack's stream does not reassemble (%d bytes)", len(streams["198.18.0.2"]))
	}
	if !bytes.Equal(streams["198.18.0.1"], append(append([]byte(nil), in1...), in2...)) {
		t.Fatalf("the kernel's stream does not reassemble (%d bytes)", len(streams["198.18.0.1"]))
	}
	for dir, l := range ids {
		for i := 1; i < len(l); i++ {
			if l[i] != l[i-1]+1 && l[i] != 100 {
				t.Fatalf("%s: IPv4 IDs %v are not consecutive per super-segment", dir, l)
			}
		}
	}
	lines := strings.Split(strings.TrimSpace(trace.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "[FP.]") || !strings.Contains(lines[0], " len=7 ") ||
		!strings.Contains(lines[0], "seq=19480") {
		t.Fatalf("trace should show the FIN once, on the last 7-byte segment at seq 5000+10*1448:\n%s", trace.String())
	}
}

// readPcapFile returns the packets of a capture written by pcapFile, read
// back with gopacket's pcapgo.
func readPcapFile(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeRaw {
		t.Fatalf("link type %v", r.LinkType())
	}
	var pkts [][]byte
	for {
		d, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return pkts
		}
		if err != nil {
			t.Fatal(err)
		}
		if ci.CaptureLength != len(d) || ci.Length != len(d) {
			t.Fatalf("capture info %+v", ci)
		}
		pkts = append(pkts, d)
	}
}

// nopOffloadLink is an offload link that allocates nothing: every read
// returns pkt (with the device's word on it), every write succeeds.
type nopOffloadLink struct {
	pkt []byte
	gso int
}

func (l *nopOffloadLink) Read(p []byte) (int, error)  { return copy(p, l.pkt), nil }
func (l *nopOffloadLink) Write(p []byte) (int, error) { return len(p), nil }
func (l *nopOffloadLink) MTU() int                    { return 1500 }
func (l *nopOffloadLink) Close() error                { return nil }
func (l *nopOffloadLink) GSOMaxSize() int             { return 65535 }
func (l *nopOffloadLink) ReadPacket(p []byte, idle func()) (int, bool, error) {
	return copy(p, l.pkt), true, nil
}
func (l *nopOffloadLink) ReadPacketGSO(p []byte, idle func()) (int, bool, int, error) {
	return copy(p, l.pkt), true, l.gso, nil
}
func (l *nopOffloadLink) WriteGSO(hdr, payload []byte, mss int) (int, error) {
	return len(hdr) + len(payload), nil
}

// TestObserveAllocs: observing allocates nothing per packet, with the
// tracer alone (data segments are not cut at all) and with the pcap file
// (super-segments are cut into one reused buffer).
func TestObserveAllocs(t *testing.T) {
	hdr, payload := superSegment(t, "198.18.0.1", "198.18.0.2", 1, segment.FlagACK, 20*1448)
	pkt := append(append([]byte(nil), hdr...), payload...)
	pf, err := createPcap(filepath.Join(t.TempDir(), "a.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	for _, tc := range []struct {
		name string
		pcap *pcapFile
	}{{"trace", nil}, {"trace+pcap", pf}} {
		l := observe(&nopOffloadLink{pkt: pkt, gso: 1448}, tc.pcap, newTracer(io.Discard)).(stack.OffloadLink)
		buf := make([]byte, 65536)
		allocs := testing.AllocsPerRun(50, func() {
			l.ReadPacket(buf, nil)
			l.WriteGSO(hdr, payload, 1448)
			l.Write(pkt[:100])
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per read and writes", tc.name, allocs)
		}
	}
}

// aheadOffloadLink is a fakeOffloadLink that can be read ahead.
type aheadOffloadLink struct{ fakeOffloadLink }

func (l *aheadOffloadLink) TryReadPacketGSO(p []byte) (int, bool, int, bool, error) {
	if len(l.reads) == 0 {
		return 0, false, 0, false, nil
	}
	n, csumOK, gso, err := l.ReadPacketGSO(p, nil)
	return n, csumOK, gso, err == nil, err
}

// TestObserveReadAhead: the stack reads an observed device ahead exactly
// when it would read the device itself ahead, and what it reads that way
// reaches the capture.
func TestObserveReadAhead(t *testing.T) {
	data := tcpPacket(t, false, true, false, 1001, 5001, []byte("payload"))
	path := filepath.Join(t.TempDir(), "x.pcap")
	pf, err := createPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	fl := &aheadOffloadLink{fakeOffloadLink{reads: []fakeRead{{pkt: data, csumOK: true}}}}
	l, ok := observe(fl, pf, nil).(stack.ReadAheadLink)
	if !ok {
		t.Fatal("an observed device cannot be read ahead")
	}
	buf := make([]byte, 2000)
	if n, csumOK, ok, err := l.TryReadPacket(buf); !ok || err != nil || n != len(data) || !csumOK {
		t.Fatalf("TryReadPacket: %d %v %v %v", n, csumOK, ok, err)
	}
	if _, _, ok, err := l.TryReadPacket(buf); ok || err != nil {
		t.Fatalf("TryReadPacket of an empty device: %v %v", ok, err)
	}
	pf.Close()
	if got := readPcapFile(t, path); len(got) != 1 || !bytes.Equal(got[0], data) {
		t.Fatalf("the capture holds %d packets, want the one read ahead", len(got))
	}
	plain := &fakeOffloadLink{reads: []fakeRead{{pkt: data}}}
	if _, _, ok, _ := observe(plain, nil, newTracer(io.Discard)).(stack.ReadAheadLink).TryReadPacket(buf); ok {
		t.Fatal("a device without TryReadPacket was read ahead through the observer")
	}
}
