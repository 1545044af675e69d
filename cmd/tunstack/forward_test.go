package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// TestParseForward: forward's defaults, its own flags and their one-line
// errors (exit code 2).
func TestParseForward(t *testing.T) {
	c, err := parseForward(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.transparent) != 2 || c.transparent[0].String() != "0.0.0.0/0" || c.transparent[1].String() != "::/0" ||
		c.dialTimeout != defaultDialTimeout || c.udpTimeout != defaultUDPTimeout || c.maxPending != defaultMaxPending {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = parseForward([]string{"--prefix", "10.0.0.0/8,2001:db8::1/32", "--prefix", "192.0.2.0/24", "--interface", "eth0",
		"--fwmark", "7", "--socks5", "127.0.0.1:1080"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := (&prefixFlag{p: &c.transparent}).String(); got != "10.0.0.0/8,2001:db8::/32,192.0.2.0/24" {
		t.Fatalf("prefixes %s", got)
	}
	if c.iface != "eth0" || c.fwmark != 7 || c.socks5 != "127.0.0.1:1080" {
		t.Fatalf("flags: %+v", c)
	}
	for _, bad := range [][]string{
		{"--prefix", "10.0.0.0"}, {"--prefix", "::ffff:10.0.0.0/104"}, {"--socks5", "localhost"}, {"--socks5", ":1080"},
		{"--fwmark", "4294967296"}, {"--max-pending", "0"}, {"--dial-timeout", "0s"}, {"--interface", "a/b"}, {"extra"},
	} {
		code, _, stderr := runCLI(append([]string{"forward"}, bad...)...)
		if code != exitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "tunstack forward --help") {
			t.Errorf("forward %v: exit %d, stderr %q", bad, code, stderr)
		}
	}
	code, stdout, _ := runCLI("help", "forward")
	if code != exitOK || !strings.Contains(stdout, "--socks5") || !strings.Contains(stdout, "Exit codes") {
		t.Fatalf("help forward: %d %q", code, stdout)
	}
}

// TestUpstreamSocketOptions: --interface and --fwmark reach the upstream
// sockets (read back with getsockopt). Setting them needs CAP_NET_RAW /
// CAP_NET_ADMIN.
func TestUpstreamSocketOptions(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SO_MARK and SO_BINDTODEVICE need root (CAP_NET_ADMIN)")
	}
	u, err := newUpstream("lo", 0x2a, "", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := u.listenUDP("udp4")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	rc, _ := pc.(*net.UDPConn).SyscallConn()
	var mark int
	var dev string
	rc.Control(func(fd uintptr) {
		mark, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK)
		dev, _ = unix.GetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE)
	})
	if mark != 0x2a || strings.TrimRight(dev, "\x00") != "lo" {
		t.Fatalf("SO_MARK %#x, SO_BINDTODEVICE %q", mark, dev)
	}
	u.iface = "nosuchdev0"
	if _, err := u.dialTCP(context.Background(), "127.0.0.1:9"); err == nil || !strings.Contains(err.Error(), "SO_BINDTODEVICE") {
		t.Fatalf("dial bound to a missing device: %v", err)
	}
}

// socks5Server is a minimal SOCKS5 server (RFC 1928: no authentication,
// CONNECT only) on the kernel's loopback, recording the destinations asked
// for.
func socks5Server(t *testing.T) (addr string, asked chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	asked = make(chan string, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				h := make([]byte, 2)
				if _, err := io.ReadFull(c, h); err != nil || h[0] != 5 {
					return
				}
				io.ReadFull(c, make([]byte, h[1]))
				c.Write([]byte{5, 0})
				req := make([]byte, 4)
				if _, err := io.ReadFull(c, req); err != nil || req[1] != 1 {
					return
				}
				var host string
				switch req[3] {
				case 1:
					b := make([]byte, 4)
					io.ReadFull(c, b)
					host = net.IP(b).String()
				case 4:
					b := make([]byte, 16)
					io.ReadFull(c, b)
					host = net.IP(b).String()
				default:
					return
				}
				pb := make([]byte, 2)
				io.ReadFull(c, pb)
				dst := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(pb))))
				asked <- dst
				up, err := net.Dial("tcp", dst)
				if err != nil {
					c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
					return
				}
				defer up.Close()
				c.Write([]byte{5, 0, 0, 1, 127, 0, 0, 1, 0, 0})
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String(), asked
}

