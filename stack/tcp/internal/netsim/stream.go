package netsim

import (
	"encoding/binary"
	"math/rand/v2"
)

// streamBlock is the unit in which a stream's bytes are generated.
const streamBlock = 64 << 10

// stream is a deterministic pseudo-random byte stream of a given length:
// block k is generated from (seed, k), so a sender and a verifier each
// regenerate the bytes at any offset without holding the whole stream, and
// bytes delivered at the wrong offset (a block apart or not) differ.
type stream struct {
	seed  uint64
	n     int64 // length of the stream
	block int64 // index of the block in buf; -1: none
	buf   []byte
}

func newStream(seed uint64, n int64) *stream {
	return &stream{seed: seed, n: n, block: -1, buf: make([]byte, streamBlock)}
}

// at returns the stream's bytes from off to the end of off's block (or of
// the stream); empty at the end. The slice is valid until the next call.
func (s *stream) at(off int64) []byte {
	if off >= s.n {
		return nil
	}
	if b := off / streamBlock; b != s.block {
		s.block = b
		r := rand.New(rand.NewPCG(s.seed, uint64(b)))
		for i := 0; i < streamBlock; i += 8 {
			binary.LittleEndian.PutUint64(s.buf[i:], r.Uint64())
		}
	}
	start := off % streamBlock
	end := min(int64(streamBlock), start+s.n-off)
	return s.buf[start:end]
}

// matches reports whether p equals the stream's bytes at off.
func (s *stream) matches(off int64, p []byte) bool {
	for len(p) > 0 {
		want := s.at(off)
		if len(want) == 0 {
			return false // past the end
		}
		k := min(len(want), len(p))
		if string(want[:k]) != string(p[:k]) {
			return false
		}
		p, off = p[k:], off+int64(k)
	}
	return true
}
