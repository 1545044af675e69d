package stack

import (
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/timers"
)

// timeWaitTable holds the TIME-WAIT records that replace connections once
// they enter TIME-WAIT (RFC 9293 3.10.7.4): a few dozen bytes each instead
// of a whole connection. It is bounded (Options.MaxTimeWait; when full the
// oldest record is dropped, as Linux does past tcp_max_tw_buckets) and
// expired by one timer on the stack's clock. Records are kept in a list in
// expiry order: every record lives 2*MSL from entry or from its last
// restart (a retransmitted FIN), and a restart moves it to the tail, so the
// head is always the next to expire.
//
// Guarded by Stack.mu; the timer callback takes Stack.mu. Nothing here
// writes to the link: the demux lock guards the tables and nothing else.
type timeWaitTable struct {
	s          *Stack
	max        int
	life       time.Duration
	m          map[tcp.Tuple]*twEntry
	head, tail *twEntry
	timer      timers.Timer
	armed      bool
	armedAt    time.Time
}

type twEntry struct {
	key        tcp.Tuple
	tw         tcp.TimeWait
	expires    time.Time
	prev, next *twEntry
}

func (t *timeWaitTable) init(s *Stack, max int, life time.Duration) {
	t.s, t.max, t.life = s, max, life
	t.m = make(map[tcp.Tuple]*twEntry)
}

func (t *timeWaitTable) len() int { return len(t.m) }

func (t *timeWaitTable) has(k tcp.Tuple) bool {
	_, ok := t.m[k]
	return ok
}

func (t *timeWaitTable) unlink(e *twEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		t.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		t.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (t *timeWaitTable) pushBack(e *twEntry) {
	e.prev, e.next = t.tail, nil
	if t.tail != nil {
		t.tail.next = e
	} else {
		t.head = e
	}
	t.tail = e
}

func (t *timeWaitTable) remove(e *twEntry) {
	t.unlink(e)
	delete(t.m, e.key)
}

// addLocked records a connection that entered TIME-WAIT.
func (t *timeWaitTable) addLocked(now time.Time, k tcp.Tuple, tw tcp.TimeWait) {
	if old := t.m[k]; old != nil {
		t.remove(old)
	}
	for len(t.m) >= t.max && t.head != nil {
		t.remove(t.head)
		t.s.ctr.timeWaitDropped.Add(1)
	}
	e := &twEntry{key: k, tw: tw, expires: tw.Expiry}
	if e.expires.IsZero() {
		e.expires = now.Add(t.life)
	}
	t.m[k] = e
	t.pushBack(e)
	t.armLocked(now)
}

// handleLocked passes seg to the TIME-WAIT record of k. Its answer (an ACK
// or RST) is only recorded in Stack.twReply, for the caller to write once
// it has released the demux lock. It reports true if
// the record is gone and the segment should go on to a listener: a SYN
// that may reopen the connection (RFC 9293 3.10.7.4, RFC 6191; the record
// is returned so the new ISS can be chosen beyond it), or a record that had
// already expired.
func (t *timeWaitTable) handleLocked(now time.Time, k tcp.Tuple, seg *segment.Segment) (bool, *tcp.TimeWait) {
	e := t.m[k]
	switch e.tw.HandleSegment(now, seg, &t.s.twReply) {
	case tcp.TimeWaitExpired:
		t.remove(e)
		t.s.ctr.timeWaitExpired.Add(1)
		return true, nil
	case tcp.TimeWaitReopen:
		t.remove(e)
		t.s.ctr.timeWaitReused.Add(1)
		return true, &e.tw
	case tcp.TimeWaitClosed:
		// The peer's RST to our ACK of a SYN we could not accept
		// (tcp.TimeWait.AckedSYN): its retransmitted SYN will open.
		t.remove(e)
		t.s.ctr.timeWaitReset.Add(1)
		return false, nil
	}
	if !e.tw.Expiry.Equal(e.expires) {
		// A retransmitted FIN was re-acknowledged and 2*MSL restarted
		// (RFC 9293 3.10.7.4): the record is now the last to expire.
		e.expires = e.tw.Expiry
		t.unlink(e)
		t.pushBack(e)
		t.armLocked(now)
	}
	return false, nil
}

// armLocked points the table's timer at the head's expiry.
func (t *timeWaitTable) armLocked(now time.Time) {
	if t.head == nil {
		if t.armed {
			t.timer.Stop()
			t.armed = false
		}
		return
	}
	at := t.head.expires
	if t.armed && at.Equal(t.armedAt) {
		return
	}
	if t.timer == nil {
		t.timer = t.s.clock.AfterFunc(at.Sub(now), t.onTimer)
	} else {
		t.timer.Reset(at.Sub(now))
	}
	t.armed, t.armedAt = true, at
}

func (t *timeWaitTable) onTimer() {
	s := t.s
	s.mu.Lock()
	t.armed = false
	if s.closed {
		s.mu.Unlock()
		return
	}
	now := s.now()
	var expired []tcp.Tuple // only collected when tracing
	for t.head != nil && !now.Before(t.head.expires) {
		if s.opts.Trace != nil {
			expired = append(expired, t.head.key)
		}
		t.remove(t.head)
		s.ctr.timeWaitExpired.Add(1)
	}
	t.armLocked(now)
	s.mu.Unlock()
	// RFC 9293 3.10.8: the 2MSL timeout deletes the record (TIME-WAIT ->
	// CLOSED). The hook runs without the demux lock so it may call Stats.
	for _, k := range expired {
		s.opts.Trace(tcp.Transition{Time: now, Tuple: k, From: tcp.StateTimeWait, To: tcp.StateClosed})
	}
}

// stop drops every record and the timer (Stack.Close).
func (t *timeWaitTable) stop() {
	if t.timer != nil {
		t.timer.Stop()
	}
	t.armed = false
	t.m = make(map[tcp.Tuple]*twEntry)
	t.head, t.tail = nil, nil
}
