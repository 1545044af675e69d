package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunstack/tunstack/stack"
)

// forward's UDP half. Datagrams routed into the device reach the stack's
// UDP handler (stack.SetUDPHandler) with their original destination; each
// client address and port gets one unconnected host socket, through which
// its datagrams go to whatever destination they name, and whatever
// arrives on that socket, from anyone, is sent back to the client from
// the address and port it came from (stack.WriteUDPFrom): endpoint-
// independent mapping and filtering (RFC 4787 4.1, 5: "full cone"), which
// games, WebRTC and QUIC migration expect. A flow without traffic for
// --udp-timeout is forgotten and its socket closed.

// maxUDPFlows bounds the live UDP flows (one host socket and one reading
// goroutine each); datagrams of new clients beyond it are dropped.
const maxUDPFlows = 4096

type udpFlow struct {
	fl     *flow
	pc     *net.UDPConn
	client netip.AddrPort
}

type udpForwarder struct {
	s     *stack.Stack
	up    *upstream
	flows *flowTable
	idle  time.Duration
	log   *slog.Logger

	mu     sync.Mutex
	m      map[netip.AddrPort]*udpFlow
	closed bool
	wg     sync.WaitGroup
	drops  atomic.Uint64
}

// startUDPForward installs the UDP handler; stop removes it and closes
// every flow.
func startUDPForward(ctx context.Context, s *stack.Stack, up *upstream, flows *flowTable, idle time.Duration, log *slog.Logger) (stop func(), err error) {
	if up.socks != nil {
		// golang.org/x/net/proxy speaks SOCKS5 CONNECT only (no UDP
		// ASSOCIATE); sending UDP around the proxy would leak it.
		log.Warn("--socks5 carries TCP only: UDP routed into the device is dropped")
		return func() {}, nil
	}
	u := &udpForwarder{s: s, up: up, flows: flows, idle: idle, log: log, m: make(map[netip.AddrPort]*udpFlow)}
	if err := s.SetUDPHandler(u.handle); err != nil {
		return nil, err
	}
	return u.stop, nil
}

// handle runs on the stack's input goroutine: it finds or makes the
// client's flow and sends the datagram without blocking (a full socket
// buffer drops it, as a router queue would).
func (u *udpForwarder) handle(src, dst netip.AddrPort, payload []byte) {
	f := u.flowFor(src, dst)
	if f == nil {
		u.drops.Add(1)
		return
	}
	f.fl.lastActive.Store(time.Now().UnixNano())
	if err := sendNoWait(f.pc, payload, dst); err != nil {
		u.drops.Add(1)
		return
	}
	f.fl.up.Add(int64(len(payload)))
}

func (u *udpForwarder) flowFor(src, dst netip.AddrPort) *udpFlow {
	u.mu.Lock()
	defer u.mu.Unlock()
	if f := u.m[src]; f != nil || u.closed {
		return f
	}
	if len(u.m) >= maxUDPFlows {
		return nil
	}
	network := "udp4"
	if src.Addr().Is6() {
		network = "udp6"
	}
	pc, err := u.up.listenUDP(network)
	if err != nil {
		u.log.Debug("UDP upstream socket", "src", src, "err", err)
		return nil
	}
	f := &udpFlow{fl: &flow{proto: "udp", src: src, dst: dst, start: time.Now()}, pc: pc.(*net.UDPConn), client: src}
	f.fl.lastActive.Store(f.fl.start.UnixNano())
	u.m[src] = f
	u.flows.add(f.fl)
	u.wg.Add(1)
	go u.replies(f)
	return f
}

// replies sends what the flow's socket receives back to the client until
// the flow has been idle for the timeout (or is closed).
func (u *udpForwarder) replies(f *udpFlow) {
	defer u.wg.Done()
	defer u.remove(f)
	buf := make([]byte, 65535)
	for {
		last := time.Unix(0, f.fl.lastActive.Load())
		if time.Since(last) >= u.idle {
			return
		}
		f.pc.SetReadDeadline(last.Add(u.idle))
		n, from, err := f.pc.ReadFromUDPAddrPort(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue // look at the activity again
		}
		if err != nil {
			return
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if err := u.s.WriteUDPFrom(from, f.client, buf[:n]); err != nil {
			u.drops.Add(1)
			continue
		}
		f.fl.down.Add(int64(n))
		f.fl.lastActive.Store(time.Now().UnixNano())
	}
}

func (u *udpForwarder) remove(f *udpFlow) {
	u.mu.Lock()
	if u.m[f.client] == f {
		delete(u.m, f.client)
	}
	u.mu.Unlock()
	f.pc.Close()
	u.flows.remove(f.fl)
}

func (u *udpForwarder) stop() {
	u.s.SetUDPHandler(nil)
	u.mu.Lock()
	u.closed = true
	for _, f := range u.m {
		f.pc.Close()
	}
	u.mu.Unlock()
	u.wg.Wait()
}

// sendNoWait sends one datagram to dst with MSG_DONTWAIT: EAGAIN is an
// error, never a wait.
func sendNoWait(pc *net.UDPConn, b []byte, dst netip.AddrPort) error {
	rc, err := pc.SyscallConn()
	if err != nil {
		return err
	}
	var sa unix.Sockaddr
	if dst.Addr().Is4() { // a flow's socket has its client's family, and so its destinations
		sa = &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(dst.Port()), Addr: dst.Addr().As16()}
	}
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, unix.MSG_DONTWAIT, sa)
		return true
	}); err != nil {
		return err
	}
	return serr
}
