package stack

import (
	"context"
	"errors"
	"net"
	"time"
)

// ErrNoIPv6 is returned for an IPv6 destination (or the network "tcp6")
// when the stack has no IPv6 address (Options.Addrs).
var ErrNoIPv6 = errors.New("stack: the stack has no IPv6 address (Options.Addrs)")

// ErrNoIPv4 is returned for an IPv4 destination (or the network "tcp4")
// when the stack has no IPv4 address.
var ErrNoIPv4 = errors.New("stack: the stack has no IPv4 address (Options.Addrs)")

// Dialer dials through a Stack with net.Dialer's shape, for code written
// against package net: its Dial(network, address) fits where net.Dial does,
// and its DialContext fits http.Transport.DialContext and the like. The
// networks are "tcp", "tcp4" and "tcp6". Addresses are "ip:port" or
// "[ipv6]:port" (no name resolution). The zero Timeout means none beyond
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
