package stack

import (
	"net"
	"net/netip"
	"strconv"
)

// bindSpec parses the network and address of Listen or ListenUDP as
// package net does and returns the families the endpoint takes and its
// port (0: the caller picks one). proto is "tcp" or "udp"; network is
// proto (both families on the unspecified address or no host, the stack's
// one address otherwise), proto+"4" or proto+"6" (one family, as
// IPV6_V6ONLY). Only families the stack has an address of are returned;
// none is ErrNotOurAddr, as is an address that is not the stack's.
func (s *Stack) bindSpec(network, address, proto string) (families, uint16, error) {
	var fams families
	switch network {
	case proto:
		fams = fam4 | fam6
	case proto + "4":
		fams = fam4
	case proto + "6":
		fams = fam6
	default:
		return 0, 0, ErrBadNetwork
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return 0, 0, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	if host != "" {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return 0, 0, err
		}
		a = a.Unmap()
		switch {
		case a.IsUnspecified() && network == proto:
			// Go's net: the unspecified address of either family
			// listens on both.
		case a.IsUnspecified(), s.ours(a):
			fams &= famOf(a)
		default:
			return 0, 0, ErrNotOurAddr
		}
	}
	if !s.addr4.IsValid() {
		fams &^= fam4
	}
	if !s.addr6.IsValid() {
		fams &^= fam6
	}
	if fams == 0 {
		return 0, 0, ErrNotOurAddr
	}
	return fams, uint16(port), nil
}

// bindIP is the IP an endpoint of families fams shows as its local
// address: the stack's address of its one family, or the unspecified IPv6
// address for both (as package net shows a dual-stack socket).
func (s *Stack) bindIP(fams families) net.IP {
	switch fams {
	case fam4:
		return s.addr4.AsSlice()
	case fam6:
		return s.addr6.AsSlice()
	}
	return net.IPv6unspecified
}

// dialSpec parses the network and address of DialTCP or DialUDP: proto is
// "tcp" or "udp", network proto, proto+"4" or proto+"6" (which restrict
// the destination's family, as in package net), address "ip:port" with a
// port other than 0 (IPv4-mapped addresses count as IPv4). It returns the
// destination and the stack's address of its family (ErrNoIPv4,
// ErrNoIPv6 when there is none). Errors are unwrapped.
func (s *Stack) dialSpec(network, address, proto string) (netip.AddrPort, netip.Addr, error) {
	switch network {
	case proto, proto + "4", proto + "6":
	default:
		return netip.AddrPort{}, netip.Addr{}, ErrBadNetwork
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return netip.AddrPort{}, netip.Addr{}, err
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	a := ap.Addr()
	if ap.Port() == 0 || a.Zone() != "" || (network == proto+"4" && !a.Is4()) || (network == proto+"6" && a.Is4()) {
		return netip.AddrPort{}, netip.Addr{}, &net.AddrError{Err: "not a " + network + " address and port", Addr: address}
	}
	local, ok := s.addrFor(a)
	if !ok {
		if a.Is4() {
			return netip.AddrPort{}, netip.Addr{}, ErrNoIPv4
		}
		return netip.AddrPort{}, netip.Addr{}, ErrNoIPv6
	}
	return ap, local, nil
}