// echoLoopback is a TCP echo server on the kernel's loopback.
func echoLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
				c.Close()
			}()
		}
	}()
	return ln
}

// TestUpstreamSOCKS5: with --socks5 the upstream connect goes through the
// proxy (golang.org/x/net/proxy), asking it for the original destination.
func TestUpstreamSOCKS5(t *testing.T) {
	echo := echoLoopback(t)
	proxyAddr, asked := socks5Server(t)
	u, err := newUpstream("", 0, proxyAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := u.dialTCP(context.Background(), echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := <-asked; got != echo.Addr().String() {
		t.Fatalf("the proxy was asked for %s, want %s", got, echo.Addr())
	}
	c.Write([]byte("through socks"))
	buf := make([]byte, 13)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "through socks" {
		t.Fatalf("echo through the proxy: %q %v", buf, err)
	}
}

// fwdPipe starts a client stack and a forwarding stack on the in-memory
// pipe, the latter with forward's TCP handler dialing through up; the
// destinations 198.19.0.1:PORT stand for 127.0.0.1:PORT (loopback is
// never a transparent destination: it is not on any wire).
func fwdPipe(t *testing.T, up *upstream) (client *stack.Stack, flows *flowTable) {
	t.Helper()
	clock := timers.NewReal()
	a, b := tun.NewPipe(clock, 1500, tun.FaultConfig{}, tun.FaultConfig{})
	client, err := stack.New(a, stack.Options{Addr: netip.MustParseAddr("198.18.0.1"), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	s, err := stack.New(b, stack.Options{Addr: netip.MustParseAddr("198.18.0.2"), Clock: clock,
		TransparentPrefixes: []netip.Prefix{netip.MustParsePrefix("198.19.0.0/16")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	flows = newFlowTable()
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		return up.dialTCP(ctx, strings.Replace(addr, "198.19.0.1:", "127.0.0.1:", 1))
	}
	tf := &tcpForwarder{ctx: ctx, dial: dial, flows: flows, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := s.SetTCPForwarder(tf.handle, stack.TCPForwarderConfig{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		client.Close()
		s.Close()
		tf.wg.Wait()
	})
	return client, flows
}

// TestForwardRelay: through forward's handler and relay (the client a
// stack, the destination a kernel socket on loopback): bytes both ways,
// the client's half-close passed on and the destination's FIN back, the
// flow counted; a refused destination refuses the client; an upstream
// reset resets the client.
func TestForwardRelay(t *testing.T) {
	echo := echoLoopback(t)
	u, _ := newUpstream("", 0, "", 5*time.Second)
	client, flows := fwdPipe(t, u)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.DialTCP(ctx, "tcp4", viaPipe(echo.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("forward "), 100000)
	go func() {
		c.Write(msg)
		c.CloseWrite()
	}()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through the relay: %d bytes, %v", len(got), err)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		flows.mu.Lock()
		done, live := flows.done["tcp"], len(flows.live)
		flows.mu.Unlock()
		if done == 1 && live == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flow table: %d done, %d live", done, live)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A closed port: the kernel's RST becomes the client's refusal.
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := viaPipe(closed.Addr())
	closed.Close()
	if _, err := client.Dial(ctx, addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to a closed port: %v, want ECONNREFUSED", err)
	}

	// The destination resets: so is the client.
	rst, _ := net.Listen("tcp", "127.0.0.1:0")
	defer rst.Close()
	var accepted atomic.Bool
	go func() {
		k, err := rst.Accept()
		if err != nil {
			return
		}
		accepted.Store(true)
		io.ReadFull(k, make([]byte, 1))
		k.(*net.TCPConn).SetLinger(0)
		k.Close()
	}()
	c, err = client.DialTCP(ctx, "tcp4", viaPipe(rst.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{1})
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after the destination's reset: %v, want ECONNRESET", err)
	}
}

// viaPipe is the transparent address standing for a loopback one (fwdPipe).
func viaPipe(a net.Addr) string {
	return "198.19.0.1:" + strconv.Itoa(a.(*net.TCPAddr).Port)
}
