package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/tunstack/tunstack/tun/tuntest"
)

// TestGracefulShutdown: SIGTERM makes the stack FIN its connections (the
// kernel client reads EOF, not a reset), print statistics, remove the
// device it created and exit 0.
func TestGracefulShutdown(t *testing.T) {
	p := serve(t)
	if !linkExists(devName) {
		t.Fatalf("serve did not create %s", devName)
	}
	c := dialStack(t, 7)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := echoByte(c, 42); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGTERM)
	n, err := c.Read(make([]byte, 16))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after SIGTERM the kernel client read %d bytes, %v; want EOF (the stack's FIN)", n, err)
	}
	if code := p.wait(5 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if linkExists(devName) {
		t.Fatalf("%s still exists after tunstack exited", devName)
	}
	if _, ok := p.findLine(regexp.MustCompile(`(?i)statistics`), 0, 0); !ok {
		t.Fatal("no statistics printed on SIGTERM")
	}
}

// TestHarnessMode starts tunstack exactly as shared/bench/run.sh does: a
// persistent device made and configured beforehand, `bash -c "exec ..."`.
// tunstack must serve on it, change nothing on it, and leave it behind.
func TestHarnessMode(t *testing.T) {
	needTool(t, "ip", "iproute2")
	tuntest.Require(t)
	const dev = "tsut0"
	tuntest.Run(t, "ip", "tuntap", "add", "dev", dev, "mode", "tun")
	t.Cleanup(func() { exec.Command("ip", "link", "del", dev).Run() })
	tuntest.Run(t, "ip", "addr", "add", hostAddr+"/24", "dev", dev)
	tuntest.Run(t, "ip", "link", "set", dev, "mtu", "1500", "up")
	before := tuntest.Run(t, "ip", "-4", "-o", "addr", "show", "dev", dev) + tuntest.Run(t, "ip", "-o", "link", "show", dev)

	bin := tunstackBin(t)
	p := &proc{t: t, out: &lineLog{}, done: make(chan struct{})}
	p.cmd = exec.Command("bash", "-c", "exec "+bin+" serve --tun "+dev+" --addr "+stackAddr+" --mtu 1500")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); p.code = p.cmd.ProcessState.ExitCode(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(5 * time.Second)
		p.checkRaces()
		if t.Failed() {
			t.Logf("output:\n%s", strings.Join(p.out.snapshot(), "\n"))
		}
	})
	p.waitLine(regexp.MustCompile(`msg=serving`), 20*time.Second)

	// The PID the harness holds is the SUT itself: /proc/PID/exe is tunstack.
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.cmd.Process.Pid))
	if err != nil || filepath.Base(exe) != "tunstack" {
		t.Fatalf("/proc/PID/exe = %q, %v: the process is not tunstack itself", exe, err)
	}
	c := dialStack(t, 7)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := echoByte(c, 'p'); err != nil {
		t.Fatal(err)
	}
	c.Close()
	p.signal(syscall.SIGTERM)
	if code := p.wait(3 * time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0 within the harness's 3 s", code)
	}
	after := tuntest.Run(t, "ip", "-4", "-o", "addr", "show", "dev", dev) + tuntest.Run(t, "ip", "-o", "link", "show", dev)
	if stripCounters(before) != stripCounters(after) {
		t.Fatalf("device changed by tunstack:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// stripCounters removes the parts of `ip -o link` output that change when a
// reader attaches (NO-CARRIER, state), keeping the IPv4 addresses, MTU and
// flags that tunstack must not touch. (IPv6 link-local addresses are left
// out by the caller: the kernel adds one itself when the carrier comes up.)
func stripCounters(s string) string {
	s = regexp.MustCompile(`NO-CARRIER,?`).ReplaceAllString(s, "")
	s = regexp.MustCompile(`state \S+`).ReplaceAllString(s, "")
	s = regexp.MustCompile(`valid_lft \S+ preferred_lft \S+`).ReplaceAllString(s, "")
	return s
}

// TestUnprivileged: as the user nobody, serve and dial fail at once with a
// one-line message saying what to do and exit code 3.
func TestUnprivileged(t *testing.T) {
	needTool(t, "ip", "iproute2")
	tuntest.Require(t)
	bin := tunstackBin(t)
	// A root-owned persistent device: attaching to it needs CAP_NET_ADMIN.
	tuntest.Run(t, "ip", "tuntap", "add", "dev", "tpriv0", "mode", "tun")
	t.Cleanup(func() { exec.Command("ip", "link", "del", "tpriv0").Run() })
	for _, args := range [][]string{
		{"serve"},
		{"serve", "--tun", "tpriv0"},
		{"dial", hostAddr + ":9"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start as nobody: %v", err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%q as nobody did not exit", args)
		}
		msg := stderr.String()
		if code := cmd.ProcessState.ExitCode(); code != 3 {
			t.Errorf("%q as nobody: exit %d, want 3; stderr %q", args, code, msg)
		}
		if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "tunstack: ") ||
			!strings.Contains(msg, "root or CAP_NET_ADMIN") || strings.Contains(msg, "goroutine") {
			t.Errorf("%q as nobody: stderr %q, want one line naming root or CAP_NET_ADMIN", args, msg)
		}
	}
	if linkExists(devName) {
		t.Fatalf("an unprivileged run left %s behind", devName)
	}
}

