//go:build linux

package tun_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
	"github.com/tunstack/tunstack/tun/tuntest"
	"golang.org/x/sys/unix"
)

var _ stack.Link = (*tun.Device)(nil)

var (
	hostAddr  = netip.MustParseAddr("198.18.0.1")
	stackAddr = netip.MustParseAddr("198.18.0.2")
)

func openTest(t *testing.T, cfg tun.Config) *tun.Device {
	t.Helper()
	d, err := tun.Open(cfg)
	if err != nil {
		t.Fatalf("Open(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// readUntil reads packets from d until match accepts one or the deadline
// passes; the kernel also sends unrelated packets (IPv6 router
// solicitations, MLD reports) once the link is up.
func readUntil(t *testing.T, d *tun.Device, within time.Duration, match func(pkt []byte) bool) []byte {
	t.Helper()
	if err := d.SetReadDeadline(time.Now().Add(within)); err != nil {
		t.Fatal(err)
	}
	defer d.SetReadDeadline(time.Time{})
	buf := make([]byte, d.MTU())
	for {
		n, err := d.Read(buf)
		if err != nil {
			t.Fatalf("reading from %s: %v", d.Name(), err)
		}
		if match(buf[:n]) {
			return buf[:n]
		}
	}
}

func TestDeviceKernelPingAndUDP(t *testing.T) {
	tuntest.Require(t)
	d := openTest(t, tun.Config{Name: "tsut0", MTU: 1500, Addr: netip.PrefixFrom(hostAddr, 24), Up: true})
	if d.Name() != "tsut0" || d.MTU() != 1500 || !d.Created() {
		t.Fatalf("Name %q MTU %d Created %v, want tsut0 1500 true", d.Name(), d.MTU(), d.Created())
	}
	tuntest.CheckIsolated(t, "tsut0")
	ifc, err := net.InterfaceByName("tsut0")
	if err != nil {
		t.Fatal(err)
	}
	if ifc.Flags&net.FlagUp == 0 || ifc.MTU != 1500 {
		t.Fatalf("tsut0 flags %v MTU %d", ifc.Flags, ifc.MTU)
	}
	addrs, _ := ifc.Addrs()
	var v4 []string
	for _, a := range addrs {
		if a.(*net.IPNet).IP.To4() != nil {
			v4 = append(v4, a.String())
		}
	}
	if len(v4) != 1 || v4[0] != "198.18.0.1/24" {
		t.Fatalf("tsut0 IPv4 addresses %v, want [198.18.0.1/24]", v4)
	}

	t.Run("kernel ping reaches the device", func(t *testing.T) {
		// The kernel's ICMP echo request, sent through a raw socket as
		// `ping -c1 198.18.0.2` would.
		c, err := net.ListenPacket("ip4:icmp", hostAddr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		const id, seq = 0x1234, 7
		body := []byte("tunstack ping payload")
		msg := append([]byte{segment.ICMPv4TypeEcho, 0, 0, 0, id >> 8, id & 0xff, 0, seq}, body...)
		cs := segment.Checksum(msg, 0)
		msg[2], msg[3] = byte(cs>>8), byte(cs)
		if _, err := c.WriteTo(msg, &net.IPAddr{IP: stackAddr.AsSlice()}); err != nil {
			t.Fatal(err)
		}
		pkt := readUntil(t, d, 3*time.Second, func(p []byte) bool { return segment.IPVersion(p) == 4 })
		ip, m, err := segment.ParseIPv4ICMP(pkt)
		if err != nil {
			t.Fatalf("first IPv4 packet is not a valid ICMP message: %v\n% x", err, pkt)
		}
		if ip.Src() != hostAddr || ip.Dst() != stackAddr {
			t.Errorf("ICMP %v -> %v, want %v -> %v", ip.Src(), ip.Dst(), hostAddr, stackAddr)
		}
		if m.Type() != segment.ICMPv4TypeEcho || m.Code() != 0 || m.ID() != id || m.Seq() != seq || !bytes.Equal(m.Body(), body) {
			t.Errorf("got type %d code %d id %#x seq %d body %q, want echo request id %#x seq %d body %q",
				m.Type(), m.Code(), m.ID(), m.Seq(), m.Body(), id, seq, body)
		}
	})

	t.Run("ping gets our echo reply", func(t *testing.T) {
		// The real ping(8), answered through the device.
		if _, err := exec.LookPath("ping"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("ping (iputils-ping) is not installed")
			}
			t.Skip("ping (iputils-ping) is not installed; the raw-socket subtest covers the request path")
		}
		ping := exec.Command("ping", "-n", "-c1", "-W3", stackAddr.String())
		out := new(bytes.Buffer)
		ping.Stdout, ping.Stderr = out, out
		if err := ping.Start(); err != nil {
			t.Fatal(err)
		}
		req := readUntil(t, d, 3*time.Second, func(p []byte) bool {
			_, m, err := segment.ParseIPv4ICMP(p)
			return err == nil && m.Type() == segment.ICMPv4TypeEcho
		})
		reply := make([]byte, len(req))
		n, err := segment.ICMPv4EchoReply(reply, req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Write(reply[:n]); err != nil {
			t.Fatal(err)
		}
		if err := ping.Wait(); err != nil {
			t.Fatalf("ping: %v\n%s", err, out)
		}
		if !strings.Contains(out.String(), "1 received") {
			t.Fatalf("ping output:\n%s", out)
		}
	})

	t.Run("crafted UDP reaches a kernel socket", func(t *testing.T) {
		sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: hostAddr.AsSlice(), Port: 5000})
		if err != nil {
			t.Fatal(err)
		}
		defer sock.Close()
		payload := []byte("hello from the stack side \x00\xff")
		pkt := make([]byte, 1500)
		n, err := segment.BuildIPv4UDP(pkt, netip.AddrPortFrom(stackAddr, 4000), netip.AddrPortFrom(hostAddr, 5000), payload)
		if err != nil {
			t.Fatal(err)
		}
		if w, err := d.Write(pkt[:n]); err != nil || w != n {
			t.Fatalf("Write: %d, %v (want %d)", w, err, n)
		}
		sock.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 2000)
		r, from, err := sock.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("kernel socket: %v", err)
		}
		if !bytes.Equal(buf[:r], payload) || from != netip.AddrPortFrom(stackAddr, 4000) {
			t.Fatalf("kernel received %q from %v, want %q from 198.18.0.2:4000", buf[:r], from, payload)
		}
	})
}

