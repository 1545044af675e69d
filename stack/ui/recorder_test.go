package ui

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/stack/tcp"
)

var synOpts = segment.Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 1, TSEcr: 0,
	HasWScale: true, WScale: 7}

// handshake records a passive open and close of the connection from port:
// the 3-way handshake, 100 bytes each way, the peer's FIN first.
func (g *rig) handshake(port uint16) {
	tu := tuple(port)
	S, A, F, P := segment.FlagSYN, segment.FlagACK, segment.FlagFIN, segment.FlagPSH
	syn := pkt(g.t, port, false, S, 1000, 0, 0, synOpts)
	g.in(syn)
	seg := segment.Segment{Src: peerAddr, Dst: stackAddr, SrcPort: port, DstPort: 80, Seq: 1000, Flags: S}
	g.rec.Trace(tcp.Transition{Tuple: tu, From: tcp.StateListen, To: tcp.StateSynReceived, Seg: &seg})
	g.clk.advance(time.Millisecond)
	g.out(pkt(g.t, port, true, S|A, 5000, 1001, 0, synOpts))
	g.clk.advance(time.Millisecond)
	g.in(pkt(g.t, port, false, A, 1001, 5001, 0, segment.Options{}))
	g.rec.Trace(tcp.Transition{Tuple: tu, From: tcp.StateSynReceived, To: tcp.StateEstablished})
	g.in(pkt(g.t, port, false, P|A, 1001, 5001, 100, segment.Options{}))
	g.out(pkt(g.t, port, true, P|A, 5001, 1101, 100, segment.Options{}))
	g.in(pkt(g.t, port, false, F|A, 1101, 5101, 0, segment.Options{}))
	g.rec.Trace(tcp.Transition{Tuple: tu, From: tcp.StateEstablished, To: tcp.StateCloseWait})
	g.out(pkt(g.t, port, true, F|A, 5101, 1102, 0, segment.Options{}))
	g.rec.Trace(tcp.Transition{Tuple: tu, From: tcp.StateCloseWait, To: tcp.StateLastAck})
	g.in(pkt(g.t, port, false, A, 1102, 5102, 0, segment.Options{}))
	g.rec.Trace(tcp.Transition{Tuple: tu, From: tcp.StateLastAck, To: tcp.StateClosed})
}

