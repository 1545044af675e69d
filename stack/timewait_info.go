package stack

import (
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
)

// TimeWaitInfo describes one TIME-WAIT record (RFC 9293 3.10.7.4): the
// connection it stands for and when its 2*MSL runs out.
type TimeWaitInfo struct {
	Tuple   tcp.Tuple
	Expires time.Time     // on the stack's clock
	Left    time.Duration // Expires minus the stack's clock now, never negative
}

// TimeWaits returns a snapshot of the TIME-WAIT records, the next to
// expire first. It holds the demux lock for O(records) (at most
// Options.MaxTimeWait) and allocates the result, so it is meant for
// observers polling at a bounded rate, not for the data path.
func (s *Stack) TimeWaits() []TimeWaitInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]TimeWaitInfo, 0, s.tw.len())
	for e := s.tw.head; e != nil; e = e.next {
		out = append(out, TimeWaitInfo{Tuple: e.key, Expires: e.expires, Left: max(e.expires.Sub(now), 0)})
	}
	return out
}
