package stack

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// SYN cookies (RFC 4987 3.6). When a listener's half-open queue is full, the
// SYN-ACK's ISS encodes what the listener would have stored, and nothing is
// stored. A returning ACK with ack = cookie+1 rebuilds tcp.SynParams.
//
// Layout of the 32-bit cookie (our own; RFC 4987 leaves it open):
//
//	 31..29   28..26    25..22     21     20        19..0
//	+-------+--------+-----------+------+----+---------------------------+
//	| count | MSS ix | wscale+1  | SACK | TS | MAC(key, tuple, IRS,      |
//	| mod 8 |        | 0 = none  |      |    |  count, MSS ix, ws, S, T) |
//	+-------+--------+-----------+------+----+---------------------------+
//
// count is a coarse clock (cookiePeriod ticks); a cookie is valid during the
// tick it was made in and the next one, so 64 to 128 s, which covers any
// sane handshake RTT while bounding replay. MSS is rounded down to the table
// below (RFC 4987: "the MSS is encoded in 3 bits"); the peer's window scale,
// which Linux can only keep with timestamps, fits in 4 bits here, and so do
// whether its SYN offered SACK (RFC 2018) and timestamps (RFC 7323): the
// cookie SYN-ACK offers them as a stateful one would (tcp.SynAckFor), and
// the connection the cookie opens uses them. (Linux instead hides these
// bits in the low bits of the SYN-ACK's TSval and drops SACK and window
// scaling for a peer without timestamps; our TSval stays the connection's
// clock.) The MAC is SipHash-2-4 keyed with a secret from Options.Rand,
// truncated to 20 bits: a blind attacker must guess 1 in 1 M values per
// attempt, and may only try while cookies are being sent (lastSent). IRS
// (seq-1 of the ACK) is inside the MAC, so a cookie is bound to the SYN it
// answered.
const (
	cookiePeriod = 64 * time.Second
	cookieMaxAge = 1 // ticks
	cookieMACMax = 1<<20 - 1
	cookieSACK   = 1 << 21
	cookieTS     = 1 << 20
)

// cookieMSS is the MSS table; index 0 also stands for "no MSS option" (536
// applies then, RFC 9293 3.7.1).
var cookieMSS = [8]uint16{536, 1200, 1300, 1380, 1400, 1440, 1460, 8960}

// cookieMSSIndex returns the largest table index whose MSS does not exceed
// mss.
func cookieMSSIndex(mss uint16) uint32 {
	var ix uint32
	for i, m := range cookieMSS {
		if m <= mss {
			ix = uint32(i)
		}
	}
	return ix
}

// cookieJar makes and checks cookies. Immutable after creation, so safe for
// concurrent use.
type cookieJar struct {
	k0, k1 uint64
	origin time.Time
	// lastSent is 1 + the tick of the newest cookie made, 0 for none. An
	// ACK is only tried as a cookie while a cookie of its age can exist,
	// so a blind attacker cannot guess MACs while no SYN queue overflowed
	// (as Linux's tcp_synq_no_recent_overflow).
	lastSent atomic.Int64
}

func newCookieJar(key [16]byte, origin time.Time) *cookieJar {
	return &cookieJar{k0: binary.LittleEndian.Uint64(key[:8]), k1: binary.LittleEndian.Uint64(key[8:]), origin: origin}
}

// tick is the coarse clock the cookie's count comes from.
func (j *cookieJar) tick(now time.Time) uint32 {
	d := now.Sub(j.origin)
	if d < 0 {
		d = 0
	}
	return uint32(d / cookiePeriod)
}

// mac is the cookie's MAC over the tuple, the peer's ISN and the encoded
// fields. Addresses enter in their 16-byte form (an IPv4 address as its
// IPv4-mapped IPv6 address), so the same code serves both families and
// nothing here can panic on an address of either.
func (j *cookieJar) mac(t *tcp.Tuple, irs segment.Seq, count, mssIx, ws, opts uint32) uint32 {
	la, ra := t.LocalAddr.As16(), t.RemoteAddr.As16()
	m := [...]uint64{
		binary.BigEndian.Uint64(la[:8]), binary.BigEndian.Uint64(la[8:]),
		binary.BigEndian.Uint64(ra[:8]), binary.BigEndian.Uint64(ra[8:]),
		uint64(t.LocalPort)<<48 | uint64(t.RemotePort)<<32 | uint64(irs),
		uint64(count)<<32 | uint64(opts) | uint64(mssIx)<<8 | uint64(ws),
	}
	return uint32(siphash(j.k0, j.k1, m[:])) & cookieMACMax
}

// make returns the ISS to put in a cookie SYN-ACK answering syn on t.
func (j *cookieJar) make(now time.Time, t *tcp.Tuple, syn *segment.Segment) segment.Seq {
	count := j.tick(now)
	for {
		last := j.lastSent.Load()
		if int64(count)+1 <= last || j.lastSent.CompareAndSwap(last, int64(count)+1) {
			break
		}
	}
	var mss uint16
	if syn.Options.HasMSS {
		mss = syn.Options.MSS
	}
	ix := cookieMSSIndex(mss)
	var ws uint32
	if syn.Options.HasWScale {
		s := uint32(syn.Options.WScale)
		if s > 14 { // RFC 7323 2.3: a shift above 14 is used as 14
			s = 14
		}
		ws = s + 1
	}
	var opts uint32
	if syn.Options.SACKPermitted {
		opts |= cookieSACK
	}
	if syn.Options.HasTimestamp {
		opts |= cookieTS
	}
	mac := j.mac(t, syn.Seq, count, ix, ws, opts)
	return segment.Seq((count&7)<<29 | ix<<26 | ws<<22 | opts | mac)
}

// check validates the cookie carried by ack (ack.Ack-1) on t and returns the
// SYN parameters it encodes.
func (j *cookieJar) check(now time.Time, t *tcp.Tuple, ack *segment.Segment) (tcp.SynParams, segment.Seq, bool) {
	if last := j.lastSent.Load(); last == 0 || int64(j.tick(now)) > last-1+cookieMaxAge {
		return tcp.SynParams{}, 0, false // no cookie this young was ever sent
	}
	iss := ack.Ack.Add(^uint32(0)) // ack - 1
	irs := ack.Seq.Add(^uint32(0)) // seq - 1: the SYN's sequence number
	c := uint32(iss)
	cnt3 := c >> 29
	ix := (c >> 26) & 7
	ws := (c >> 22) & 15
	now3 := j.tick(now)
	age := (now3 - cnt3) & 7
	if age > cookieMaxAge {
		return tcp.SynParams{}, 0, false
	}
	count := now3 - age
	opts := c & (cookieSACK | cookieTS)
	if j.mac(t, irs, count, ix, ws, opts) != c&cookieMACMax {
		return tcp.SynParams{}, 0, false
	}
	p := tcp.SynParams{IRS: irs, WScale: int(ws) - 1, SACK: opts&cookieSACK != 0, TS: opts&cookieTS != 0}
	if ix > 0 {
		p.MSS = cookieMSS[ix]
	}
	return p, iss, true
}

// siphash is SipHash-2-4 (Aumasson and Bernstein, 2012) of a message of
// 8*len(m) bytes given as little-endian words (at most 255 bytes), written
// out so it neither allocates nor loops over a byte slice.
func siphash(k0, k1 uint64, m []uint64) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	word := func(w uint64) {
		v3 ^= w
		round()
		round()
		v0 ^= w
	}
	for _, w := range m {
		word(w)
	}
	word(uint64(8*len(m)) << 56) // last word: the length byte, no tail
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
