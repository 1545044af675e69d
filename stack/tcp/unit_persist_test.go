package tcp

import (
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// Zero-window probing goes on for as long as the peer answers (RFC 9293
// 3.8.6.1, MUST-35) and gives up with ETIMEDOUT when it answers nothing.
func TestUnitPersistGivesUpOnlyOnSilence(t *testing.T) {
	for _, answer := range []bool{true, false} {
		cfg := DefaultConfig()
		cfg.MaxRetries = 5
		sink := &uNopSink{}
		c, now := uEstablished(t, &cfg, sink)
		zero := segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Seq: 1001, Ack: 5001,
			Flags: segment.FlagACK, Window: 0}
		c.HandleSegment(now, &zero)
		c.Write(now, make([]byte, 100))
		for i := 0; i < 100 && c.State() == StateEstablished; i++ {
			now = c.Deadline()
			if now.IsZero() {
				t.Fatal("no persist timer")
			}
			c.HandleTimer(now)
			if answer {
				zero.Ack = c.SndUna
				c.HandleSegment(now, &zero)
			}
		}
		if answer {
			if c.State() != StateEstablished || c.Info().ZeroWindowProbes < 50 {
				t.Fatalf("answered probes: state %v after %d probes", c.State(), c.Info().ZeroWindowProbes)
			}
		} else {
			if c.State() != StateClosed || c.Err() != syscall.ETIMEDOUT || c.Info().ZeroWindowProbes != 5 {
				t.Fatalf("silent peer: state %v err %v probes %d", c.State(), c.Err(), c.Info().ZeroWindowProbes)
			}
		}
	}
}

func TestUnitISNAllocFree(t *testing.T) {
	g := NewISNGenerator([16]byte{1, 2, 3})
	tu := Tuple{uAddrA, 1, uAddrB, 2}
	now := time.Unix(5, 0)
	if a := testing.AllocsPerRun(100, func() { g.ISN(tu, now) }); a != 0 {
		t.Fatalf("ISN allocates %v", a)
	}
	// 4 µs clock: 1 ms later the ISN is 250 higher for the same tuple.
	if d := g.ISN(tu, now.Add(time.Millisecond)).Sub(g.ISN(tu, now)); d != 250 {
		t.Fatalf("ISN clock step %d", d)
	}
	if g.ISN(tu, now) == g.ISN(Tuple{uAddrA, 1, uAddrB, 3}, now) {
		t.Fatal("ISN does not depend on the tuple")
	}
}