// TestRecorderOrder: a connection's segments and transitions come out of
// api/conn/{id} in the order they happened, with their fields, the SYN
// options, times relative to the first event, and the connection closed.
func TestRecorderOrder(t *testing.T) {
	g := newRig(t, Config{})
	g.handshake(40000)
	c := g.conn("c1")
	if c.ID != "c1" || c.Local != "198.18.0.2:80" || c.Remote != "198.18.0.1:40000" || c.Truncated {
		t.Fatalf("conn %+v", c)
	}
	var got []string
	for _, e := range c.Events {
		got = append(got, e.line())
	}
	want := []string{
		"in S 1000 0 0", "state LISTEN SYN-RECEIVED", "out S. 5000 1001 0", "in . 1001 5001 0",
		"state SYN-RECEIVED ESTABLISHED", "in P. 1001 5001 100", "out P. 5001 1101 100",
		"in F. 1101 5101 0", "state ESTABLISHED CLOSE-WAIT", "out F. 5101 1102 0",
		"state CLOSE-WAIT LAST-ACK", "in . 1102 5102 0", "state LAST-ACK CLOSED",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if e := c.Events[0]; e.T != 0 || e.Opts != "mss 1460,sackOK,TS val 1 ecr 0,wscale 7" || *e.Win != 502 || *e.Retrans {
		t.Fatalf("SYN %+v", e)
	}
	if e := c.Events[2]; e.T != 1000 || e.Opts == "" {
		t.Fatalf("SYN-ACK %+v: want t=1000 us with options", e)
	}
	if e := c.Events[5]; e.Opts != "" {
		t.Fatalf("data segment has opts %q (SYNs only)", e.Opts)
	}
	var conns struct {
		Conns []rowJSON `json:"conns"`
	}
	get(t, g.rec.Handler(), "/api/conns", 200, &conns)
	if len(conns.Conns) != 1 || conns.Conns[0].State != "CLOSED" || !conns.Conns[0].Closed {
		t.Fatalf("conns %+v", conns)
	}
}

// TestRecorderRingBound: a connection keeps its last MaxEvents events, in
// order, and says older ones were dropped.
func TestRecorderRingBound(t *testing.T) {
	g := newRig(t, Config{MaxEvents: 8})
	for i := range 20 {
		g.out(pkt(t, 40000, true, segment.FlagACK|segment.FlagPSH, uint32(1+10*i), 1, 10, segment.Options{}))
	}
	c := g.conn("c1")
	if len(c.Events) != 8 || !c.Truncated {
		t.Fatalf("%d events, truncated %v; want 8, true", len(c.Events), c.Truncated)
	}
	for i, e := range c.Events {
		if want := uint32(1 + 10*(12+i)); *e.Seq != want || *e.Retrans {
			t.Fatalf("event %d: %+v, want seq %d not retransmitted", i, e, want)
		}
	}
}

// TestRecorderConnBounds: at most MaxConns live connections are recorded
// (further ones are counted, not recorded) and MaxClosed closed ones, the
// oldest closed evicted first (404).
func TestRecorderConnBounds(t *testing.T) {
	g := newRig(t, Config{MaxConns: 2, MaxClosed: 2})
	g.in(pkt(t, 1, false, segment.FlagSYN, 1, 0, 0, segment.Options{}))
	g.in(pkt(t, 2, false, segment.FlagSYN, 1, 0, 0, segment.Options{}))
	g.in(pkt(t, 3, false, segment.FlagSYN, 1, 0, 0, segment.Options{}))
	if u := g.rec.Untracked(); u != 1 {
		t.Fatalf("untracked %d, want 1", u)
	}
	get(t, g.rec.Handler(), "/api/conn/c3", 404, nil)
	// Closing makes room: c1 and c2 close, two more open and close. The
	// end of a connection never recorded starts no record.
	g.rec.Trace(tcp.Transition{Tuple: tuple(9), From: tcp.StateTimeWait, To: tcp.StateClosed})
	for port := uint16(1); port <= 4; port++ {
		if port > 2 {
			g.in(pkt(t, port, false, segment.FlagSYN, 1, 0, 0, segment.Options{}))
		}
		g.rec.Trace(tcp.Transition{Tuple: tuple(port), From: tcp.StateSynReceived, To: tcp.StateClosed})
	}
	var conns struct {
		Conns []rowJSON `json:"conns"`
	}
	get(t, g.rec.Handler(), "/api/conns", 200, &conns)
	var ids []string
	for _, r := range conns.Conns {
		if !r.Closed {
			t.Fatalf("row %+v not closed", r)
		}
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"c3", "c4"}) {
		t.Fatalf("kept %v, want the two newest closed, c3 c4", ids)
	}
	get(t, g.rec.Handler(), "/api/conn/c1", 404, nil)
	g.conn("c4")
}

