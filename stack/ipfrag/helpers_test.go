package ipfrag

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

var (
	src4  = netip.MustParseAddr("198.18.0.1")
	src4b = netip.MustParseAddr("198.18.0.3")
	dst4  = netip.MustParseAddr("198.18.0.2")
	t0    = time.Unix(1_000_000, 0)
)

// datagram4 builds a whole IPv4 packet (no options) carrying n bytes of
// seeded pseudo-random payload.
func datagram4(src netip.Addr, proto uint8, id uint16, n int, seed uint64) []byte {
	pkt := make([]byte, segment.IPv4MinHeaderLen+n)
	h := segment.IPv4Header{ID: id, TTL: 64, Protocol: proto, Src: src, Dst: dst4}
	segment.PutIPv4Header(pkt, &h, n)
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := segment.IPv4MinHeaderLen; i < len(pkt); i++ {
		pkt[i] = byte(rng.Uint32())
	}
	if proto == segment.ProtocolTCP && n >= segment.TCPMinHeaderLen {
		pkt[segment.IPv4MinHeaderLen+12] = 5 << 4 // a 20-byte TCP header
	}
	return pkt
}

// frag4 cuts the fragment holding data bytes [off, off+n) out of the whole
// IPv4 datagram whole (which may have options: every fragment gets them all),
// with MF as given, checksum fixed.
func frag4(whole []byte, off, n int, more bool) []byte {
	hl := segment.IPv4(whole).HeaderLen()
	f := make([]byte, hl+n)
	copy(f, whole[:hl])
	copy(f[hl:], whole[hl+off:hl+off+n])
	binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
	ff := binary.BigEndian.Uint16(whole[6:])&v4FlagDF | uint16(off/8)
	if more {
		ff |= v4FlagMF
	}
	binary.BigEndian.PutUint16(f[6:], ff)
	fixCsum4(f)
	return f
}

func fixCsum4(p []byte) {
	hl := segment.IPv4(p).HeaderLen()
	p[10], p[11] = 0, 0
	binary.BigEndian.PutUint16(p[10:], segment.Checksum(p[:hl], 0))
}

// split4 cuts whole into fragments of size bytes of data (a multiple of 8).
func split4(whole []byte, size int) [][]byte {
	data := len(whole) - segment.IPv4(whole).HeaderLen()
	var out [][]byte
	for off := 0; off < data; off += size {
		n := min(size, data-off)
		out = append(out, frag4(whole, off, n, off+n < data))
	}
	return out
}

// feed4 hands every IPv4 fragment to r at time now and returns the last
// result; all but the last must be held.
func feed4(t *testing.T, r *Reassembler, now time.Time, frags ...[]byte) Result {
	t.Helper()
	return feed(t, r.InputIPv4, now, frags)
}

// feed6 is feed4 for IPv6.
func feed6(t *testing.T, r *Reassembler, now time.Time, frags ...[]byte) Result {
	t.Helper()
	return feed(t, r.InputIPv6, now, frags)
}

func feed(t *testing.T, input func([]byte, time.Time) Result, now time.Time, frags [][]byte) Result {
	t.Helper()
	var res Result
	for i, f := range frags {
		res = input(f, now)
		if i < len(frags)-1 && res.Verdict != Held {
			t.Fatalf("fragment %d: %v %v, want held", i, res.Verdict, res.Reason)
		}
	}
	return res
}

// wantComplete checks res is Complete with exactly want.
func wantComplete(t *testing.T, res Result, want []byte) {
	t.Helper()
	if res.Verdict != Complete {
		t.Fatalf("verdict %v (%v), want complete", res.Verdict, res.Reason)
	}
	if string(res.Packet) != string(want) {
		t.Fatalf("reassembled %d bytes differ from the %d-byte original\n got %x\nwant %x", len(res.Packet), len(want), head(res.Packet), head(want))
	}
}

func wantDrop(t *testing.T, res Result, reason Reason) {
	t.Helper()
	if res.Verdict != Dropped || res.Reason != reason {
		t.Fatalf("got %v/%v, want dropped/%v", res.Verdict, res.Reason, reason)
	}
}

func head(b []byte) []byte { return b[:min(len(b), 64)] }

// checkMem fails if r holds more than its bound, or nothing is in progress
// and it still charges datagram bytes.
func checkMem(t testing.TB, r *Reassembler) {
	t.Helper()
	if r.Memory() > r.cfg.MaxMemory {
		t.Fatalf("memory %d over the bound %d", r.Memory(), r.cfg.MaxMemory)
	}
	for s, v := range r.perSrc {
		if v > r.cfg.MaxMemoryPerSource || v < 0 {
			t.Fatalf("source %x holds %d, bound %d", s, v, r.cfg.MaxMemoryPerSource)
		}
	}
	if want := r.pool.bytes + cap(r.out) + sumCharges(r); r.mem != want {
		t.Fatalf("memory %d, but the parts add up to %d", r.mem, want)
	}
}

func sumCharges(r *Reassembler) int {
	n := 0
	for _, d := range r.table {
		c := datagramCost + cap(d.spans)*spanCost
		for _, s := range d.spans {
			c += cap(s.pkt)
		}
		if c != d.charge {
			panic("datagram charge out of step with its buffers")
		}
		n += c
	}
	return n
}
