package ipfrag_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/ipfrag"
)

// An input path: every packet goes through the Reassembler, which hands
// back whole datagrams; an echo reply too large for the MTU goes out in
// fragments.
func Example() {
	r := ipfrag.New(ipfrag.Config{
		TimeExceeded: func(first []byte) { /* send ICMP Time Exceeded, code 1 */ },
	})
	now := time.Unix(0, 0) // the stack's clock

	// A 3000-byte echo request, as the kernel would send it over a
	// 1500-byte MTU.
	req := make([]byte, 3000)
	h := segment.IPv4Header{ID: 7, TTL: 64, Protocol: segment.ProtocolICMP,
		Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2")}
	segment.PutIPv4Header(req, &h, len(req)-20)
	copy(req[20:], []byte{segment.ICMPv4TypeEcho, 0, 0, 0})
	req[22], req[23] = 0xf7, 0xff // checksum of the message above: all other bytes are zero
	var frags [][]byte
	_ = ipfrag.FragmentIPv4(req, 1500, make([]byte, 1500), func(f []byte) error {
		frags = append(frags, append([]byte(nil), f...))
		return nil
	})

	for _, pkt := range frags {
		res := r.InputIPv4(pkt, now)
		switch res.Verdict {
		case ipfrag.NotFragment:
			// process pkt as usual
		case ipfrag.Complete:
			// Answer in place, then cut the reply to the MTU.
			n, err := segment.ICMPv4EchoReply(res.Packet, res.Packet)
			if err != nil {
				fmt.Println("echo:", err)
				return
			}
			_ = ipfrag.FragmentIPv4(res.Packet[:n], 1500, make([]byte, 1500), func(f []byte) error {
				fmt.Println("reply fragment of", len(f), "bytes")
				return nil
			})
		}
	}
	fmt.Println(r.Stats().Reassembled)
	// Output:
	// reply fragment of 1500 bytes
	// reply fragment of 1500 bytes
	// reply fragment of 40 bytes
	// 1
}
