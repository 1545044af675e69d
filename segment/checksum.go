package segment

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// The Internet checksum (RFC 1071) is the 16-bit one's complement of the one's
// complement sum of the data taken as big-endian 16-bit words. Two properties
// of that sum make a fast version possible (RFC 1071 2):
//   - (A)/(C) it is associative and commutative and its carries can be
//     deferred: we add 64-bit words with the carry chained through, then
//     fold the 64-bit total to 16 bits with end-around carry;
//   - (B) it is byte-order independent: summing little-endian words and
//     swapping the two bytes of the folded result gives the big-endian sum,
//     so we use native little-endian loads and swap once at the end.
// An odd trailing byte is the high byte of a big-endian word padded with zero.

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
	return uint32(fold64(uint64(sumBE16(b)) + uint64(initial)))
}

// Checksum returns the Internet checksum of b with initial added in: the
// value to store in a checksum field that was zero while summing. Summing a
// buffer that already holds a correct checksum yields 0, which is how the
// parsers verify.
func Checksum(b []byte, initial uint32) uint16 {
	return ^fold64(uint64(sumBE16(b)) + uint64(initial))
}

// sumBE16 returns the folded one's complement sum of b as big-endian words.
func sumBE16(b []byte) uint16 {
	return bits.ReverseBytes16(fold64(sumLE64(b)))
}

// sumLE64 adds b as little-endian 64-bit words with end-around carry. The
// result is congruent, modulo 0xffff, to the one's complement sum of b taken
// as little-endian 16-bit words.
func sumLE64(b []byte) uint64 {
	var acc, c uint64
	// 64 bytes per iteration: eight loads feeding one carry chain. Unaligned
	// loads are fine on every platform Go supports here.
	for len(b) >= 64 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:32]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[32:40]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[40:48]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[48:56]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[56:64]), c)
		b = b[64:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint32(b[0:4])), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.LittleEndian.Uint16(b[0:2])), c)
		b = b[2:]
	}
	if len(b) == 1 {
		// The high byte of a big-endian word is the low byte of a
		// little-endian one.
		acc, c = bits.Add64(acc, uint64(b[0]), c)
	}
	// Fold the last carry back in (end-around carry). This add cannot
	// carry again: acc + c overflows only if acc is all ones and c is 1,
	// and Add64 never leaves that state (x+y+1 >= 2^64 gives at most
	// 2^64-1 in acc only when x = y = 2^64-1 with carry in, which needs
	// the same state one step earlier).
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
// 40-byte IPv6 form of RFC 8200 8.1. Pass the result as
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
		s = uint64(ipv6PseudoSum(a[:], b[:], proto, length))
	}
	return uint32(fold64(s))
}

// ipv6PseudoSum is PseudoHeaderSum for raw 16-byte addresses as they sit
// in an IPv6 header (RFC 8200 8.1: source, destination, 32-bit upper-layer
// length, three zero bytes, next header). The result is not folded.
func ipv6PseudoSum(src, dst []byte, proto uint8, length int) uint32 {
	return uint32(sumBE16(src[:16])) + uint32(sumBE16(dst[:16])) +
		uint32(proto) + uint32(length)>>16 + uint32(uint16(length))
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