func TestDeviceCloseUnblocksRead(t *testing.T) {
	tuntest.Require(t)
	d, err := tun.Open(tun.Config{Name: "tclose0", Up: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, d.MTU())
		for {
			if _, err := d.Read(buf); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond) // let Read park in the poller
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) || !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Read after Close: %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	if _, err := d.Write([]byte{0x45}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	// We created it, nothing made it persistent: it is gone.
	if _, err := net.InterfaceByName("tclose0"); err == nil {
		t.Fatal("tclose0 still exists after Close")
	}
}

func TestDeviceAttachPersistent(t *testing.T) {
	tuntest.Require(t)
	// What the benchmark harness does before starting us.
	tuntest.Run(t, "ip", "tuntap", "add", "dev", "tpers0", "mode", "tun")
	defer tuntest.Run(t, "ip", "link", "del", "tpers0")
	tuntest.Run(t, "ip", "addr", "add", "198.18.1.1/24", "dev", "tpers0")
	tuntest.Run(t, "ip", "link", "set", "tpers0", "mtu", "1400", "up")

	// Harness style: name only, configure nothing.
	d, err := tun.Open(tun.Config{Name: "tpers0"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Created() || d.MTU() != 1400 {
		t.Fatalf("Created %v MTU %d, want false 1400", d.Created(), d.MTU())
	}
	// A second opener is told the device is busy.
	_, err = tun.Open(tun.Config{Name: "tpers0"})
	const busy = "TUN device tpers0 is in use by another process: stop it or choose another name"
	if err == nil || err.Error() != busy || !errors.Is(err, unix.EBUSY) {
		t.Fatalf("second Open: %v, want %q", err, busy)
	}
	d.Close()

	// CLI style on an already configured device: same address, up.
	d = openTest(t, tun.Config{Name: "tpers0", MTU: 1400, Addr: netip.MustParsePrefix("198.18.1.1/24"), Up: true})
	if d.Created() {
		t.Fatal("Created() true for an existing device")
	}
	out := tuntest.Run(t, "ip", "-4", "-o", "addr", "show", "dev", "tpers0")
	if strings.Count(out, "inet ") != 1 || !strings.Contains(out, "198.18.1.1/24") {
		t.Fatalf("addresses after Open:\n%s", out)
	}
	// Traffic flows through the attached device.
	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(198, 18, 1, 1), Port: 5001})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	pkt := make([]byte, 100)
	n, _ := segment.BuildIPv4UDP(pkt, netip.MustParseAddrPort("198.18.1.2:4001"), netip.MustParseAddrPort("198.18.1.1:5001"), []byte("x"))
	if _, err := d.Write(pkt[:n]); err != nil {
		t.Fatal(err)
	}
	sock.SetReadDeadline(time.Now().Add(3 * time.Second))
	if r, _, err := sock.ReadFromUDP(pkt); err != nil || string(pkt[:r]) != "x" {
		t.Fatalf("UDP through attached device: %q, %v", pkt[:r], err)
	}
	d.Close()

	// Still there, still persistent, still configured: Open must not
	// clear the persist flag (songgao/water does, see doc.go).
	out = tuntest.Run(t, "ip", "-d", "link", "show", "tpers0")
	if !strings.Contains(out, "persist on") || !strings.Contains(out, "mtu 1400") || !strings.Contains(out, "UP") {
		t.Fatalf("tpers0 after Close:\n%s", out)
	}
	out = tuntest.Run(t, "ip", "-4", "-o", "addr", "show", "dev", "tpers0")
	if !strings.Contains(out, "198.18.1.1/24") {
		t.Fatalf("address gone after Close:\n%s", out)
	}
}

func TestDeviceNotATun(t *testing.T) {
	tuntest.Require(t)
	tuntest.Run(t, "ip", "tuntap", "add", "dev", "ttap0", "mode", "tap")
	defer tuntest.Run(t, "ip", "link", "del", "ttap0")
	_, err := tun.Open(tun.Config{Name: "ttap0"})
	const want = "tunstack: ttap0 exists but is not a single-queue TUN device: delete it or choose another name"
	if err == nil || err.Error() != want {
		t.Fatalf("Open on a TAP device: %v, want %q", err, want)
	}
}

// TestOpenUnprivileged opens a TUN device as nobody in a child process and
// checks the exact one-line error.
func TestOpenUnprivileged(t *testing.T) {
	tuntest.Require(t)
	out, code := tuntest.RunUnprivileged(t, []string{"TUNSTACK_TEST_HELPER=open"}, "-test.run=^TestHelperOpen$")
	const want = "tunstack needs root or CAP_NET_ADMIN to open /dev/net/tun: run with sudo"
	if code != 0 || !strings.Contains(out, "OPEN-ERROR: "+want+"\n") || !strings.Contains(out, "IS-PERMISSION: true") {
		t.Fatalf("exit %d, output:\n%s\nwant the line %q", code, out, want)
	}
}

// TestHelperOpen is the child of TestOpenUnprivileged; it does nothing in
// a normal run.
func TestHelperOpen(t *testing.T) {
	if os.Getenv("TUNSTACK_TEST_HELPER") != "open" {
		return
	}
	d, err := tun.Open(tun.Config{Name: "tnobody0"})
	if err == nil {
		d.Close()
		t.Fatal("Open succeeded without privileges")
	}
	os.Stdout.WriteString("OPEN-ERROR: " + err.Error() + "\n")
	if errors.Is(err, os.ErrPermission) {
		os.Stdout.WriteString("IS-PERMISSION: true\n")
	}
}

// echoRequest builds an IPv4 ICMP echo request 198.18.0.2 -> 198.18.0.1,
// which the kernel answers through the device.
func echoRequest(id, seq uint16, payload int) []byte {
	p := make([]byte, 20+8+payload)
	m := p[20:]
	m[0] = segment.ICMPv4TypeEcho
	m[4], m[5], m[6], m[7] = byte(id>>8), byte(id), byte(seq>>8), byte(seq)
	for i := range payload {
		m[8+i] = byte(i)
	}
	cs := segment.Checksum(m, 0)
	m[2], m[3] = byte(cs>>8), byte(cs)
	segment.PutIPv4Header(p, &segment.IPv4Header{TTL: 64, Protocol: segment.ProtocolICMP, Src: stackAddr, Dst: hostAddr}, len(m))
	return p
}

// echoRoundTrip writes req and reads until the kernel's echo reply.
func echoRoundTrip(d *tun.Device, req, buf []byte) error {
	if _, err := d.Write(req); err != nil {
		return err
	}
	for {
		n, err := d.Read(buf)
		if err != nil {
			return err
		}
		if n == len(req) && buf[0]>>4 == 4 && buf[9] == segment.ProtocolICMP && buf[20] == segment.ICMPv4TypeEchoReply {
			return nil
		}
	}
}

// TestDeviceZeroAllocs: a packet written and one read through the poller
// allocate nothing.
func TestDeviceZeroAllocs(t *testing.T) {
	tuntest.Require(t)
	d := openTest(t, tun.Config{Name: "tsut0", MTU: 1500, Addr: netip.PrefixFrom(hostAddr, 24), Up: true})
	req, buf := echoRequest(1, 1, 56), make([]byte, 1500)
	d.SetReadDeadline(time.Now().Add(10 * time.Second))
	var err error
	allocs := testing.AllocsPerRun(200, func() {
		if e := echoRoundTrip(d, req, buf); e != nil {
			err = e
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Fatalf("%v allocs per write+read", allocs)
	}
}

// BenchmarkDeviceEcho measures a Write of an ICMP echo request plus the Read
// of the kernel's reply through a real TUN (two syscalls and a trip through
// the kernel's ICMP code). Needs root; runs in the test namespace.
func BenchmarkDeviceEcho(b *testing.B) {
	tuntest.Require(b)
	d, err := tun.Open(tun.Config{Name: "tbench0", MTU: 1500, Addr: netip.PrefixFrom(hostAddr, 24), Up: true})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	req, buf := echoRequest(1, 1, 1400), make([]byte, 1500)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if err := echoRoundTrip(d, req, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDeviceWithFaults: the fault wrapper on the real device, with the
// real clock: delayed writes reach the kernel no earlier than the delay,
// and seeded loss thins the kernel's packets to us.
func TestDeviceWithFaults(t *testing.T) {
	tuntest.Require(t)
	dev := openTest(t, tun.Config{Name: "tsut0", MTU: 1500, Addr: netip.PrefixFrom(hostAddr, 24), Up: true})
	const delay = 50 * time.Millisecond
	d := tun.WithFaults(dev, timers.NewReal(), tun.FaultConfig{Seed: 11, Loss: 0.5}, tun.FaultConfig{Delay: delay})
	defer d.Close()

	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: hostAddr.AsSlice(), Port: 5000})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	p := make([]byte, 100)
	n, _ := segment.BuildIPv4UDP(p, netip.AddrPortFrom(stackAddr, 4000), netip.AddrPortFrom(hostAddr, 5000), []byte("late"))
	start := time.Now()
	if _, err := d.Write(p[:n]); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > delay/2 {
		t.Fatal("Write blocked on the delay")
	}
	sock.SetReadDeadline(time.Now().Add(3 * time.Second))
	r, _, err := sock.ReadFromUDP(p)
	if err != nil || string(p[:r]) != "late" {
		t.Fatalf("kernel socket: %q %v", p[:r], err)
	}
	if el := time.Since(start); el < delay {
		t.Fatalf("arrived after %v, before the %v delay", el, delay)
	}

	// The kernel sends 200 datagrams to 198.18.0.2; about half survive.
	out, err := net.DialUDP("udp4", &net.UDPAddr{IP: hostAddr.AsSlice()}, &net.UDPAddr{IP: stackAddr.AsSlice(), Port: 9})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for range 200 {
		if _, err := out.Write([]byte("to the stack")); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	buf := make([]byte, 1500)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			n, err := d.Read(buf)
			if err != nil {
				return
			}
			if _, _, payload, err := segment.ParseIPv4UDP(buf[:n]); err == nil && string(payload) == "to the stack" {
				got++
			}
		}
	}()
	waitFor(t, "the kernel's datagrams", func() bool { in, _ := d.Stats(); return in.Sent >= 200 })
	time.Sleep(50 * time.Millisecond)
	d.Close()
	<-readDone
	if got < 60 || got > 140 {
		t.Fatalf("%d of 200 datagrams read at Loss 0.5", got)
	}
}
