package main

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/net/proxy"
	"golang.org/x/sys/unix"
)

// upstream opens forward's host sockets toward the original destinations:
// bound to --interface (SO_BINDTODEVICE) and/or marked with --fwmark
// (SO_MARK) so that the host's routing does not send them back into the TUN
// device they came from (tun2socks does the same), directly or through a
// SOCKS5 proxy (--socks5, golang.org/x/net/proxy).
type upstream struct {
	iface string
	mark  uint32
	d     net.Dialer
	lc    net.ListenConfig
	socks proxy.ContextDialer // nil: direct
}

func newUpstream(iface string, mark uint32, socks5 string, timeout time.Duration) (*upstream, error) {
	u := &upstream{iface: iface, mark: mark}
	u.d = net.Dialer{Timeout: timeout, Control: u.control}
	u.lc = net.ListenConfig{Control: u.control}
	if socks5 != "" {
		d, err := proxy.SOCKS5("tcp", socks5, nil, &u.d)
		if err != nil {
			return nil, fmt.Errorf("--socks5 %s: %v", socks5, err)
		}
		cd, ok := d.(proxy.ContextDialer)
		if !ok {
			return nil, fmt.Errorf("--socks5: the proxy dialer cannot take a context")
		}
		u.socks = cd
	}
	return u, nil
}

// control applies --interface and --fwmark to a socket before it connects
// or binds.
func (u *upstream) control(network, address string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if u.iface != "" {
			if serr = unix.BindToDevice(int(fd), u.iface); serr != nil {
				serr = fmt.Errorf("SO_BINDTODEVICE %s: %w", u.iface, serr)
				return
			}
		}
		if u.mark != 0 {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(u.mark)); serr != nil {
				serr = fmt.Errorf("SO_MARK %d: %w", u.mark, serr)
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// dialTCP connects to addr, through the SOCKS5 proxy if there is one.
func (u *upstream) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	if u.socks != nil {
		return u.socks.DialContext(ctx, "tcp", addr)
	}
	return u.d.DialContext(ctx, "tcp", addr)
}

// listenUDP opens an unconnected UDP socket of network ("udp4", "udp6")
// on an ephemeral port, bound and marked as the TCP sockets are.
func (u *upstream) listenUDP(network string) (net.PacketConn, error) {
	return u.lc.ListenPacket(context.Background(), network, "")
}