// TestPcap: the capture of a curl session reads back with gopacket, holds
// the three-way handshake and only packets with valid checksums.
func TestPcap(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	file := filepath.Join(t.TempDir(), "cap.pcap")
	p := serve(t, "--pcap", file)
	if _, stderr, err := command(t, 20*time.Second, nil, curl, "-sS", "--max-time", "15", "-o", "/dev/null",
		"http://"+stackAddr+"/bytes/100000"); err != nil {
		t.Fatalf("curl: %v %s", err, stderr)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(5 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}

	var syn, synack *layers.TCP
	handshakeDone, packets, payload := false, 0, 0
	for _, data := range readPcap(t, file) {
		packets++
		pkt := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default)
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			continue // ICMP, for instance
		}
		if err := checkIPv4Checksum(data); err != nil {
			t.Fatalf("packet %d: %v", packets, err)
		}
		if err := checkTCPChecksum(data); err != nil {
			t.Fatalf("packet %d (%s:%d > %s:%d): %v", packets, ip.SrcIP, tcp.SrcPort, ip.DstIP, tcp.DstPort, err)
		}
		payload += len(tcp.Payload)
		switch {
		case tcp.SYN && !tcp.ACK && tcp.DstPort == 80 && syn == nil:
			syn = tcp
		case tcp.SYN && tcp.ACK && syn != nil && tcp.SrcPort == 80 && tcp.Ack == syn.Seq+1:
			synack = tcp
		case !tcp.SYN && tcp.ACK && synack != nil && tcp.DstPort == 80 && tcp.Ack == synack.Seq+1 && tcp.Seq == syn.Seq+1:
			handshakeDone = true
		}
	}
	if !handshakeDone {
		t.Fatalf("no complete three-way handshake in %d packets (SYN %v, SYN-ACK %v)", packets, syn != nil, synack != nil)
	}
	if payload < 100000 {
		t.Fatalf("capture holds %d payload bytes, want the 100000-byte body at least", payload)
	}
}

// checksum is the Internet checksum (RFC 1071) of b with initial sum.
func checksum(b []byte, sum uint32) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func checkIPv4Checksum(pkt []byte) error {
	ihl := int(pkt[0]&0x0f) * 4
	if c := checksum(pkt[:ihl], 0); c != 0 {
		return fmt.Errorf("bad IPv4 header checksum (residue %#04x)", c)
	}
	return nil
}

func checkTCPChecksum(pkt []byte) error {
	ihl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:4]))
	seg := pkt[ihl:total]
	var pseudo uint32
	for i := 12; i < 20; i += 2 {
		pseudo += uint32(binary.BigEndian.Uint16(pkt[i:]))
	}
	pseudo += 6 + uint32(len(seg))
	if c := checksum(seg, pseudo); c != 0 {
		return fmt.Errorf("bad TCP checksum (residue %#04x)", c)
	}
	return nil
}

