package integration

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tunstack/tunstack/tun/tuntest"
)

// IPv6 with the kernel as the peer: the same services, tools and transfers
// as over IPv4, at the stack's default IPv6 address. `tunstack serve`
// without --addr gives the stack both families and the device it creates
// both host-side prefixes (RFC 2544 and RFC 5180 benchmarking ranges).

const (
	stackAddr6 = "2001:2::2"
	hostAddr6  = "2001:2::1"
)

// family is one address family as the kernel-side tools see it.
type family struct {
	name        string
	stack, host string // the stack's address, the kernel side's
	flag        string // -4 or -6 for curl, nc and ping
	network     string // tcp4 or tcp6
}

var (
	ipv4 = family{"ipv4", stackAddr, hostAddr, "-4", "tcp4"}
	ipv6 = family{"ipv6", stackAddr6, hostAddr6, "-6", "tcp6"}
	// families is the table the family-neutral tests run over.
	families = []family{ipv4, ipv6}
)

// addrPort returns the stack's address and port as a dial string.
func (f family) addrPort(port int) string { return net.JoinHostPort(f.stack, strconv.Itoa(port)) }

// url returns an http URL on the stack (IPv6 in brackets, RFC 3986 3.2.2).
func (f family) url(path string) string { return "http://" + f.addrPort(portHTTP) + path }

// inEveryFamily runs f as one subtest per family.
func inEveryFamily(t *testing.T, f func(t *testing.T, fam family)) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) { f(t, fam) })
	}
}

// dialFamily connects from the kernel to the stack over fam.
func dialFamily(t testing.TB, fam family, port int) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.Dial(fam.network, fam.addrPort(port))
	if err != nil {
		t.Fatalf("dial %s: %v", fam.addrPort(port), err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// TestCurl6: curl -6 fetches the page and exact bodies over IPv6; the
// serve log's hint names the IPv6 commands, and --trace shows the IPv6
// handshake with bracketed addresses.
func TestCurl6(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	p := serve(t, "--trace")
	p.waitLine(regexp.MustCompile(regexp.QuoteMeta("try: curl http://"+stackAddr+"/ ; ping "+stackAddr+
		" ; curl -6 'http://["+stackAddr6+"]/' ; ping -6 "+stackAddr6)), time.Second)

	// -g: the brackets are an IPv6 literal, not a curl glob.
	out, stderr, err := command(t, 20*time.Second, nil, curl, "-6", "-g", "-sS", "--max-time", "15", ipv6.url("/"))
	if err != nil {
		t.Fatalf("curl -6 /: %v %s", err, stderr)
	}
	if !bytes.Contains(out, []byte("userspace TCP/IP stack")) {
		t.Fatalf("curl -6 / answered %q", out)
	}
	syn := regexp.MustCompile(`\[` + regexp.QuoteMeta(hostAddr6) + `\]:\d+ > \[` + regexp.QuoteMeta(stackAddr6) + `\]:80 \[S\] seq=\d+ ack=0 .*<mss 1440,`)
	p.waitLine(syn, 5*time.Second)
	// RFC 8200 8.3 with RFC 9293 3.7.1: the MSS is the MTU less 40 bytes of
	// IPv6 header and 20 of TCP header.
	p.waitLine(regexp.MustCompile(`\[`+regexp.QuoteMeta(stackAddr6)+`\]:80 > \[`+regexp.QuoteMeta(hostAddr6)+`\]:\d+ \[S\.\] .*<mss 1440,`), 5*time.Second)
	p.waitLine(regexp.MustCompile(`\[`+regexp.QuoteMeta(hostAddr6)+`\]:\d+ > \[`+regexp.QuoteMeta(stackAddr6)+`\]:80 SYN-RECEIVED -> ESTABLISHED`), 5*time.Second)

	for _, n := range []int64{0, 1, 1440, 65536, 1000003, size(20<<20, 4<<20)} {
		curlBytes(t, curl, ipv6, n)
	}
}

// TestNetcatEcho6: nc -6 to echo gets every byte back.
func TestNetcatEcho6(t *testing.T) {
	nc := needTool(t, "nc", "netcat-openbsd")
	serve(t)
	msg := make([]byte, 256<<10)
	rand.NewChaCha8([32]byte{6}).Read(msg)
	out, stderr, err := command(t, 60*time.Second, msg, nc, "-6", "-N", "-w", "30", stackAddr6, "7")
	if err != nil {
		t.Fatalf("nc -6: %v %s", err, stderr)
	}
	if !bytes.Equal(out, msg) {
		t.Fatalf("nc -6 got %d bytes back, differing from the %d sent", len(out), len(msg))
	}
}

// TestPing6: the stack answers ICMPv6 echo requests (RFC 4443 4.2); no
// neighbour discovery is involved, the TUN has no link layer.
func TestPing6(t *testing.T) {
	ping := needTool(t, "ping", "iputils-ping")
	serve(t)
	out, stderr, err := command(t, 20*time.Second, nil, ping, "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", stackAddr6)
	if err != nil {
		t.Fatalf("ping -6: %v\n%s%s", err, out, stderr)
	}
	if !strings.Contains(string(out), "3 received") {
		t.Fatalf("ping -6 output:\n%s", out)
	}
}

// TestBulkTransfer6 moves 100 MB (8 MB with -short) through the echo
// service over IPv6, both directions at once, SHA-256 checked both ways.
func TestBulkTransfer6(t *testing.T) {
	serve(t)
	n := size(100<<20, 8<<20)
	c := dialFamily(t, ipv6, portEcho)
	if a := c.LocalAddr().(*net.TCPAddr); a.IP.String() != hostAddr6 {
		t.Fatalf("the kernel's end is %v, want %s", a, hostAddr6)
	}
	start := time.Now()
	exchange(t, c, n, 6, 180*time.Second)
	el := time.Since(start)
	t.Logf("IPv6 echo %d MB both ways in %v (%.0f Mbit/s each way)", n>>20, el.Round(time.Millisecond), float64(n)*8/el.Seconds()/1e6)
}

// TestDial6: `tunstack dial [2001:2::1]:PORT` opens a connection from the
// stack's IPv6 address to a kernel listener, sends stdin, prints the
// answer, and --trace shows the active open with bracketed addresses.
func TestDial6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	got := make(chan string, 1)
	go func() {
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
		c, err := ln.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		b, err := io.ReadAll(c) // up to the stack's FIN (end of its stdin)
		if err != nil {
			got <- "read: " + err.Error()
			return
		}
		fmt.Fprintf(c, "from %s: %s", c.RemoteAddr(), b)
		got <- string(b)
	}()
	target := net.JoinHostPort(hostAddr6, strconv.Itoa(port))
	p := startTunstack(t, []byte("hello over IPv6\n"), "dial", "--trace", target)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("tunstack dial %s exited with %d", target, code)
	}
	if s := <-got; s != "hello over IPv6\n" {
		t.Fatalf("the kernel listener got %q", s)
	}
	want := fmt.Sprintf("from [%s]:", stackAddr6)
	if out := strings.Join(p.out.snapshot(), "\n"); !strings.Contains(out, want) || !strings.Contains(out, "hello over IPv6") {
		t.Fatalf("tunstack dial printed\n%s\nwant the answer %q...", out, want)
	}
	p.waitLine(regexp.MustCompile(`\[`+regexp.QuoteMeta(stackAddr6)+`\]:\d+ > \[`+regexp.QuoteMeta(hostAddr6)+`\]:`+strconv.Itoa(port)+` \[S\] `), time.Second)
	p.waitLine(regexp.MustCompile(`SYN-SENT -> ESTABLISHED`), time.Second)
}

