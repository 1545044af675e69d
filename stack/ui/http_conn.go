package ui

import (
	"bufio"
	"cmp"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// connSnap is a copy of one connection's record, taken under its lock.
type connSnap struct {
	id        string
	key       tcp.Tuple
	startAt   int64
	events    []event
	samples   []sample
	truncated bool
}

func (r *Recorder) snapshot(c *connRec) *connSnap {
	now := r.clock()
	c.mu.Lock()
	s := &connSnap{
		id: c.idText, key: c.key, startAt: c.startAt,
		events:    c.events.copyOut(make([]event, 0, len(c.events.buf))),
		samples:   c.samples.copyOut(make([]sample, 0, len(c.samples.buf))),
		truncated: c.events.dropped > 0,
	}
	unsorted := c.unsorted
	c.mu.Unlock()
	if unsorted {
		slices.SortStableFunc(s.events, func(a, b event) int { return cmp.Compare(a.at, b.at) })
	}
	var cut bool
	s.events, cut = expand(s.events, r.cfg.MaxEvents)
	s.truncated = s.truncated || cut
	r.markLost(s.events, now)
	return s
}

// serveConn answers api/conn/{id}: the connection's events and samples.
// Times ("t") are microseconds since the connection's first event (kept as
// the origin when the ring has dropped that event).
func (r *Recorder) serveConn(w http.ResponseWriter, _ *http.Request, c *connRec) {
	s := r.snapshot(c)
	b := make([]byte, 0, 128+len(s.events)*110+len(s.samples)*130)
	b = append(b, `{"id":`...)
	b = strconv.AppendQuote(b, s.id)
	b = append(b, `,"local":`...)
	b = strconv.AppendQuote(b, addrPort(s.key.LocalAddr, s.key.LocalPort))
	b = append(b, `,"remote":`...)
	b = strconv.AppendQuote(b, addrPort(s.key.RemoteAddr, s.key.RemotePort))
	b = append(b, `,"events":[`...)
	for i := range s.events {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendEvent(b, &s.events[i], s.startAt)
	}
	b = append(b, `],"samples":[`...)
	for i := range s.samples {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSample(b, &s.samples[i], s.startAt)
	}
	b = append(b, `],"truncated":`...)
	b = strconv.AppendBool(b, s.truncated)
	b = append(b, '}')
	writeJSON(w, b)
}

func appendField(b []byte, name string, v uint64) []byte {
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":`...)
	return strconv.AppendUint(b, v, 10)
}

func appendString(b []byte, name, v string) []byte {
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":`...)
	return strconv.AppendQuote(b, v)
}

var dirNames = [...]string{kindIn: "in", kindOut: "out", kindState: "state"}

// appendEvent renders one event: a segment as
// {"t","dir","flags","seq","ack","len","win"[,"opts"],"retrans"}, a state
// change as {"t","dir":"state","from","to"}.
func appendEvent(b []byte, e *event, origin int64) []byte {
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, (e.at-origin)/1e3, 10)
	b = appendString(b, "dir", dirNames[e.kind])
	if e.kind == kindState {
		b = appendString(b, "from", tcp.State(e.from).String())
		b = appendString(b, "to", tcp.State(e.to).String())
		return append(b, '}')
	}
	b = appendString(b, "flags", e.flags.String())
	b = appendField(b, "seq", uint64(e.seq))
	b = appendField(b, "ack", uint64(e.ack))
	b = appendField(b, "len", uint64(e.n))
	b = appendField(b, "win", uint64(e.win))
	if e.flags&segment.FlagSYN != 0 {
		if o := e.optionsText(); o != "" {
			b = appendString(b, "opts", o)
		}
	}
	b = append(b, `,"retrans":`...)
	b = strconv.AppendBool(b, e.bits&bitRetrans != 0)
	// With a fault injector under the stack (WireTap): what it did.
	if e.mark&markDropped != 0 {
		b = append(b, `,"dropped":true`...)
	}
	if e.mark&markInjected != 0 {
		b = append(b, `,"injected":true`...)
	}
	return append(b, '}')
}

func appendSample(b []byte, s *sample, origin int64) []byte {
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, (s.at-origin)/1e3, 10)
	b = appendField(b, "cwnd", uint64(s.cwnd))
	b = appendField(b, "ssthresh", uint64(s.ssthresh))
	b = appendField(b, "inFlight", uint64(s.inFlight))
	b = appendField(b, "sndWnd", uint64(s.sndWnd))
	b = appendField(b, "rcvWnd", uint64(s.rcvWnd))
	b = appendField(b, "srttUs", uint64(s.srttUs))
	b = appendField(b, "rtoMs", uint64(s.rtoMs))
	b = appendField(b, "bytesAcked", s.bytesAcked)
	return append(b, '}')
}

// optionsText renders the recorded options tcpdump style, in the order
// tunstack --trace prints them: "mss 1460,sackOK,TS val 1 ecr 0,wscale 7";
// "" when there are none.
func (e *event) optionsText() string {
	var b []byte
	sep := func() {
		if len(b) > 0 {
			b = append(b, ',')
		}
	}
	if e.bits&bitMSS != 0 {
		b = strconv.AppendUint(append(b, "mss "...), uint64(e.mss), 10)
	}
	if e.bits&bitSACKOK != 0 {
		sep()
		b = append(b, "sackOK"...)
	}
	if e.bits&bitTS != 0 {
		sep()
		b = strconv.AppendUint(append(b, "TS val "...), uint64(e.tsval), 10)
		b = strconv.AppendUint(append(b, " ecr "...), uint64(e.tsecr), 10)
	}
	if e.bits&bitWScale != 0 {
		sep()
		b = strconv.AppendUint(append(b, "wscale "...), uint64(e.wscale), 10)
	}
	return string(b)
}