// TestRecorderRetransAndGSO: an out segment below SND.MAX is marked as a
// retransmission; a super-segment written with WriteGSO is recorded as
// the wire segments it stands for (FIN and PSH on the last only).
func TestRecorderRetransAndGSO(t *testing.T) {
	clk := newManualNow()
	rec := NewRecorder(Config{Now: clk.now})
	l := rec.Link(&offloadFake{}).(interface {
		WriteGSO(hdr, payload []byte, mss int) (int, error)
		Write([]byte) (int, error)
	})
	A, P, F := segment.FlagACK, segment.FlagPSH, segment.FlagFIN
	full := pkt(t, 40000, true, A|P|F, 1, 1, 2500, segment.Options{})
	hdr, payload := full[:40], full[40:]
	if _, err := l.WriteGSO(hdr, payload, 1000); err != nil {
		t.Fatal(err)
	}
	l.Write(pkt(t, 40000, true, A, 1001, 1, 1000, segment.Options{})) // retransmission
	l.Write(pkt(t, 40000, true, A, 2502, 1, 0, segment.Options{}))    // pure ACK: never one
	g := &rig{t: t, rec: rec}
	var got []string
	for _, e := range g.conn("c1").Events {
		got = append(got, fmt.Sprintf("%s %d %d %v", e.Flags, *e.Seq, *e.Len, *e.Retrans))
	}
	want := []string{". 1 1000 false", ". 1001 1000 false", "FP. 2001 500 false", ". 1001 1000 true", ". 2502 0 false"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// TestRecorderReopen: a new SYN from the peer on a connection in TIME-WAIT
// (the stack reopens it, RFC 9293 3.10.7.4) starts a new record.
func TestRecorderReopen(t *testing.T) {
	g := newRig(t, Config{})
	tu := tuple(40000)
	g.in(pkt(t, 40000, false, segment.FlagSYN, 1, 0, 0, segment.Options{}))
	g.rec.Trace(tcp.Transition{Tuple: tu, From: tcp.StateFinWait2, To: tcp.StateTimeWait})
	g.in(pkt(t, 40000, false, segment.FlagSYN, 9999, 0, 0, segment.Options{}))
	if c1, c2 := g.conn("c1"), g.conn("c2"); len(c1.Events) != 2 || len(c2.Events) != 1 || *c2.Events[0].Seq != 9999 {
		t.Fatalf("c1 %+v\nc2 %+v", c1, c2)
	}
}

// TestRecorderStrayRST: a segment for no connection and the stack's RST
// make a record in the CLOSED state (RFC 9293 3.10.7.1) that is closed at
// once, so scans do not fill the live table.
func TestRecorderStrayRST(t *testing.T) {
	g := newRig(t, Config{MaxConns: 1})
	for port := uint16(1); port <= 3; port++ {
		g.in(pkt(t, port, false, segment.FlagSYN, 1, 0, 0, segment.Options{}))
		g.out(pkt(t, port, true, segment.FlagRST|segment.FlagACK, 0, 2, 0, segment.Options{}))
	}
	if u := g.rec.Untracked(); u != 0 {
		t.Fatalf("%d untracked", u)
	}
	var conns struct {
		Conns []rowJSON `json:"conns"`
	}
	get(t, g.rec.Handler(), "/api/conns", 200, &conns)
	if len(conns.Conns) != 3 || conns.Conns[2].State != "CLOSED" || !conns.Conns[2].Closed {
		t.Fatalf("%+v", conns.Conns)
	}
}

// TestRecorderConcurrent (run with -race): writers on several connections,
// transitions and HTTP readers at once; every connection ends with exactly
// its segments, in the order its one writer sent them.
func TestRecorderConcurrent(t *testing.T) {
	rec := NewRecorder(Config{MaxEvents: 1 << 12})
	l := rec.Link(&fakeLink{})
	h := rec.Handler()
	const conns, segs = 4, 500
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range conns {
		port := uint16(1000 + i)
		p := make([][]byte, segs)
		for j := range segs {
			p[j] = pkt(t, port, true, segment.FlagACK, uint32(1+j*10), 1, 10, segment.Options{})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range segs {
				l.Write(p[j])
				if j%100 == 0 {
					rec.Trace(tcp.Transition{Tuple: tuple(port), From: tcp.StateEstablished, To: tcp.StateEstablished})
				}
			}
		}()
	}
	var rd sync.WaitGroup
	rd.Add(1)
	go func() {
		defer rd.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			get(t, h, "/api/conns", 200, nil)
			for i := 1; i <= conns; i++ {
				w := httptestGet(h, fmt.Sprintf("/api/conn/c%d", i))
				if w != 200 && w != 404 {
					t.Errorf("status %d", w)
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	rd.Wait()
	g := &rig{t: t, rec: rec}
	for i := 1; i <= conns; i++ {
		c := g.conn(fmt.Sprintf("c%d", i))
		var next uint32 = 1
		n := 0
		for _, e := range c.Events {
			if e.Dir == "state" {
				continue
			}
			if *e.Seq != next || *e.Retrans {
				t.Fatalf("c%d: event %+v, want seq %d", i, e, next)
			}
			next += 10
			n++
		}
		if n != segs || len(c.Events) != segs+segs/100 {
			t.Fatalf("c%d: %d segments, %d events; want %d, %d", i, n, len(c.Events), segs, segs+segs/100)
		}
	}
}

// TestRecordAllocs: recording a segment in steady state (ring full) does
// not allocate.
func TestRecordAllocs(t *testing.T) {
	rec := NewRecorder(Config{MaxEvents: 64})
	l := rec.Link(&fakeLink{})
	p := pkt(t, 40000, true, segment.FlagACK, 1, 1, 1000, segment.Options{HasTimestamp: true})
	for range 100 {
		l.Write(p)
	}
	if a := testing.AllocsPerRun(1000, func() { l.Write(p) }); a != 0 {
		t.Fatalf("%v allocs per recorded segment, want 0", a)
	}
}

// BenchmarkRecordSegment: one segment written through the recorder's link
// (parse, lookup, ring write) on a connection whose ring is full.
func BenchmarkRecordSegment(b *testing.B) {
	rec := NewRecorder(Config{})
	l := rec.Link(&fakeLink{})
	p := pkt(b, 40000, true, segment.FlagACK, 1, 1, 1448, segment.Options{HasTimestamp: true})
	for range DefaultMaxEvents + 1 {
		l.Write(p)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.Write(p)
	}
}

// TestMemoryBound keeps the package doc's figures honest: the sizes of an
// event and a sample, and rings that never hold more than their bound.
func TestMemoryBound(t *testing.T) {
	if e, s, p := unsafe.Sizeof(event{}), unsafe.Sizeof(sample{}), unsafe.Sizeof(pendingIn{}); e != 40 || s != 48 || p != 96 {
		t.Fatalf("event %d bytes, sample %d, pending segment %d; the package doc says 40, 48 and 96", e, s, p)
	}
	r := ring[event]{max: DefaultMaxEvents}
	for range 3 * DefaultMaxEvents {
		r.push(event{})
	}
	if cap(r.buf) != DefaultMaxEvents || r.dropped != 2*DefaultMaxEvents {
		t.Fatalf("cap %d dropped %d", cap(r.buf), r.dropped)
	}
}

// TestRecorderGSOBound: a super-segment is one record, shown as its wire
// segments; the API shows at most MaxEvents wire segments, the newest,
// cutting through the oldest super-segment shown.
func TestRecorderGSOBound(t *testing.T) {
	rec := NewRecorder(Config{MaxEvents: 8})
	l := rec.Link(&offloadFake{}).(stack.OffloadLink)
	for i := range 3 {
		full := pkt(t, 40000, true, segment.FlagACK|segment.FlagPSH, uint32(1+5000*i), 1, 5000, segment.Options{})
		if _, err := l.WriteGSO(full[:40], full[40:], 1000); err != nil {
			t.Fatal(err)
		}
	}
	c := (&rig{t: t, rec: rec}).conn("c1")
	var seqs []uint32
	for _, e := range c.Events {
		seqs = append(seqs, *e.Seq)
	}
	want := []uint32{7001, 8001, 9001, 10001, 11001, 12001, 13001, 14001}
	if !slices.Equal(seqs, want) || !c.Truncated {
		t.Fatalf("seqs %v truncated %v, want %v true", seqs, c.Truncated, want)
	}
	if c.Events[2].Flags != "P." || c.Events[1].Flags != "." || c.Events[7].Flags != "P." {
		t.Fatalf("PSH on the last piece only: %+v", c.Events)
	}
}
