package stack

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// forcePortLocked sets the RFC 6056 counter towards remote so that the next
// pickPortLocked starts its search at port p.
func (s *Stack) forcePortLocked(remote netip.AddrPort, p uint16) {
	offset, index := s.ports.hash(s.addr4, remote)
	s.ports.table[index] = uint32(int(p)-ephemeralLo) - offset%ephemeralN + ephemeralN
}

// RFC 6056 3.3.4: towards one destination the ports come in sequence, so a
// 4-tuple is used again only after the whole range has been; towards
// another destination the sequence starts elsewhere.
func TestPickPort_RFC6056_3_3_4_SequentialPerDestination(t *testing.T) {
	s := &Stack{addr4: netip.MustParseAddr("198.18.0.2"), listeners: map[listenKey]*Listener{}}
	s.tw.init(s, 1, time.Minute)
	s.ports.key = [16]byte{1, 2, 3}
	dst := netip.MustParseAddrPort("198.18.0.1:80")
	seen := make(map[uint16]bool)
	prev := -1
	for i := 0; i < 2000; i++ {
		p, ok := s.pickPortLocked(s.addr4, dst)
		if !ok || p < ephemeralLo || p > ephemeralHi {
			t.Fatalf("pick %d: port %d, %v", i, p, ok)
		}
		if seen[p] {
			t.Fatalf("pick %d: port %d again before the range was used up", i, p)
		}
		seen[p] = true
		if prev >= 0 {
			// Sequential, with Linux's random stride of at most 8.
			if d := (int(p) - prev + ephemeralN) % ephemeralN; d < 1 || d > 8 {
				t.Fatalf("pick %d: port %d follows %d (step %d)", i, p, prev, d)
			}
		}
		prev = int(p)
	}
	// Another destination has its own offset (F) and counter (G): its
	// first port is where its hash puts it.
	other := netip.MustParseAddrPort("198.18.0.1:443")
	off, idx := s.ports.hash(s.addr4, other)
	want := uint16(ephemeralLo + (off+s.ports.table[idx])%ephemeralN)
	o1, _ := s.pickPortLocked(s.addr4, other)
	if o1 != want {
		t.Errorf("another destination's first port %d, want %d from its own hash", o1, want)
	}
}

// A Dial that reuses the 4-tuple of a connection whose TIME-WAIT record the
// server still holds, with an ISS below that record's RCV.NXT (1 MiB sent a
// moment ago: the ISN clock has moved 250 bytes per ms), must still
// connect: the record answers the SYN with an ACK, the dialer's SYN-SENT
// answers with a RST, that RST ends the record, and the retransmitted SYN
// opens. Before, the record ignored the RST (RFC 1337) and every
// retransmission met the same ACK until the Dial's context expired.
//
// With timestamps (the default) the first SYN opens at once: its TSval is
// above the record's TS.Recent (RFC 6191 2; both sides' timestamp clocks
// are per 4-tuple, so they keep increasing across incarnations).
func TestDialReusingServerTimeWaitTuple(t *testing.T) {
	for _, ts := range []bool{false, true} {
		t.Run(fmt.Sprintf("timestamps=%v", ts), func(t *testing.T) { testDialReusingServerTimeWaitTuple(t, ts) })
	}
}

func testDialReusingServerTimeWaitTuple(t *testing.T, ts bool) {
	clk := timers.NewReal()
	pa, pb := tun.NewPipe(clk, 1500, tun.FaultConfig{}, tun.FaultConfig{Seed: 1})
	a, err := New(pa, Options{Addr: netip.MustParseAddr("198.18.0.1"), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(pb, Options{Addr: netip.MustParseAddr("198.18.0.2"), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.cfg.Timestamps, b.cfg.Timestamps = ts, ts // before any connection exists
	ln, err := b.Listen(":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(io.Discard, io.LimitReader(c, 1<<20))
				c.Close() // the server closes first: B holds TIME-WAIT
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := a.DialTCP(ctx, "tcp", "198.18.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	port := c.tuple().LocalPort
	if _, err := c.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for b.Stats().TimeWait != 1 || a.Stats().Conns != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no TIME-WAIT record on the server: %+v", b.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	if ts {
		// RFC 6191 2 opens the record for a SYN whose TSval is above
		// TS.Recent, or equal to it with a sequence number above
		// RCV.NXT, which the ISS is not (see above). The timestamp
		// clock ticks once a millisecond (tcp/timestamps.go), so a SYN
		// sent in the tick of the old connection's last segment (its
		// FIN, sent before the loop above saw the record) carries
		// TS.Recent itself and is answered with an ACK, as Linux's
		// tcp_timewait_state_process answers it (a strictly newer
		// tw_ts_recent or a later sequence number). What is asserted
		// below is the case of a later tick: wait for the next one.
		for tick := clk.Now().UnixMilli(); clk.Now().UnixMilli() <= tick; {
			time.Sleep(100 * time.Microsecond)
		}
	}
	dst := netip.MustParseAddrPort("198.18.0.2:80")
	a.mu.Lock()
	a.forcePortLocked(dst, port)
	a.mu.Unlock()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	start := time.Now()
	c2, err := a.DialTCP(ctx2, "tcp", "198.18.0.2:80")
	if err != nil {
		t.Fatalf("dial reusing the server's TIME-WAIT 4-tuple: %v (server %+v)", err, b.Stats())
	}
	defer c2.Close()
	if c2.tuple().LocalPort != port {
		t.Fatalf("dial used port %d, want the forced %d", c2.tuple().LocalPort, port)
	}
	if ts {
		// The SYN's retransmissions are the new connection's (the first
		// one's may include a tail loss probe when a loaded machine
		// delays an ACK past its timer: RFC 8985 7).
		st, syn := b.Stats(), c2.Info().Retransmits
		if st.TimeWaitReset != 0 || st.TimeWaitReused != 1 || syn != 0 {
			t.Fatalf("server TimeWaitReset = %d, TimeWaitReused = %d, SYN retransmissions %d; want 0, 1, 0 (RFC 6191: the SYN's TSval opens the record) %+v",
				st.TimeWaitReset, st.TimeWaitReused, syn, st)
		}
		t.Logf("connected after %v (no SYN retransmission)", time.Since(start).Round(time.Millisecond))
		return
	}
	if st := b.Stats(); st.TimeWaitReset != 1 {
		t.Fatalf("server TimeWaitReset = %d, want 1 (the SYN was not below the record?) %+v", st.TimeWaitReset, st)
	}
	t.Logf("connected after %v (one SYN retransmission)", time.Since(start).Round(time.Millisecond))
}

// Port selection runs under the demux lock: no allocation (and no system
// call: the keyed hash is SHA-256 over a stack array, the stride comes from
// the runtime's generator).
func TestPickPortAllocatesNothing(t *testing.T) {
	s := &Stack{addr4: netip.MustParseAddr("198.18.0.2"), listeners: map[listenKey]*Listener{}}
	s.tw.init(s, 1, time.Minute)
	dst := netip.MustParseAddrPort("198.18.0.1:80")
	if n := testing.AllocsPerRun(1000, func() { s.pickPortLocked(s.addr4, dst) }); n != 0 {
		t.Fatalf("pickPortLocked: %v allocs per call, want 0", n)
	}
}
