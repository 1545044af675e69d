package tcp

import (
	"testing"
	"time"
)

// TestInstantAsTime: an instant converts back to the time it was made from,
// and since/due give what time.Time's Sub and Before give, for a manual
// clock's times (no monotonic reading: the wall-difference path) and for
// the real clock's (monotonic), including times before the epoch and the
// zero time.
func TestInstantAsTime(t *testing.T) {
	for _, tc := range []struct {
		name string
		base time.Time
	}{
		{"wall", time.Date(2026, 12, 6, 4, 0, 0, 123, time.UTC)},
		{"monotonic", time.Now()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConn(nil, Tuple{}, nil)
			if got := c.inst(time.Time{}); got != 0 {
				t.Fatalf("zero time: instant %d, want 0", got)
			}
			first := c.inst(tc.base)
			if first == 0 {
				t.Fatal("first instant is 0 (the zero time's)")
			}
			now := tc.base.Add(1500 * time.Millisecond)
			for _, d := range []time.Duration{0, 1, time.Microsecond, 2 * time.Second, -time.Hour, 24 * time.Hour} {
				tm := tc.base.Add(d)
				a := c.inst(tm)
				if back := c.time(a); !back.Equal(tm) {
					t.Fatalf("%v: back as %v, want %v", d, back, tm)
				}
				if got, want := c.since(now, a), now.Sub(tm); got != want {
					t.Fatalf("%v: since %v, want %v", d, got, want)
				}
				if got, want := c.due(a, now), !now.Before(tm); got != want {
					t.Fatalf("%v: due %v, want %v", d, got, want)
				}
			}
			if got, want := c.since(now, 0), now.Sub(time.Time{}); got != want {
				t.Fatalf("since the zero instant %v, want %v", got, want)
			}
			if c.due(0, now) || !c.time(0).IsZero() {
				t.Fatal("the zero instant is armed")
			}
			if wall := c.flags&flagEpochWall != 0; wall != (tc.name == "wall") {
				t.Fatalf("flagEpochWall %v for %s times", wall, tc.name)
			}
		})
	}
}
