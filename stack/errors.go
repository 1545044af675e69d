package stack

import (
	"errors"
	"io"
	"net"
	"os"
)

// Errors returned by the stack. Connection errors follow package net: an
// *net.OpError whose Err is os.ErrDeadlineExceeded (deadline),
// net.ErrClosed (use after Close), or a syscall.Errno (ECONNRESET,
// ECONNREFUSED, ETIMEDOUT) that errors.Is can match. An ICMP soft error
// (host or network unreachable, RFC 1122 4.2.3.9) never fails a connection
// by itself: when the connection later times out, the error is that errno
// (EHOSTUNREACH, ENETUNREACH, ...) instead of ETIMEDOUT, as on Linux.
var (
	// ErrStackClosed is returned by Listen and Dial after Close; it wraps
	// net.ErrClosed.
	ErrStackClosed = &net.OpError{Op: "stack", Net: "tcp", Err: net.ErrClosed}
	// ErrAddrInUse is returned by Listen when the port already has a
	// listener.
	ErrAddrInUse = errors.New("stack: address already in use")
	// ErrNoPorts is returned by Dial when every ephemeral port towards the
	// destination is taken.
	ErrNoPorts = errors.New("stack: no ephemeral port available")
	// ErrBadNetwork is returned for networks other than "tcp" and "tcp4".
	ErrBadNetwork = errors.New("stack: unsupported network (want tcp or tcp4)")
	// ErrNotOurAddr is returned by Listen for an address that is not the
	// stack's.
	ErrNotOurAddr = errors.New("stack: address is not the stack's")
)

// opError wraps err in a *net.OpError naming the operation and addresses,
// the shape package net returns.
func (c *Conn) opError(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
}

// errTimeout is the deadline error as package net builds it (Timeout()
// reports true through os.ErrDeadlineExceeded).
func (c *Conn) timeoutError(op string) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: os.ErrDeadlineExceeded}
}

// closedError is what calls on a closed Conn return, as net does.
func (c *Conn) closedError(op string) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: net.ErrClosed}
}
