package segment

import "encoding/binary"

// TCP header layout (RFC 9293 3.1).
const (
	TCPMinHeaderLen  = 20
	TCPMaxHeaderLen  = 60
	TCPMaxOptionsLen = TCPMaxHeaderLen - TCPMinHeaderLen

	tcpSrcPort  = 0
	tcpDstPort  = 2
	tcpSeq      = 4
	tcpAck      = 8
	tcpOffset   = 12
	tcpFlags    = 13
	tcpWindow   = 14
	tcpChecksum = 16
	tcpUrgent   = 18
)

// TCP option kinds (RFC 9293 3.2, RFC 7323, RFC 2018).
const (
	OptEOL           = 0
	OptNOP           = 1
	OptMSS           = 2
	OptWScale        = 3
	OptSACKPermitted = 4
	OptSACK          = 5
	OptTimestamp     = 8

	optLenMSS           = 4
	optLenWScale        = 3
	optLenSACKPermitted = 2
	optLenTimestamp     = 10
	optLenSACKBase      = 2
	optLenSACKBlock     = 8
)

// TCP is a view of a TCP segment (header and payload). Accessors read at
// fixed offsets and do not copy. Until Validate (or ParseTCP) has succeeded
// they may panic on a short slice; after it they never panic.
type TCP []byte

// SrcPort returns the source port.
func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t[tcpSrcPort:]) }

// DstPort returns the destination port.
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t[tcpDstPort:]) }

// Seq returns the sequence number.
func (t TCP) Seq() Seq { return Seq(binary.BigEndian.Uint32(t[tcpSeq:])) }

// Ack returns the acknowledgment number (meaningful only with FlagACK).
func (t TCP) Ack() Seq { return Seq(binary.BigEndian.Uint32(t[tcpAck:])) }

// DataOffset returns the data offset field in 32-bit words.
func (t TCP) DataOffset() uint8 { return t[tcpOffset] >> 4 }

// HeaderLen returns the header length in bytes, options included.
func (t TCP) HeaderLen() int { return int(t.DataOffset()) * 4 }

// Flags returns the eight control bits. The four reserved bits (and the
// AccECN bit, RFC 9768) are ignored, as RFC 9293 3.1 asks of receivers.
func (t TCP) Flags() Flags { return Flags(t[tcpFlags]) }

// Window returns the raw, unscaled window field.
func (t TCP) Window() uint16 { return binary.BigEndian.Uint16(t[tcpWindow:]) }

// Checksum returns the checksum field.
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t[tcpChecksum:]) }

// Urgent returns the urgent pointer field.
func (t TCP) Urgent() uint16 { return binary.BigEndian.Uint16(t[tcpUrgent:]) }

// Options returns the raw option bytes (possibly empty), aliasing t.
func (t TCP) Options() []byte { return t[TCPMinHeaderLen:t.HeaderLen()] }

// Payload returns the data after the header, aliasing t.
func (t TCP) Payload() []byte { return t[t.HeaderLen():] }

// Validate checks the lengths the accessors rely on: at least 20 bytes
// (ErrShort), and a data offset of at least 5 words that fits in t
// (ErrDataOffset). It does not verify the checksum, which needs the IP
// addresses; ParseTCP does both.
func (t TCP) Validate() error {
	if len(t) < TCPMinHeaderLen {
		return ErrShort
	}
	hl := t.HeaderLen()
	if hl < TCPMinHeaderLen || hl > len(t) {
		return ErrDataOffset
	}
	return nil
}

