package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// This file holds what --pcap and --trace add to the data path: a Link
// wrapper that sees every packet the stack reads and writes, and the
// printer of state transitions.

// pcapSnaplen is the largest packet a TUN device can hand us.
const pcapSnaplen = 65535

// pcapFile records packets in the classic pcap format with link type RAW
// (LINKTYPE_RAW, 101: each record starts with the IP header, IPv4 or IPv6 as
// its version nibble says; tcpdump.org "Link-layer header types"), which
// Wireshark, tshark and tcpdump -r read. Both families share one file, as
// they share the TUN device. Safe for concurrent use.
type pcapFile struct {
	mu  sync.Mutex
	f   *os.File
	bw  *bufio.Writer
	w   *pcapgo.Writer
	err error // first write error; recording stops there
}

func createPcap(path string) (*pcapFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	p := &pcapFile{f: f, bw: bufio.NewWriterSize(f, 256<<10)}
	p.w = pcapgo.NewWriterNanos(p.bw)
	if err := p.w.WriteFileHeader(pcapSnaplen, layers.LinkTypeRaw); err != nil {
		f.Close()
		return nil, err
	}
	// The header goes to disk at once, so the file is a valid (empty)
	// capture even before the first packet.
	if err := p.bw.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	return p, nil
}

func (p *pcapFile) record(t time.Time, pkt []byte) {
	p.mu.Lock()
	if p.err == nil {
		p.err = p.w.WritePacket(gopacket.CaptureInfo{Timestamp: t, CaptureLength: len(pkt), Length: len(pkt)}, pkt)
	}
	p.mu.Unlock()
}

// Flush writes buffered records to the file.
func (p *pcapFile) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = p.bw.Flush()
	}
	return p.err
}

func (p *pcapFile) Close() error {
	err := p.Flush()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// tracer prints --trace lines. Each line is flushed at once so that a
// reader of the output (a person, or the integration tests) sees it as it
// happens. Only handshake segments and transitions are printed, never data
// segments, so the cost per line does not matter. Safe for concurrent use.
type tracer struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func newTracer(w io.Writer) *tracer { return &tracer{w: bufio.NewWriter(w)} }

func stamp(t time.Time) string { return t.Format("15:04:05.000000") }

// transition prints one state change, e.g.
//
//	12:00:01.000123 198.18.0.1:51234 > 198.18.0.2:80 SYN-RECEIVED -> ESTABLISHED [.] seq=1001 ack=5001
//
// When a segment caused it the addresses are the segment's (source first);
// when the application or a timer did, the line shows local <> remote and
// the cause is implied.
func (tr *tracer) transition(t tcp.Transition) {
	var line string
	if s := t.Seg; s != nil {
		line = fmt.Sprintf("%s %s > %s %s -> %s [%s] seq=%d ack=%d",
			stamp(t.Time), netip.AddrPortFrom(s.Src, s.SrcPort), netip.AddrPortFrom(s.Dst, s.DstPort),
			t.From, t.To, s.Flags, uint32(s.Seq), uint32(s.Ack))
	} else {
		line = fmt.Sprintf("%s %s <> %s %s -> %s",
			stamp(t.Time), netip.AddrPortFrom(t.Tuple.LocalAddr, t.Tuple.LocalPort),
			netip.AddrPortFrom(t.Tuple.RemoteAddr, t.Tuple.RemotePort), t.From, t.To)
	}
	tr.println(line)
}

func (tr *tracer) println(line string) {
	tr.mu.Lock()
	tr.w.WriteString(line)
	tr.w.WriteByte('\n')
	tr.w.Flush()
	tr.mu.Unlock()
}

// packet prints a segment with SYN, FIN or RST set, tcpdump style:
//
//	12:00:01.000100 198.18.0.1:51234 > 198.18.0.2:80 [S] seq=1000 ack=0 win=64240 len=0
//	12:00:01.000100 [2001:2::1]:51234 > [2001:2::2]:80 [S] seq=1000 ack=0 win=64800 len=0
//
// IPv6 addresses are in brackets (RFC 5952 6), so the port stays apart.
func (tr *tracer) packet(t time.Time, h tcpHeader) {
	tr.println(fmt.Sprintf("%s %s > %s [%s] seq=%d ack=%d win=%d len=%d%s",
		stamp(t), netip.AddrPortFrom(h.src, h.srcPort), netip.AddrPortFrom(h.dst, h.dstPort),
		h.flags, h.seq, h.ack, h.win, h.payload, optionsText(&h.opts)))
}

// optionsText renders the options a handshake negotiates, tcpdump style:
// " <mss 1460,sackOK,TS val 1 ecr 0,wscale 7>", or "" when there are none.
func optionsText(o *segment.Options) string {
	var parts []string
	if o.HasMSS {
		parts = append(parts, fmt.Sprintf("mss %d", o.MSS))
	}
	if o.SACKPermitted {
		parts = append(parts, "sackOK")
	}
	if o.HasTimestamp {
		parts = append(parts, fmt.Sprintf("TS val %d ecr %d", o.TSVal, o.TSEcr))
	}
	if o.HasWScale {
		parts = append(parts, fmt.Sprintf("wscale %d", o.WScale))
	}
	if len(parts) == 0 {
		return ""
	}
	return " <" + strings.Join(parts, ",") + ">"
}

// tcpHeader is the part of a TCP packet (either family) a trace line shows.
type tcpHeader struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
	seq, ack         uint32
	flags            segment.Flags
	win              uint16
	payload          int
	opts             segment.Options // malformed options are shown as none
}

