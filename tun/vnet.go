package tun

import (
	"encoding/binary"
	"errors"

	"github.com/tunstack/tunstack/segment"
)

// The virtio-net header that a TUN device opened with IFF_VNET_HDR puts in
// front of every packet in both directions (struct virtio_net_hdr in
// include/uapi/linux/virtio_net.h, and the "Packet Offloads" part of the
// virtio 1.x specification, 5.1.6.2). Without TUNSETVNETLE/BE the kernel
// uses the host's byte order for the 16-bit fields ("legacy" virtio), so
// they are encoded in native byte order.
const virtioNetHdrLen = 10

// virtioNetHdr flags.
const (
	// vnetFlagNeedsCsum: the transport checksum is partial. The checksum
	// field, at csumStart+csumOffset, holds the sum of the pseudo-header
	// only; the rest of the sum, from csumStart to the end, is still to be
	// done (the kernel trusts its own packets, so a receiver may skip
	// verifying them).
	vnetFlagNeedsCsum = 1
	// vnetFlagDataValid: the checksum has been verified (receive only).
	vnetFlagDataValid = 2
)

// virtioNetHdr gso types: the three this TCP device uses (the uapi also
// has UDP 3, UDP_L4 5 and the ECN bit 0x80, which it neither asks for nor
// sends: without TUN_F_TSO_ECN the kernel cuts a segment with CWR itself).
const (
	vnetGSONone  = 0
	vnetGSOTCPv4 = 1
	vnetGSOTCPv6 = 4
)

// virtioNetHdr is the decoded header.
type virtioNetHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16 // bytes of headers (IP + TCP) in front of the payload
	gsoSize    uint16 // payload bytes per segment (the MSS) for GSO
	csumStart  uint16 // offset of the transport header
	csumOffset uint16 // offset of the checksum field within it (16 for TCP)
}

// decode reads the header from b, which must hold virtioNetHdrLen bytes.
func (h *virtioNetHdr) decode(b []byte) {
	_ = b[virtioNetHdrLen-1]
	h.flags = b[0]
	h.gsoType = b[1]
	h.hdrLen = binary.NativeEndian.Uint16(b[2:])
	h.gsoSize = binary.NativeEndian.Uint16(b[4:])
	h.csumStart = binary.NativeEndian.Uint16(b[6:])
	h.csumOffset = binary.NativeEndian.Uint16(b[8:])
}

// encode writes the header into b, which must hold virtioNetHdrLen bytes.
func (h *virtioNetHdr) encode(b []byte) {
	_ = b[virtioNetHdrLen-1]
	b[0] = h.flags
	b[1] = h.gsoType
	binary.NativeEndian.PutUint16(b[2:], h.hdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.gsoSize)
	binary.NativeEndian.PutUint16(b[6:], h.csumStart)
	binary.NativeEndian.PutUint16(b[8:], h.csumOffset)
}

