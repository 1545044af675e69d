package tcp_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
)

// The progress watchdog of the two-engine simulation (issue 8 section 2:
// a connection that stopped making progress for good under random loss).
//
// Invariant: with a responsive peer (the other engine, whose application
// always reads again), a connection with outstanding data (sent and not
// acknowledged, or queued and not sent) advances SND.UNA or RCV.NXT within
// stallBound. The bound is the engine's own R2 give-up time (RFC 9293
// 3.8.3): MaxRetries+1 backed-off RTOs, each capped at the RTO maximum,
// starting from the RTO in force at the last progress, plus one RTO maximum
// of slack. Loss alone cannot explain a longer stall: by then the
// retransmission timer (or the persist timer's unanswered-probe limit)
// would have given up with ETIMEDOUT, which the simulation reports as a
// failure of its own. A connection that neither advances nor gives up is
// wedged: answered probes that never reopen a window, ACKs the peer keeps
// discarding, or no timer armed while data waits. Time during which the
// applications pause their reading (lossyParams.pause) does not count.
//
// On violation the run fails with the stuck connection's state (both
// engines' sequence variables, windows, out-of-order ranges, armed timers
// relative to now) and the last segments each way; the test prints the
// seed and the command that re-runs it.

type watch struct {
	una, nxt tcp.Seq
	since    time.Time
	rto      time.Duration
	maxStall time.Duration // longest stall seen, for the log
}

// stallBound is the bound described above, from the RTO at the last
// progress.
func stallBound(cfg *tcp.Config, rto time.Duration) time.Duration {
	ceil := cfg.RTO.Max
	if ceil <= 0 {
		ceil = 60 * time.Second
	}
	retries := cfg.MaxRetries
	if retries <= 0 {
		retries = tcp.DefaultMaxRetries
	}
	var d time.Duration
	for range retries + 1 {
		d += min(rto, ceil)
		rto = min(2*rto, ceil)
	}
	return d + ceil
}

// outstanding reports whether the connection has data (or a FIN) that the
// peer has yet to acknowledge.
func outstanding(in tcp.Info) bool {
	return in.SndUna != in.SndMax || in.SendQueued > 0
}

// watchdog checks the invariant after each step of the simulation.
func (r *lossyRun) watchdog() error {
	if r.paused() {
		// Nothing is owed while the readers pause; the clock starts
		// again when they resume.
		for i := range r.wd {
			r.wd[i].since = r.now
		}
		return nil
	}
	for i, e := range []*pipeEndpoint{r.a, r.b} {
		w := &r.wd[i]
		in := e.c.Info()
		if in.State == tcp.StateClosed || in.State == tcp.StateTimeWait || e.aborted {
			continue
		}
		if w.since.IsZero() || in.SndUna != w.una || in.RcvNxt != w.nxt || !outstanding(in) {
			w.una, w.nxt, w.since, w.rto = in.SndUna, in.RcvNxt, r.now, in.RTO
			continue
		}
		stall := r.now.Sub(w.since)
		w.maxStall = max(w.maxStall, stall)
		if bound := stallBound(e.cfg, w.rto); stall > bound {
			return r.fail("watchdog: %s has outstanding data and made no progress (SND.UNA, RCV.NXT) for %v (bound %v from RTO %v)\n%s",
				e.name, stall, bound, w.rto, r.stuckDump())
		}
	}
	return nil
}

// longestStall returns the longest stall either side had.
func (r *lossyRun) longestStall() time.Duration { return max(r.wd[0].maxStall, r.wd[1].maxStall) }

// stuckDump describes both engines and the last segments each way.
func (r *lossyRun) stuckDump() string {
	var b strings.Builder
	for _, e := range []*pipeEndpoint{r.a, r.b} {
		b.WriteString(connDump(e.name, e.c.Info(), r.now))
	}
	for _, dir := range []string{"A out", "B out"} {
		fmt.Fprintf(&b, "  last segments %s:\n", dir)
		for _, l := range r.trace {
			if strings.HasPrefix(l, dir) {
				b.WriteString("    " + l + "\n")
			}
		}
	}
	return b.String()
}

// connDump renders the state a stall is diagnosed from; deadlines are
// given relative to now.
func connDump(name string, in tcp.Info, now time.Time) string {
	rel := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Sub(now).String()
	}
	return fmt.Sprintf("  %s %v: SND.UNA=%d SND.NXT=%d SND.MAX=%d RCV.NXT=%d SND.WND(peer's)=%d RCV.WND(ours)=%d MAX.SND.WND=%d WL1=%d WL2=%d\n"+
		"     send queued %d, receive queued %d, out-of-order %v; cwnd %d ssthresh %d recovery %v dupacks %d; RTO %v retries %d\n"+
		"     persist backoff %d, probes unanswered %d, probe out %v; timers: rtx %s persist %s delack %s keepalive %s state %s\n",
		name, in.State, in.SndUna, in.SndNxt, in.SndMax, in.RcvNxt, in.SndWnd, in.RcvWnd, in.MaxSndWnd, in.SndWL1, in.SndWL2,
		in.SendQueued, in.RecvQueued, in.OOO, in.Cwnd, in.Ssthresh, in.InRecovery, in.DupAcks, in.RTO, in.Retries,
		in.PersistBackoff, in.ProbesUnanswered, in.ProbeOut,
		rel(in.RtxAt), rel(in.PersistAt), rel(in.DelackAt), rel(in.KaAt), rel(in.StateAt))
}

// paused reports whether the applications are in a reading pause.
func (r *lossyRun) paused() bool {
	p := r.p.pause
	return p > 0 && (r.now.Sub(t0)/p)%3 == 2
}

// pauseEdge returns when the next reading pause begins or ends (zero
// without pauses, or once both sides have read everything).
func (r *lossyRun) pauseEdge() time.Time {
	p := r.p.pause
	if p <= 0 || r.a.sawEOF && r.b.sawEOF {
		return time.Time{}
	}
	k := r.now.Sub(t0)/p + 1
	return t0.Add(k * p)
}
