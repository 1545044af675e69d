package stack

import (
	"context"
	"net"
	"syscall"

	"github.com/tunstack/tunstack/stack/tcp"
)

// Dial opens a TCP connection to address ("ip:port" or "[ipv6]:port"; no
// name resolution) from the stack's address of the destination's family
// and an ephemeral port. It returns when the
// handshake completes, fails (ECONNREFUSED on a RST or an ICMP port
// unreachable, ENOPROTOOPT on an ICMP protocol unreachable, ETIMEDOUT after
// the SYN retries), or ctx is done (the half-open connection is then reset).
// For callers written for net.Dial (Dial(network, address)) or net.Dialer,
// use a Dialer.
func (s *Stack) Dial(ctx context.Context, address string) (net.Conn, error) {
	return s.DialContext(ctx, "tcp", address)
}

// DialContext is Dial with a network argument, "tcp", "tcp4" or "tcp6"
// (which restrict the destination's family, as in package net), so that it
// can be used as http.Transport.DialContext.
func (s *Stack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := s.DialTCP(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DialTCP is DialContext returning the concrete *Conn.
func (s *Stack) DialTCP(ctx context.Context, network, address string) (*Conn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: network, Err: err}
	}
	ap, local, err := s.dialSpec(network, address, "tcp")
	if err != nil {
		return nil, opErr(err)
	}
	if err := ctx.Err(); err != nil {
		return nil, opErr(err)
	}
	var c *Conn
	for c == nil {
		s.mu.Lock()
		if s.closed {
			err := s.closedErrLocked("dial")
			s.mu.Unlock()
			return nil, err
		}
		port, ok := s.pickPortLocked(local, ap)
		s.mu.Unlock()
		if !ok {
			return nil, opErr(ErrNoPorts)
		}
		t := tcp.Tuple{LocalAddr: local, LocalPort: port, RemoteAddr: ap.Addr(), RemotePort: ap.Port()}
		nc := s.newConn(t)
		nc.mu.Lock()
		s.mu.Lock()
		ok = s.insertConnLocked(nc)
		var closedErr error
		if s.closed {
			closedErr = s.closedErrLocked("dial")
		}
		s.mu.Unlock()
		if ok {
			c = nc // keep nc.mu held
			break
		}
		nc.unlock()
		if closedErr != nil {
			return nil, closedErr
		}
		// Lost a race for the tuple: pick again.
	}
	s.ctr.activeOpens.Add(1)
	now := s.now()
	c.tc.Connect(now, s.isn.ISN(c.tuple(), now))
	c.afterLocked(now)
	c.unlock()

	for {
		c.mu.Lock()
		st, err, gone, failErr := c.tc.State(), c.tc.Err(), c.gone, c.failErr
		var wch chan struct{}
		switch st {
		case tcp.StateClosed, tcp.StateListen, tcp.StateSynSent, tcp.StateSynReceived:
			if err == nil && !gone {
				wch = wakeChLocked(&c.writeCh) // it waits below for the handshake's end
			}
		default:
			c.unlock()
			return c, nil // synchronized: the handshake completed
		}
		c.unlock()
		if err != nil || gone {
			if err == nil {
				err = failErr // the link failed (linkFailed)
			}
			if err == nil {
				err = syscall.ECONNREFUSED
			}
			c.shutdownByStack()
			return nil, &net.OpError{Op: "dial", Net: network, Source: c.laddr(), Addr: c.raddr(), Err: err}
		}
		select {
		case <-wch:
		case <-ctx.Done():
			c.abort()
			c.shutdownByStack()
			return nil, &net.OpError{Op: "dial", Net: network, Source: c.laddr(), Addr: c.raddr(), Err: ctx.Err()}
		case <-s.done:
			c.shutdownByStack()
			return nil, ErrStackClosed
		case <-s.linkDone:
			// The link failed under the stack (linkFailed dropped c,
			// so the next look reports it), or Close is under way.
			c.shutdownByStack()
			if err := s.Err(); err != nil {
				return nil, &net.OpError{Op: "dial", Net: network, Source: c.laddr(), Addr: c.raddr(), Err: err}
			}
			return nil, ErrStackClosed
		}
	}
}
