package stack

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
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
	// listener. errors.Is matches it against syscall.EADDRINUSE too, as
	// code written for package net tests.
	ErrAddrInUse error = &errnoError{"stack: address already in use", syscall.EADDRINUSE}
	// ErrNoPorts is returned by Dial when every ephemeral port towards the
	// destination is taken (and by Listen on port 0 when none is free). It
	// matches syscall.EADDRNOTAVAIL, what Linux's connect(2) returns then.
	ErrNoPorts error = &errnoError{"stack: no ephemeral port available", syscall.EADDRNOTAVAIL}
	// ErrBadNetwork is returned for networks other than "tcp", "tcp4" and
	// "tcp6" (and "udp", "udp4" and "udp6" for ListenUDP and DialUDP).
	ErrBadNetwork = errors.New("stack: unsupported network (want tcp, tcp4, tcp6; udp, udp4, udp6 for UDP)")
	// ErrNotOurAddr is returned by Listen for an address that is not the
	// stack's. It matches syscall.EADDRNOTAVAIL, what bind(2) returns for
	// an address that is not local.
	ErrNotOurAddr error = &errnoError{"stack: address is not the stack's", syscall.EADDRNOTAVAIL}
)

// errnoError is a sentinel error that also matches the errno package net
// would return in its place (errors.Is(err, syscall.EADDRINUSE)), so that
// callers written for package net keep working; errors.Is against the
// sentinel itself matches by identity as before.
type errnoError struct {
	msg   string
	errno syscall.Errno
}

func (e *errnoError) Error() string { return e.msg }

// Unwrap exposes the errno to errors.Is and errors.As.
func (e *errnoError) Unwrap() error { return e.errno }

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
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr(), Addr: c.raddr(), Err: err}
}

// errTimeout is the deadline error as package net builds it (Timeout()
// reports true through os.ErrDeadlineExceeded).
func (c *Conn) timeoutError(op string) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr(), Addr: c.raddr(), Err: os.ErrDeadlineExceeded}
}

// closedError is what calls on a closed Conn return, as net does.
func (c *Conn) closedError(op string) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr(), Addr: c.raddr(), Err: net.ErrClosed}
}
