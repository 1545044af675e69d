//go:build linux

package tun_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/tun"
)

// rawTCP6 is the least of a TCP endpoint over IPv6 on the device side of a
// TUN: enough to let the kernel's TCP talk to it, so that the IPv6 offload
// tests need nothing of package stack. It sends whole packets with Write
// and data with WriteGSO, and reads with ReadPacketGSO or Read.
type rawTCP6 struct {
	t             *testing.T
	d             *tun.Device
	local, remote netip.Addr
	lport, rport  uint16
	plainRead     bool // read with Read (checksums completed) instead of ReadPacketGSO
	out, in       []byte

	// What was read, for the test's assertions.
	superSegs, trusted, verified, maxLen int
	gsoSizes                             map[int]int
}

func newRawTCP6(t *testing.T, d *tun.Device, local, remote netip.Addr, lport, rport uint16) *rawTCP6 {
	return &rawTCP6{t: t, d: d, local: local, remote: remote, lport: lport, rport: rport,
		out: make([]byte, 65575), in: make([]byte, 65575), gsoSizes: map[int]int{}}
}

// send writes one whole segment, checksum computed, with Write.
func (r *rawTCP6) send(flags segment.Flags, seq, ack segment.Seq, opts segment.Options, payload []byte) {
	r.t.Helper()
	seg := segment.Segment{Src: r.local, Dst: r.remote, SrcPort: r.lport, DstPort: r.rport,
		Seq: seq, Ack: ack, Flags: flags, Window: 65535, Options: opts, Payload: payload}
	n, err := segment.BuildIPv6TCP(r.out, &seg, 0, 64)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.d.Write(r.out[:n]); err != nil {
		r.t.Fatalf("Write: %v", err)
	}
}

// read returns the next TCP segment from the kernel to r (rport 0 takes
// any source port), skipping everything else. A segment whose checksum
// the device did not vouch for must verify; seg.Payload aliases r.in.
func (r *rawTCP6) read(deadline time.Time) segment.Segment {
	r.t.Helper()
	r.d.SetReadDeadline(deadline)
	for {
		var n, gso int
		var ok bool
		var err error
		if r.plainRead {
			n, err = r.d.Read(r.in)
		} else {
			n, ok, gso, err = r.d.ReadPacketGSO(r.in, nil)
		}
		if err != nil {
			r.t.Fatalf("reading from %s: %v", r.d.Name(), err)
		}
		pkt := r.in[:n]
		if n < 60 || pkt[0]>>4 != 6 || pkt[6] != segment.ProtocolTCP {
			continue
		}
		ip := segment.IPv6(pkt)
		if ip.Validate() != nil || ip.Src() != r.remote || ip.Dst() != r.local {
			continue
		}
		var seg segment.Segment
		if ok {
			err = segment.ParseTCPTrusted(ip.Src(), ip.Dst(), ip.Payload(), &seg)
		} else {
			err = segment.ParseIPv6TCP(pkt, &seg)
		}
		if err != nil {
			r.t.Fatalf("a TCP packet from the kernel does not parse (csumOK %v, gso %d): %v", ok, gso, err)
		}
		if seg.DstPort != r.lport || (r.rport != 0 && seg.SrcPort != r.rport) {
			continue
		}
		if ok {
			r.trusted++
		} else {
			r.verified++
		}
		if gso > 0 {
			r.superSegs++
			r.gsoSizes[gso]++
		}
		r.maxLen = max(r.maxLen, n)
		return seg
	}
}

// writeGSO hands the kernel payload as one segment with WriteGSO (cut at
// mss when longer).
func (r *rawTCP6) writeGSO(flags segment.Flags, seq, ack segment.Seq, payload []byte, mss int) error {
	seg := segment.Segment{Src: r.local, Dst: r.remote, SrcPort: r.lport, DstPort: r.rport,
		Seq: seq, Ack: ack, Flags: flags, Window: 65535}
	h, err := segment.BuildIPv6TCPHeadersOnly(r.out, &seg, len(payload), 0, 64)
	if err != nil {
		return err
	}
	n, err := r.d.WriteGSO(r.out[:h], payload, mss)
	if err == nil && n != h+len(payload) {
		err = errors.New("WriteGSO wrote a different length")
	}
	return err
}
