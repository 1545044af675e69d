package tcp

import (
	"math"
	"testing"
	"time"
)

// A synthetic sender and path for BBR's tests (cc_bbr_test.go).

// bbrSim feeds a bbr synthetic ACKs from a window-limited sender over a
// fluid path model: a bottleneck of bw bytes/s and a propagation RTT of
// rtt. The sender keeps a FIFO of sent segments, each remembering
// C.delivered and C.inflight at its transmission (P.delivered,
// P.tx_in_flight); every ACK acknowledges the oldest one, then the sender
// refills its window (cwnd, or a fixed inflight the test sets), paced at
// BBR's pacing rate unless unpaced is set. A segment sent with x bytes in flight is delivered at
// min(bw, x/rtt) and sees an RTT of rtt + max(0, x - bw*rtt)/bw (the
// queue); rate, if set, overrides the delivery rate of the samples.
type bbrSim struct {
	t       *testing.T
	b       *bbr
	s       CCState
	bw      float64       // bottleneck, bytes/s
	rtt     time.Duration // propagation RTT
	rate    float64       // if > 0, the delivery rate of every sample
	fixed   uint32        // if > 0, the sender's window instead of cwnd
	unpaced bool
	sent    []bbrSent
	next    time.Time // pacing: the next send time
	lastAck time.Time
	rs      RateSample // the last sample given
	seen    uint32     // s.Inflight when BBR processed the last ACK
	visited []bbrState // states in the order entered
	// Loss to report on the next ACKs: rs.Lost as a fraction of
	// rs.TxInFlight, with one segment newly marked lost. Otherwise
	// rs.Lost is what was marked lost since the segment was sent, and
	// markLost, if set, marks one more segment lost on each ACK.
	lossFrac   float64
	markLost   bool
	appLimited bool
}

type bbrSent struct {
	delivered uint64
	lost      uint64
	inflight  uint32
}

func newBBRSim(t *testing.T, bw float64, rtt time.Duration) *bbrSim {
	m := &bbrSim{t: t, b: newBBR(), bw: bw, rtt: rtt}
	m.s = CCState{MSS: ccMSS, Now: ccT0}
	m.b.Init(&m.s)
	m.visited = []bbrState{m.b.state}
	m.send()
	return m
}

func (m *bbrSim) window() uint32 {
	if m.fixed > 0 {
		return m.fixed
	}
	return m.s.Cwnd
}

// send fills the window, as far as pacing allows: the send slots between
// the previous ACK and now are used.
func (m *bbrSim) send() {
	for m.s.Inflight+ccMSS <= m.window() {
		if !m.unpaced {
			if m.next.After(m.s.Now) {
				break
			}
			if m.next.Before(m.lastAck) {
				m.next = m.lastAck
			}
			m.next = m.next.Add(time.Duration(ccMSS / float64(m.b.PacingRate(&m.s)) * float64(time.Second)))
		}
		m.s.Inflight += ccMSS
		m.s.SndNxt = m.s.SndNxt.Add(ccMSS)
		m.sent = append(m.sent, bbrSent{m.s.Delivered, m.s.Lost, m.s.Inflight})
	}
}

// ack delivers the oldest outstanding segment.
func (m *bbrSim) ack() {
	m.t.Helper()
	if len(m.sent) == 0 {
		// Idle until the pacer lets the next segment go.
		m.lastAck = m.s.Now
		m.s.Now = m.next
		m.send()
		if len(m.sent) == 0 {
			m.t.Fatalf("nothing in flight (cwnd %d)", m.s.Cwnd)
		}
	}
	p := m.sent[0]
	m.sent = m.sent[1:]
	x := float64(p.inflight)
	rate := min(m.bw, x/m.rtt.Seconds())
	if m.rate > 0 {
		rate = m.rate
	}
	rtt := m.rtt + time.Duration(max(0, x-m.bw*m.rtt.Seconds())/m.bw*float64(time.Second))
	m.s.Now = m.s.Now.Add(time.Duration(ccMSS / rate * float64(time.Second)))
	prior := m.s.Inflight
	m.s.Inflight -= ccMSS
	m.s.Delivered += ccMSS
	m.s.SndUna = m.s.SndUna.Add(ccMSS)
	m.s.RTT = rtt
	d := m.s.Delivered - p.delivered
	m.rs = RateSample{
		PriorDelivered: p.delivered, Delivered: d,
		Interval:   time.Duration(math.Round(float64(d) / rate * float64(time.Second))),
		TxInFlight: p.inflight, RTT: rtt, AckedSacked: ccMSS, PriorInFlight: prior,
		IsAppLimited: m.appLimited,
	}
	if m.markLost {
		m.rs.NewlyLost = ccMSS
		m.s.Lost += ccMSS
	}
	m.rs.Lost = m.s.Lost - p.lost
	if m.lossFrac > 0 {
		m.rs.Lost = uint64(m.lossFrac * float64(p.inflight))
		m.rs.NewlyLost = ccMSS
		m.s.Lost += ccMSS
	}
	m.seen = m.s.Inflight
	m.b.OnAck(&m.s, &m.rs)
	if st := m.b.state; st != m.visited[len(m.visited)-1] {
		m.visited = append(m.visited, st)
	}
	m.send()
	m.lastAck = m.s.Now
}

// near reports whether a and b agree within a millionth.
func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(math.Abs(a), math.Abs(b)) }

// round acknowledges until a packet-timed round ends (BBR.round_start),
// at most 10000 ACKs.
func (m *bbrSim) round() {
	m.t.Helper()
	start := m.b.roundCount
	for i := 0; i < 10000; i++ {
		m.ack()
		if m.b.roundCount != start {
			return
		}
	}
	m.t.Fatalf("no round end in 10000 ACKs (state %v)", m.b.state)
}

// untilState acknowledges until the state is st, at most n rounds; it
// returns the number of round ends seen (the last one included if it
// made the change).
func (m *bbrSim) untilState(st bbrState, n int) int {
	m.t.Helper()
	start := m.b.roundCount
	for i := 0; i < 1000000 && m.b.roundCount-start <= uint64(n); i++ {
		m.ack()
		if m.b.state == st {
			return int(m.b.roundCount - start)
		}
	}
	m.t.Fatalf("not in %v after %d rounds (state %v)", st, n, m.b.state)
	return 0
}

// wantPacing checks C.pacing_rate = gain * bw * 0.99 (draft 5.6.2).
func (m *bbrSim) wantPacing(gain float64) {
	m.t.Helper()
	want := gain * m.b.bw * 0.99
	if got := float64(m.b.PacingRate(&m.s)); math.Abs(got-want) > 1 {
		m.t.Fatalf("%v: pacing rate %.0f, want %.2f * bw %.0f * 0.99 = %.0f", m.b.state, got, gain, m.b.bw, want)
	}
}

// toCruise runs a connection over the path until it is in ProbeBW_CRUISE.
func toCruise(t *testing.T, bw float64, rtt time.Duration) *bbrSim {
	t.Helper()
	m := newBBRSim(t, bw, rtt)
	m.untilState(bbrProbeBWCruise, 30)
	return m
}

func sameStates(a, b []bbrState) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
