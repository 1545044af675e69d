package stack

import (
	"errors"
	"net"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
)

// The *net.TCPConn methods beyond net.Conn that programs reach for. Each
// changes this connection only; after Close each returns net.ErrClosed, as
// package net does.

// errNegativeBuffer is returned by SetReadBuffer and SetWriteBuffer for a
// negative size.
var errNegativeBuffer = errors.New("stack: negative buffer size")

// setOpt runs f on the engine connection under c.mu (unless the
// connection is already gone, when settings no longer matter), then
// handles what f caused. It fails with net.ErrClosed after Close.
func (c *Conn) setOpt(f func(now time.Time)) error {
	c.mu.Lock()
	if c.closed {
		c.unlock()
		return c.closedError("set")
	}
	if !c.gone {
		now := c.s.now()
		f(now)
		c.afterLocked(now)
	}
	c.unlock()
	return nil
}

// SetNoDelay controls Nagle's algorithm (RFC 9293 3.7.4) for this
// connection: true (the default, as in package net, unless Options.Nagle
// is set) sends small writes at once; false holds a short segment while
// data is unacknowledged. Setting true sends whatever was held back.
func (c *Conn) SetNoDelay(noDelay bool) error {
	return c.setOpt(func(now time.Time) { c.tc.SetNagle(now, !noDelay) })
}

// SetKeepAlive turns keep-alive probes (RFC 9293 3.8.4) on or off for this
// connection. The idle time, interval and count are the stack's
// (Options.Keepalive*; by default 2 h, 75 s and 9, as Linux) unless
// SetKeepAlivePeriod or SetKeepAliveConfig changed them.
func (c *Conn) SetKeepAlive(keepalive bool) error {
	return c.setOpt(func(now time.Time) { c.tc.SetKeepalive(now, tcp.Keepalive{Enable: keepalive}) })
}

// SetKeepAlivePeriod sets the idle time before the first keep-alive probe
// and the interval between probes to d (as Go does on Linux, TCP_KEEPIDLE
// and TCP_KEEPINTVL). It does not turn keep-alive on; d <= 0 is ignored.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	return c.setOpt(func(now time.Time) {
		if d > 0 {
			c.tc.SetKeepalive(now, tcp.Keepalive{Enable: c.tc.Keepalive().Enable, Idle: d, Interval: d})
		}
	})
}

// SetKeepAliveConfig sets all of the keep-alive setting at once, as
// (*net.TCPConn).SetKeepAliveConfig: Enable, and the idle time, interval
// and probe count, of which a non-positive value keeps the current one.
func (c *Conn) SetKeepAliveConfig(config net.KeepAliveConfig) error {
	return c.setOpt(func(now time.Time) {
		c.tc.SetKeepalive(now, tcp.Keepalive{Enable: config.Enable, Idle: config.Idle, Interval: config.Interval, Count: config.Count})
	})
}

// SetLinger sets what Close does with data not yet sent, as
// (*net.TCPConn).SetLinger: sec < 0 (the default) sends it in the
// background, then the FIN; sec == 0 discards it and resets the connection
// (RST, RFC 9293 3.10.5 ABORT) on Close; sec > 0 is treated as sec < 0:
// Close never blocks here (Linux's Close may block up to sec seconds; Go
// documents both behaviours as allowed).
func (c *Conn) SetLinger(sec int) error {
	return c.setOpt(func(time.Time) { c.lingerZero = sec == 0 })
}

// SetWriteBuffer bounds this connection's send buffer at bytes (0: the
// stack's default). Data already queued beyond a smaller bound stays
// queued.
func (c *Conn) SetWriteBuffer(bytes int) error {
	if bytes < 0 {
		return c.opError("set", errNegativeBuffer)
	}
	return c.setOpt(func(time.Time) { c.tc.SetSendBufferSize(bytes) })
}

// SetReadBuffer bounds this connection's receive buffer, and so the window
// it offers, at bytes (0: the stack's default). The window already offered
// is never taken back (RFC 9293 3.8.6.2.2), and the window scale agreed in
// the handshake caps how much of a larger buffer can be offered (with the
// default 256 KiB buffer, 512 KiB).
func (c *Conn) SetReadBuffer(bytes int) error {
	if bytes < 0 {
		return c.opError("set", errNegativeBuffer)
	}
	return c.setOpt(func(time.Time) { c.tc.SetRecvBufferSize(bytes) })
}

// checkOpen fails with net.ErrClosed after Close (for the deadline
// setters, as package net).
func (c *Conn) checkOpen() error {
	c.mu.Lock()
	closed := c.closed
	c.unlock()
	if closed {
		return c.closedError("set")
	}
	return nil
}
