package stack

import (
	"net"
	"net/netip"
	"syscall"
)

// UDPHandler receives a datagram to a transparent destination
// (Options.TransparentPrefixes): src is the sender, dst the address and
// port it was sent to, payload its data, valid only during the call (copy
// what you keep). It runs on the stack's input goroutine, one call at a
// time, in arrival order: it must return promptly (hand the datagram to
// a goroutine or a queue of the program's), since no other packet is
// processed meanwhile. It may call WriteUDPFrom. A panic is recovered,
// logged (Options.Logf) and counted (Stats.UDP.HandlerPanics).
type UDPHandler func(src, dst netip.AddrPort, payload []byte)

// SetUDPHandler installs h for UDP datagrams to transparent destinations:
// addresses inside Options.TransparentPrefixes that are not the stack's.
// Datagrams to the stack's own addresses go to its sockets as without it
// (a port with no socket gets ICMP port unreachable, not the handler).
// nil removes the handler; such datagrams are then dropped
// (Stats.Dropped.NotOurs). Without TransparentPrefixes it returns
// ErrNoTransparentPrefixes.
//
// With WriteUDPFrom this is enough for endpoint-independent mapping
// (RFC 4787 4.1, "full-cone" NAT): the program keys its flows by src
// alone and may answer from any address and port.
func (s *Stack) SetUDPHandler(h UDPHandler) error {
	if h == nil {
		s.udp.handler.Store(nil)
		return nil
	}
	if len(s.opts.TransparentPrefixes) == 0 {
		return ErrNoTransparentPrefixes
	}
	s.udpInit()
	s.udp.handler.Store(&h)
	return nil
}

// udpTransparent hands a datagram to the handler. Input path.
func (s *Stack) udpTransparent(src, dst netip.AddrPort, payload []byte) {
	hp := s.udp.handler.Load()
	if hp == nil {
		s.ctr.dNotOurs.Add(1) // the handler went away since transparentDst
		return
	}
	s.udp.transparent.Add(1)
	defer func() {
		if v := recover(); v != nil {
			s.udp.handlerPanics.Add(1)
			s.logf("stack: UDP handler panicked for %v -> %v: %v", src, dst, v)
		}
	}()
	(*hp)(src, dst, payload)
}

// WriteUDPFrom sends payload as one UDP datagram from src to dst, whatever
// src is: the way a transparent proxy answers from the address and port a
// client sent to (SetUDPHandler), or from any other (a full-cone NAT
// relaying a third party's datagram). src and dst must be of one family
// (IPv4-mapped addresses count as IPv4), src a unicast address, dst not
// unspecified, neither port 0. It does not block and does not allocate;
// it may be called from the handler. Errors (*net.OpError): EINVAL,
// EAFNOSUPPORT for mixed families, EMSGSIZE, net.ErrClosed after Close.
func (s *Stack) WriteUDPFrom(src, dst netip.AddrPort, payload []byte) error {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	sa, da := src.Addr(), dst.Addr()
	var err error
	select {
	case <-s.done:
		err = net.ErrClosed
	default:
		switch {
		case !sa.IsValid() || !da.IsValid() || src.Port() == 0 || dst.Port() == 0 || sa.Zone() != "" || da.Zone() != "":
			err = syscall.EINVAL
		case sa.Is4() != da.Is4():
			err = syscall.EAFNOSUPPORT
		case sa.IsUnspecified() || sa.IsMulticast() || da.IsUnspecified() || sa == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			err = syscall.EINVAL
		default:
			err = s.sendUDP(src, dst, payload)
		}
	}
	if err != nil {
		return &net.OpError{Op: "write", Net: "udp", Source: net.UDPAddrFromAddrPort(src), Addr: net.UDPAddrFromAddrPort(dst), Err: err}
	}
	return nil
}
