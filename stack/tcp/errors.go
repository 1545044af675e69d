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

// timeoutErr is the terminal error of a connection that timed out
// (retransmissions, SYN retries, UserTimeout or keepalive): the last ICMP
// soft error seen since the peer last acknowledged new data, else
// ETIMEDOUT. RFC 1122 4.2.3.9 has soft errors "reported to the
// application" without aborting; as Linux (tcp_write_err: sk_err_soft,
// else ETIMEDOUT), they become the reason the connection failed, so a Dial
// to an unreachable host ends with EHOSTUNREACH, not ETIMEDOUT.
func (c *Conn) timeoutErr() error {
	if c.soft != nil {
		return c.soft
	}
	return errTimeout
}
