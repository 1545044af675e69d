package main

import (
	"fmt"
	"log/slog"
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

// ipValue is what the address flags hold: netip.Addr or netip.Prefix.
type ipValue interface {
	comparable
	IsValid() bool
	String() string
}

// familyPair holds at most one value per address family: --addr's
// addresses or --host-addr's prefixes. The first value given on the
// command line replaces both defaults; a second value of one family is an
// error.
type familyPair[T ipValue] struct {
	v4, v6 T
	given  bool // set on the command line: the defaults are gone
}

// list returns the values held, IPv4 first.
func (p *familyPair[T]) list() []T {
	var out []T
	for _, v := range []T{p.v4, p.v6} {
		if v.IsValid() {
			out = append(out, v)
		}
	}
	return out
}

// String joins the values with commas (flag.Value; the log). A nil pair
// (the zero flag value package flag may make) is "".
func (p *familyPair[T]) String() string {
	if p == nil {
		return ""
	}
	var s []string
	for _, v := range p.list() {
		s = append(s, v.String())
	}
	return strings.Join(s, ",")
}

// put records v, whose family is a's; what names it in the error.
func (p *familyPair[T]) put(v T, a netip.Addr, what string) error {
	if !p.given {
		*p = familyPair[T]{given: true}
	}
	slot := &p.v4
	if a.Is6() {
		slot = &p.v6
	}
	if (*slot).IsValid() {
		return fmt.Errorf("a second %s %s after %s: give at most one IPv4 and one IPv6 %s", familyName(a), what, *slot, what)
	}
	*slot = v
	return nil
}

// addrFlag is the value of --addr: the stack's addresses.
type addrFlag struct{ *familyPair[netip.Addr] }

func (f addrFlag) Set(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("want an IPv4 address such as 198.18.0.2 or an IPv6 address such as 2001:2::2")
	}
	if err := checkUnicast(a); err != nil {
		return err
	}
	return f.put(a, a, "address")
}

// hostFlag is the value of --host-addr: the kernel side's prefixes.
type hostFlag struct{ *familyPair[netip.Prefix] }

func (f hostFlag) Set(s string) error {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("want an address with prefix length such as 198.18.0.1/24 or 2001:2::1/64")
	}
	if err := checkUnicast(p.Addr()); err != nil {
		return err
	}
	return f.put(p, p.Addr(), "prefix")
}

// setAddrDefaults puts the defaults in place before the flags are parsed.
func (c *linkConfig) setAddrDefaults() {
	c.stackAddrs = familyPair[netip.Addr]{v4: netip.MustParseAddr(defaultAddr), v6: netip.MustParseAddr(defaultAddr6)}
	c.hostAddrs = familyPair[netip.Prefix]{v4: netip.MustParsePrefix(defaultHostAddr), v6: netip.MustParsePrefix(defaultHostAddr6)}
}

// settleAddrs runs after parsing: without --host-addr, the kernel side
// gets the default prefix of exactly the families the stack has (an IPv4
// only stack gets no IPv6 prefix next to it). It then checks the
// addresses against each other and against --mtu.
func (c *linkConfig) settleAddrs() error {
	if !c.hostAddrs.given {
		if !c.stackAddrs.v4.IsValid() {
			c.hostAddrs.v4 = netip.Prefix{}
		}
		if !c.stackAddrs.v6.IsValid() {
			c.hostAddrs.v6 = netip.Prefix{}
		}
	}
	for _, a := range c.addrs() {
		for _, p := range c.hostPrefixes() {
			if p.Addr() == a {
				return fmt.Errorf("--addr %s equals the host side's --host-addr %s: give the two sides different addresses", a, p)
			}
		}
	}
	if c.stackAddrs.v6.IsValid() && c.mtu != 0 && c.mtu < ipv6MinMTU {
		return fmt.Errorf("--mtu %d is below IPv6's minimum of %d (RFC 8200 5): raise --mtu, or give only an IPv4 --addr", c.mtu, ipv6MinMTU)
	}
	return nil
}

// fitIPv6 checks the stack's IPv6 address against the MTU of the device it
// runs on (an attached device's MTU is only known once it is open): IPv6
// needs at least 1280 bytes (RFC 8200 5). An IPv6 address that is only the
// default is dropped with a warning, so that `serve --tun` on a device
// with a small MTU keeps serving IPv4 as before; one given with --addr is
// an error saying what to change.
func (c *linkConfig) fitIPv6(mtu int, dev string, log *slog.Logger) error {
	a := c.stackAddrs.v6
	if !a.IsValid() || mtu >= ipv6MinMTU {
		return nil
	}
	if c.stackAddrs.given {
		return &exitError{code: exitRuntime, msg: fmt.Sprintf("--addr %s: the device %s has an MTU of %d, below IPv6's minimum of %d (RFC 8200 5): raise its MTU, or give only an IPv4 --addr",
			a, dev, mtu, ipv6MinMTU)}
	}
	log.Warn("the device's MTU is below IPv6's minimum (RFC 8200 5); serving IPv4 only", "device", dev, "mtu", mtu, "min", ipv6MinMTU)
	c.stackAddrs.v6 = netip.Addr{}
	return nil
}

// addrs returns the stack's addresses, IPv4 first.
func (c *linkConfig) addrs() []netip.Addr { return c.stackAddrs.list() }

// hostPrefixes returns the kernel side's prefixes, IPv4 first.
func (c *linkConfig) hostPrefixes() []netip.Prefix { return c.hostAddrs.list() }

// addrText is the stack's addresses for the log, e.g.
// "198.18.0.2,2001:2::2".
func (c *linkConfig) addrText() string { return c.stackAddrs.String() }

// hostText is the kernel side's prefixes for the log.
func (c *linkConfig) hostText() string { return c.hostAddrs.String() }

// tryLine is the hint serve logs on a device it created: what to run on
// the host, for each family the stack has.
func (c *linkConfig) tryLine() string {
	var s []string
	if a := c.stackAddrs.v4; a.IsValid() {
		s = append(s, "curl http://"+a.String()+"/", "ping "+a.String())
	}
	if a := c.stackAddrs.v6; a.IsValid() {
		s = append(s, "curl -6 'http://["+a.String()+"]/'", "ping -6 "+a.String())
	}
	return "try: " + strings.Join(s, " ; ")
}

// setHostPrefixes puts the kernel side's prefixes on the configuration of
// a device tunstack creates.
func setHostPrefixes(cfg *tun.Config, ps []netip.Prefix) {
	cfg.Addrs = ps
}