// peekTCP extracts the trace fields of a TCP packet, IPv4 or IPv6, without
// allocating. It only reads; bounds are checked before every access, so any
// byte string is safe (the full validation is the stack's job). Fragments
// are not shown: the stack reassembles them before TCP sees the segment.
func peekTCP(pkt []byte) (h tcpHeader, ok bool) {
	var t []byte
	switch segment.IPVersion(pkt) {
	case 4:
		if len(pkt) < 20 || pkt[9] != segment.ProtocolTCP {
			return h, false
		}
		ihl := int(pkt[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(pkt[2:4]))
		if ihl < 20 || total > len(pkt) || total < ihl+20 {
			return h, false
		}
		// Fragments other than the first carry no TCP header (RFC 791);
		// a first fragment carries only part of the segment.
		if binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0 {
			return h, false
		}
		t = pkt[ihl:total]
		h.src = netip.AddrFrom4([4]byte(pkt[12:16]))
		h.dst = netip.AddrFrom4([4]byte(pkt[16:20]))
	case 6:
		// The extension headers (RFC 8200 4) are walked to the TCP header;
		// an atomic fragment (RFC 6946) is a whole datagram.
		var c segment.IPv6Chain
		if segment.WalkIPv6(pkt, &c) != nil || c.Protocol != segment.ProtocolTCP ||
			c.HasFragment && !c.Fragment.Atomic() || c.End-c.Offset < 20 {
			return h, false
		}
		t = pkt[c.Offset:c.End]
		ip := segment.IPv6(pkt)
		h.src, h.dst = ip.Src(), ip.Dst()
	default:
		return h, false
	}
	off := int(t[12]>>4) * 4
	if off < 20 || off > len(t) {
		return h, false
	}
	h.srcPort = binary.BigEndian.Uint16(t[0:2])
	h.dstPort = binary.BigEndian.Uint16(t[2:4])
	h.seq = binary.BigEndian.Uint32(t[4:8])
	h.ack = binary.BigEndian.Uint32(t[8:12])
	h.flags = segment.Flags(t[13])
	h.win = binary.BigEndian.Uint16(t[14:16])
	h.payload = len(t) - off
	if segment.ParseOptions(t[20:off], &h.opts) != nil {
		h.opts = segment.Options{}
	}
	return h, true
}
