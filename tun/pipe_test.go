package tun_test

import (
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// pkt returns a packet of size n carrying id in its first 4 bytes.
func pkt(id uint32, n int) []byte {
	p := make([]byte, n)
	binary.BigEndian.PutUint32(p, id)
	for i := 4; i < n; i++ {
		p[i] = byte(id + uint32(i))
	}
	return p
}

// drain returns the ids of every packet readable at e now.
func drain(t *testing.T, e *tun.PipeEnd) []uint32 {
	t.Helper()
	var ids []uint32
	buf := make([]byte, e.MTU())
	for {
		n, ok := e.TryRead(buf)
		if !ok {
			return ids
		}
		if n < 4 {
			t.Fatalf("short packet %d", n)
		}
		ids = append(ids, binary.BigEndian.Uint32(buf))
	}
}

func send(t *testing.T, e *tun.PipeEnd, id uint32, n int) {
	t.Helper()
	if w, err := e.Write(pkt(id, n)); err != nil || w != n {
		t.Fatalf("Write(%d): %d, %v", id, w, err)
	}
}

func checkBalance(t *testing.T, s tun.Stats) {
	t.Helper()
	if s.Delivered != s.Sent+s.Duplicated-s.Dropped {
		t.Errorf("stats do not balance: %+v", s)
	}
}

func TestPipePerfectLink(t *testing.T) {
	clk := timers.NewManual(t0)
	a, b := tun.NewPipe(clk, 1500, tun.FaultConfig{}, tun.FaultConfig{})
	p := pkt(7, 1500)
	send(t, a, 7, 1500)
	buf := make([]byte, 1500)
	n, ok := b.TryRead(buf)
	if !ok || n != 1500 || string(buf) != string(p) {
		t.Fatalf("TryRead: %d %v, content equal %v", n, ok, string(buf[:n]) == string(p))
	}
	if _, ok := b.TryRead(buf); ok {
		t.Fatal("second TryRead found a packet")
	}
	if _, ok := a.TryRead(buf); ok {
		t.Fatal("packet came back to the sender")
	}
	send(t, b, 8, 60)
	if n, err := a.Read(buf); err != nil || n != 60 || binary.BigEndian.Uint32(buf) != 8 {
		t.Fatalf("Read: %d %v", n, err)
	}
	if s := a.Stats(); s != (tun.Stats{Sent: 1, Delivered: 1}) {
		t.Fatalf("a stats %+v", s)
	}
	// Write copies: changing the buffer afterwards changes nothing.
	q := pkt(9, 100)
	a.Write(q)
	q[0] = 0xff
	if n, _ := b.Read(buf); binary.BigEndian.Uint32(buf[:n]) != 9 {
		t.Fatal("Write did not copy the packet")
	}
	// Short read buffer: truncated, reported, consumed.
	send(t, a, 10, 100)
	if n, err := b.Read(buf[:50]); n != 50 || !errors.Is(err, tun.ErrShortBuffer) {
		t.Fatalf("short Read: %d %v", n, err)
	}
	if _, ok := b.TryRead(buf); ok {
		t.Fatal("truncated packet was not consumed")
	}
}

func TestPipeTooBig(t *testing.T) {
	a, b := tun.NewPipe(timers.NewManual(t0), 1280, tun.FaultConfig{}, tun.FaultConfig{})
	if n, err := a.Write(make([]byte, 1281)); n != 0 || !errors.Is(err, tun.ErrTooBig) {
		t.Fatalf("Write(1281): %d %v", n, err)
	}
	if got := drain(t, b); len(got) != 0 {
		t.Fatalf("oversized packet delivered: %v", got)
	}
	if s := a.Stats(); s.Dropped != 1 || s.Sent != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// lossPattern sends n packets through a pipe with cfg and returns which
// were delivered, after letting every timer fire.
func lossPattern(t *testing.T, cfg tun.FaultConfig, n int) []bool {
	clk := timers.NewManual(t0)
	a, b := tun.NewPipe(clk, 1500, cfg, tun.FaultConfig{})
	got := make([]bool, n)
	for i := range n {
		send(t, a, uint32(i), 100)
		clk.Advance(time.Millisecond)
		for _, id := range drain(t, b) {
			got[id] = true
		}
	}
	clk.Advance(time.Second)
	for _, id := range drain(t, b) {
		got[id] = true
	}
	checkBalance(t, a.Stats())
	return got
}

func count(v []bool) int {
	c := 0
	for _, x := range v {
		if x {
			c++
		}
	}
	return c
}

func TestPipeLoss(t *testing.T) {
	const n = 10000
	cfg := tun.FaultConfig{Seed: 1, Loss: 0.1}
	got := lossPattern(t, cfg, n)
	lost := n - count(got)
	// Binomial(10000, 0.1): mean 1000, sd 30. The seed is fixed, so this
	// is deterministic; the bound only guards the rate's meaning.
	if lost < 900 || lost > 1100 {
		t.Fatalf("lost %d of %d at Loss=0.1", lost, n)
	}
	// Same seed, same pattern; a different seed, another one.
	if again := lossPattern(t, cfg, n); !slices.Equal(got, again) {
		t.Fatal("same seed gave a different drop pattern")
	}
	cfg.Seed = 2
	if other := lossPattern(t, cfg, n); slices.Equal(got, other) {
		t.Fatal("different seeds gave the same drop pattern")
	}
	// The loss pattern of a seed does not depend on the other settings.
	withDelay := lossPattern(t, tun.FaultConfig{Seed: 1, Loss: 0.1, Delay: 3 * time.Millisecond, Jitter: time.Millisecond}, n)
	if !slices.Equal(got, withDelay) {
		t.Fatal("adding delay changed the loss pattern of the seed")
	}
	// Loss 0 loses nothing, loss 1 everything.
	if c := count(lossPattern(t, tun.FaultConfig{Seed: 1}, 1000)); c != 1000 {
		t.Fatalf("Loss=0 delivered %d of 1000", c)
	}
	if c := count(lossPattern(t, tun.FaultConfig{Seed: 1, Loss: 1}, 1000)); c != 0 {
		t.Fatalf("Loss=1 delivered %d of 1000", c)
	}
}

func TestPipeDuplicate(t *testing.T) {
	clk := timers.NewManual(t0)
	a, b := tun.NewPipe(clk, 1500, tun.FaultConfig{Seed: 3, Duplicate: 0.2}, tun.FaultConfig{})
	const n = 2000
	var ids []uint32
	for i := range n {
		send(t, a, uint32(i), 64)
		ids = append(ids, drain(t, b)...)
	}
	s := a.Stats()
	if s.Duplicated < 300 || s.Duplicated > 500 {
		t.Fatalf("duplicated %d of %d at 0.2", s.Duplicated, n)
	}
	if uint64(len(ids)) != n+s.Duplicated {
		t.Fatalf("received %d, want %d + %d duplicates", len(ids), n, s.Duplicated)
	}
	// In order, every id once or twice, copies adjacent.
	want := uint32(0)
	for i, id := range ids {
		if id == want {
			want++
			continue
		}
		if i == 0 || id != ids[i-1] || (i > 1 && ids[i-2] == id) {
			t.Fatalf("position %d: id %d, previous %v", i, id, ids[max(0, i-2):i])
		}
	}
	if want != n {
		t.Fatalf("last id %d, want %d", want, n)
	}
	checkBalance(t, s)
}

func TestPipeReorder(t *testing.T) {
	clk := timers.NewManual(t0)
	a, b := tun.NewPipe(clk, 1500, tun.FaultConfig{Seed: 4, Reorder: 0.1}, tun.FaultConfig{})
	const n = 5000
	var ids []uint32
	for i := range n {
		send(t, a, uint32(i), 64)
		ids = append(ids, drain(t, b)...)
	}
	clk.Advance(tun.ReorderHold) // a packet held at the very end
	ids = append(ids, drain(t, b)...)

	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	for i, id := range sorted {
		if id != uint32(i) {
			t.Fatalf("packets lost or duplicated by reordering: sorted[%d] = %d", i, id)
		}
	}
	// Each reordered packet arrives right after the one sent next: the
	// received order has exactly one descent per reordering.
	descents := 0
	for i := 1; i < len(ids); i++ {
		if ids[i] < ids[i-1] {
			descents++
			if ids[i] != ids[i-1]-1 {
				t.Fatalf("packet %d arrived after %d: held back more than one place", ids[i], ids[i-1])
			}
		}
	}
	s := a.Stats()
	if descents == 0 || uint64(descents) != s.Reordered {
		t.Fatalf("%d descents, Stats.Reordered %d", descents, s.Reordered)
	}
	if descents < 350 || descents > 550 {
		t.Fatalf("%d reorderings of %d at 0.1", descents, n)
	}
	checkBalance(t, s)
}

func TestPipeReorderHoldTimeout(t *testing.T) {
	clk := timers.NewManual(t0)
	a, b := tun.NewPipe(clk, 1500, tun.FaultConfig{Reorder: 1}, tun.FaultConfig{})
	send(t, a, 1, 64)
	clk.Advance(tun.ReorderHold - 1)
	if got := drain(t, b); len(got) != 0 {
		t.Fatalf("held packet delivered early: %v", got)
	}
	clk.Advance(1)
	if got := drain(t, b); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("after ReorderHold: %v", got)
	}
	if s := a.Stats(); s.Reordered != 0 || s.Delivered != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPipeDelayExact(t *testing.T) {
	clk := timers.NewManual(t0)
	const delay = 10 * time.Millisecond
	a, b := tun.NewPipe(clk, 1500, tun.FaultConfig{Delay: delay}, tun.FaultConfig{})
	var notified []time.Time
	b.SetNotify(func() { notified = append(notified, clk.Now()) })
	send(t, a, 1, 100)
	clk.Advance(2 * time.Millisecond)
	send(t, a, 2, 100)
	clk.Advance(delay - 2*time.Millisecond - 1)
	if got := drain(t, b); len(got) != 0 {
		t.Fatalf("delivered before t+delay: %v", got)
	}
	clk.Advance(1)
	if got := drain(t, b); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("at t+delay: %v", got)
	}
	clk.Advance(2*time.Millisecond - 1)
	if got := drain(t, b); len(got) != 0 {
		t.Fatalf("second packet early: %v", got)
	}
	clk.Advance(1)
	if got := drain(t, b); !slices.Equal(got, []uint32{2}) {
		t.Fatalf("second packet: %v", got)
	}
	want := []time.Time{t0.Add(delay), t0.Add(2*time.Millisecond + delay)}
	if !slices.EqualFunc(notified, want, time.Time.Equal) {
		t.Fatalf("notified at %v, want %v", notified, want)
	}
}

func TestPipeJitterKeepsOrder(t *testing.T) {
	clk := timers.NewManual(t0)
	const delay, jitter = 10 * time.Millisecond, 4 * time.Millisecond
	a, b := tun.NewPipe(clk, 1500, tun.FaultConfig{Seed: 5, Delay: delay, Jitter: jitter}, tun.FaultConfig{})
	arrived := map[uint32]time.Time{}
	var order []uint32
	b.SetNotify(func() {
		for _, id := range drain(t, b) {
			arrived[id] = clk.Now()
			order = append(order, id)
		}
	})
	const n = 500
	sent := make([]time.Time, n)
	for i := range n {
		sent[i] = clk.Now()
		send(t, a, uint32(i), 100)
		clk.Advance(time.Millisecond)
	}
	clk.Advance(time.Second)
	if len(order) != n {
		t.Fatalf("%d of %d arrived", len(order), n)
	}
	spread := map[time.Duration]bool{}
	var prev time.Time
	for i, id := range order {
		if id != uint32(i) {
			t.Fatalf("jitter reordered: position %d holds %d", i, id)
		}
		d := arrived[id].Sub(sent[id])
		spread[d] = true
		if d < delay-jitter {
			t.Fatalf("packet %d took %v, less than delay-jitter", id, d)
		}
		// Later than delay+jitter only when waiting behind the previous one.
		if d > delay+jitter && !arrived[id].Equal(prev) {
			t.Fatalf("packet %d took %v without waiting behind another", id, d)
		}
		prev = arrived[id]
	}
	if len(spread) < 100 {
		t.Fatalf("only %d distinct latencies: jitter not applied", len(spread))
	}
}

func TestPipeRateLimit(t *testing.T) {
	clk := timers.NewManual(t0)
	// 1 MB/s: a 1000-byte packet takes exactly 1 ms on the wire.
	a, b := tun.NewPipe(clk, 1500, tun.FaultConfig{Rate: 1_000_000, Delay: 5 * time.Millisecond}, tun.FaultConfig{})
	for i := range 5 {
		send(t, a, uint32(i), 1000)
	}
	var at []time.Duration
	for clk.Step() {
		for range drain(t, b) {
			at = append(at, clk.Now().Sub(t0))
		}
	}
	want := []time.Duration{6 * time.Millisecond, 7 * time.Millisecond, 8 * time.Millisecond, 9 * time.Millisecond, 10 * time.Millisecond}
	if !slices.Equal(at, want) {
		t.Fatalf("arrivals at %v, want %v", at, want)
	}
	// After the queue has drained, the wire is idle: the next packet only
	// pays its own serialisation.
	clk.Advance(100 * time.Millisecond)
	start := clk.Now()
	send(t, a, 9, 500)
	clk.Advance(5*time.Millisecond + 500*time.Microsecond - 1)
	if len(drain(t, b)) != 0 {
		t.Fatal("early")
	}
	clk.Advance(1)
	if got := drain(t, b); !slices.Equal(got, []uint32{9}) || clk.Now().Sub(start) != 5500*time.Microsecond {
		t.Fatalf("idle-wire packet: %v", got)
	}
}

func TestPipeQueueLimits(t *testing.T) {
	clk := timers.NewManual(t0)
	// In flight: 10 delayed packets at most.
	a, b := tun.NewPipe(clk, 1500, tun.FaultConfig{Delay: time.Millisecond, QueueLimit: 10}, tun.FaultConfig{})
	for i := range 25 {
		send(t, a, uint32(i), 100)
	}
	clk.Advance(time.Millisecond)
	if got := drain(t, b); len(got) != 10 || got[9] != 9 {
		t.Fatalf("delivered %v, want the first 10", got)
	}
	if s := a.Stats(); s.Dropped != 15 || s.Delivered != 10 {
		t.Fatalf("stats %+v", s)
	}
	// Unread at the receiver: 10 at most.
	c, d := tun.NewPipe(clk, 1500, tun.FaultConfig{QueueLimit: 10}, tun.FaultConfig{})
	for i := range 25 {
		send(t, c, uint32(i), 100)
	}
	if got := drain(t, d); len(got) != 10 {
		t.Fatalf("receiver held %d, want 10", len(got))
	}
	s := c.Stats()
	if s.Dropped != 15 {
		t.Fatalf("stats %+v", s)
	}
	checkBalance(t, s)
}

func TestPipeCloseUnblocksRead(t *testing.T) {
	a, b := tun.NewPipe(timers.NewManual(t0), 1500, tun.FaultConfig{}, tun.FaultConfig{})
	done := make(chan error, 1)
	go func() {
		_, err := b.Read(make([]byte, 1500))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	b.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	if _, err := b.Write(pkt(1, 64)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	// The peer stays usable; what it sends to the closed end is dropped.
	if _, err := a.Write(pkt(2, 64)); err != nil {
		t.Fatal(err)
	}
	if s := a.Stats(); s.Dropped != 1 {
		t.Fatalf("peer stats %+v", s)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestPipeCloseDiscardsInFlight(t *testing.T) {
	clk := timers.NewManual(t0)
	a, b := tun.NewPipe(clk, 1500, tun.FaultConfig{Delay: time.Millisecond, Reorder: 1}, tun.FaultConfig{})
	send(t, a, 1, 64) // held
	send(t, a, 2, 64) // in flight, releases 1 behind it
	send(t, a, 3, 64) // held
	a.Close()
	clk.Advance(time.Second)
	if got := drain(t, b); len(got) != 0 {
		t.Fatalf("delivered after Close: %v", got)
	}
	s := a.Stats()
	if s.Dropped != 3 {
		t.Fatalf("stats %+v", s)
	}
	checkBalance(t, s)
}

// TestPipeNotifyReentrant: the notify callback may use the pipe (no lock is
// held while it runs), here answering every packet from inside it.
func TestPipeNotifyReentrant(t *testing.T) {
	clk := timers.NewManual(t0)
	a, b := tun.NewPipe(clk, 1500, tun.FaultConfig{Delay: time.Millisecond}, tun.FaultConfig{})
	buf := make([]byte, 1500)
	b.SetNotify(func() {
		for {
			n, ok := b.TryRead(buf)
			if !ok {
				return
			}
			b.Write(buf[:n])
		}
	})
	var back atomic.Int32
	a.SetNotify(func() { back.Add(int32(len(drain(t, a)))) })
	for i := range 10 {
		send(t, a, uint32(i), 64)
	}
	clk.Advance(time.Millisecond)
	if back.Load() != 10 {
		t.Fatalf("%d echoes", back.Load())
	}
}

// TestPipeConcurrent runs writers and readers on both ends while the clock
// moves, for the race detector, and checks nothing is lost or invented.
func TestPipeConcurrent(t *testing.T) {
	clk := timers.NewManual(t0)
	cfg := tun.FaultConfig{Seed: 6, Loss: 0.05, Duplicate: 0.05, Reorder: 0.05, Delay: 100 * time.Microsecond, Jitter: 50 * time.Microsecond, QueueLimit: 100000}
	a, b := tun.NewPipe(clk, 1500, cfg, cfg)
	const writers, per = 4, 2000
	var wg, rwg sync.WaitGroup
	var readA, readB atomic.Int64
	reader := func(e *tun.PipeEnd, cnt *atomic.Int64) {
		defer rwg.Done()
		buf := make([]byte, 1500)
		for {
			n, err := e.Read(buf)
			if err != nil {
				return
			}
			id := binary.BigEndian.Uint32(buf)
			if string(buf[:n]) != string(pkt(id, n)) {
				t.Errorf("corrupted packet %d", id)
			}
			cnt.Add(1)
		}
	}
	for range 2 {
		rwg.Add(2)
		go reader(a, &readA)
		go reader(b, &readB)
	}
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				clk.Advance(50 * time.Microsecond)
				time.Sleep(10 * time.Microsecond)
			}
		}
	}()
	for w := range writers {
		wg.Add(2)
		for _, e := range []*tun.PipeEnd{a, b} {
			go func() {
				defer wg.Done()
				for i := range per {
					e.Write(pkt(uint32(w*per+i), 64+i%1000))
				}
			}()
		}
	}
	wg.Wait()
	close(stop)
	clk.Advance(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for (uint64(readB.Load()) != a.Stats().Delivered || uint64(readA.Load()) != b.Stats().Delivered) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	a.Close()
	b.Close()
	rwg.Wait()
	for _, s := range []tun.Stats{a.Stats(), b.Stats()} {
		if s.Sent != writers*per {
			t.Errorf("sent %d", s.Sent)
		}
		checkBalance(t, s)
	}
	if uint64(readB.Load()) != a.Stats().Delivered || uint64(readA.Load()) != b.Stats().Delivered {
		t.Fatalf("read %d/%d, delivered %d/%d", readB.Load(), readA.Load(), a.Stats().Delivered, b.Stats().Delivered)
	}
}

func TestPipeZeroAllocs(t *testing.T) {
	clk := timers.NewManual(t0)
	for _, cfg := range []tun.FaultConfig{
		{},
		{Seed: 1, Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, Delay: time.Millisecond, Jitter: 100 * time.Microsecond, Rate: 1e9},
	} {
		a, b := tun.NewPipe(clk, 1500, cfg, tun.FaultConfig{})
		p := pkt(1, 1400)
		buf := make([]byte, 1500)
		round := func() {
			for range 8 {
				a.Write(p)
			}
			clk.Advance(2 * time.Millisecond)
			for {
				if _, ok := b.TryRead(buf); !ok {
					break
				}
			}
		}
		for range 100 {
			round() // warm the buffer pools and rings
		}
		if allocs := testing.AllocsPerRun(200, round); allocs != 0 {
			t.Errorf("%+v: %v allocs per round", cfg, allocs)
		}
	}
}

func BenchmarkPipeWriteRead(b *testing.B) {
	x, y := tun.NewPipe(timers.NewManual(t0), 1500, tun.FaultConfig{}, tun.FaultConfig{})
	p := pkt(1, 1400)
	buf := make([]byte, 1500)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		x.Write(p)
		y.TryRead(buf)
	}
}
