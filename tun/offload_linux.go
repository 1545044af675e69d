//go:build linux

package tun

import "errors"

// The Device's offload methods (IFF_VNET_HDR; doc.go, "Offloads"): the
// stack's OffloadLink interface and its IPv6 extension.

// ReadPacket is Read for a caller that can use two more things. When no
// packet is waiting, idle (if not nil) is called once before ReadPacket
// blocks, on the calling goroutine: a stack flushes the acknowledgments it
// held back during a burst there. And csumOK reports that the kernel
// vouched for the TCP checksum of the packet (a partial checksum it has
// not computed, or one it verified: virtio-net NEEDS_CSUM or DATA_VALID),
// so the caller need not verify it; the checksum field of such a packet is
// not meaningful. This holds for TCP over IPv4 and over IPv6 (behind any
// extension headers but a fragment header). Partial checksums of other
// protocols are completed. Without offloads csumOK is always false.
func (d *Device) ReadPacket(p []byte, idle func()) (n int, csumOK bool, err error) {
	n, csumOK, _, err = d.readPacket(p, idle, false, false)
	return n, csumOK, err
}

// ReadPacketGSO is ReadPacket that also returns, for a TCP super-segment
// (virtio-net GSO_TCPV4 or GSO_TCPV6), the payload bytes per segment the
// kernel gave it (the virtio-net gso_size: the segments it stands for on
// the wire, which an observer that records the wire needs); 0 for any
// other packet.
func (d *Device) ReadPacketGSO(p []byte, idle func()) (n int, csumOK bool, gsoSize int, err error) {
	return d.readPacket(p, idle, false, false)
}

// TryReadPacket is ReadPacket for a packet that is already waiting: it
// never blocks, never busy-polls and calls no idle function; ok is false
// (with a nil error) when the device has nothing to read. A stack reads
// ahead with it while it works through a burst (stack.ReadAheadLink), so
// that the device's queue, which the kernel drops from when it is full
// (txqueuelen), drains as fast as packets can be read rather than as fast as
// they can be processed.
func (d *Device) TryReadPacket(p []byte) (n int, csumOK, ok bool, err error) {
	n, csumOK, _, ok, err = d.TryReadPacketGSO(p)
	return n, csumOK, ok, err
}

// TryReadPacketGSO is TryReadPacket with ReadPacketGSO's segment size.
func (d *Device) TryReadPacketGSO(p []byte) (n int, csumOK bool, gsoSize int, ok bool, err error) {
	n, csumOK, gsoSize, err = d.readPacket(p, nil, false, true)
	if err == errEmpty {
		return 0, false, 0, false, nil
	}
	return n, csumOK, gsoSize, err == nil, err
}

// WriteGSO writes one TCP packet given as hdr, exactly its IP and TCP
// headers (the IPv4 total length or IPv6 payload length counting the
// payload), and payload, in one writev without copying either. hdr may be
// IPv4 (segment.BuildIPv4TCPHeadersOnly) or, when GSOIPv6() is true, IPv6
// (segment.BuildIPv6TCPHeadersOnly; extension headers other than a
// fragment header are allowed, the offsets are taken from the chain). The
// payload may be longer than the MTU allows (up to GSOMaxSize() bytes in
// all): the kernel cuts it into segments of mss payload bytes, copying
// the headers and fixing lengths, sequence numbers and checksums (TCP
// segmentation offload; PSH and FIN go on the last segment only). The TCP checksum is offloaded too: WriteGSO
// overwrites hdr's checksum field with the pseudo-header sum, so the
// caller need not compute any. It returns the bytes written (headers and
// payload). Without offloads it returns ErrNoOffload, and ErrNoOffload for
// IPv6 headers when GSOIPv6() is false; headers it cannot describe to the
// kernel (not TCP, lengths that disagree, a fragment header) give an error
// and nothing is written.
func (d *Device) WriteGSO(hdr, payload []byte, mss int) (int, error) {
	if !d.vnet || (!d.tso6 && len(hdr) > 0 && hdr[0]>>4 == 6) {
		return 0, ErrNoOffload
	}
	var h virtioNetHdr
	if err := gsoHeader(&h, hdr, len(payload), mss); err != nil {
		return 0, err
	}
	return d.writeVnet(hdr, payload, &h)
}

// GSOIPv6 reports whether the device runs with TUN_F_TSO6: WriteGSO then
// takes IPv6 TCP headers, and ReadPacket may return IPv6 TCP
// super-segments (GSO_TCPV6) with csumOK. The stack looks for it as
// interface{ GSOIPv6() bool }.
func (d *Device) GSOIPv6() bool { return d.tso6 }

// GSOMaxSize returns the largest packet WriteGSO accepts: 65535 (the IPv4
// total length field; an IPv6 packet of that length is well within its
// 65535-byte payload length) with offloads, 0 without.
func (d *Device) GSOMaxSize() int {
	if !d.vnet {
		return 0
	}
	return 65535
}

// Offload reports whether the device runs with IFF_VNET_HDR offloads.
func (d *Device) Offload() bool { return d.vnet }

// ErrNoOffload is returned by WriteGSO on a device opened without
// offloads, and for IPv6 headers on one without TSO6.
var ErrNoOffload = errors.New("tun: device has no segmentation offload")

func (d *Device) writeVnet(p, p2 []byte, h *virtioNetHdr) (int, error) {
	op := d.getOp()
	op.p, op.p2 = p, p2
	h.encode(op.hdr[:])
	err := d.rc.Write(op.writeFn)
	n := op.n
	if err == nil {
		err = op.err
	}
	op.p, op.p2, op.err = nil, nil, nil
	d.putOp(op)
	if err != nil {
		return 0, d.ioErr(err)
	}
	return max(n-virtioNetHdrLen, 0), nil
}