// TestDial: `tunstack dial` opens a connection from the stack to a kernel
// listener, sends its stdin, half-closes, prints what the peer sends, and
// exits when the peer closes.
func TestDial(t *testing.T) {
	needTool(t, "ip", "iproute2")
	tuntest.Require(t)
	// Attach mode: a device prepared beforehand, the listener bound to
	// the kernel side's address.
	const dev = "tdial0"
	tuntest.Run(t, "ip", "tuntap", "add", "dev", dev, "mode", "tun")
	t.Cleanup(func() { exec.Command("ip", "link", "del", dev).Run() })
	tuntest.Run(t, "ip", "addr", "add", hostAddr+"/24", "dev", dev)
	tuntest.Run(t, "ip", "link", "set", dev, "up")
	dialRoundTrip(t, hostAddr, size(16<<20, 2<<20), "--tun", dev)
	tuntest.Run(t, "ip", "link", "del", dev)

	// Create mode: tunstack makes the device; the listener waits on the
	// wildcard address because 198.18.0.1 exists only once it has.
	dialRoundTrip(t, "0.0.0.0", 64<<10)
	if linkExists(devName) {
		t.Fatalf("dial left %s behind", devName)
	}
}

func dialRoundTrip(t *testing.T, listenAddr string, n int64, flags ...string) {
	t.Helper()
	ln, err := net.Listen("tcp4", net.JoinHostPort(listenAddr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	up := make([]byte, n)
	down := make([]byte, n/2+7)
	rand.NewChaCha8([32]byte{3}).Read(up)
	rand.NewChaCha8([32]byte{4}).Read(down)

	srvErr := make(chan error, 1)
	go func() {
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(120 * time.Second))
		// Send while reading: the reply does not wait for the upload.
		werr := make(chan error, 1)
		go func() { _, err := c.Write(down); werr <- err }()
		got, err := io.ReadAll(c) // ends at the stack's FIN (half-close)
		if err != nil {
			srvErr <- fmt.Errorf("listener read: %w", err)
			return
		}
		if err := <-werr; err != nil {
			srvErr <- fmt.Errorf("listener write: %w", err)
			return
		}
		if sha256.Sum256(got) != sha256.Sum256(up) {
			srvErr <- fmt.Errorf("listener received %d bytes, differing from the %d sent", len(got), len(up))
			return
		}
		srvErr <- nil
	}()

	args := append([]string{"dial"}, flags...)
	args = append(args, fmt.Sprintf("%s:%d", hostAddr, port))
	out := &bytes.Buffer{}
	p := &proc{t: t, out: &lineLog{}, done: make(chan struct{})}
	p.cmd = exec.Command(tunstackBin(t), args...)
	p.cmd.Stdin = bytes.NewReader(up)
	p.cmd.Stdout = out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); p.code = p.cmd.ProcessState.ExitCode(); close(p.done) }()
	defer p.stop(time.Second)
	defer p.checkRaces()
	if code := p.wait(150 * time.Second); code != 0 {
		t.Fatalf("tunstack %q: exit %d\n%s", args, code, strings.Join(p.out.snapshot(), "\n"))
	}
	if err := <-srvErr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), down) {
		t.Fatalf("dial printed %d bytes, differing from the %d the listener sent", out.Len(), len(down))
	}
}

// TestDialRefused: a port nobody listens on gets the kernel's RST; dial
// says so in one line and exits 1.
func TestDialRefused(t *testing.T) {
	tuntest.Require(t)
	cmd := exec.Command(tunstackBin(t), "dial", "--timeout", "10s", hostAddr+":1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan struct{})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("dial to a closed port did not exit")
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "refused") ||
		strings.Count(stderr.String(), "\n") != 1 {
		t.Fatalf("exit %d, stderr %q; want 1 and one line saying refused", code, stderr.String())
	}
}

// TestDialInterrupted: SIGINT while stdin is still open ends the
// connection with a FIN (the kernel side reads EOF) and exit status 0.
func TestDialInterrupted(t *testing.T) {
	tuntest.Require(t)
	p, c, pw := dialSession(t)
	if _, err := pw.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, 5)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping\n" {
		t.Fatalf("kernel side read %q, %v", got, err)
	}
	p.signal(syscall.SIGINT)
	if n, err := c.Read(got); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after SIGINT the kernel side read %d bytes, %v; want EOF (a FIN)", n, err)
	}
	c.Close() // let the stack's FIN-WAIT-2 finish
	if code := p.wait(5 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGINT, want 0:\n%s", code, strings.Join(p.out.snapshot(), "\n"))
	}
}