// ParseOptions decodes the TCP option area b into o, which it overwrites
// entirely. Known kinds: EOL (ends the list; the rest is padding), NOP, MSS,
// window scale, SACK-permitted, SACK (1 to 4 blocks) and timestamps. Other
// kinds are skipped by their length byte and counted in o.Unknown (RFC 9293
// 3.2: "a TCP implementation MUST be able to receive a TCP Option in any
// segment", MUST-4, and must ignore options it does not implement, MUST-5).
// If an option occurs twice the last one wins.
//
// A length byte of 0 or 1, an option that runs past b, and a known kind
// with a length other than its fixed one (or a SACK length that is not
// 2+8n with 1<=n<=4) return ErrBadOption. RFC 9293 3.2 (MUST-7): "TCP
// implementations MUST be prepared to handle an illegal option length (e.g.,
// zero); a suggested procedure is to reset the connection and log the error
// cause". We neither reset nor keep the segment: the caller drops it and
// counts the error, which a forged segment cannot turn into a reset of a
// live connection. (Linux instead stops parsing at a bad length and
// processes the segment.) o is then partially filled and must not be used.
// Never panics and never allocates.
func ParseOptions(b []byte, o *Options) error {
	*o = Options{}
	for i := 0; i < len(b); {
		kind := b[i]
		switch kind {
		case OptEOL:
			return nil
		case OptNOP:
			i++
			continue
		}
		if i+1 >= len(b) {
			return ErrBadOption
		}
		l := int(b[i+1])
		if l < 2 || i+l > len(b) {
			return ErrBadOption
		}
		v := b[i+2 : i+l]
		switch kind {
		case OptMSS:
			if l != optLenMSS {
				return ErrBadOption
			}
			o.HasMSS = true
			o.MSS = binary.BigEndian.Uint16(v)
		case OptWScale:
			if l != optLenWScale {
				return ErrBadOption
			}
			o.HasWScale = true
			o.WScale = v[0]
		case OptSACKPermitted:
			if l != optLenSACKPermitted {
				return ErrBadOption
			}
			o.SACKPermitted = true
		case OptSACK:
			n := (l - optLenSACKBase) / optLenSACKBlock
			if n < 1 || n > MaxSACKBlocks || (l-optLenSACKBase)%optLenSACKBlock != 0 {
				return ErrBadOption
			}
			// Clear blocks a previous SACK option left behind, so that
			// Options values compare equal when they mean the same.
			o.SACK = [MaxSACKBlocks]SACKBlock{}
			o.NumSACK = n
			for j := 0; j < n; j++ {
				blk := v[j*optLenSACKBlock : (j+1)*optLenSACKBlock]
				o.SACK[j] = SACKBlock{
					Start: Seq(binary.BigEndian.Uint32(blk[0:4])),
					End:   Seq(binary.BigEndian.Uint32(blk[4:8])),
				}
			}
		case OptTimestamp:
			if l != optLenTimestamp {
				return ErrBadOption
			}
			o.HasTimestamp = true
			o.TSVal = binary.BigEndian.Uint32(v[0:4])
			o.TSEcr = binary.BigEndian.Uint32(v[4:8])
		default:
			o.Unknown++
		}
		i += l
	}
	return nil
}

// optionsLayout decides how the options in o are written.
//
// The preferred layout keeps every multi-byte value 4-byte aligned, the way
// Linux does (RFC 7323 Appendix A suggests the NOP,NOP,TS form):
//
//	MSS(4) | SACKOK,TS(12) or NOP,NOP,TS(12) or NOP,NOP,SACKOK(4) | NOP,WS(4) | NOP,NOP,SACK(4+8n)
//
// If that does not fit in 40 bytes, the options are packed back to back
// (MSS, WS, SACKOK, TS, SACK) and NOP-padded at the end to a multiple of 4.
// Every option set decoded from a real header fits packed, which is what
// makes parse -> build -> parse the identity. If neither form fits, trailing
// SACK blocks are dropped until one does (aligned preferred): RFC 2018 3
// puts the most recent information in the first block, and with timestamps
// only 3 blocks fit.
type optLayout struct {
	aligned bool // the 4-byte-aligned form rather than the packed one
	nsack   int  // SACK blocks written
	length  int  // option bytes written, a multiple of 4
}

func layoutOf(o *Options) optLayout {
	aligned, nsack, length := optionsLayout(o)
	return optLayout{aligned, nsack, length}
}

