package stack_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// A stack dialing its own address connects to its own listener (loopback
// inside the stack): a full exchange, 1 MiB each way at once, checked byte
// for byte, then a close from each side; nothing crosses the link. A Dial
// to a port with no listener is refused by the stack's own RST.
func TestLoopbackDialOwnAddress(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, nil)
	loopbackExchange(t, p.a, p.pa, "198.18.0.1")
}

// The same on a link with offloads (super-segments looped whole, ACKs
// coalesced while the loopback goroutine holds the input).
func TestLoopbackOnOffloadLink(t *testing.T) {
	pa, _ := tun.NewPipe(timers.NewReal(), 1500, tun.FaultConfig{}, tun.FaultConfig{})
	s, err := stack.New(&gsoPipe{PipeEnd: pa}, stack.Options{Addr: addrA})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	loopbackExchange(t, s, pa, "198.18.0.1")
}

// The same over IPv6: a dual-stack stack dialing its own IPv6 address, on
// a link that offloads IPv6 (super-segments looped whole, checksums left
// out, as the link would complete them).
func TestLoopbackIPv6(t *testing.T) {
	pa, _ := tun.NewPipe(timers.NewReal(), 1500, tun.FaultConfig{}, tun.FaultConfig{})
	s, err := stack.New(&gsoPipe{PipeEnd: pa}, stack.Options{Addrs: []netip.Addr{addrA, addr6A}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	loopbackExchange(t, s, pa, "2001:2::1")
}

func loopbackExchange(t *testing.T, s *stack.Stack, link *tun.PipeEnd, host string) {
	ln, err := s.Listen(":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 1 << 20
	up, down := make([]byte, n), make([]byte, n)
	rand.NewChaCha8([32]byte{1}).Read(up)
	rand.NewChaCha8([32]byte{2}).Read(down)
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		werr := make(chan error, 1)
		go func() { _, err := c.Write(down); werr <- err }()
		got, err := io.ReadAll(c)
		if err != nil {
			srvErr <- err
			return
		}
		if !bytes.Equal(got, up) {
			srvErr <- errors.New("server received different bytes")
			return
		}
		srvErr <- <-werr
	}()
	before := link.Stats()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := s.Dial(ctx, net.JoinHostPort(host, "80"))
	if err != nil {
		t.Fatalf("dialing our own address: %v", err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	go func() {
		c.Write(up)
		c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, down) {
		t.Fatalf("client received %d bytes (want %d identical), %v", len(got), n, err)
	}
	if err := <-srvErr; err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !waitFor(5*time.Second, func() bool { return s.Stats().Conns == 0 }) {
		t.Fatalf("connections left after both closed: %+v", s.Stats())
	}
	if st := s.Stats(); st.TimeWait != 1 {
		t.Fatalf("want one TIME-WAIT record (the first closer's), got %d", st.TimeWait)
	}
	if after := link.Stats(); after != before {
		t.Fatalf("loopback traffic crossed the link: %+v -> %+v", before, after)
	}
	if _, err := s.Dial(ctx, net.JoinHostPort(host, "81")); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to our own closed port: %v, want ECONNREFUSED", err)
	}
}
