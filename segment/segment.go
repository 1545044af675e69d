package segment

import "net/netip"

// Flags are the TCP control bits (RFC 9293 3.1, RFC 3168 for ECE/CWR).
type Flags uint8

// TCP control bits, in header bit order.
const (
	FlagFIN Flags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// Has reports whether all bits in m are set.
func (f Flags) Has(m Flags) bool { return f&m == m }

// String renders flags the way tcpdump does: "S", "S.", "F.", "R", "P.", "."
// for a bare ACK, "none" for no flags.
func (f Flags) String() string {
	var b [10]byte
	n := 0
	for _, x := range [...]struct {
		f Flags
		c byte
	}{{FlagSYN, 'S'}, {FlagFIN, 'F'}, {FlagRST, 'R'}, {FlagPSH, 'P'}, {FlagURG, 'U'}, {FlagECE, 'E'}, {FlagCWR, 'W'}} {
		if f&x.f != 0 {
			b[n] = x.c
			n++
		}
	}
	if f&FlagACK != 0 {
		b[n] = '.'
		n++
	}
	if n == 0 {
		return "none"
	}
	return string(b[:n])
}

// SACKBlock is one SACK block (RFC 2018): the bytes [Start, End) were received.
type SACKBlock struct {
	Start, End Seq
}

// MaxSACKBlocks is the most SACK blocks that fit in the 40-byte option space.
const MaxSACKBlocks = 4

// Options holds the decoded TCP options of one segment. Fixed-size fields, no
// slices, so decoding never allocates.
type Options struct {
	HasMSS        bool
	MSS           uint16
	HasWScale     bool
	WScale        uint8 // shift count as sent (not clamped; RFC 7323 2.3 clamps to 14 on use)
	SACKPermitted bool
	NumSACK       int
	SACK          [MaxSACKBlocks]SACKBlock
	HasTimestamp  bool
	TSVal, TSEcr  uint32
	Unknown       int // number of options of unknown kind, skipped by length
}

// Segment is a decoded TCP segment with its IP addressing: the value the
// engine consumes and produces. Payload aliases the packet or send buffer it
// came from; it is valid only as long as that buffer is.
type Segment struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Seq, Ack         Seq
	Flags            Flags
	Window           uint16 // raw, unscaled window field
	Urgent           uint16
	Options          Options
	Payload          []byte
}

// Len is the segment length in sequence space (RFC 9293 3.4): payload bytes
// plus one for SYN and one for FIN.
func (s *Segment) Len() uint32 {
	n := uint32(len(s.Payload))
	if s.Flags&FlagSYN != 0 {
		n++
	}
	if s.Flags&FlagFIN != 0 {
		n++
	}
	return n
}
