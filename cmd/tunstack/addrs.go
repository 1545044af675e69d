package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/tunstack/tunstack/tun"
)

// The address flags. --addr gives the stack's addresses and --host-addr
// the kernel side's prefixes; each may be repeated once per family (one
// IPv4 and one IPv6). Without --addr the stack has both families, from
// the benchmarking ranges: 198.18.0.0/15 (RFC 2544 C.2.2) and 2001:2::/48
// (RFC 5180 8). Without --host-addr a device tunstack creates gets the
// default prefix of each family the stack has.

const (
	defaultAddr6     = "2001:2::2"
	defaultHostAddr6 = "2001:2::1/64"
	// ipv6MinMTU is the smallest MTU an IPv6 link may have (RFC 8200 5).
	ipv6MinMTU = 1280
)

// familyName is "IPv4" or "IPv6".
func familyName(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// checkUnicast reports what is wrong with a as an interface address: it
// must be one plain unicast address of either family.
func checkUnicast(a netip.Addr) error {
	switch {
	case a.Zone() != "":
		return fmt.Errorf("%s: no zone (%%%s) on a TUN device's address", a, a.Zone())
	case a.Is4In6():
		return fmt.Errorf("%s is an IPv4-mapped IPv6 address: give the IPv4 address %s", a, a.Unmap())
	case a.IsUnspecified(), a.IsMulticast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%s is not a unicast address", a)
	case a.IsLoopback():
		// RFC 1122 3.2.1.3(g), RFC 4291 2.5.3: loopback addresses never
		// leave the host's loopback interface, so never reach a TUN.
		return fmt.Errorf("%s is a loopback address, which the kernel never sends to a TUN device", a)
	}
	return nil
}

// addrFlag is the value of --addr: the stack's addresses. The first --addr
// replaces both defaults; a second address of the same family is an
// error.
type addrFlag struct{ c *linkConfig }

func (f addrFlag) String() string {
	if f.c == nil {
		return ""
	}
	var s []string
	for _, a := range f.c.addrs() {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}

func (f addrFlag) Set(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("want an IPv4 address such as 198.18.0.2 or an IPv6 address such as 2001:2::2")
	}
	if err := checkUnicast(a); err != nil {
		return err
	}
	c := f.c
	if !c.addrGiven {
		c.addr4, c.addr6, c.addrGiven = netip.Addr{}, netip.Addr{}, true
	}
	slot := &c.addr4
	if a.Is6() {
		slot = &c.addr6
	}
	if slot.IsValid() {
		return fmt.Errorf("a second %s address after %s: give at most one IPv4 and one IPv6 address", familyName(a), *slot)
	}
	*slot = a
	return nil
}

// hostFlag is the value of --host-addr: the kernel side's prefixes, under
// the same rules as --addr.
type hostFlag struct{ c *linkConfig }

func (f hostFlag) String() string {
	if f.c == nil {
		return ""
	}
	var s []string
	for _, p := range f.c.hostPrefixes() {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}

func (f hostFlag) Set(s string) error {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("want an address with prefix length such as 198.18.0.1/24 or 2001:2::1/64")
	}
	if err := checkUnicast(p.Addr()); err != nil {
		return err
	}
	c := f.c
	if !c.hostGiven {
		c.host4, c.host6, c.hostGiven = netip.Prefix{}, netip.Prefix{}, true
	}
	slot := &c.host4
	if p.Addr().Is6() {
		slot = &c.host6
	}
	if slot.IsValid() {
		return fmt.Errorf("a second %s prefix after %s: give at most one IPv4 and one IPv6 prefix", familyName(p.Addr()), *slot)
	}
	*slot = p
	return nil
}

// setAddrDefaults puts the defaults in place before the flags are parsed.
func (c *linkConfig) setAddrDefaults() {
	c.addr4, c.addr6 = netip.MustParseAddr(defaultAddr), netip.MustParseAddr(defaultAddr6)
	c.host4, c.host6 = netip.MustParsePrefix(defaultHostAddr), netip.MustParsePrefix(defaultHostAddr6)
}

// settleAddrs runs after parsing: without --host-addr, the kernel side
// gets the default prefix of exactly the families the stack has (an IPv4
// only stack gets no IPv6 prefix next to it). It then checks the
// addresses against each other and against --mtu.
func (c *linkConfig) settleAddrs() error {
	if !c.hostGiven {
		if !c.addr4.IsValid() {
			c.host4 = netip.Prefix{}
		}
		if !c.addr6.IsValid() {
			c.host6 = netip.Prefix{}
		}
	}
	for _, a := range c.addrs() {
		for _, p := range c.hostPrefixes() {
			if p.Addr() == a {
				return fmt.Errorf("--addr %s equals the host side's --host-addr %s: give the two sides different addresses", a, p)
			}
		}
	}
	if c.addr6.IsValid() && c.mtu != 0 && c.mtu < ipv6MinMTU {
		return fmt.Errorf("--mtu %d is below IPv6's minimum of %d (RFC 8200 5): raise --mtu, or give only an IPv4 --addr", c.mtu, ipv6MinMTU)
	}
	return nil
}

// addrs returns the stack's addresses, IPv4 first.
func (c *linkConfig) addrs() []netip.Addr {
	var out []netip.Addr
	for _, a := range []netip.Addr{c.addr4, c.addr6} {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

// hostPrefixes returns the kernel side's prefixes, IPv4 first.
func (c *linkConfig) hostPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range []netip.Prefix{c.host4, c.host6} {
		if p.IsValid() {
			out = append(out, p)
		}
	}
	return out
}

// addrText is the stack's addresses for the log, e.g.
// "198.18.0.2,2001:2::2".
func (c *linkConfig) addrText() string { return addrFlag{c}.String() }

// hostText is the kernel side's prefixes for the log.
func (c *linkConfig) hostText() string { return hostFlag{c}.String() }

// tryLine is the hint serve logs on a device it created: what to run on
// the host, for each family the stack has.
func (c *linkConfig) tryLine() string {
	var s []string
	if a := c.addr4; a.IsValid() {
		s = append(s, "curl http://"+a.String()+"/", "ping "+a.String())
	}
	if a := c.addr6; a.IsValid() {
		s = append(s, "curl -6 'http://["+a.String()+"]/'", "ping -6 "+a.String())
	}
	return "try: " + strings.Join(s, " ; ")
}

// setHostPrefixes puts the kernel side's prefixes on the configuration of
// a device tunstack creates.
func setHostPrefixes(cfg *tun.Config, ps []netip.Prefix) {
	cfg.Addrs = ps
}
