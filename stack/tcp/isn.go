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
	var b [16 + 16 + 2 + 16 + 2]byte
	copy(b[:16], g.secret[:])
	la, ra := t.LocalAddr.As16(), t.RemoteAddr.As16()
	copy(b[16:32], la[:])
	binary.BigEndian.PutUint16(b[32:], t.LocalPort)
	copy(b[34:50], ra[:])
	binary.BigEndian.PutUint16(b[50:], t.RemotePort)
	h := sha256.Sum256(b[:])
	f := binary.BigEndian.Uint32(h[:4])
	m := uint32(now.UnixNano() / 4000) // 4 µs ticks, wrapping every ~4.77 h
	return Seq(m + f)
}
