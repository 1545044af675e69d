package main

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func addrList(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func prefixList(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// TestAddrFlags: --addr and --host-addr, each repeatable once per family,
// and their defaults (RFC 2544 and RFC 5180 benchmarking ranges).
func TestAddrFlags(t *testing.T) {
	for _, tc := range []struct {
		args  string
		addrs []netip.Addr
		hosts []netip.Prefix
	}{
		{"", addrList("198.18.0.2", "2001:2::2"), prefixList("198.18.0.1/24", "2001:2::1/64")},
		{"--addr 10.0.0.2", addrList("10.0.0.2"), prefixList("198.18.0.1/24")},
		{"--addr 2001:db8::2", addrList("2001:db8::2"), prefixList("2001:2::1/64")},
		{"--addr 2001:db8::2 --addr 10.0.0.2", addrList("10.0.0.2", "2001:db8::2"), prefixList("198.18.0.1/24", "2001:2::1/64")},
		{"--host-addr 10.0.0.1/8", addrList("198.18.0.2", "2001:2::2"), prefixList("10.0.0.1/8")},
		{"--host-addr 2001:db8::1/64 --host-addr 10.0.0.1/8 --addr 10.0.0.2", addrList("10.0.0.2"), prefixList("10.0.0.1/8", "2001:db8::1/64")},
		{"--addr fe80::2", addrList("fe80::2"), prefixList("2001:2::1/64")},
		{"--mtu 1280", addrList("198.18.0.2", "2001:2::2"), prefixList("198.18.0.1/24", "2001:2::1/64")},
		{"--mtu 576 --addr 198.18.0.2", addrList("198.18.0.2"), prefixList("198.18.0.1/24")},
		{"--tun tsut0 --addr 198.18.0.2", addrList("198.18.0.2"), prefixList("198.18.0.1/24")},
	} {
		c, err := parseServe(strings.Fields(tc.args), nil)
		if err != nil {
			t.Errorf("serve %s: %v", tc.args, err)
			continue
		}
		if got := c.addrs(); !slices.Equal(got, tc.addrs) {
			t.Errorf("serve %s: stack addresses %v, want %v", tc.args, got, tc.addrs)
		}
		if got := c.hostPrefixes(); !slices.Equal(got, tc.hosts) {
			t.Errorf("serve %s: host prefixes %v, want %v", tc.args, got, tc.hosts)
		}
	}
}

// TestAddrFlagErrors: a bad value or a second address of one family exits
// with a usage error, one line, saying what to fix.
func TestAddrFlagErrors(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"--addr 198.18.0.2 --addr 198.18.0.3", "a second IPv4 address after 198.18.0.2: give at most one IPv4 and one IPv6 address"},
		{"--addr 2001:2::2 --addr 2001:2::3", "a second IPv6 address after 2001:2::2"},
		{"--addr 198.18.0.2 --addr 198.18.0.2", "a second IPv4 address"},
		{"--addr fe80::2%eth0", "no zone (%eth0)"},
		{"--addr ::ffff:198.18.0.2", "IPv4-mapped IPv6 address: give the IPv4 address 198.18.0.2"},
		{"--addr 0.0.0.0", "not a unicast address"},
		{"--addr ::", "not a unicast address"},
		{"--addr ff02::1", "not a unicast address"},
		{"--addr 224.0.0.1", "not a unicast address"},
		{"--addr 255.255.255.255", "not a unicast address"},
		{"--addr 127.0.0.2", "loopback"},
		{"--addr ::1", "loopback"},
		{"--addr 198.18.0.2/24", "want an IPv4 address such as 198.18.0.2 or an IPv6 address such as 2001:2::2"},
		{"--addr 2001:2::zz", "want an IPv4 address such as 198.18.0.2 or an IPv6 address"},
		{"--host-addr 198.18.0.1", "want an address with prefix length such as 198.18.0.1/24 or 2001:2::1/64"},
		{"--host-addr 2001:2::1/64 --host-addr 2001:2::5/64", "a second IPv6 prefix after 2001:2::1/64"},
		{"--host-addr 10.0.0.1/8 --host-addr 10.0.0.9/8", "a second IPv4 prefix"},
		{"--host-addr ff02::1/64", "not a unicast address"},
		{"--addr 2001:2::2 --host-addr 2001:2::2/64", "--addr 2001:2::2 equals the host side's --host-addr 2001:2::2/64"},
		{"--addr 198.18.0.1", "--addr 198.18.0.1 equals the host side's --host-addr 198.18.0.1/24"},
		{"--mtu 1000", "--mtu 1000 is below IPv6's minimum of 1280 (RFC 8200 5): raise --mtu, or give only an IPv4 --addr"},
		{"--mtu 1000 --addr 2001:2::2", "below IPv6's minimum"},
	} {
		for _, cmd := range []string{"serve", "dial"} {
			args := append([]string{cmd}, strings.Fields(tc.args)...)
			if cmd == "dial" {
				args = append(args, "198.18.0.1:80")
			}
			code, _, stderr := runCLI(args...)
			if code != exitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) ||
				!strings.Contains(stderr, "tunstack "+cmd+" --help") {
				t.Errorf("%q: exit %d, stderr %q; want exit %d and one line with %q", args, code, stderr, exitUsage, tc.want)
			}
		}
	}
}

