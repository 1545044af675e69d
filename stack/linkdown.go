package stack

import "net"

// linkFailed runs on the input goroutine when the link fails under the
// stack (not on Close): the stack can neither send nor receive any more, so
// every connection is dropped at once with err, blocked Reads, Writes and Accepts return err wrapped in a
// *net.OpError, and Dial and Listen fail with it from now on instead of
// waiting for a handshake that cannot happen. Stack.Close still releases
// the rest.
func (s *Stack) linkFailed(err error) {
	s.logf("%v", err)
	s.mu.Lock()
	s.linkErr = err
	s.closed = true // no new connection or listener enters the tables
	s.mu.Unlock()
	now := s.now()
	for _, c := range s.snapshotConns() {
		c.mu.Lock()
		if !c.gone {
			c.failErr = err
			// Abort releases the engine's buffers now, whether or not
			// the user ever calls Close; its RST meets the dead link
			// and is counted as a link write error.
			c.tc.Abort(now)
			c.pend = 0
			c.leaveLocked(now, nil)
		}
		c.stopTimerLocked()
		rch, wch := c.readCh, c.writeCh
		c.unlock()
		signal(rch)
		signal(wch)
	}
}

// closedErrLocked is the error for Dial and Listen on a closed stack: the
// link's failure if that closed it, else ErrStackClosed. Stack.mu held.
func (s *Stack) closedErrLocked(op string) error {
	if s.linkErr != nil {
		return &net.OpError{Op: op, Net: "tcp", Err: s.linkErr}
	}
	return ErrStackClosed
}
