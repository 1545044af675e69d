package integration

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/tunstack/tunstack/segment"
)

// The link modes of the conformance matrix, and what the raw peer needs to
// see the default mode's packets as the wire carries them.

// linkMode is one way a user's `tunstack` talks to its TUN device. Every
// conformance test runs in each (subtests named by mode), so that a
// behaviour only one mode has cannot hide (issue 8).
type linkMode struct {
	name    string
	flags   []string
	offload bool // the device runs with virtio-net offloads
}

var linkModes = []linkMode{
	// The default: offloads (IFF_VNET_HDR, TSO and checksum offload,
	// super-segments both ways), ACK coalescing, busy polling. The
	// --trace every mode runs with passes all of it through.
	{name: "default", offload: true},
	// --no-offload: one MTU-sized packet per syscall; the device is still
	// a stack.OffloadLink, so ACKs are still coalesced.
	{name: "no-offload", flags: []string{"--no-offload"}},
	// The fault injector's wrapper with faults that never fire (a drop
	// probability of 1e-14 per packet): a plain Link, without offloads
	// and without ACK coalescing, which is what --loss/--delay/... give
	// (and what an embedder's plain Link gets).
	{name: "faults", flags: []string{"--loss", "1e-12"}},
}

// inEveryMode runs f as one subtest per link mode.
func inEveryMode(t *testing.T, f func(t *testing.T, m linkMode)) {
	for _, m := range linkModes {
		t.Run(m.name, func(t *testing.T) { f(t, m) })
	}
}

// The virtio-net header (struct virtio_net_hdr, include/uapi/linux/
// virtio_net.h) that PACKET_VNET_HDR puts in front of every packet read
// from the packet socket: host byte order, as the kernel writes it.
const (
	vnetHdrLen        = 10
	vnetFlagNeedsCsum = 1 // the TCP checksum is partial (offloaded)
	vnetGSOTCPv4      = 1 // a TCP/IPv4 super-segment, gso_size bytes per segment
	vnetGSOTCPv6      = 4 // a TCP/IPv6 super-segment (VIRTIO_NET_HDR_GSO_TCPV6)
)

// wireSegments returns the TCP segments the packet pkt, read with its
// virtio-net header h, stands for on a wire. With offloads on, the stack
// hands the TUN super-segments (cut by the kernel into gso_size segments)
// and segments whose TCP checksum is left to the device: the kernel
// completes it before the segment reaches its TCP or a wire. Both come out
// here as the kernel makes them (segment.CutIPv4TCP, segment.CutIPv6TCP for
// GSO_TCPV6). Any other packet is returned as is, its checksum to be
// verified by the caller.
func wireSegments(h, pkt []byte) ([][]byte, error) {
	flags, gsoType := h[0], h[1]
	gsoSize := int(binary.NativeEndian.Uint16(h[4:6]))
	if flags&vnetFlagNeedsCsum == 0 && gsoType == 0 {
		return [][]byte{pkt}, nil
	}
	split, cut, gsoWant := segment.SplitIPv4TCP, segment.CutIPv4TCP, uint8(vnetGSOTCPv4)
	if segment.IPVersion(pkt) == 6 {
		split, cut, gsoWant = segment.SplitIPv6TCP, segment.CutIPv6TCP, vnetGSOTCPv6
	}
	if gsoType != 0 && (gsoType != gsoWant || gsoSize == 0) {
		return nil, fmt.Errorf("unexpected GSO type %#x, size %d for an IPv%d packet", gsoType, gsoSize, segment.IPVersion(pkt))
	}
	hdr, payload, err := split(pkt)
	if err != nil {
		return nil, err
	}
	mss := len(payload)
	if gsoType != 0 {
		mss = gsoSize
	}
	var out [][]byte
	for i := range segment.GSOSegments(len(payload), mss) {
		b := make([]byte, len(hdr)+mss)
		n, err := cut(b, hdr, payload, mss, i)
		if err != nil {
			return nil, err
		}
		out = append(out, b[:n])
	}
	return out, nil
}