// onesSum adds b to the one's-complement accumulator s (big-endian
// 16-bit words; an odd last byte is padded with zero, RFC 1071).
func onesSum(b []byte, s uint64) uint64 {
	for len(b) >= 8 {
		s += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

func fold(s uint64) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// completeChecksum finishes a partial checksum (vnetFlagNeedsCsum): the
// field at start+off holds the pseudo-header sum; the one's-complement sum
// of everything from start (field included) is complemented into the
// field. It reports false if the offsets do not fit pkt.
func completeChecksum(pkt []byte, start, off int) bool {
	if start < 0 || off < 0 || start+off+2 > len(pkt) {
		return false
	}
	s := onesSum(pkt[start:], 0)
	binary.BigEndian.PutUint16(pkt[start+off:], ^fold(s))
	return true
}

// ipv4TCPLayout returns the IPv4 and TCP header lengths of pkt, an IPv4
// packet carrying TCP, or ok false if it is not one or the headers do not
// fit.
func ipv4TCPLayout(pkt []byte) (ipHL, tcpHL int, ok bool) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 || pkt[9] != 6 {
		return 0, 0, false
	}
	ipHL = int(pkt[0]&0x0f) * 4
	if ipHL < 20 || ipHL+20 > len(pkt) {
		return 0, 0, false
	}
	tcpHL = int(pkt[ipHL+12]>>4) * 4
	if tcpHL < 20 || ipHL+tcpHL > len(pkt) {
		return 0, 0, false
	}
	return ipHL, tcpHL, true
}

// ipv6TCPLayout returns the offset of the TCP header in pkt, an IPv6 packet
// carrying TCP behind any extension headers (or only its headers: the
// payload length is not checked against pkt), and the TCP header length,
// or ok false if it is not one, the headers do not fit, or the chain holds
// a fragment header. TCP is never fragmented (the stack sets its MSS to fit
// the path), and the kernel's GSO cannot cut past a fragment header
// (ipv6_gso_pull_exthdrs stops there), so even an atomic one (RFC 6946)
// is refused.
func ipv6TCPLayout(pkt []byte) (tcpOff, tcpHL int, ok bool) {
	var c segment.IPv6Chain
	if segment.WalkIPv6Headers(pkt, &c) != nil || c.Protocol != segment.ProtocolTCP || c.HasFragment {
		return 0, 0, false
	}
	if c.Offset+20 > len(pkt) {
		return 0, 0, false
	}
	tcpHL = int(pkt[c.Offset+12]>>4) * 4
	if tcpHL < 20 || c.Offset+tcpHL > len(pkt) {
		return 0, 0, false
	}
	return c.Offset, tcpHL, true
}

// tcpLayout returns the offset and length of the TCP header of pkt, an
// IPv4 or IPv6 packet (by its version nibble) carrying TCP, or ok false.
func tcpLayout(pkt []byte) (tcpOff, tcpHL int, ok bool) {
	if len(pkt) > 0 && pkt[0]>>4 == 6 {
		return ipv6TCPLayout(pkt)
	}
	return ipv4TCPLayout(pkt)
}

// errGSOHeaders is WriteGSO's answer to headers it cannot describe to the
// kernel.
var errGSOHeaders = errors.New("tun: WriteGSO: hdr is not exactly an IPv4 or IPv6 header (no fragment header) and a TCP header whose length fields count the payload")

// gsoHeader fills h for writing a TCP packet over IPv4 or IPv6 (by the
// version nibble) made of hdr (exactly its IP headers, IPv6 extension
// headers included, and TCP header) and payloadLen bytes of payload, with
// a partial checksum, cut by the kernel into segments of mss payload bytes
// when the payload is longer than mss (GSO_TCPV4 or GSO_TCPV6). It writes
// the pseudo-header sum (RFC 9293 3.1; RFC 8200 8.1 for IPv6) into hdr's
// TCP checksum field, which is what the kernel expects: its segmentation
// adjusts that sum per segment and completes it. It returns errGSOHeaders
// if hdr is not that or the lengths do not add up, and leaves hdr alone
// then.
func gsoHeader(h *virtioNetHdr, hdr []byte, payloadLen, mss int) error {
	if mss <= 0 || mss > 0xffff || payloadLen < 0 || len(hdr) == 0 {
		return errGSOHeaders
	}
	var tcpOff, tcpHL int
	gsoType := uint8(vnetGSOTCPv4)
	switch hdr[0] >> 4 {
	case 4:
		ipHL, thl, ok := ipv4TCPLayout(hdr)
		if !ok || int(binary.BigEndian.Uint16(hdr[2:])) != len(hdr)+payloadLen {
			return errGSOHeaders
		}
		tcpOff, tcpHL = ipHL, thl
	case 6:
		off, thl, ok := ipv6TCPLayout(hdr)
		if !ok || int(binary.BigEndian.Uint16(hdr[4:]))+segment.IPv6HeaderLen != len(hdr)+payloadLen {
			return errGSOHeaders
		}
		tcpOff, tcpHL, gsoType = off, thl, vnetGSOTCPv6
	default:
		return errGSOHeaders
	}
	if tcpOff+tcpHL != len(hdr) {
		return errGSOHeaders
	}
	*h = virtioNetHdr{
		flags:      vnetFlagNeedsCsum,
		csumStart:  uint16(tcpOff),
		csumOffset: 16,
		hdrLen:     uint16(len(hdr)),
	}
	if payloadLen > mss {
		h.gsoType = gsoType
		h.gsoSize = uint16(mss)
	}
	binary.BigEndian.PutUint16(hdr[tcpOff+16:], tcpPseudoSum(hdr, tcpHL+payloadLen))
	return nil
}

// tcpPseudoSum returns the folded, uncomplemented pseudo-header sum of a
// TCP segment of tcpLen bytes carried by pkt, an IPv4 or IPv6 packet (RFC
// 9293 3.1, RFC 8200 8.1): what the checksum field of a partially
// checksummed segment holds.
func tcpPseudoSum(pkt []byte, tcpLen int) uint16 {
	if pkt[0]>>4 == 6 {
		ip := segment.IPv6(pkt)
		return uint16(segment.PseudoHeaderSum(ip.Src(), ip.Dst(), segment.ProtocolTCP, tcpLen))
	}
	s := onesSum(pkt[12:20], 0) // source and destination addresses
	s += 6 + uint64(tcpLen)
	return fold(s)
}
