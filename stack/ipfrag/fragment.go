package ipfrag

import (
	"encoding/binary"
	"errors"

	"github.com/tunstack/tunstack/segment"
)

// Errors of the fragmentation functions.
var (
	// ErrDontFragment: the packet exceeds the MTU and its DF flag forbids
	// fragmenting it (RFC 791 3.2); the sender should learn the path MTU.
	ErrDontFragment = errors.New("ipfrag: packet exceeds the MTU and has DF set")
	// ErrMTU: the MTU is below the minimum (68 for IPv4, RFC 791 3.2;
	// 1280 for IPv6, RFC 8200 5) or leaves no room for 8 bytes of data
	// after the headers.
	ErrMTU = errors.New("ipfrag: MTU too small to fragment")
	// ErrMalformed: the packet to fragment is not a valid IP packet.
	ErrMalformed = errors.New("ipfrag: malformed packet")
	// ErrBufferTooSmall: the scratch buffer cannot hold one fragment.
	ErrBufferTooSmall = errors.New("ipfrag: buffer smaller than the MTU")
)

// Minimum MTUs.
const (
	// MinMTUIPv4: RFC 791 3.2, "Every internet module must be able to
	// forward a datagram of 68 octets without further fragmentation"
	// (a 60-byte header and 8 bytes of data).
	MinMTUIPv4 = 68
	// MinMTUIPv6: RFC 8200 5.
	MinMTUIPv6 = 1280
)

// FragmentIPv4 cuts the IPv4 packet pkt into fragments of at most mtu bytes
// (RFC 791 3.2) and hands them to emit in order of offset. A packet that fits
// is handed over as it is. Each fragment's data is a multiple of 8 bytes
// except the last's; all have MF set except the last, which keeps pkt's own
// MF (pkt may itself be a fragment); each has its own total length, offset
// and header checksum. The first fragment has all of pkt's options, the
// others only those with the copied flag. buf is scratch space for one
// fragment (at least mtu bytes); emit's slice aliases it and is valid only
// during the call. emit's error stops the loop and is returned.
//
// Errors: ErrMalformed (pkt fails segment.IPv4.Validate for another reason
// than being a fragment), ErrDontFragment (too big and DF set), ErrMTU
// (mtu < 68), ErrBufferTooSmall. Never allocates.
func FragmentIPv4(pkt []byte, mtu int, buf []byte, emit func(frag []byte) error) error {
	ip := segment.IPv4(pkt)
	if err := ip.Validate(); err != nil && err != segment.ErrFragment {
		return ErrMalformed
	}
	pkt = pkt[:ip.TotalLen()]
	if len(pkt) <= mtu {
		return emit(pkt)
	}
	if ip.DontFragment() {
		return ErrDontFragment
	}
	if mtu < MinMTUIPv4 {
		return ErrMTU
	}
	if len(buf) < mtu {
		return ErrBufferTooSmall
	}
	hl := ip.HeaderLen()
	var later [segment.IPv4MaxHeaderLen]byte
	laterLen, ok := copiedOptions(later[:], pkt[:hl])
	if !ok {
		return ErrMalformed
	}
	base := int(ip.FragOffset()) * 8
	more := ip.MoreFragments()
	data := pkt[hl:]
	for pos := 0; pos < len(data); {
		h := pkt[:hl]
		if pos > 0 {
			h = later[:laterLen]
		}
		n := min((mtu-len(h))&^7, len(data)-pos)
		last := pos+n == len(data)
		copy(buf, h)
		copy(buf[len(h):], data[pos:pos+n])
		f := buf[:len(h)+n]
		binary.BigEndian.PutUint16(f[v4TotalLen:], uint16(len(f)))
		ff := uint16((base + pos) / 8)
		if !last || more {
			ff |= v4FlagMF
		}
		binary.BigEndian.PutUint16(f[v4FlagsFrag:], ff)
		f[v4Checksum], f[v4Checksum+1] = 0, 0
		binary.BigEndian.PutUint16(f[v4Checksum:], segment.Checksum(f[:len(h)], 0))
		if err := emit(f); err != nil {
			return err
		}
		pos += n
	}
	return nil
}

// copiedOptions writes into dst the header of a non-first fragment: the
// 20-byte base of hdr and the options whose copied flag is set (RFC 791 3.1,
// "the copied flag indicates that this option is copied into all fragments on
// fragmentation"), padded with end-of-option-list bytes to a multiple of 4,
// with the IHL adjusted. It returns the length, or false for malformed
// options.
func copiedOptions(dst, hdr []byte) (int, bool) {
	const (
		optEOL    = 0
		optNOP    = 1
		optCopied = 0x80
	)
	n := copy(dst, hdr[:segment.IPv4MinHeaderLen])
	opts := hdr[segment.IPv4MinHeaderLen:]
	for i := 0; i < len(opts); {
		switch t := opts[i]; t {
		case optEOL:
			i = len(opts)
		case optNOP:
			i++
		default:
			if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
				return 0, false
			}
			l := int(opts[i+1])
			if t&optCopied != 0 {
				n += copy(dst[n:], opts[i:i+l])
			}
			i += l
		}
	}
	for n%4 != 0 {
		dst[n] = optEOL
		n++
	}
	dst[0] = 4<<4 | byte(n/4)
	return n, true
}
