package tcp

import "time"

// connOpts are the settings a connection starts with from its Config and
// that the application may change per connection afterwards, as socket
// options change them on a Linux socket (TCP_NODELAY, SO_KEEPALIVE with
// TCP_KEEPIDLE/KEEPINTVL/KEEPCNT, SO_SNDBUF, SO_RCVBUF).
type connOpts struct {
	nagle           bool
	keepalive       bool
	sndFixed        bool // SetSendBufferSize was called: no send-buffer auto-tuning
	rcvBufLocked    bool // SetRecvBufferSize set rcvBuf: no auto-tuning (autotune.go)
	kaIdle, kaIntvl time.Duration
	kaCount         int
	sndBuf, rcvBuf  int // buffer bounds in bytes
}

// connOpts returns the per-connection settings c prescribes.
func (c *Config) connOpts() connOpts {
	return connOpts{
		nagle:     c.Nagle,
		keepalive: c.Keepalive,
		kaIdle:    c.keepaliveIdle(),
		kaIntvl:   c.keepaliveInterval(),
		kaCount:   c.keepaliveCount(),
		sndBuf:    c.sendBufferSize(),
		rcvBuf:    c.recvBufferSize(),
	}
}

// SetNagle turns Nagle's algorithm (RFC 9293 3.7.4) on or off for this
// connection (Config.Nagle is the default). Turning it off sends at once
// whatever it was holding back, as setting TCP_NODELAY does on Linux.
func (c *Conn) SetNagle(now time.Time, on bool) {
	c.opts.nagle = on
	if !on {
		c.flush(now)
	}
}

// Keepalive is the keep-alive setting of one connection (RFC 9293 3.8.4,
// RFC 1122 4.2.3.6). Given to SetKeepalive, a non-positive duration or
// count keeps the connection's current value (at first the Config's).
type Keepalive struct {
	Enable   bool
	Idle     time.Duration // idle time before the first probe
	Interval time.Duration // between unanswered probes
	Count    int           // unanswered probes before the connection fails (ETIMEDOUT)
}

// SetKeepalive changes the connection's keep-alive setting. Enabling it
// (re)starts the idle period at now; disabling it stops the timer. The
// RFC's two-hour minimum idle time (RFC 1122 4.2.3.6, "MUST be
// configurable") is the default only: a shorter one is the application's
// choice, as with TCP_KEEPIDLE.
func (c *Conn) SetKeepalive(now time.Time, k Keepalive) {
	o := &c.opts
	o.keepalive = k.Enable
	if k.Idle > 0 {
		o.kaIdle = k.Idle
	}
	if k.Interval > 0 {
		o.kaIntvl = k.Interval
	}
	if k.Count > 0 {
		o.kaCount = k.Count
	}
	c.kaProbes = 0
	c.kaAt = 0
	if k.Enable {
		switch c.state {
		case StateEstablished, StateCloseWait, StateFinWait2:
			c.kaAt = c.inst(now.Add(o.kaIdle))
		}
	}
}

// SetSendBufferSize bounds the send buffer at n bytes and turns its
// auto-tuning off (n <= 0: the Config's bound, auto-tuned). Data already queued beyond a smaller bound stays queued;
// Write accepts more once the queue has drained below it.
func (c *Conn) SetSendBufferSize(n int) {
	c.opts.sndFixed = n > 0
	if n <= 0 {
		n = c.cfg.sendBufferSize()
	}
	c.opts.sndBuf = n
}

// sndLimit is the send buffer's bound now: the set size, or with
// auto-tuning (as Linux's tcp_sndbuf_expand) room for twice the congestion
// window or what is in flight, whichever is more (three times with BBR,
// Linux's bbr_sndbuf_expand: "BBR may slow-start even during recovery"),
// between the configured size and Config.SendBufferMax. A window that has
// grown to a path's bandwidth-delay product can then be kept full by one
// Write's worth of data more while a round trip of it is outstanding.
//
// The auto-tuned bound only grows, as Linux's sk_sndbuf (tcp_sndbuf_expand
// raises it, nothing lowers it): a window that shrinks after a loss (BBR's
// inflight_shortterm every lossy round, draft-ietf-ccwg-bbr 5.5.10.3) must
// not shrink the buffer too, or the data behind a hole at SND.UNA fills it
// and the sender stalls until the hole is repaired.
func (c *Conn) sndLimit() int {
	n := c.opts.sndBuf
	if c.opts.sndFixed {
		return n
	}
	cwnd := initialWindow(uint32(c.sndMSS)) // before the congestion state exists (ccAlloc)
	expand := 2
	if c.ccBox != nil {
		cwnd = c.ccs.Cwnd
		if _, ok := c.cc.(*bbr); ok {
			expand = 3
		}
	}
	want := expand * int(max(cwnd, uint32(c.sndMax.Sub(c.SndUna))))
	if want = min(want, c.cfg.sendBufferMax()); want > n {
		c.opts.sndBuf = want
		n = want
	}
	return n
}

// SetRecvBufferSize bounds the receive buffer at n bytes (n <= 0: the
// Config's bound). The window already offered is never taken back (RFC
// 9293 3.8.6.2.2, RFC 7323 2.4), so the bound is raised if needed to hold
// what is buffered plus that window; and the window scale agreed in the
// handshake (RFC 7323 2.2) caps how much of a larger buffer can be offered.
// It returns the bound in effect.
//
// A positive n also stops receive-buffer auto-tuning for the connection,
// as setting SO_RCVBUF does on Linux; n <= 0 resumes it.
func (c *Conn) SetRecvBufferSize(n int) int {
	c.opts.rcvBufLocked = n > 0
	if n <= 0 {
		n = c.cfg.recvBufferSize()
	}
	n = min(n, 1<<30) // RFC 7323 2.3
	n = max(n, c.rcvBuf.n+int(c.rcvWnd()))
	c.opts.rcvBuf = n
	return n
}

// Keepalive returns the connection's keep-alive setting in effect.
func (c *Conn) Keepalive() Keepalive {
	o := &c.opts
	return Keepalive{Enable: o.keepalive, Idle: o.kaIdle, Interval: o.kaIntvl, Count: o.kaCount}
}