// TestDialTarget: dial takes IPv4 ADDRESS:PORT and [IPv6]:PORT, and needs
// a stack address of the target's family.
func TestDialTarget(t *testing.T) {
	for _, tc := range []struct{ args, target, network string }{
		{"198.18.0.1:8080", "198.18.0.1:8080", "tcp4"},
		{"[2001:2::1]:8080", "[2001:2::1]:8080", "tcp6"},
		{"[2001:0002:0::1]:80", "[2001:2::1]:80", "tcp6"},
		{"[::ffff:198.18.0.1]:80", "198.18.0.1:80", "tcp4"},
		{"--addr 2001:2::2 [2001:2::1]:80", "[2001:2::1]:80", "tcp6"},
	} {
		d, err := parseDial(strings.Fields(tc.args), nil)
		if err != nil {
			t.Errorf("dial %s: %v", tc.args, err)
			continue
		}
		if d.target != tc.target || d.network != tc.network {
			t.Errorf("dial %s: target %q network %q, want %q %q", tc.args, d.target, d.network, tc.target, tc.network)
		}
	}
	for _, tc := range []struct{ args, want string }{
		{"2001:2::1:80", "want ADDRESS:PORT such as 198.18.0.1:8080 or [2001:2::1]:8080"},
		{"[2001:2::1]:0", "want ADDRESS:PORT"},
		{"[2001:2::1]", "want ADDRESS:PORT"},
		{"[fe80::1%eth0]:80", "want ADDRESS:PORT"},
		{"localhost:80", "want ADDRESS:PORT"},
		{"[ff02::1]:80", "not a unicast address"},
		{"--addr 198.18.0.2 [2001:2::1]:80", "dial [2001:2::1]:80: the stack has no IPv6 address to dial from: add one with --addr"},
		{"--addr 2001:2::2 198.18.0.1:80", "the stack has no IPv4 address to dial from"},
	} {
		code, _, stderr := runCLI(append([]string{"dial"}, strings.Fields(tc.args)...)...)
		if code != exitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("dial %s: exit %d, stderr %q; want exit %d and one line with %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}

// TestAddrHelpAndHints: the help gives both families' defaults, and the
// serve log's hint names the commands for each family the stack has.
func TestAddrHelpAndHints(t *testing.T) {
	_, out, _ := runCLI("serve", "--help")
	for _, want := range []string{"2001:2::2", "2001:2::1/64", "198.18.0.2", "198.18.0.1/24", "curl -6"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	_, out, _ = runCLI("dial", "--help")
	if !strings.Contains(out, "[2001:2::1]:") {
		t.Errorf("dial --help has no IPv6 example")
	}
	for _, tc := range []struct{ args, try, addrs string }{
		{"", "try: curl http://198.18.0.2/ ; ping 198.18.0.2 ; curl -6 'http://[2001:2::2]/' ; ping -6 2001:2::2", "198.18.0.2,2001:2::2"},
		{"--addr 198.18.0.2", "try: curl http://198.18.0.2/ ; ping 198.18.0.2", "198.18.0.2"},
		{"--addr 2001:db8::10", "try: curl -6 'http://[2001:db8::10]/' ; ping -6 2001:db8::10", "2001:db8::10"},
	} {
		c, err := parseServe(strings.Fields(tc.args), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.tryLine(); got != tc.try {
			t.Errorf("serve %s: %q, want %q", tc.args, got, tc.try)
		}
		if got := c.addrText(); got != tc.addrs {
			t.Errorf("serve %s: addresses logged as %q, want %q", tc.args, got, tc.addrs)
		}
	}
}

// TestFitIPv6: on a device whose MTU is below 1280 (an attached one), a
// default IPv6 address is dropped with a warning and IPv4 keeps being
// served; an IPv6 address given with --addr is an error saying what to do.
func TestFitIPv6(t *testing.T) {
	for _, tc := range []struct {
		args    string
		mtu     int
		addrs   string
		err     string
		warning bool
	}{
		{"--tun t0", 1000, "198.18.0.2", "", true},
		{"--tun t0", 1280, "198.18.0.2,2001:2::2", "", false},
		{"--tun t0 --addr 198.18.0.2", 576, "198.18.0.2", "", false},
		{"--tun t0 --addr 2001:2::2", 1000, "", "--addr 2001:2::2: the device t0 has an MTU of 1000, below IPv6's minimum of 1280 (RFC 8200 5): raise its MTU, or give only an IPv4 --addr", false},
	} {
		c, err := parseServe(strings.Fields(tc.args), nil)
		if err != nil {
			t.Fatal(err)
		}
		var log strings.Builder
		err = c.fitIPv6(tc.mtu, "t0", newLogger(&log, slog.LevelInfo))
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s on MTU %d: error %v, want %q", tc.args, tc.mtu, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s on MTU %d: %v", tc.args, tc.mtu, err)
		}
		if got := c.addrText(); got != tc.addrs {
			t.Errorf("%s on MTU %d: addresses %q, want %q", tc.args, tc.mtu, got, tc.addrs)
		}
		if warned := strings.Contains(log.String(), "level=WARN") && strings.Contains(log.String(), "serving IPv4 only"); warned != tc.warning {
			t.Errorf("%s on MTU %d: warning %v, want %v (log %q)", tc.args, tc.mtu, warned, tc.warning, log.String())
		}
	}
}
