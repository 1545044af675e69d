package ui

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/stack/tcp"
)

// injector is a scripted fault injector: it drops or duplicates the
// packets whose sequence numbers it is told, in either direction.
type injector struct {
	stack.Link
	drop, dup map[uint32]bool
	again     []byte // a duplicate to hand to the next Read
}

func seqOf(p []byte) uint32 {
	var h recHdr
	parseTCP(p, &h, false)
	return h.e.seq
}

func (j *injector) Write(p []byte) (int, error) {
	switch s := seqOf(p); {
	case j.drop[s]:
	case j.dup[s]:
		j.Link.Write(p)
		j.Link.Write(p)
	default:
		j.Link.Write(p)
	}
	return len(p), nil
}

func (j *injector) Read(p []byte) (int, error) {
	if j.again != nil {
		n := copy(p, j.again)
		j.again = nil
		return n, nil
	}
	for {
		n, err := j.Link.Read(p)
		if err != nil {
			return n, err
		}
		s := seqOf(p[:n])
		if j.drop[s] {
			continue
		}
		if j.dup[s] {
			j.again = append([]byte(nil), p[:n]...)
		}
		return n, nil
	}
}

// TestWireTapMarksFaults: with the recorder on both sides of a fault
// injector, segments it dropped (either way) are marked dropped once grace
// has passed, its duplicates injected; the order stays the order of time;
// the pcap export has what --pcap would have (the stack's reads and writes).
func TestWireTapMarksFaults(t *testing.T) {
	clk := newManualNow()
	rec := NewRecorder(Config{Now: clk.now})
	raw := &fakeLink{onRead: func() { clk.advance(time.Microsecond) }} // the wire takes time
	inj := &injector{Link: rec.WireTap(raw, 50*time.Millisecond),
		drop: map[uint32]bool{200: true, 2000: true}, dup: map[uint32]bool{300: true, 3000: true}}
	l := rec.Link(inj)
	A := segment.FlagACK
	buf := make([]byte, 2000)
	read := func() {
		t.Helper()
		if _, err := l.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	l.Write(pkt(t, 7, true, A, 100, 1, 10, segment.Options{}))
	clk.advance(time.Millisecond)
	l.Write(pkt(t, 7, true, A, 200, 1, 10, segment.Options{})) // dropped
	clk.advance(time.Millisecond)
	l.Write(pkt(t, 7, true, A, 300, 1, 10, segment.Options{})) // duplicated
	clk.advance(time.Millisecond)
	raw.feed(pkt(t, 7, false, A, 1000, 310, 10, segment.Options{}))
	raw.feed(pkt(t, 7, false, A, 2000, 310, 10, segment.Options{})) // dropped
	raw.feed(pkt(t, 7, false, A, 3000, 310, 10, segment.Options{})) // duplicated
	read()                                                          // 1000; the injector reads 2000 (dropped) and 3000 next
	clk.advance(time.Millisecond)
	read() // 3000
	clk.advance(time.Millisecond)
	read() // 3000 again
	g := &rig{t: t, rec: rec}
	render := func() []string {
		var got []string
		for _, e := range g.conn("c1").Events {
			s := fmt.Sprintf("%s %d", e.Dir, *e.Seq)
			if strings.Contains(g.rawEvent(e), `"dropped":true`) {
				s += " dropped"
			}
			if strings.Contains(g.rawEvent(e), `"injected":true`) {
				s += " injected"
			}
			got = append(got, s)
		}
		return got
	}
	// Within grace nothing is called dropped yet.
	if got := render(); slices.ContainsFunc(got, func(s string) bool { return strings.HasSuffix(s, "dropped") }) {
		t.Fatalf("dropped within grace: %q", got)
	}
	clk.advance(100 * time.Millisecond)
	rec.expireIn()
	want := []string{"out 100", "out 200 dropped", "out 300", "out 300 injected", "in 1000", "in 2000 dropped",
		"in 3000", "in 3000 injected"}
	if got := render(); !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	w := get(t, rec.Handler(), "/api/conn/c1/pcap", 200, nil)
	r, err := pcapgo.NewReader(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint32
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		var h recHdr
		parseTCP(data, &h, true) // headers only
		seqs = append(seqs, h.e.seq)
	}
	if !slices.Equal(seqs, []uint32{100, 200, 300, 1000, 3000, 3000}) {
		t.Fatalf("pcap has %v", seqs)
	}
	tr := get(t, rec.Handler(), "/api/conn/c1/trace", 200, nil).Body.String()
	if strings.Count(tr, "(dropped by the fault injector)") != 2 || strings.Count(tr, "(duplicate made by the fault injector)") != 2 {
		t.Fatalf("trace:\n%s", tr)
	}
}

// A drop the wire tap notices after the connection closed (a late ACK the
// injector dropped, seen once its grace passed) is marked on the closed
// connection's record: it must not start a second record of the same
// tuple, which showed as a duplicate row and took a live slot.
func TestWireTapDropAfterClose(t *testing.T) {
	clk := newManualNow()
	rec := NewRecorder(Config{Now: clk.now})
	raw := &fakeLink{onRead: func() { clk.advance(time.Microsecond) }}
	inj := &injector{Link: rec.WireTap(raw, 50*time.Millisecond), drop: map[uint32]bool{2000: true}}
	l := rec.Link(inj)
	A := segment.FlagACK
	l.Write(pkt(t, 7, true, A, 100, 1, 10, segment.Options{}))
	raw.feed(pkt(t, 7, false, A, 2000, 110, 0, segment.Options{})) // dropped
	raw.feed(pkt(t, 7, false, A, 2001, 110, 0, segment.Options{}))
	if _, err := l.Read(make([]byte, 2000)); err != nil {
		t.Fatal(err)
	}
	rec.Trace(tcp.Transition{Tuple: tuple(7), From: tcp.StateLastAck, To: tcp.StateClosed})
	clk.advance(100 * time.Millisecond)
	rec.expireIn()
	g := &rig{t: t, rec: rec}
	var dropped int
	for _, e := range g.conn("c1").Events {
		if strings.Contains(g.rawEvent(e), `"dropped":true`) {
			dropped++
		}
	}
	if dropped != 1 {
		t.Fatalf("c1 has %d dropped events, want 1", dropped)
	}
	get(t, rec.Handler(), "/api/conn/c2", 404, nil)
}
