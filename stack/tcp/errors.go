package tcp

import "syscall"

// Errors. All are preallocated values: the engine never builds an error on
// the packet path.
var (
	// ErrClosedForWrite is returned by Write after CloseWrite or Close:
	// syscall.EPIPE, which is what a kernel socket returns after
	// shutdown(SHUT_WR).
	ErrClosedForWrite error = syscall.EPIPE
	// ErrNotConnected is returned by Write on a Conn never opened.
	ErrNotConnected error = syscall.ENOTCONN

	errReset   error = syscall.ECONNRESET
	errRefused error = syscall.ECONNREFUSED
	errTimeout error = syscall.ETIMEDOUT
)

// timeoutErr is the terminal error of a connection that timed out. It is
// ETIMEDOUT even when an ICMP soft error was seen meanwhile (that stays
// available through SoftErr).
func (c *Conn) timeoutErr() error { return errTimeout }
