//go:build linux

package tun_test

import (
	"bytes"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/tun"
	"github.com/tunstack/tunstack/tun/tuntest"
)

// setSysctl writes v to a /proc/sys file of the test's own namespace for
// the rest of the test.
func setSysctl(t *testing.T, path, v string) {
	t.Helper()
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(path, old, 0o644) })
}

// TestDeviceWriteGSOKernelCuts makes the kernel itself cut what WriteGSO
// hands it, so that the virtio-net header (gso_type, csum_start and
// csum_offset, hdr_len) and the pseudo-header sum are checked by the
// kernel rather than trusted: a kernel socket trusts a partial checksum,
// but a packet forwarded to a device without offloads is segmented and
// checksummed in software. A super-segment written to an offload device
// and routed out of a second, plain TUN must come out as exactly the
// segments segment.CutIPv4TCP / CutIPv6TCP make of it (hop limit or TTL
// one lower), each with a checksum that verifies. IPv6 also with a
// destination options header between the IPv6 and TCP headers.
func TestDeviceWriteGSOKernelCuts(t *testing.T) {
	tuntest.Require(t)
	a := openTest(t, tun.Config{Name: "tgso0", MTU: 1500, Addrs: dualHost, Up: true, Offload: true})
	b := openTest(t, tun.Config{Name: "tgso1", MTU: 1500, Up: true})
	if !a.GSOIPv6() || b.Offload() {
		t.Fatalf("tgso0 GSOIPv6 %v, tgso1 Offload %v", a.GSOIPv6(), b.Offload())
	}
	setSysctl(t, "/proc/sys/net/ipv4/ip_forward", "1")
	setSysctl(t, "/proc/sys/net/ipv6/conf/all/forwarding", "1")
	tuntest.Run(t, "ip", "route", "add", "198.19.0.0/24", "dev", "tgso1")
	tuntest.Run(t, "ip", "-6", "route", "add", "2001:3::/64", "dev", "tgso1")

	payload := randomBytes(20000, 5)
	for _, tc := range []struct {
		name     string
		src, dst netip.Addr
		destOpts bool
	}{
		{"IPv4", stackAddr, netip.MustParseAddr("198.19.0.9"), false},
		{"IPv6", stack6, netip.MustParseAddr("2001:3::9"), false},
		{"IPv6 destination options", stack6, netip.MustParseAddr("2001:3::9"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const mss = 1400
			seg := segment.Segment{Src: tc.src, Dst: tc.dst, SrcPort: 40000, DstPort: 5001, Seq: 0xffffe000, Ack: 99,
				Flags: segment.FlagACK | segment.FlagPSH | segment.FlagCWR, Window: 1000,
				Options: segment.Options{HasTimestamp: true, TSVal: 7, TSEcr: 8}}
			buf := make([]byte, 128)
			var n int
			var err error
			if tc.src.Is4() {
				n, err = segment.BuildIPv4TCPHeadersOnly(buf, &seg, len(payload), 0x4242, 64)
			} else {
				n, err = segment.BuildIPv6TCPHeadersOnly(buf, &seg, len(payload), 0xbeef, 64)
			}
			if err != nil {
				t.Fatal(err)
			}
			hdr := buf[:n]
			if tc.destOpts {
				hdr = tun.WithDestOpts(hdr)
			}
			// What should come out: the cut of the same headers, one hop on.
			want := append([]byte(nil), hdr...)
			if tc.src.Is4() {
				want[8]--
			} else {
				want[7]--
			}
			if _, err := a.WriteGSO(hdr, payload, mss); err != nil {
				t.Fatalf("WriteGSO: %v", err)
			}
			count := segment.GSOSegments(len(payload), mss)
			out := make([]byte, 1500)
			for i := range count {
				got := readUntil(t, b, 5*time.Second, func(p []byte) bool {
					return segment.IPVersion(p) == segment.IPVersion(hdr) && bytes.Contains(p, []byte{0x9c, 0x40, 0x13, 0x89}) // ports 40000 -> 5001
				})
				k, err := cut(out, want, payload, mss, i)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, out[:k]) {
					t.Fatalf("segment %d of %d differs from the expected cut:\ngot  % x\nwant % x", i, count, got[:min(len(got), 80)], out[:min(k, 80)])
				}
				var s segment.Segment
				if err := segment.Parse(got, &s); err != nil {
					t.Fatalf("segment %d: %v", i, err)
				}
			}
		})
	}
}

// cut is CutIPv4TCP or CutIPv6TCP by the version of hdr.
func cut(dst, hdr, payload []byte, mss, i int) (int, error) {
	if segment.IPVersion(hdr) == 6 {
		return segment.CutIPv6TCP(dst, hdr, payload, mss, i)
	}
	return segment.CutIPv4TCP(dst, hdr, payload, mss, i)
}
