package stack

import (
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/ipfrag"
)

// ReadFromUDPAddrPort reads the next datagram into b and returns its
// length and sender, as (*net.UDPConn).ReadFromUDPAddrPort: a datagram
// longer than b is truncated, its excess discarded. It blocks until one
// arrives, the read deadline passes (os.ErrDeadlineExceeded), the socket
// or the stack closes (net.ErrClosed), or, on a connected socket, an ICMP
// error arrives for it (ECONNREFUSED for port unreachable, reported
// once). It does not allocate.
func (c *UDPConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	s := c.s
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, netip.AddrPort{}, c.opError("read", net.ErrClosed)
		}
		if err := c.soErr; err != nil {
			c.soErr = nil
			c.mu.Unlock()
			return 0, netip.AddrPort{}, c.opError("read", err)
		}
		if c.rdl.isExpired() {
			c.mu.Unlock()
			return 0, netip.AddrPort{}, c.opError("read", os.ErrDeadlineExceeded)
		}
		if c.count > 0 {
			d := &c.q[c.head]
			n := copy(b, (*d.bp)[:d.n])
			from := d.from
			c.bytes -= len(*d.bp)
			s.putUDPBuf(d.bp)
			*d = udpDatagram{}
			c.head = (c.head + 1) % len(c.q)
			c.count--
			more := c.count > 0
			c.mu.Unlock()
			if more {
				signal(c.wake) // another reader may be waiting
			}
			return n, from, nil
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-c.rdl.wait():
		case <-c.done:
		case <-s.done:
			return 0, netip.AddrPort{}, c.opError("read", net.ErrClosed)
		case <-s.linkDone:
			if err := s.Err(); err != nil {
				return 0, netip.AddrPort{}, c.opError("read", err)
			}
			return 0, netip.AddrPort{}, c.opError("read", net.ErrClosed)
		}
	}
}

// ReadFrom implements net.PacketConn: ReadFromUDPAddrPort with the sender
// as a *net.UDPAddr (one allocation, as in package net).
func (c *UDPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// Read implements net.Conn: the next datagram's payload, without its
// sender (on an unconnected socket too, as *net.UDPConn).
func (c *UDPConn) Read(b []byte) (int, error) {
	n, _, err := c.ReadFromUDPAddrPort(b)
	return n, err
}

// WriteToUDPAddrPort sends b as one datagram to addr from the stack's
// address of addr's family and the socket's port, as
// (*net.UDPConn).WriteToUDPAddrPort. It never blocks and does not allocate
// on success. Errors: net.ErrClosed, os.ErrDeadlineExceeded past the write
// deadline, EISCONN on a connected socket, EAFNOSUPPORT for a family the
// socket does not have, EMSGSIZE beyond 65507 (IPv4) or 65527 (IPv6)
// bytes, EACCES for the limited broadcast address (Linux without
// SO_BROADCAST), EINVAL for port 0 or the unspecified address.
func (c *UDPConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if c.remote.IsValid() {
		return 0, c.opError("write", syscall.EISCONN)
	}
	return c.write(b, addr)
}

// WriteTo implements net.PacketConn: WriteToUDPAddrPort with addr a
// *net.UDPAddr (or any net.Addr whose String is "ip:port").
func (c *UDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case nil:
		return 0, c.opError("write", syscall.EDESTADDRREQ)
	default:
		var err error
		if ap, err = netip.ParseAddrPort(addr.String()); err != nil {
			return 0, c.opError("write", &net.AddrError{Err: "not a UDP address", Addr: addr.String()})
		}
	}
	return c.WriteToUDPAddrPort(b, ap)
}

// Write implements net.Conn: one datagram to the peer of a connected
// socket (EDESTADDRREQ on an unconnected one). A pending ICMP error of
// the socket is reported here instead, once, as Linux does.
func (c *UDPConn) Write(b []byte) (int, error) {
	if !c.remote.IsValid() {
		return 0, c.opError("write", syscall.EDESTADDRREQ)
	}
	return c.write(b, c.remote)
}

func (c *UDPConn) write(b []byte, to netip.AddrPort) (int, error) {
	c.mu.Lock()
	closed, err := c.closed, c.soErr
	c.soErr = nil
	c.mu.Unlock()
	select {
	case <-c.s.done:
		closed = true
	default:
	}
	switch {
	case closed:
		return 0, c.opError("write", net.ErrClosed)
	case err != nil:
		return 0, c.opError("write", err)
	case c.wdl.isExpired():
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	}
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	a := to.Addr()
	switch {
	case !a.IsValid() || a.IsUnspecified() || to.Port() == 0 || a.Zone() != "":
		return 0, c.opError("write", syscall.EINVAL)
	case c.fams&famOf(a) == 0:
		return 0, c.opError("write", syscall.EAFNOSUPPORT)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return 0, c.opError("write", syscall.EACCES)
	}
	src, _ := c.s.addrFor(a)
	if err := c.s.sendUDP(netip.AddrPortFrom(src, c.port), to, b); err != nil {
		return 0, c.opError("write", err)
	}
	return len(b), nil
}

