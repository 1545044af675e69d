package netsim

import (
	"math"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// arrival is one delivered packet: its Seq (the test's packet id) and when
// it arrived.
type arrival struct {
	id uint32
	at time.Time
}

// offer sends n segments of payload bytes, one every gap from epoch, each
// with Seq = its index, delivering due packets before each send; then it
// drains the link. It returns the arrivals in order.
func offer(l *Link, n, payload int, gap time.Duration) []arrival {
	var got []arrival
	var now time.Time
	recv := func(s *segment.Segment) {
		if len(s.Payload) != payload {
			panic("payload length changed on the link")
		}
		got = append(got, arrival{uint32(s.Seq), now})
	}
	buf := make([]byte, payload)
	for i := range n {
		t := epoch.Add(time.Duration(i) * gap)
		for next, ok := l.Next(); ok && !next.After(t); next, ok = l.Next() {
			now = next
			l.Deliver(now, recv)
		}
		seg := segment.Segment{Seq: segment.Seq(i), Flags: segment.FlagACK, Payload: buf}
		l.Send(t, &seg)
	}
	for next, ok := l.Next(); ok; next, ok = l.Next() {
		now = next
		l.Deliver(now, recv)
	}
	return got
}

func TestSimLinkDelayAndCopy(t *testing.T) {
	l := NewLink(Path{Delay: 20 * time.Millisecond})
	p := []byte("hello")
	l.Send(epoch, &segment.Segment{Seq: 7, Payload: p})
	copy(p, "XXXXX") // the engine reuses its scratch: the link must have copied
	if next, ok := l.Next(); !ok || next != epoch.Add(20*time.Millisecond) {
		t.Fatalf("Next = %v %v, want epoch+20ms", next.Sub(epoch), ok)
	}
	if n := l.Deliver(epoch.Add(20*time.Millisecond-1), func(*segment.Segment) {}); n != 0 {
		t.Fatalf("delivered %d packets before the delay", n)
	}
	var got string
	if n := l.Deliver(epoch.Add(20*time.Millisecond), func(s *segment.Segment) { got = string(s.Payload) }); n != 1 || got != "hello" {
		t.Fatalf("delivered %d packets, payload %q; want 1, \"hello\"", n, got)
	}
	if l.InFlight() != 0 {
		t.Fatal("packet left in flight")
	}
}

// A rate-limited link delivers at most its rate in any window, close to it
// when overloaded, drops what would overflow the queue, and no packet
// waits longer than the queue bound.
func TestSimLinkRate(t *testing.T) {
	const rate = 10 * mbit
	l := NewLink(Path{Rate: rate, Queue: 50 * time.Millisecond, Delay: 5 * time.Millisecond})
	const payload = 1448
	frame := FrameOverhead + 40 + payload // IPv4 and TCP headers without options
	// Offer 1.2x the rate for one second.
	gap := time.Duration(float64(frame*8) / (1.2 * rate) * float64(time.Second))
	got := offer(l, int(time.Second/gap), payload, gap)
	st := l.Stats()
	if st.QueueDrops == 0 {
		t.Fatalf("no queue drops at 1.2x the rate: %+v", st)
	}
	if st.MaxWait > 50*time.Millisecond {
		t.Fatalf("a packet waited %v, more than the 50 ms queue", st.MaxWait)
	}
	ser := time.Duration(frame * 8 * int(time.Second) / rate)
	for i := 1; i < len(got); i++ {
		if d := got[i].at.Sub(got[i-1].at); d < ser {
			t.Fatalf("packets %d and %d arrived %v apart, less than the serialisation time %v", got[i-1].id, got[i].id, d, ser)
		}
	}
	// Any 100 ms window carries at most the rate's worth (plus the frame
	// in progress); the whole run close to the rate.
	win := 100 * time.Millisecond
	maxFrames := int(int64(rate)*int64(win)/int64(time.Second)/int64(frame*8)) + 1
	for i, j := 0, 0; i < len(got); i++ {
		for j < len(got) && got[j].at.Sub(got[i].at) < win {
			j++
		}
		if j-i > maxFrames {
			t.Fatalf("%d frames arrived within %v from %v, at most %d fit the rate", j-i, win, got[i].at.Sub(epoch), maxFrames)
		}
	}
	span := got[len(got)-1].at.Sub(got[0].at) + ser
	if r := float64(len(got)*frame*8) / span.Seconds(); r > rate || r < 0.99*rate {
		t.Fatalf("delivered %.3f Mbit/s of frames, want just under %d", r/mbit, rate/mbit)
	}
	if st.Delivered != uint64(len(got)) || st.Delivered+st.QueueDrops != st.Packets || st.FrameBytes != uint64(len(got)*frame) {
		t.Fatalf("counters do not add up: %+v, %d delivered", st, len(got))
	}
}

// The observed loss rate matches the configured one (within 5 standard
// deviations of the binomial), and a lost packet never arrives.
func TestSimLinkLossRate(t *testing.T) {
	const n = 100_000
	for _, p := range []float64{0.001, 0.01, 0.03, 0.10} {
		l := NewLink(Path{Loss: p, Delay: time.Millisecond, Seed: 42})
		got := offer(l, n, 10, 10*time.Microsecond)
		st := l.Stats()
		obs := float64(st.Lost) / n
		if tol := 5 * math.Sqrt(p*(1-p)/n); math.Abs(obs-p) > tol {
			t.Errorf("loss %g: observed %.5f, want within %.5f", p, obs, tol)
		}
		if uint64(len(got)) != n-st.Lost {
			t.Errorf("loss %g: %d arrived, %d sent, %d lost", p, len(got), n, st.Lost)
		}
	}
}

// Reordering holds a share of the packets back exactly ReorderDelay, so
// that the packets sent in between overtake them; the rest arrive in
// order after the delay.
func TestSimLinkReorder(t *testing.T) {
	const n, gap = 20_000, 100 * time.Microsecond
	delay := 10 * time.Millisecond
	l := NewLink(Path{Delay: delay, Reorder: 0.05, Seed: 3})
	got := offer(l, n, 10, gap)
	if len(got) != n {
		t.Fatalf("%d of %d arrived", len(got), n)
	}
	held := 0
	for _, a := range got {
		sent := epoch.Add(time.Duration(a.id) * gap)
		switch a.at.Sub(sent) {
		case delay:
		case delay + DefaultReorderDelay:
			held++
		default:
			t.Fatalf("packet %d took %v", a.id, a.at.Sub(sent))
		}
	}
	if st := l.Stats(); uint64(held) != st.Reordered || math.Abs(float64(held)/n-0.05) > 5*math.Sqrt(0.05*0.95/n) {
		t.Fatalf("%d held back (counter %d), want about 5 %% of %d", held, st.Reordered, n)
	}
	// A held packet arrives after the 20 packets sent in the next 2 ms.
	inversions := 0
	for i := 1; i < len(got); i++ {
		if got[i].id < got[i-1].id {
			inversions++
		}
	}
	if inversions == 0 || inversions > held {
		t.Fatalf("%d arrivals after a later-sent packet, %d held", inversions, held)
	}
}

// Jitter delays each packet by a random extra in [0, Jitter) and never
// reorders: a packet whose draw would overtake the one before waits for
// it. The extras spread over the range.
func TestSimLinkJitter(t *testing.T) {
	const n, gap = 20_000, 100 * time.Microsecond
	delay, jitter := 10*time.Millisecond, time.Millisecond
	l := NewLink(Path{Delay: delay, Jitter: jitter, Seed: 5})
	got := offer(l, n, 10, gap)
	if len(got) != n {
		t.Fatalf("%d of %d arrived", len(got), n)
	}
	var sum time.Duration
	for i, a := range got {
		if a.id != uint32(i) {
			t.Fatalf("arrival %d is packet %d: jitter reordered", i, a.id)
		}
		if i > 0 && a.at.Before(got[i-1].at) {
			t.Fatalf("packet %d arrived before packet %d", i, i-1)
		}
		extra := a.at.Sub(epoch.Add(time.Duration(a.id)*gap)) - delay
		if extra < 0 || extra >= jitter {
			t.Fatalf("packet %d: extra delay %v, want [0, %v)", a.id, extra, jitter)
		}
		sum += extra
	}
	// Uniform draws, some raised to the previous arrival: the mean extra
	// is a little over half the jitter.
	if mean := sum / n; mean < jitter*45/100 || mean > jitter*70/100 {
		t.Fatalf("mean extra delay %v for jitter %v", mean, jitter)
	}
}

// The same seed gives the same fate to every packet; another seed does not.
func TestSimLinkDeterministic(t *testing.T) {
	p := Path{Loss: 0.05, Reorder: 0.05, Delay: 3 * time.Millisecond, Rate: 50 * mbit, Seed: 9}
	run := func(p Path) []arrival { return offer(NewLink(p), 5000, 1000, 150*time.Microsecond) }
	a, b := run(p), run(p)
	if len(a) != len(b) {
		t.Fatalf("same seed: %d vs %d arrivals", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed: arrival %d differs: %v vs %v", i, a[i], b[i])
		}
	}
	p.Seed = 10
	c := run(p)
	same := len(a) == len(c)
	for i := 0; same && i < len(a); i++ {
		same = a[i] == c[i]
	}
	if same {
		t.Fatal("seeds 9 and 10 gave the same arrivals")
	}
}
