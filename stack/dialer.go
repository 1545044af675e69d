package stack

import (
	"context"
	"errors"
	"net"
	"time"
)

// ErrNoIPv6 is returned for the network "tcp6" and for IPv6 addresses: the
// stack speaks IPv4 only for now.
var ErrNoIPv6 = errors.New("stack: IPv6 is not supported yet (use tcp or tcp4)")

// Dialer dials through a Stack with net.Dialer's shape, for code written
// against package net: its Dial(network, address) fits where net.Dial does,
// and its DialContext fits http.Transport.DialContext and the like. The
// networks are "tcp" and "tcp4"; "tcp6" fails with ErrNoIPv6. Addresses
// are "ip:port" (no name resolution). The zero Timeout means none beyond
// the SYN retries and the context.
type Dialer struct {
	Stack *Stack
	// Timeout bounds each dial, as net.Dialer.Timeout.
	Timeout time.Duration
	// KeepAlive, as net.Dialer.KeepAlive: > 0 enables keep-alive probes
	// on the new connection with this idle time and interval; 0 keeps the
	// stack's setting (Options.KeepaliveCount); < 0 disables them.
	KeepAlive time.Duration
}

// Dial connects to address on network, as net.Dial.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network, as net.Dialer.DialContext.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	c, err := d.Stack.DialTCP(ctx, network, address)
	if err != nil {
		return nil, err
	}
	switch {
	case d.KeepAlive > 0:
		c.SetKeepAlivePeriod(d.KeepAlive)
		c.SetKeepAlive(true)
	case d.KeepAlive < 0:
		c.SetKeepAlive(false)
	}
	return c, nil
}