// ends returns the source and destination of a segment event, or of the
// segment that caused a state event.
func (s *connSnap) ends(e *event) (src, dst netip.AddrPort) {
	local := netip.AddrPortFrom(s.key.LocalAddr, s.key.LocalPort)
	remote := netip.AddrPortFrom(s.key.RemoteAddr, s.key.RemotePort)
	if e.kind == kindIn || e.kind == kindState && e.bits&bitCauseIn != 0 {
		return remote, local
	}
	return local, remote
}

// serveTrace answers api/conn/{id}/trace: one line per event, as tunstack
// --trace prints them (segments with their options, every segment here,
// not only SYN, FIN and RST), local time with microseconds.
func (r *Recorder) serveTrace(w http.ResponseWriter, _ *http.Request, c *connRec) {
	s := r.snapshot(c)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	bw := bufio.NewWriter(w)
	var b []byte
	for i := range s.events {
		b = s.appendTraceLine(b[:0], &s.events[i], r.wall(s.events[i].at))
		bw.Write(b)
	}
	bw.Flush()
}

func (s *connSnap) appendTraceLine(b []byte, e *event, at time.Time) []byte {
	b = at.AppendFormat(b, "15:04:05.000000")
	src, dst := s.ends(e)
	sep := " > "
	if e.kind == kindState && e.bits&bitCause == 0 {
		sep = " <> " // an application call or a timer: no segment
	}
	b = append(b, ' ')
	b = src.AppendTo(b)
	b = append(b, sep...)
	b = dst.AppendTo(b)
	if e.kind == kindState {
		b = append(b, ' ')
		b = append(b, tcp.State(e.from).String()...)
		b = append(b, " -> "...)
		b = append(b, tcp.State(e.to).String()...)
		if e.bits&bitCause == 0 {
			return append(b, '\n')
		}
	}
	b = append(b, " ["...)
	b = append(b, e.flags.String()...)
	b = append(b, "] seq="...)
	b = strconv.AppendUint(b, uint64(e.seq), 10)
	b = append(b, " ack="...)
	b = strconv.AppendUint(b, uint64(e.ack), 10)
	if e.kind == kindState {
		return append(b, '\n')
	}
	b = append(b, " win="...)
	b = strconv.AppendUint(b, uint64(e.win), 10)
	b = append(b, " len="...)
	b = strconv.AppendUint(b, uint64(e.n), 10)
	if o := e.optionsText(); o != "" {
		b = append(b, " <"...)
		b = append(b, o...)
		b = append(b, '>')
	}
	if e.mark&markDropped != 0 {
		b = append(b, " (dropped by the fault injector)"...)
	}
	if e.mark&markInjected != 0 {
		b = append(b, " (duplicate made by the fault injector)"...)
	}
	return append(b, '\n')
}

// pcapSnaplen is the largest packet a TUN device hands over.
const pcapSnaplen = 65535

// servePcap answers api/conn/{id}/pcap: the connection's recorded segments
// in the classic pcap format with link type RAW (tcpdump.org "Link-layer
// header types": LINKTYPE_RAW, each record an IPv4 or IPv6 header), read by
// tcpdump, tshark and Wireshark. The recorder keeps no payload (memory
// bound), so each record holds the headers only, rebuilt from the recorded
// fields (addresses, ports, seq, ack, flags, window; SYN options and
// timestamps; SACK blocks are not kept), with its original length and a
// capture length that says it was cut, as a capture with a short snaplen
// would have it. The TCP checksum field is zero.
func (r *Recorder) servePcap(w http.ResponseWriter, _ *http.Request, c *connRec) {
	s := r.snapshot(c)
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Content-Disposition", `attachment; filename="`+s.id+`.pcap"`)
	bw := bufio.NewWriter(w)
	pw := pcapgo.NewWriterNanos(bw)
	if err := pw.WriteFileHeader(pcapSnaplen, layers.LinkTypeRaw); err != nil {
		return
	}
	var buf [segment.IPv6HeaderLen + segment.TCPMaxHeaderLen]byte
	for i := range s.events {
		e := &s.events[i]
		// What --pcap would have written: every segment the stack
		// wrote or read, not the wire below a fault injector.
		if e.kind == kindState || e.kind == kindIn && e.mark&markDropped != 0 ||
			e.kind == kindOut && e.mark&markInjected != 0 {
			continue
		}
		n, err := s.buildHeaders(buf[:], e)
		if err != nil {
			continue // cannot happen for a recorded segment
		}
		ci := gopacket.CaptureInfo{Timestamp: r.wall(e.at), CaptureLength: n, Length: n + int(e.n)}
		if pw.WritePacket(ci, buf[:n]) != nil {
			return
		}
	}
	bw.Flush()
}

// buildHeaders writes the IP and TCP headers of a recorded segment.
func (s *connSnap) buildHeaders(buf []byte, e *event) (int, error) {
	src, dst := s.ends(e)
	seg := segment.Segment{
		Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port(),
		Seq: segment.Seq(e.seq), Ack: segment.Seq(e.ack), Flags: e.flags, Window: e.win,
	}
	o := &seg.Options
	o.HasMSS, o.MSS = e.bits&bitMSS != 0, e.mss
	o.HasWScale, o.WScale = e.bits&bitWScale != 0, e.wscale
	o.SACKPermitted = e.bits&bitSACKOK != 0
	o.HasTimestamp, o.TSVal, o.TSEcr = e.bits&bitTS != 0, e.tsval, e.tsecr
	const ttl = 64
	if seg.Src.Is4() {
		return segment.BuildIPv4TCPHeadersOnly(buf, &seg, int(e.n), 0, ttl)
	}
	return segment.BuildIPv6TCPHeadersOnly(buf, &seg, int(e.n), 0, ttl)
}
