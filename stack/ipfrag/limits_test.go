package ipfrag

import (
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// TestTimeout drives expiry with the manual now: a datagram whose first
// fragment arrived is reported for ICMP Time Exceeded with that fragment; one
// without it times out silently. Input expires as Expire does.
func TestTimeout(t *testing.T) {
	var reported [][]byte
	r := New(Config{TimeExceeded: func(f []byte) { reported = append(reported, append([]byte(nil), f...)) }})
	a := datagram4(src4, segment.ProtocolUDP, 1, 64, 1)
	b := datagram4(src4, segment.ProtocolUDP, 2, 64, 2)
	firstA := frag4(a, 0, 32, true)
	feed4(t, r, t0, firstA)
	feed4(t, r, t0.Add(time.Second), frag4(b, 32, 32, false))
	if d, ok := r.NextDeadline(); !ok || !d.Equal(t0.Add(DefaultTimeoutIPv4)) {
		t.Fatalf("next deadline %v %v", d, ok)
	}
	if n := r.Expire(t0.Add(DefaultTimeoutIPv4 - 1)); n != 0 {
		t.Fatalf("expired %d before the timeout", n)
	}
	// A's timeout passes on an Input call for an unrelated packet.
	c := datagram4(src4, segment.ProtocolUDP, 3, 64, 3)
	feed4(t, r, t0.Add(DefaultTimeoutIPv4), frag4(c, 0, 32, true))
	if len(reported) != 1 || string(reported[0]) != string(firstA) {
		t.Fatalf("reported %d fragments, want A's first", len(reported))
	}
	// A's remaining fragment now starts a new datagram that cannot
	// complete; B times out unreported.
	feed4(t, r, t0.Add(DefaultTimeoutIPv4), frag4(a, 32, 32, false))
	if n := r.Expire(t0.Add(DefaultTimeoutIPv4 + time.Second)); n != 1 {
		t.Fatalf("expired %d, want B", n)
	}
	s := r.Stats()
	if s.Timeouts != 2 || s.TimeExceeded != 1 || len(reported) != 1 || r.InProgress() != 2 {
		t.Fatalf("stats %+v, %d reported, %d in progress", s, len(reported), r.InProgress())
	}
	r.Expire(t0.Add(time.Hour))
	if r.InProgress() != 0 || r.Memory() != r.pool.bytes+cap(r.out) {
		t.Fatalf("%d in progress, memory %d after expiring all", r.InProgress(), r.Memory())
	}
	if _, ok := r.NextDeadline(); ok {
		t.Fatal("a deadline with nothing in progress")
	}
	checkMem(t, r)
}

// TestMaxDatagrams: the oldest datagram makes room for a new one.
func TestMaxDatagrams(t *testing.T) {
	r := New(Config{MaxDatagrams: 4})
	var wholes [][]byte
	for i := range 6 {
		w := datagram4(src4, segment.ProtocolUDP, uint16(i), 64, uint64(i))
		wholes = append(wholes, w)
		feed4(t, r, t0.Add(time.Duration(i)), frag4(w, 0, 32, true))
	}
	if r.InProgress() != 4 || r.Stats().DatagramEvictions != 2 {
		t.Fatalf("%d in progress, stats %+v", r.InProgress(), r.Stats())
	}
	// The two oldest are gone: their last fragment starts afresh (sent
	// after the others complete, so as not to evict them).
	for i := len(wholes) - 1; i >= 0; i-- {
		w := wholes[i]
		res := r.InputIPv4(frag4(w, 32, 32, false), t0.Add(time.Second))
		if i >= 2 {
			wantComplete(t, res, w)
		} else if res.Verdict != Held {
			t.Fatalf("datagram %d: %v", i, res.Verdict)
		}
	}
	checkMem(t, r)
}

// TestMaxFragments discards a datagram cut into too many pieces.
func TestMaxFragments(t *testing.T) {
	r := New(Config{MaxFragments: 4})
	w := datagram4(src4, segment.ProtocolUDP, 1, 80, 1)
	frags := split4(w, 16)
	feed4(t, r, t0, frags[:4]...)
	wantDrop(t, r.InputIPv4(frags[4], t0), ReasonTooManyFragments)
	if s := r.Stats(); s.TooManyFragments != 1 {
		t.Fatalf("stats %+v", s)
	}
	wantComplete(t, feed4(t, New(Config{MaxFragments: 5}), t0, frags...), w)
}

// TestMemoryBound: never-completing datagrams evict the oldest ones and
// memory stays under the bound; a new datagram still completes.
func TestMemoryBound(t *testing.T) {
	r := New(Config{MaxMemory: MinMemory, MaxMemoryPerSource: MinMemory})
	for i := range 200 {
		w := datagram4(src4, segment.ProtocolUDP, uint16(i), 8000, uint64(i))
		feed4(t, r, t0, split4(w, 1480)[:1+i%5]...)
		checkMem(t, r)
	}
	if r.Stats().MemoryEvictions == 0 {
		t.Fatal("no eviction")
	}
	w := datagram4(src4, segment.ProtocolUDP, 60000, 8000, 9)
	wantComplete(t, feed4(t, r, t0, split4(w, 1480)...), w)
	checkMem(t, r)
}

// TestPerSourceBound: one source's storm evicts its own datagrams, not
// another source's.
func TestPerSourceBound(t *testing.T) {
	r := New(Config{MaxMemory: 4 * MinMemory, MaxMemoryPerSource: MinMemory / 2})
	other := datagram4(src4b, segment.ProtocolUDP, 1, 3000, 1)
	otherFrags := split4(other, 1480)
	feed4(t, r, t0, otherFrags[0])
	for i := range 300 {
		w := datagram4(src4, segment.ProtocolUDP, uint16(i), 3000, uint64(i))
		feed4(t, r, t0.Add(time.Millisecond), split4(w, 1480)[:2]...)
		checkMem(t, r)
	}
	if r.Stats().MemoryEvictions == 0 {
		t.Fatal("no eviction")
	}
	wantComplete(t, feed4(t, r, t0.Add(time.Second), otherFrags[1:]...), other)
}

// TestStormBounded: overlapping and never-completing fragments from many
// sources keep memory, datagrams and per-source bytes bounded.
func TestStormBounded(t *testing.T) {
	r := New(Config{MaxMemory: MinMemory, MaxDatagrams: 64})
	for i := range 5000 {
		src := src4
		if i%3 == 0 {
			src = src4b
		}
		w := datagram4(src, segment.ProtocolUDP, uint16(i/4), 4000, uint64(i))
		off := (i * 8) % 3000
		r.InputIPv4(frag4(w, off&^7, 1000, true), t0.Add(time.Duration(i)*time.Millisecond))
		checkMem(t, r)
		if r.InProgress() > 64 {
			t.Fatalf("%d datagrams in progress", r.InProgress())
		}
	}
	if s := r.Stats(); s.Overlaps == 0 || s.MemoryEvictions+s.DatagramEvictions == 0 {
		t.Fatalf("the storm did not exercise the bounds: %+v", s)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := New(Config{}).Config()
	if c.MaxMemory != 4<<20 || c.MaxMemoryPerSource != 1<<20 || c.MaxDatagrams != DefaultMaxDatagrams ||
		c.MaxFragments != DefaultMaxFragments || c.TimeoutIPv4 != 30*time.Second || c.TimeoutIPv6 != 60*time.Second {
		t.Fatalf("defaults %+v", c)
	}
	c = New(Config{MaxMemory: 1000, MaxMemoryPerSource: 1 << 30}).Config()
	if c.MaxMemory != MinMemory || c.MaxMemoryPerSource != MinMemory {
		t.Fatalf("clamped %+v", c)
	}
	if ReasonOverlap.String() != "overlap" || Reason(200).String() != "unknown" || Complete.String() != "complete" {
		t.Fatal("names")
	}
}
