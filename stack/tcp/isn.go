package tcp

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// ISNGenerator computes initial sequence numbers as RFC 6528 3 specifies:
//
//	ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//
// where M is a timer ticking every 4 microseconds (RFC 9293 3.4.1) and F is
// a keyed hash: here the first 32 bits of SHA-256 over the secret and the
// 4-tuple (RFC 6528 suggests MD5 and allows any PRF; SHA-256 from the
// standard library over a fixed array allocates nothing). The secret comes
// from the runtime (crypto/rand at start-up). Safe for concurrent use.
type ISNGenerator struct {
	secret [16]byte
}

// NewISNGenerator returns a generator keyed with secret.
func NewISNGenerator(secret [16]byte) *ISNGenerator {
	return &ISNGenerator{secret: secret}
}

// ISN returns the initial sequence number for a connection on t at now.
func (g *ISNGenerator) ISN(t Tuple, now time.Time) Seq {
	m := uint32(now.UnixNano() / 4000) // 4 µs ticks, wrapping every ~4.77 h
	return Seq(m + g.hash(t, 0))
}

// TSOffset returns the offset of the timestamp clock for connections on t
// (RFC 7323 5.4 and 7.1: a random per-connection offset, computed like the
// ISN's F of RFC 6528 from the secret and the 4-tuple, but under another
// domain byte so that it tells nothing about the ISN). It is the same for
// every incarnation of t, which keeps TSvals increasing across them (RFC
// 6191), and needs no state, which SYN cookies rely on.
func (g *ISNGenerator) TSOffset(t Tuple) uint32 { return g.hash(t, 1) }

// hash is F(localip, localport, remoteip, remoteport, secretkey) with a
// domain byte.
func (g *ISNGenerator) hash(t Tuple, domain byte) uint32 {
	var b [16 + 16 + 2 + 16 + 2 + 1]byte
	copy(b[:16], g.secret[:])
	la, ra := t.LocalAddr.As16(), t.RemoteAddr.As16()
	copy(b[16:32], la[:])
	binary.BigEndian.PutUint16(b[32:], t.LocalPort)
	copy(b[34:50], ra[:])
	binary.BigEndian.PutUint16(b[50:], t.RemotePort)
	b[52] = domain
	if domain == 0 {
		h := sha256.Sum256(b[:52]) // the ISN's hash, unchanged
		return binary.BigEndian.Uint32(h[:4])
	}
	h := sha256.Sum256(b[:])
	return binary.BigEndian.Uint32(h[:4])
}
