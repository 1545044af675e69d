package ipfrag

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/ip4defrag"
	"github.com/google/gopacket/layers"

	"github.com/tunstack/tunstack/segment"
)

// TestGopacketDifferential runs random fragmentations of random IPv4
// datagrams, interleaved, in random order and with exact duplicates, through
// the Reassembler and through gopacket's ip4defrag (an independent
// implementation), and checks both complete the same datagrams at the same
// fragment with the same header fields and payload, and that ours is the
// original byte for byte. Overlaps are left out: ip4defrag keeps them
// (BSD-right), we discard (RFC 5722).
func TestGopacketDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(2026, 10))
	seeds := 300
	if testing.Short() {
		seeds = 50
	}
	for seed := range seeds {
		ours := New(Config{MaxFragments: 1000})
		theirs := ip4defrag.NewIPv4Defragmenter()
		type pending struct {
			whole []byte
			frag  []byte
		}
		var stream []pending
		wholes := map[uint16][]byte{}
		for id := range uint16(1 + rng.IntN(4)) {
			whole := datagram4(src4, segment.ProtocolUDP, id, 1+rng.IntN(8000), uint64(seed)<<8|uint64(id))
			wholes[id] = whole
			for _, f := range randomCut(rng, whole) {
				stream = append(stream, pending{whole, f})
				if rng.IntN(8) == 0 {
					stream = append(stream, pending{whole, bytes.Clone(f)})
				}
			}
		}
		rng.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
		done := map[uint16]bool{}
		for i, p := range stream {
			id := segment.IPv4(p.frag).ID()
			if done[id] {
				continue // a duplicate after completion would start afresh in both
			}
			now := t0.Add(time.Duration(i) * time.Millisecond)
			res := ours.InputIPv4(p.frag, now)
			if res.Verdict == NotFragment { // a datagram cut in one piece
				res = Result{Verdict: Complete, Packet: p.frag}
			}
			var in layers.IPv4
			if err := in.DecodeFromBytes(p.frag, gopacket.NilDecodeFeedback); err != nil {
				t.Fatalf("seed %d: gopacket cannot decode our fragment: %v", seed, err)
			}
			out, err := theirs.DefragIPv4WithTimestamp(&in, now)
			if err != nil {
				t.Fatalf("seed %d step %d: ip4defrag: %v", seed, i, err)
			}
			if (out != nil) != (res.Verdict == Complete) {
				t.Fatalf("seed %d step %d: ip4defrag complete %v, ours %v (%v)", seed, i, out != nil, res.Verdict, res.Reason)
			}
			if res.Verdict != Complete {
				if res.Verdict != Held && res.Reason != ReasonDuplicate {
					t.Fatalf("seed %d step %d: %v %v", seed, i, res.Verdict, res.Reason)
				}
				continue
			}
			done[id] = true
			got := segment.IPv4(res.Packet)
			if got.ID() != out.Id || got.TTL() != out.TTL || got.Protocol() != uint8(out.Protocol) || got.TOS() != out.TOS ||
				got.Src().String() != out.SrcIP.String() || got.Dst().String() != out.DstIP.String() || !bytes.Equal(got.Payload(), out.Payload) {
				t.Fatalf("seed %d: datagram %d differs from ip4defrag's", seed, id)
			}
			if !bytes.Equal(res.Packet, p.whole) {
				t.Fatalf("seed %d: datagram %d is not the original", seed, id)
			}
		}
		if len(done) != len(wholes) {
			t.Fatalf("seed %d: %d of %d datagrams completed", seed, len(done), len(wholes))
		}
	}
}

// randomCut cuts whole into fragments at random multiples of 8. The last
// one has 8 bytes or more: ip4defrag rejects shorter fragments as
// "handcrafted", though RFC 791 allows a last fragment of any length (we
// accept them, TestIPv4Orders and the round trips have some).
func randomCut(rng *rand.Rand, whole []byte) [][]byte {
	data := len(whole) - segment.IPv4MinHeaderLen
	var out [][]byte
	for off := 0; off < data; {
		n := min(8*(1+rng.IntN(200)), data-off)
		if data-off-n < 8 {
			n = data - off
		}
		out = append(out, frag4(whole, off, n, off+n < data))
		off += n
	}
	return out
}
