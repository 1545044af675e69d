//go:build linux

package tun_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/tun"
	"github.com/tunstack/tunstack/tun/tuntest"
)

var (
	host6  = netip.MustParseAddr("2001:2::1")
	stack6 = netip.MustParseAddr("2001:2::2")
	// dualHost is the default host side of a created device (issue 10):
	// RFC 2544 and RFC 5180 benchmarking ranges.
	dualHost = []netip.Prefix{netip.PrefixFrom(hostAddr, 24), netip.PrefixFrom(host6, 64)}
)

// TestDeviceIPv6HostConfig: Addrs puts an IPv4 and an IPv6 address on a
// created device; the IPv6 one is added without DAD (never tentative), has
// its /64 route, and the kernel can send from it the moment Open returns.
func TestDeviceIPv6HostConfig(t *testing.T) {
	tuntest.Require(t)
	d := openTest(t, tun.Config{Name: "tv6c0", MTU: 1500, Addrs: dualHost, Up: true})
	// At once, before anything else. The kernel takes a packet to the
	// address only once its local route is in: the first echo request
	// is answered (else it is dropped as Ip6InAddrErrors).
	req := echo6Request(7, 1, 32)
	if _, err := d.Write(req); err != nil {
		t.Fatal(err)
	}
	readUntil(t, d, 3*time.Second, func(p []byte) bool { return isEcho6Reply(p, len(req)) })
	// A socket bound to a tentative address fails with EADDRNOTAVAIL,
	// and a datagram needs the route.
	c, err := net.DialUDP("udp6", &net.UDPAddr{IP: host6.AsSlice()}, &net.UDPAddr{IP: stack6.AsSlice(), Port: 9})
	if err != nil {
		t.Fatalf("binding to %v right after Open: %v", host6, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("v6 at once")); err != nil {
		t.Fatalf("sending from %v right after Open: %v", host6, err)
	}
	pkt := readUntil(t, d, 5*time.Second, func(p []byte) bool {
		return segment.IPVersion(p) == 6 && segment.IPv6(p).Validate() == nil && segment.IPv6(p).NextHeader() == segment.ProtocolUDP
	})
	if ip := segment.IPv6(pkt); ip.Src() != host6 || ip.Dst() != stack6 || !strings.HasSuffix(string(pkt), "v6 at once") {
		t.Fatalf("UDP over IPv6 %v -> %v %q, want %v -> %v", ip.Src(), ip.Dst(), pkt[48:], host6, stack6)
	}

	addrs := tuntest.Run(t, "ip", "-o", "addr", "show", "dev", "tv6c0")
	var v6line string
	for _, l := range strings.Split(addrs, "\n") {
		if strings.Contains(l, " 2001:2::1/64 ") {
			v6line = l
		}
	}
	if !strings.Contains(addrs, " 198.18.0.1/24 ") || v6line == "" {
		t.Fatalf("addresses on tv6c0:\n%s", addrs)
	}
	if strings.Contains(v6line, "tentative") || strings.Contains(v6line, "dadfailed") || !strings.Contains(v6line, "nodad") {
		t.Fatalf("2001:2::1 should be nodad and never tentative:\n%s", v6line)
	}
	if routes := tuntest.Run(t, "ip", "-6", "route", "show", "dev", "tv6c0"); !strings.Contains(routes, "2001:2::/64") {
		t.Fatalf("no route to 2001:2::/64 through tv6c0:\n%s", routes)
	}
}

// TestDeviceIPv6AttachConfigured: attaching to a persistent device that
// already has the addresses is fine (RTM_NEWADDR's EEXIST), both times.
func TestDeviceIPv6AttachConfigured(t *testing.T) {
	tuntest.Require(t)
	tuntest.Run(t, "ip", "tuntap", "add", "dev", "tv6p0", "mode", "tun")
	t.Cleanup(func() { tuntest.Run(t, "ip", "tuntap", "del", "dev", "tv6p0", "mode", "tun") })
	for i := range 2 {
		d := openTest(t, tun.Config{Name: "tv6p0", MTU: 1500, Addrs: dualHost, Up: true})
		if d.Created() {
			t.Fatal("Created() true for a persistent device")
		}
		d.Close()
		if addrs := tuntest.Run(t, "ip", "-o", "addr", "show", "dev", "tv6p0"); strings.Count(addrs, "2001:2::1/64") != 1 {
			t.Fatalf("round %d: addresses on tv6p0:\n%s", i, addrs)
		}
	}
}

// TestDeviceIPv6KernelSYN: a kernel TCP SYN over IPv6 on an offload device
// (TSO6 asked for) arrives with a checksum Read completes; ReadPacket
// vouches for it.
func TestDeviceIPv6KernelSYN(t *testing.T) {
	tuntest.Require(t)
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			d := openTest(t, tun.Config{Name: "tv6s0", MTU: 1500, Addrs: dualHost, Up: true, Offload: offload})
			if d.Offload() != offload || d.GSOIPv6() != offload {
				t.Fatalf("Offload() %v GSOIPv6() %v, want %v", d.Offload(), d.GSOIPv6(), offload)
			}
			// The dial is cancelled (its socket closed) before the test
			// ends, so that no SYN retransmission reaches a later
			// test's device.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := (&net.Dialer{}).DialContext(ctx, "tcp6", "[2001:2::2]:9")
				if err == nil {
					c.Close()
				}
			}()
			defer func() { cancel(); <-done }()
			isSYN := func(p []byte) bool {
				return segment.IPVersion(p) == 6 && len(p) >= 60 && p[6] == segment.ProtocolTCP && p[40+13]&byte(segment.FlagSYN) != 0
			}
			pkt := readUntil(t, d, 5*time.Second, isSYN)
			var seg segment.Segment
			if err := segment.ParseIPv6TCP(pkt, &seg); err != nil {
				t.Fatalf("Read returned an IPv6 SYN that does not verify: %v\n% x", err, pkt)
			}
			if seg.Src != host6 || seg.Dst != stack6 || seg.DstPort != 9 || !seg.Options.HasMSS || seg.Options.MSS != 1440 {
				t.Fatalf("SYN %v -> %v port %d MSS %d, want %v -> %v port 9 MSS 1440 (1500 - 60)", seg.Src, seg.Dst, seg.DstPort, seg.Options.MSS, host6, stack6)
			}
			if !offload {
				return
			}
			// The kernel retransmits the SYN after 1 s: ReadPacket gets it.
			d.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 65535)
			for {
				n, ok, err := d.ReadPacket(buf, nil)
				if err != nil {
					t.Fatal(err)
				}
				if isSYN(buf[:n]) {
					if !ok {
						t.Fatal("ReadPacket did not vouch for the checksum of the kernel's IPv6 SYN")
					}
					return
				}
				if ok {
					t.Fatalf("csumOK for a packet that is not TCP: % x", buf[:min(n, 64)])
				}
			}
		})
	}
}