func optionsLayout(o *Options) (aligned bool, nsack, length int) {
	nsack = o.NumSACK
	if nsack < 0 {
		nsack = 0
	}
	if nsack > MaxSACKBlocks {
		nsack = MaxSACKBlocks
	}
	fixedAligned, fixedPacked := 0, 0
	if o.HasMSS {
		fixedAligned += 4
		fixedPacked += optLenMSS
	}
	switch {
	case o.HasTimestamp:
		fixedAligned += 12
	case o.SACKPermitted:
		fixedAligned += 4
	}
	if o.HasTimestamp {
		fixedPacked += optLenTimestamp
	}
	if o.SACKPermitted {
		fixedPacked += optLenSACKPermitted
	}
	if o.HasWScale {
		fixedAligned += 4
		fixedPacked += optLenWScale
	}
	for ; nsack > 0; nsack-- {
		if n := fixedAligned + 4 + optLenSACKBlock*nsack; n <= TCPMaxOptionsLen {
			return true, nsack, n
		}
		if n := fixedPacked + optLenSACKBase + optLenSACKBlock*nsack; n <= TCPMaxOptionsLen {
			return false, nsack, (n + 3) &^ 3
		}
	}
	// Without SACK blocks the aligned form is at most 4+12+4 = 20 bytes.
	return true, 0, fixedAligned
}

// TCPOptionsLen returns the number of option bytes PutOptions (and so the
// builders) write for o: a multiple of 4, at most 40.
func TCPOptionsLen(o *Options) int {
	_, _, n := optionsLayout(o)
	return n
}

// PutOptions writes the options in o into b using the layout described at
// optionsLayout and returns the number of bytes written (TCPOptionsLen(o)).
// b must hold TCPOptionsLen(o) bytes; a shorter b panics (programming
// error). Unknown options are not written.
func PutOptions(b []byte, o *Options) int {
	return putOptions(b, o, layoutOf(o))
}

func putOptions(b []byte, o *Options, l optLayout) int {
	aligned, nsack, n := l.aligned, l.nsack, l.length
	b = b[:n]
	i := 0
	putMSS := func() {
		b[i], b[i+1] = OptMSS, optLenMSS
		binary.BigEndian.PutUint16(b[i+2:], o.MSS)
		i += optLenMSS
	}
	putTS := func() {
		b[i], b[i+1] = OptTimestamp, optLenTimestamp
		binary.BigEndian.PutUint32(b[i+2:], o.TSVal)
		binary.BigEndian.PutUint32(b[i+6:], o.TSEcr)
		i += optLenTimestamp
	}
	putSACKOK := func() {
		b[i], b[i+1] = OptSACKPermitted, optLenSACKPermitted
		i += optLenSACKPermitted
	}
	putWS := func() {
		b[i], b[i+1], b[i+2] = OptWScale, optLenWScale, o.WScale
		i += optLenWScale
	}
	putSACK := func() {
		b[i], b[i+1] = OptSACK, byte(optLenSACKBase+optLenSACKBlock*nsack)
		i += optLenSACKBase
		for j := 0; j < nsack; j++ {
			binary.BigEndian.PutUint32(b[i:], uint32(o.SACK[j].Start))
			binary.BigEndian.PutUint32(b[i+4:], uint32(o.SACK[j].End))
			i += optLenSACKBlock
		}
	}
	nop := func(k int) {
		for ; k > 0; k-- {
			b[i] = OptNOP
			i++
		}
	}
	if aligned {
		if o.HasMSS {
			putMSS()
		}
		switch {
		case o.HasTimestamp && o.SACKPermitted:
			putSACKOK()
			putTS()
		case o.HasTimestamp:
			nop(2)
			putTS()
		case o.SACKPermitted:
			nop(2)
			putSACKOK()
		}
		if o.HasWScale {
			nop(1)
			putWS()
		}
		if nsack > 0 {
			nop(2)
			putSACK()
		}
		return n
	}
	if o.HasMSS {
		putMSS()
	}
	if o.HasWScale {
		putWS()
	}
	if o.SACKPermitted {
		putSACKOK()
	}
	if o.HasTimestamp {
		putTS()
	}
	if nsack > 0 {
		putSACK()
	}
	nop(n - i)
	return n
}
