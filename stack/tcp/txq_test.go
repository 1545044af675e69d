package tcp

import (
	"testing"
	"time"
)

// txqConn returns a Conn with an MSS of 1000 whose send side starts at 1000.
func txqConn() *Conn {
	c := NewConn(nil, Tuple{}, nil)
	c.sndMSS = 1000
	return c
}

func txqSpans(c *Conn) [][2]uint32 {
	var out [][2]uint32
	for i := 0; i < c.txq.len(); i++ {
		r := c.txq.at(i)
		out = append(out, [2]uint32{uint32(r.start), uint32(r.end)})
	}
	return out
}

func TestTxqRecordsPiecesAndFin(t *testing.T) {
	c := txqConn()
	t0 := time.Unix(100, 0)
	// A GSO super-segment of 3,500 bytes and the FIN: four records, the
	// FIN riding on the last, short, piece.
	c.recordSent(t0, 1000, 3501, true)
	want := [][2]uint32{{1000, 2000}, {2000, 3000}, {3000, 4000}, {4000, 4501}}
	if got := txqSpans(c); len(got) != len(want) || got[3] != want[3] || got[0] != want[0] {
		t.Fatalf("records %v, want %v", got, want)
	}
	if c.txq.at(3).flags&txFin == 0 || c.txq.at(2).flags&txFin != 0 {
		t.Fatalf("FIN flag on the wrong record")
	}
	// Retransmitting the second piece updates it in place.
	t1 := t0.Add(time.Second)
	c.recordSent(t1, 2000, 1000, false)
	if r := c.txq.at(1); r.xmitTime != t1 || r.flags&txRetrans == 0 || c.txq.len() != 4 {
		t.Fatalf("retransmission not recorded in place: %+v, %d records", *r, c.txq.len())
	}
	if c.txq.at(0).flags&txRetrans != 0 || c.txq.at(2).flags&txRetrans != 0 {
		t.Fatalf("neighbours marked retransmitted")
	}
	// A cumulative ACK in the middle of a record trims it.
	c.recordsAcked(t1, 2500)
	if got := txqSpans(c); len(got) != 3 || got[0] != [2]uint32{2500, 3000} {
		t.Fatalf("after ACK 2500: %v", got)
	}
	c.recordsAcked(t1, 4501)
	if c.txq.len() != 0 {
		t.Fatalf("records left after the FIN was acknowledged: %v", txqSpans(c))
	}
}

func TestTxqFinAlone(t *testing.T) {
	c := txqConn()
	t0 := time.Unix(100, 0)
	c.recordSent(t0, 1000, 1000, false)
	c.recordSent(t0, 2000, 1, true)
	got := txqSpans(c)
	if len(got) != 2 || got[1] != [2]uint32{2000, 2001} || c.txq.at(1).flags&txFin == 0 {
		t.Fatalf("records %v", got)
	}
	// A full piece followed by the FIN in one segment: the FIN shares it.
	c2 := txqConn()
	c2.recordSent(t0, 1000, 1001, true)
	if got := txqSpans(c2); len(got) != 1 || got[0] != [2]uint32{1000, 2001} {
		t.Fatalf("records %v", got)
	}
}

func TestTxqGrowsAndWraps(t *testing.T) {
	c := txqConn()
	t0 := time.Unix(100, 0)
	seq := Seq(1000)
	// Keep ~40 records outstanding while 1,000 go through: the ring wraps
	// many times and search stays correct.
	for i := 0; i < 1000; i++ {
		c.recordSent(t0, seq, 1000, false)
		seq = seq.Add(1000)
		if i >= 40 {
			c.recordsAcked(t0, seq.Add(^uint32(40*1000-1)))
		}
		if c.txq.len() < 2 {
			continue
		}
		first := c.txq.at(0).start
		if idx := c.txq.search(first.Add(1500)); c.txq.at(idx).start != first.Add(1000) {
			t.Fatalf("search at step %d found %v", i, c.txq.at(idx).start)
		}
	}
}

// An emptied queue gives its ring back and the next transmission starts
// with a ring of the size the last one needed: no regrowth (and copying)
// from txqMin on every burst of a bulk sender; a burst that needed little
// brings the size back down.
func TestTxqRingSizeRemembered(t *testing.T) {
	var q txq
	fill := func(n int) {
		for range n {
			q.push()
		}
	}
	fill(1000)
	if len(q.buf) != 1024 {
		t.Fatalf("ring of %d for 1000 records", len(q.buf))
	}
	q.popFront(q.len())
	if q.buf != nil {
		t.Fatal("an empty queue kept its ring")
	}
	fill(1)
	if len(q.buf) != 1024 {
		t.Fatalf("after a burst of 1000 the next ring has %d records, want 1024", len(q.buf))
	}
	fill(9)
	q.popFront(q.len())
	fill(1)
	if len(q.buf) != txqMin {
		t.Fatalf("after a burst of 10 the next ring has %d records, want %d", len(q.buf), txqMin)
	}
}
