package ui

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
)

// offloadFake is a fakeLink with the OffloadLink methods, GSOIPv6 and a
// poll gate; ReadPacketGSO reports gso as the device's segment size.
type offloadFake struct {
	fakeLink
	v6    bool
	gso   int
	gated bool
}

func (l *offloadFake) ReadPacket(p []byte, idle func()) (int, bool, error) {
	n, err := l.Read(p)
	return n, true, err
}

func (l *offloadFake) ReadPacketGSO(p []byte, idle func()) (int, bool, int, error) {
	n, err := l.Read(p)
	return n, true, l.gso, err
}

func (l *offloadFake) GSOMaxSize() int { return 65000 }

func (l *offloadFake) WriteGSO(hdr, payload []byte, mss int) (int, error) {
	return l.Write(append(hdr[:len(hdr):len(hdr)], payload...))
}

func (l *offloadFake) GSOIPv6() bool { return l.v6 }

func (l *offloadFake) SetPollGate(func() bool) { l.gated = true }

// TestLinkKeepsTheLinkType: the wrapper offers the stack exactly the
// extensions of the link below (a plain link stays plain), passed through.
func TestLinkKeepsTheLinkType(t *testing.T) {
	rec := NewRecorder(Config{})
	if _, ok := rec.Link(&fakeLink{}).(stack.OffloadLink); ok {
		t.Fatal("a plain link became an OffloadLink")
	}
	for _, v6 := range []bool{false, true} {
		inner := &offloadFake{v6: v6}
		l, ok := rec.Link(inner).(stack.IPv6OffloadLink)
		if !ok {
			t.Fatal("an offload link lost its OffloadLink methods")
		}
		if l.GSOIPv6() != v6 || l.GSOMaxSize() != 65000 {
			t.Fatalf("GSOIPv6 %v GSOMaxSize %d, want %v 65000", l.GSOIPv6(), l.GSOMaxSize(), v6)
		}
		l.(stack.PollGater).SetPollGate(func() bool { return true })
		if !inner.gated {
			t.Fatal("the poll gate did not reach the link")
		}
	}
}

// TestLinkReadSuperSegment: a super-segment read from an offload link is
// recorded as the wire segments of the device's gso size, or of the
// largest the MTU allows when the device does not say.
func TestLinkReadSuperSegment(t *testing.T) {
	for _, tc := range []struct {
		gso, want int
	}{{1000, 4}, {0, 3}} {
		rec := NewRecorder(Config{})
		inner := &offloadFake{gso: tc.gso}
		l := rec.Link(inner).(stack.OffloadLink)
		inner.feed(pkt(t, 40000, false, segment.FlagACK|segment.FlagPSH, 1, 1, 3500, segment.Options{}))
		buf := make([]byte, 65536)
		if n, _, err := l.ReadPacket(buf, nil); err != nil || n != 3540 {
			t.Fatalf("ReadPacket %d %v", n, err)
		}
		c := (&rig{t: t, rec: rec}).conn("c1")
		if len(c.Events) != tc.want {
			t.Fatalf("gso %d: %d events, want %d", tc.gso, len(c.Events), tc.want)
		}
		var total uint32
		for i, e := range c.Events {
			if *e.Seq != 1+total || e.Dir != "in" || (e.Flags == "P.") != (i == len(c.Events)-1) {
				t.Fatalf("gso %d: event %d %+v", tc.gso, i, e)
			}
			total += *e.Len
		}
		if total != 3500 {
			t.Fatalf("gso %d: %d bytes recorded", tc.gso, total)
		}
	}
}

// TestLinkIgnoresNonTCP: packets that are not TCP segments (or are not
// packets) are passed on and not recorded; nothing panics.
func TestLinkIgnoresNonTCP(t *testing.T) {
	g := newRig(t, Config{})
	p := pkt(t, 40000, false, segment.FlagSYN, 1, 0, 0, segment.Options{})
	udp := append([]byte(nil), p...)
	udp[9] = 17
	frag := append([]byte(nil), p...)
	frag[6] = 0x20 // more fragments
	for _, b := range [][]byte{udp, frag, p[:30], {0x45}, {0x60, 0, 0}, make([]byte, 80)} {
		g.out(b)
	}
	if g.raw.written != 6 {
		t.Fatalf("%d written, want 6", g.raw.written)
	}
	get(t, g.rec.Handler(), "/api/conn/c1", 404, nil)
}

func httptestGet(h http.Handler, path string) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	return w.Code
}

// aheadFake is an offloadFake that can also be read ahead, with the
// device's segment size.
type aheadFake struct{ offloadFake }

func (l *aheadFake) TryReadPacketGSO(p []byte) (int, bool, int, bool, error) {
	n, err := l.Read(p)
	if err == errEmpty {
		return 0, false, 0, false, nil
	}
	return n, true, l.gso, err == nil, err
}

// TestLinkReadAhead: a packet the stack reads ahead is recorded as one it
// reads with ReadPacket (with the device's segment size), and a link that
// cannot be read ahead never has a packet waiting through the wrapper.
func TestLinkReadAhead(t *testing.T) {
	rec := NewRecorder(Config{})
	inner := &aheadFake{offloadFake{gso: 1000}}
	l := rec.Link(inner).(stack.ReadAheadLink)
	buf := make([]byte, 65536)
	if _, _, ok, err := l.TryReadPacket(buf); ok || err != nil {
		t.Fatalf("TryReadPacket on an empty link: ok %v, %v", ok, err)
	}
	inner.feed(pkt(t, 40000, false, segment.FlagACK|segment.FlagPSH, 1, 1, 3500, segment.Options{}))
	if n, csumOK, ok, err := l.TryReadPacket(buf); !ok || err != nil || n != 3540 || !csumOK {
		t.Fatalf("TryReadPacket %d %v %v %v", n, csumOK, ok, err)
	}
	if c := (&rig{t: t, rec: rec}).conn("c1"); len(c.Events) != 4 {
		t.Fatalf("%d events for a super-segment of 3500 bytes in segments of 1000, want 4", len(c.Events))
	}
	plain := &offloadFake{}
	plain.feed(pkt(t, 40000, false, segment.FlagACK, 1, 1, 0, segment.Options{}))
	if _, _, ok, err := rec.Link(plain).(stack.ReadAheadLink).TryReadPacket(buf); ok || err != nil {
		t.Fatalf("a link without TryReadPacket read ahead through the wrapper: %v %v", ok, err)
	}
}