// TestAttachDualStack: in attach mode (--tun of an existing device) the
// host side is the caller's: tunstack takes one --addr per family, serves
// on both, and changes none of the device's addresses (no default prefix
// is added next to the caller's).
func TestAttachDualStack(t *testing.T) {
	needTool(t, "ip", "iproute2")
	ping := needTool(t, "ping", "iputils-ping")
	tuntest.Require(t)
	const dev = "tdual0"
	// Addresses of the caller's choosing, in the benchmarking ranges but
	// not tunstack's defaults.
	v4 := family{"ipv4", "198.19.0.2", "198.19.0.1", "-4", "tcp4"}
	v6 := family{"ipv6", "2001:2:0:1::2", "2001:2:0:1::1", "-6", "tcp6"}
	tuntest.Run(t, "ip", "tuntap", "add", "dev", dev, "mode", "tun")
	t.Cleanup(func() { exec.Command("ip", "link", "del", dev).Run() })
	tuntest.Run(t, "ip", "addr", "add", v4.host+"/24", "dev", dev)
	// nodad: a TUN has no link layer to detect duplicates on (RFC 4862 5.4
	// is for links with neighbours).
	tuntest.Run(t, "ip", "addr", "add", v6.host+"/64", "dev", dev, "nodad")
	tuntest.Run(t, "ip", "link", "set", dev, "up")
	show := func() string { return tuntest.Run(t, "ip", "-o", "addr", "show", "dev", dev, "scope", "global") }
	before := show()

	p := startTunstack(t, nil, "serve", "--tun", dev, "--addr", v6.stack, "--addr", v4.stack)
	l := p.waitLine(regexp.MustCompile(`msg=serving`), 20*time.Second)
	if !strings.Contains(l, "addr="+v4.stack+","+v6.stack+" ") || !strings.Contains(l, "created=false") {
		t.Fatalf("serving line %q: want both addresses and an attached device", l)
	}
	if l, ok := p.findLine(regexp.MustCompile(`try:`), 0, 0); ok {
		t.Fatalf("a hint about a device tunstack did not create: %q", l)
	}
	for _, fam := range []family{v4, v6} {
		c := dialFamily(t, fam, portEcho)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := echoByte(c, 'd'); err != nil {
			t.Fatalf("echo over %s: %v", fam.name, err)
		}
		out, stderr, err := command(t, 20*time.Second, nil, ping, fam.flag, "-n", "-c", "2", "-i", "0.2", "-W", "2", fam.stack)
		if err != nil || !strings.Contains(string(out), "2 received") {
			t.Fatalf("ping %s %s: %v\n%s%s", fam.flag, fam.stack, err, out, stderr)
		}
	}
	if after := stripCounters(show()); after != stripCounters(before) {
		t.Fatalf("tunstack changed the attached device's addresses:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestCreatedDeviceAddresses: a device tunstack creates gets, without
// --addr, both host-side prefixes (198.18.0.1/24 and 2001:2::1/64, RFC 2544
// and RFC 5180) and the stack both addresses (echo answers over both);
// with one IPv4 --addr, only the IPv4 prefix. The device goes when
// tunstack exits.
func TestCreatedDeviceAddresses(t *testing.T) {
	needTool(t, "ip", "iproute2")
	for _, tc := range []struct {
		flags      []string
		want, none []string
	}{
		{nil, []string{"inet " + hostAddr + "/24", "inet6 " + hostAddr6 + "/64"}, nil},
		{[]string{"--addr", stackAddr}, []string{"inet " + hostAddr + "/24"}, []string{"inet6 " + hostAddr6}},
	} {
		p := serve(t, tc.flags...)
		addrs := tuntest.Run(t, "ip", "-o", "addr", "show", "dev", devName, "scope", "global")
		for _, w := range tc.want {
			if !strings.Contains(addrs, w) {
				t.Fatalf("serve %q: the device lacks %s:\n%s", tc.flags, w, addrs)
			}
		}
		for _, w := range tc.none {
			if strings.Contains(addrs, w) {
				t.Fatalf("serve %q: the device has %s, for a family the stack does not have:\n%s", tc.flags, w, addrs)
			}
		}
		c := dialFamily(t, ipv4, portEcho)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := echoByte(c, 'x'); err != nil {
			t.Fatalf("serve %q: echo over IPv4: %v", tc.flags, err)
		}
		if tc.none == nil {
			c := dialFamily(t, ipv6, portEcho)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if err := echoByte(c, 'y'); err != nil {
				t.Fatalf("serve %q: echo over IPv6: %v", tc.flags, err)
			}
		}
		p.stop(10 * time.Second)
		for deadline := time.Now().Add(5 * time.Second); linkExists(devName); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s still exists 5 s after tunstack exited", devName)
			}
		}
	}
}

// TestAttachSmallMTU: attached to a device of MTU 1000, below IPv6's
// minimum (RFC 8200 5), serve without --addr warns and serves IPv4 only
// (as before IPv6 existed); with an IPv6 --addr it exits with 1 and one
// line saying what to change.
func TestAttachSmallMTU(t *testing.T) {
	needTool(t, "ip", "iproute2")
	tuntest.Require(t)
	const dev = "tsmall0"
	tuntest.Run(t, "ip", "tuntap", "add", "dev", dev, "mode", "tun")
	t.Cleanup(func() { exec.Command("ip", "link", "del", dev).Run() })
	tuntest.Run(t, "ip", "addr", "add", hostAddr+"/24", "dev", dev)
	tuntest.Run(t, "ip", "link", "set", dev, "mtu", "1000", "up")

	p := startTunstack(t, nil, "serve", "--tun", dev)
	p.waitLine(regexp.MustCompile(`level=WARN .*serving IPv4 only`), 20*time.Second)
	if l := p.waitLine(regexp.MustCompile(`msg=serving`), 20*time.Second); !strings.Contains(l, "addr="+stackAddr+" ") || !strings.Contains(l, "mtu=1000") {
		t.Fatalf("serving line %q: want IPv4 only on MTU 1000", l)
	}
	c := dialStack(t, portEcho)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := echoByte(c, 's'); err != nil {
		t.Fatal(err)
	}
	c.Close()
	p.stop(10 * time.Second)

	q := startTunstack(t, nil, "serve", "--tun", dev, "--addr", stackAddr6)
	if code := q.wait(20 * time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1 (runtime error)", code)
	}
	out := q.out.snapshot()
	want := "tunstack: --addr " + stackAddr6 + ": the device " + dev + " has an MTU of 1000, below IPv6's minimum of 1280 (RFC 8200 5): raise its MTU, or give only an IPv4 --addr"
	if len(out) != 1 || out[0] != want {
		t.Fatalf("output %q, want the one line %q", out, want)
	}
}
