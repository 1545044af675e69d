package ui

import (
	"bytes"
	"io"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
)

// TestLinkIPv6: IPv6 segments are recorded (read whole, written whole and
// as IPv6 super-segments through WriteGSO) under the IPv6 tuple, and the
// pcap export decodes as IPv6.
func TestLinkIPv6(t *testing.T) {
	me, peer := netip.MustParseAddr("2001:2::2"), netip.MustParseAddr("2001:2::1")
	build := func(out bool, flags segment.Flags, seq uint32, n int) []byte {
		seg := segment.Segment{Src: peer, Dst: me, SrcPort: 5000, DstPort: 80, Seq: segment.Seq(seq), Ack: 1,
			Flags: flags, Window: 100, Payload: make([]byte, n)}
		if flags&segment.FlagSYN != 0 {
			seg.Options = segment.Options{HasMSS: true, MSS: 1440}
		}
		if out {
			seg.Src, seg.Dst, seg.SrcPort, seg.DstPort = me, peer, 80, 5000
		}
		buf := make([]byte, 100+n)
		m, err := segment.BuildIPv6TCP(buf, &seg, 0, 64)
		if err != nil {
			t.Fatal(err)
		}
		return buf[:m]
	}
	rec := NewRecorder(Config{})
	inner := &offloadFake{v6: true}
	l := rec.Link(inner).(stack.OffloadLink)
	inner.feed(build(false, segment.FlagSYN, 7, 0))
	if _, _, err := l.ReadPacket(make([]byte, 2000), nil); err != nil {
		t.Fatal(err)
	}
	l.Write(build(true, segment.FlagSYN|segment.FlagACK, 100, 0))
	full := build(true, segment.FlagACK, 101, 3000)
	if _, err := l.WriteGSO(full[:60], full[60:], 1440); err != nil {
		t.Fatal(err)
	}
	g := &rig{t: t, rec: rec}
	c := g.conn("c1")
	if c.Local != "[2001:2::2]:80" || c.Remote != "[2001:2::1]:5000" || len(c.Events) != 5 {
		t.Fatalf("%+v", c)
	}
	if c.Events[0].Opts != "mss 1440" || *c.Events[4].Seq != 101+2*1440 || *c.Events[4].Len != 120 {
		t.Fatalf("events %+v", c.Events)
	}
	w := get(t, rec.Handler(), "/api/conn/c1/pcap", 200, nil)
	r, err := pcapgo.NewReader(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		p := gopacket.NewPacket(data, layers.LayerTypeIPv6, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if err != nil || ip == nil || p.Layer(layers.LayerTypeTCP) == nil {
			t.Fatalf("record %d: %v %v", n, err, p)
		}
		n++
	}
	if n != 5 {
		t.Fatalf("%d records, want 5", n)
	}
}