// TestDeviceIPv6KernelChatter records what the kernel sends on its own on
// a fresh IPv6-enabled TUN in the first seconds (the stack drops and
// counts it): each packet must be a valid IPv6 ICMPv6 message; the kinds
// are logged (router solicitations, MLDv2 reports on Linux 6.x).
func TestDeviceIPv6KernelChatter(t *testing.T) {
	tuntest.Require(t)
	d := openTest(t, tun.Config{Name: "tv6k0", MTU: 1500, Addrs: dualHost, Up: true, Offload: true})
	within := 3 * time.Second
	if v, err := time.ParseDuration(os.Getenv("TUNSTACK_CHATTER")); err == nil {
		within = v // to watch longer by hand
	}
	d.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 65535)
	kinds := map[string]int{}
	for {
		n, ok, err := d.ReadPacket(buf, nil)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if leftoverDial(buf[:n]) {
			// A SYN left over from an earlier test's dial to the stack.
			kinds["leftover TCP SYN to port 9"]++
			continue
		}
		ip, m, err := segment.ParseIPv6ICMP(buf[:n])
		if err != nil || ok {
			t.Fatalf("unexpected packet (csumOK %v, %v): % x", ok, err, buf[:min(n, 96)])
		}
		var c segment.IPv6Chain
		segment.WalkIPv6(buf[:n], &c)
		kinds[fmt.Sprintf("ICMPv6 type %d %v -> %v (hop-by-hop %v)", m.Type(), ip.Src(), ip.Dst(), ip.NextHeader() == segment.ProtocolHopByHop)]++
	}
	t.Logf("the kernel sent in %v: %v", within, kinds)
}

// leftoverDial reports a TCP packet to port 9 over IPv4 or IPv6 (without
// extension headers): what the dials of other tests send to the stack.
func leftoverDial(p []byte) bool {
	switch {
	case len(p) >= 40 && p[0]>>4 == 4 && p[9] == segment.ProtocolTCP:
		p = p[int(p[0]&0xf)*4:]
	case len(p) >= 60 && p[0]>>4 == 6 && p[6] == segment.ProtocolTCP:
		p = p[40:]
	default:
		return false
	}
	return len(p) >= 4 && p[2] == 0 && p[3] == 9
}

// TestOpenIPv6Errors: bad IPv6 host configuration is refused with a clear
// error, and a link with IPv6 off says so (ErrIPv6Unavailable).
func TestOpenIPv6Errors(t *testing.T) {
	for _, cfg := range []tun.Config{
		{Name: "tv6e0", MTU: 1279, Addrs: dualHost},
		{Name: "tv6e0", Addrs: []netip.Prefix{netip.MustParsePrefix("::ffff:198.18.0.1/120")}},
		{Name: "tv6e0", Addrs: []netip.Prefix{{}}},
	} {
		if d, err := tun.Open(cfg); err == nil {
			d.Close()
			t.Errorf("Open(%+v) accepted", cfg)
		} else if !strings.HasPrefix(err.Error(), "tunstack: host address") {
			t.Errorf("Open(%+v): %v", cfg, err)
		}
	}
	tuntest.Require(t)
	if _, err := net.InterfaceByName("tv6e0"); err == nil {
		t.Fatal("a refused configuration left tv6e0 behind")
	}
	// IPv6 disabled for new links (in this test's own namespace).
	const knob = "/proc/sys/net/ipv6/conf/default/disable_ipv6"
	old, err := os.ReadFile(knob)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(knob, []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(knob, old, 0o644)
	d, err := tun.Open(tun.Config{Name: "tv6e1", MTU: 1500, Addrs: dualHost, Up: true})
	if err == nil {
		d.Close()
		t.Fatal("an IPv6 address was accepted on a link with IPv6 disabled")
	}
	var oe *tun.OpenError
	if !errors.Is(err, tun.ErrIPv6Unavailable) || !errors.As(err, &oe) || !strings.Contains(err.Error(), "disable_ipv6") {
		t.Fatalf("error %v (%T), want an *OpenError wrapping ErrIPv6Unavailable that names disable_ipv6", err, err)
	}
	t.Log(err)
	// IPv4 alone still works there.
	d = openTest(t, tun.Config{Name: "tv6e1", MTU: 1500, Addrs: dualHost[:1], Up: true})
	d.Close()
}
