package ui

import (
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/stack/tcp"
)

// rowInfo is what a sample keeps of a connection's tcp.Info for the table.
type rowInfo struct {
	srtt, rttvar, rto                  time.Duration
	cwnd, ssthresh, inFlight           uint32
	sndWnd, rcvWnd                     uint32
	bytesSent, bytesRecv, delivered    uint64
	retransmits, fastRecov, rtoExpired uint64
	cc                                 string
}

func rowOf(i *tcp.Info) rowInfo {
	return rowInfo{
		srtt: i.SRTT, rttvar: i.RTTVar, rto: i.RTO,
		cwnd: i.Cwnd, ssthresh: i.Ssthresh,
		// Bytes sent and not yet acknowledged: the FlightSize of RFC
		// 5681 2 (SND.NXT - SND.UNA; after a timeout SND.NXT is pulled
		// back, so this is what the sender deems outstanding).
		inFlight: uint32(i.SndNxt - i.SndUna),
		sndWnd:   i.SndWnd, rcvWnd: i.RcvWnd,
		bytesSent: i.BytesOut, bytesRecv: i.BytesIn, delivered: i.Delivered,
		retransmits: i.Retransmits, fastRecov: i.FastRetransmits, rtoExpired: i.RTOExpiries,
		cc: i.CongestionControl,
	}
}

// sample is one point of a connection's plots. 48 bytes.
type sample struct {
	at                               int64 // recorder clock, ns
	bytesAcked                       uint64
	cwnd, ssthresh, inFlight, sndWnd uint32
	rcvWnd                           uint32
	srttUs, rtoMs                    uint32
}

func sampleOf(at int64, ri *rowInfo) sample {
	return sample{
		at: at, bytesAcked: ri.delivered,
		cwnd: ri.cwnd, ssthresh: ri.ssthresh, inFlight: ri.inFlight, sndWnd: ri.sndWnd, rcvWnd: ri.rcvWnd,
		srttUs: uint32(min(ri.srtt.Microseconds(), 1<<32-1)), rtoMs: uint32(min(ri.rto.Milliseconds(), 1<<32-1)),
	}
}

// sameValues reports whether two samples differ only in time.
func sameValues(a, b sample) bool {
	a.at = b.at
	return a == b
}

// staleAfter is how long a recorded connection the stack no longer has (no
// connection, no TIME-WAIT record) may stay open without events before the
// sampler closes it: a SYN recorded before the stack made its connection
// is not stale.
const staleAfter = time.Second

// Attach samples s's connections and TIME-WAIT records every
// Config.SampleInterval until Close: their state, RTT and congestion
// figures (the table and the plots), the 2*MSL left of TIME-WAIT records,
// and the end of records the stack dropped without a transition (a
// TIME-WAIT record evicted or reopened, a stray segment's). Each round
// costs one Stack.Conns and one Stack.TimeWaits call.
func (r *Recorder) Attach(s *stack.Stack) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.cfg.SampleInterval)
		defer t.Stop()
		var gen uint64
		for {
			select {
			case <-r.stop:
				return
			case <-s.Done():
				return
			case <-t.C:
				gen++
				r.sample(gen, s.Conns(), s.TimeWaits())
				r.expireIn()
			}
		}
	}()
}

// sample takes one sampling round's snapshot into the records.
func (r *Recorder) sample(gen uint64, conns []stack.ConnInfo, tws []stack.TimeWaitInfo) {
	at := r.clock()
	changed := false
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range conns {
		ci := &conns[i].Info
		c := r.live[ci.Tuple]
		if c == nil {
			// A connection from before the recorder, or one whose
			// segments found the table full (counted then).
			if c = r.createLocked(ci.Tuple, at, false); c == nil {
				continue
			}
		}
		ri := rowOf(ci)
		sm := sampleOf(at, &ri)
		c.mu.Lock()
		c.seenGen = gen
		if !c.hasInfo || c.info != ri || !c.traced && c.state != ci.State {
			changed = true
		}
		c.info, c.hasInfo = ri, true
		if !c.traced {
			// Without transitions (no Trace hook) the samples tell.
			c.state, c.stateKnown = ci.State, true
		}
		if last, ok := c.samples.last(); !ok || !sameValues(last, sm) {
			c.samples.push(sm)
		}
		c.mu.Unlock()
	}
	for i := range tws {
		c := r.live[tws[i].Tuple]
		if c == nil {
			continue
		}
		c.mu.Lock()
		c.seenGen = gen
		c.twLeft, c.twAt, c.hasTW = tws[i].Left, at, true
		c.mu.Unlock()
	}
	for _, c := range r.live {
		c.mu.Lock()
		gone := c.seenGen != gen && time.Duration(at-c.lastAt) > staleAfter
		c.mu.Unlock()
		if gone {
			r.closeLocked(c) // deleting during range is allowed
			changed = true
		}
	}
	if changed {
		r.version.Add(1)
	}
}

// ConnGone records a connection's final figures as it leaves the stack's
// table: pass it as stack.Options.ConnGone. Sampling at 10 Hz misses a
// connection that lives a few milliseconds (a curl); this keeps its row
// and its last plot point. Without a Trace hook it also ends the record
// of a connection that closed (one entering TIME-WAIT stays, as its
// TIME-WAIT record does).
func (r *Recorder) ConnGone(i *tcp.Info) {
	at := r.clock()
	c := r.lookup(i.Tuple, false, at)
	if c == nil {
		return
	}
	ri := rowOf(i)
	c.mu.Lock()
	c.info, c.hasInfo = ri, true
	if !c.traced {
		c.state, c.stateKnown = i.State, true
	}
	c.samples.push(sampleOf(at, &ri))
	closed := !c.traced && i.State == tcp.StateClosed
	c.mu.Unlock()
	r.version.Add(1)
	if closed {
		r.mu.Lock()
		r.closeLocked(c)
		r.mu.Unlock()
	}
}