// sendUDP builds a datagram from src to dst carrying payload and writes
// it: to the stack's own input if dst is ours (loopback.go), in fragments
// if it exceeds the MTU (RFC 791 2.3; RFC 8200 4.5 with an unpredictable
// identification, RFC 7739), else whole. A link write failure loses the
// datagram (counted, Stats.LinkWriteErrors), as a full device queue does;
// it is not an error of the call. Errors: EMSGSIZE for a payload beyond
// what the family can carry.
func (s *Stack) sendUDP(src, dst netip.AddrPort, payload []byte) error {
	max := maxUDPPayload6
	if src.Addr().Is4() {
		max = maxUDPPayload4
	}
	if len(payload) > max {
		return syscall.EMSGSIZE
	}
	s.udpInit()
	u := &s.udp
	n := segment.UDPHeadersLen(src.Addr()) + len(payload)
	bp := s.udpBuf(n)
	defer s.putUDPBuf(bp)
	var id uint16
	var label uint32
	if src.Addr().Is4() {
		id = uint16(u.ipID.Add(1))
	} else {
		label = s.flowLabel(src.Addr(), src.Port(), dst.Addr(), dst.Port())
	}
	n, err := segment.BuildUDP(*bp, src, dst, payload, id, label)
	if err != nil {
		return err
	}
	pkt := (*bp)[:n]
	switch {
	case s.isLoop(pkt):
		if !s.loopPacket(pkt) {
			s.ctr.linkWriteErrors.Add(1)
			return nil
		}
	case n > s.opts.MTU:
		sb := s.bufs.Get().(*[]byte) // MTU-sized scratch for the fragments
		if src.Addr().Is4() {
			err = ipfrag.FragmentIPv4(pkt, s.opts.MTU, *sb, u.emit)
		} else {
			err = ipfrag.FragmentIPv6(pkt, s.opts.MTU, u.id6.Add(1), *sb, u.emit)
		}
		s.bufs.Put(sb)
		if err != nil {
			s.ctr.linkWriteErrors.Add(1)
			return nil
		}
		s.ctr.fragmentsOut.Add(1)
	default:
		if _, err := s.link.Write(pkt); err != nil {
			s.ctr.linkWriteErrors.Add(1)
			return nil
		}
	}
	u.outDatagrams.Add(1)
	return nil
}

// udpBuf returns a pooled buffer of at least n bytes (at most 65536+64):
// an output buffer (MTU and some), or one of udpMidBuf or 64 KiB bytes.
func (s *Stack) udpBuf(n int) *[]byte {
	switch {
	case n <= s.bufSize:
		return s.bufs.Get().(*[]byte)
	case n <= udpMidBuf:
		return s.udp.mid.Get().(*[]byte)
	}
	return s.udp.big.Get().(*[]byte)
}

// putUDPBuf returns a buffer from udpBuf to its pool.
func (s *Stack) putUDPBuf(bp *[]byte) {
	switch n := len(*bp); {
	case n == s.bufSize:
		s.bufs.Put(bp)
	case n == udpMidBuf:
		s.udp.mid.Put(bp)
	default:
		s.udp.big.Put(bp)
	}
}

// deliver queues a datagram from from on c (input path). It reports false
// if the queue was full (counted) or c closed.
func (c *UDPConn) deliver(from netip.AddrPort, payload []byte) bool {
	s := c.s
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	// The receive buffer counts the memory a datagram holds (its pooled
	// buffer), as Linux counts an skb's truesize against SO_RCVBUF, so
	// that a socket's queue never holds more than its bound.
	bp := s.udpBuf(len(payload))
	if c.count == len(c.q) || (c.count > 0 && c.bytes+len(*bp) > c.rcvbuf) {
		c.mu.Unlock()
		s.putUDPBuf(bp)
		s.udp.rcvbufErrors.Add(1)
		return false
	}
	n := copy(*bp, payload)
	c.q[(c.head+c.count)%len(c.q)] = udpDatagram{bp: bp, n: n, from: from}
	c.count++
	c.bytes += len(*bp)
	// Counted before a reader can take it, so that Stats never shows a
	// datagram read (or answered) but not yet received.
	s.udp.inDatagrams.Add(1)
	c.mu.Unlock()
	signal(c.wake)
	return true
}

// dropQueueLocked returns the queued datagrams' buffers (Close).
func (c *UDPConn) dropQueueLocked() {
	for ; c.count > 0; c.count-- {
		d := &c.q[c.head]
		c.s.putUDPBuf(d.bp)
		*d = udpDatagram{}
		c.head = (c.head + 1) % len(c.q)
	}
	c.bytes = 0
}

// setError records an ICMP error for a connected socket, for its next
// Read or Write (Linux's sk_err), and wakes a blocked Read.
func (c *UDPConn) setError(err error) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.soErr = err
	c.mu.Unlock()
	signal(c.wake)
	return true
}
