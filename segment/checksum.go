package segment

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// The Internet checksum (RFC 1071) is the 16-bit one's complement of the one's
// complement sum of the data taken as big-endian 16-bit words. One's
// complement addition is associative and commutative, and its carries can be
// deferred and folded back in at the end ("end-around carry"), which lets us
// add 64-bit big-endian words and fold once at the end (RFC 1071 2(B),
// "Parallel summation"). An odd trailing byte is the high byte of a word
// padded with zero.

// Sum returns the one's complement sum of b added to initial, folded to 16
// bits (the result is < 0x10000 but kept as uint32 so partial sums can be
// combined by plain addition and passed on as the initial value of another
// Sum or Checksum). initial may be any uint32, e.g. PseudoHeaderSum's result
// or the sum of several earlier Sum results.
//
// A partial sum over a slice of odd length may only be combined with a sum
// of data that followed it if the two are re-aligned; callers sum
// even-length pieces except for the last.
func Sum(b []byte, initial uint32) uint32 {
	return uint32(fold64(sum64(b, uint64(initial))))
}

// Checksum returns the Internet checksum of b with initial added in: the
// value to store in a checksum field that was zero while summing. Summing a
// buffer that already holds a correct checksum yields 0, which is how the
// parsers verify.
func Checksum(b []byte, initial uint32) uint16 {
	return ^fold64(sum64(b, uint64(initial)))
}

// sum64 adds b as big-endian words into acc with end-around carry. The
// result is congruent to the one's complement sum modulo 0xffff.
func sum64(b []byte, acc uint64) uint64 {
	var c uint64
	// 32 bytes per iteration: four independent loads feeding one carry
	// chain. Unaligned loads are fine on every platform Go supports here.
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b[0:4])), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b[0:2])), c)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, c = bits.Add64(acc, uint64(b[0])<<8, c)
	}
	// Fold the last carry back in (end-around carry). Adding 1 to a value
	// that just overflowed cannot overflow again.
	acc, c = bits.Add64(acc, c, 0)
	return acc + c
}

// fold64 folds a 64-bit end-around-carry sum to 16 bits.
func fold64(s uint64) uint16 {
	t := uint64(uint32(s)) + s>>32 // < 2^33
	t = uint64(uint32(t)) + t>>32  // < 2^32
	t = t&0xffff + t>>16           // <= 0x1fffe
	t = t&0xffff + t>>16           // <= 0xffff
	return uint16(t)
}

// PseudoHeaderSum returns the one's complement sum of the TCP/UDP
// pseudo-header (RFC 9293 3.1, "TCP Checksum"; RFC 768): source and
// destination address, zero, protocol and the transport length. IPv4 and
// IPv4-mapped addresses use the 12-byte IPv4 form; other addresses use the
// IPv6 form of RFC 8200 8.1 (for the IPv6 support to come). Pass the result as
// the initial value of Checksum over the transport header and payload.
func PseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	var s uint64
	if src.Is4() || src.Is4In6() {
		a, b := src.As4(), dst.As4()
		s = uint64(binary.BigEndian.Uint16(a[0:2])) + uint64(binary.BigEndian.Uint16(a[2:4])) +
			uint64(binary.BigEndian.Uint16(b[0:2])) + uint64(binary.BigEndian.Uint16(b[2:4]))
		s += uint64(proto) + uint64(uint16(length))
	} else {
		a, b := src.As16(), dst.As16()
		s = sum64(a[:], 0)
		s = sum64(b[:], s)
		s += uint64(proto) + uint64(uint32(length)>>16) + uint64(uint16(length))
	}
	return uint32(fold64(s))
}

// ipv4PseudoSum is PseudoHeaderSum for raw 4-byte addresses as they sit in
// an IPv4 header.
func ipv4PseudoSum(src, dst []byte, proto uint8, length int) uint32 {
	_ = src[3]
	_ = dst[3]
	s := uint32(binary.BigEndian.Uint16(src[0:2])) + uint32(binary.BigEndian.Uint16(src[2:4])) +
		uint32(binary.BigEndian.Uint16(dst[0:2])) + uint32(binary.BigEndian.Uint16(dst[2:4])) +
		uint32(proto) + uint32(uint16(length))
	return s
}

// UpdateChecksum16 returns the checksum field value after a 16-bit word
// covered by it changed from oldField to newField, without re-summing the
// data. RFC 1624 3, equation 3: HC' = ~(~HC + ~m + m').
func UpdateChecksum16(old, oldField, newField uint16) uint16 {
	s := uint64(^old) + uint64(^oldField) + uint64(newField)
	return ^fold64(s)
}

// UpdateChecksum32 is UpdateChecksum16 for an aligned 32-bit field (a
// sequence number, an IPv4 address), treated as two 16-bit words.
func UpdateChecksum32(old uint16, oldField, newField uint32) uint16 {
	s := uint64(^old) +
		uint64(^uint16(oldField>>16)) + uint64(^uint16(oldField)) +
		uint64(uint16(newField>>16)) + uint64(uint16(newField))
	return ^fold64(s)
}
