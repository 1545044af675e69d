package integration

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunstack/tunstack/segment"
)

// Path MTU discovery in the middle of a bulk transfer to the kernel's TCP,
// in both families: an ICMPv6 Packet Too Big (RFC 4443 3.2, RFC 8201) or an
// ICMP fragmentation needed (RFC 1191) quoting one of the stack's real,
// unacknowledged segments lowers the connection's segment size at once.

const nftPMTUTable = "tunstack_pmtu"

// pmtuWire is one wire segment the stack sent on the connection.
type pmtuWire struct {
	phase    int32 // pmtuPhase... when the tap saw it
	wireLen  int
	seq, end segment.Seq
}

// Phases of the test, as the tap records them.
const (
	pmtuFull     = iota // the transfer runs at full size
	pmtuNoAcks          // the kernel's ACKs to the stack are dropped
	pmtuPTBSent         // the ICMP message is on its way
	pmtuAcksBack        // the kernel's ACKs flow again
)

// dropKernelSegments drops, until the returned function is called (or the
// test ends), every TCP segment the kernel sends from port kport to the
// stack in family fam: with its ACKs gone, the data the stack has in
// flight stays unacknowledged, which is what RFC 5927 4.1 asks an ICMP
// error to quote.
func dropKernelSegments(t *testing.T, fam family, kport int) func() {
	t.Helper()
	nft := needTool(t, "nft", "nftables")
	tbl, ipk := "ip", "ip"
	if fam.name == "ipv6" {
		tbl, ipk = "ip6", "ip6"
	}
	rules := fmt.Sprintf(`table %s %s {
	chain out {
		type filter hook output priority 0; policy accept;
		%s saddr %s %s daddr %s tcp sport %d counter drop
	}
}
`, tbl, nftPMTUTable, ipk, fam.host, ipk, fam.stack, kport)
	cmd := exec.Command(nft, "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v\n%s\n%s", err, out, rules)
	}
	var once sync.Once
	remove := func() {
		once.Do(func() {
			if out, err := exec.Command(nft, "delete", "table", tbl, nftPMTUTable).CombinedOutput(); err != nil {
				t.Errorf("nft delete table: %v %s", err, out)
			}
		})
	}
	t.Cleanup(remove)
	return remove
}

// sendTooBig sends, from the kernel side, the ICMP error a router with a
// next-hop MTU of mtu sends for quote, a packet of the stack's: for IPv6 a
// Packet Too Big (type 2, RFC 4443 3.2) quoting as much as fits in the
// minimum MTU (RFC 4443 2.4(c)); for IPv4 a destination unreachable,
// fragmentation needed and DF set (type 3 code 4, RFC 1191 4) quoting the
// header and the start of the data (RFC 792, RFC 1812 4.3.2.3). The kernel
// writes the IP header (and the ICMPv6 checksum, RFC 3542 3.1).
func sendTooBig(t *testing.T, fam family, quote []byte, mtu int) {
	t.Helper()
	var msg []byte
	var fd int
	var err error
	var to unix.Sockaddr
	if fam.name == "ipv6" {
		msg = make([]byte, 8, 8+segment.IPv6MinMTU)
		msg[0] = 2 // Packet Too Big
		binary.BigEndian.PutUint32(msg[4:], uint32(mtu))
		msg = append(msg, quote[:min(len(quote), segment.IPv6MinMTU-segment.IPv6HeaderLen-8)]...)
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		to = &unix.SockaddrInet6{Addr: netip.MustParseAddr(fam.stack).As16()}
	} else {
		msg = make([]byte, 8, 576)
		msg[0], msg[1] = 3, 4
		binary.BigEndian.PutUint16(msg[6:], uint16(mtu))
		msg = append(msg, quote[:min(len(quote), 576-20-8)]...)
		binary.BigEndian.PutUint16(msg[2:], segment.Checksum(msg, 0))
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		to = &unix.SockaddrInet4{Addr: netip.MustParseAddr(fam.stack).As4()}
	}
	if err != nil {
		t.Fatalf("raw ICMP socket: %v", err)
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, msg, 0, to); err != nil {
		t.Fatalf("sending the ICMP error: %v", err)
	}
}

// TestPathMTUMidConnection: the kernel reads a chargen stream from the
// stack; once full-size segments flow, its ACKs are held back (nftables),
// and the test answers with Packet Too Big (IPv6, MTU 1280, the IPv6 minimum) or
// fragmentation needed (IPv4, MTU 1000): the first segment it resends
// then, which it has certainly not seen acknowledged. The stack must
// believe it (RFC
// 5927 4.1: it quotes data in flight), lower the segment size to the path
// MTU and resend what is in flight at the new size (RFC 8201 4, RFC 1191
// 6.1; like Linux's tcp_simple_retransmit) before the ACKs come back; from
// then on no segment it sends is larger than the path MTU, and the stream
// arrives complete and exact.
func TestPathMTUMidConnection(t *testing.T) {
	serve(t)
	inEveryFamily(t, func(t *testing.T, fam family) {
		pmtu := 1000
		if fam.name == "ipv6" {
			pmtu = segment.IPv6MinMTU
		}
		c := dialFamily(t, fam, portChargen)
		lport := c.LocalAddr().(*net.TCPAddr).Port
		stackIP, hostIP := netip.MustParseAddr(fam.stack), netip.MustParseAddr(fam.host)

		var phase atomic.Int32
		var mu sync.Mutex
		var wire []pmtuWire
		var badWire []string
		var armed atomic.Bool
		var maxEnd segment.Seq // the highest sequence number the stack has sent, under mu
		quote := make(chan []byte, 1)
		tapTUN(t, devName, func(p *tapPkt) {
			if p.toStack {
				return
			}
			segs, err := wireSegments(p.vnet, p.pkt)
			if err != nil {
				return // not TCP, or not ours
			}
			for _, w := range segs {
				var s segment.Segment
				if segment.Parse(w, &s) != nil || s.Src != stackIP || s.Dst != hostIP || s.SrcPort != portChargen || int(s.DstPort) != lport {
					continue
				}
				if len(w) > pmtu && phase.Load() == pmtuAcksBack {
					mu.Lock()
					badWire = append(badWire, s.String())
					mu.Unlock()
				}
				end := s.Seq.Add(uint32(len(s.Payload)))
				mu.Lock()
				wire = append(wire, pmtuWire{phase: phase.Load(), wireLen: len(w), seq: s.Seq, end: end})
				// A retransmission (it starts below what was sent
				// before) once the kernel's ACKs are held back: data
				// the stack has certainly not seen acknowledged, or it
				// would not resend it. A segment merely read after
				// the rule went in may have been acknowledged before
				// (the tap reads with a lag).
				retrans := len(wire) > 1 && s.Seq.LessThan(maxEnd)
				if len(wire) == 1 || end.GreaterThan(maxEnd) {
					maxEnd = end
				}
				mu.Unlock()
				if len(s.Payload) > 0 && retrans && armed.CompareAndSwap(true, false) {
					quote <- w
				}
			}
		})

		n := size(96<<20, 24<<20)
		read := make(chan error, 1)
		var got atomic.Int64
		go func() {
			c.SetDeadline(time.Now().Add(120 * time.Second))
			buf := make([]byte, 256<<10)
			var off int64
			for off < n {
				k, err := c.Read(buf[:min(int64(len(buf)), n-off)])
				if cerr := checkChargen(buf[:k], off); cerr != nil {
					read <- cerr
					return
				}
				off += int64(k)
				got.Store(off)
				if err != nil {
					read <- fmt.Errorf("after %d of %d bytes: %w", off, n, err)
					return
				}
			}
			read <- nil
		}()

		// Full-size segments first: the MSS the handshake gave.
		deadline := time.Now().Add(20 * time.Second)
		for got.Load() < 1<<20 {
			if time.Now().After(deadline) {
				t.Fatalf("only %d bytes of chargen within 20 s", got.Load())
			}
			time.Sleep(time.Millisecond)
		}
		restore := dropKernelSegments(t, fam, lport)
		phase.Store(pmtuNoAcks)
		armed.Store(true)
		var q []byte
		select {
		case q = <-quote:
		case <-time.After(10 * time.Second):
			t.Fatal("the stack retransmitted nothing within 10 s once the kernel's ACKs were held back")
		}
		if len(q) <= pmtu {
			t.Fatalf("the segment to quote is %d bytes, not above the %d-byte path: the connection's segments were small already", len(q), pmtu)
		}
		var qs segment.Segment
		segment.Parse(q, &qs)
		mu.Lock()
		sentBefore := maxEnd // in-flight data lies below it
		mu.Unlock()
		sendTooBig(t, fam, q, pmtu)
		phase.Store(pmtuPTBSent)
		t.Logf("quoted %v (%d bytes) in a %d-byte-MTU error; %d bytes read so far", &qs, len(q), pmtu, got.Load())

		// The stack resends in-flight data at the path MTU without waiting
		// for an ACK (the kernel's are still held back).
		resent := false
		for deadline := time.Now().Add(5 * time.Second); !resent && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			for _, w := range wire {
				if w.phase == pmtuPTBSent && w.wireLen <= pmtu && w.end != w.seq && w.seq.LessThan(sentBefore) {
					resent = true
				}
			}
			mu.Unlock()
		}
		if !resent {
			t.Fatalf("within 5 s of the error the stack resent no in-flight data in segments of at most %d bytes (RFC 8201 / RFC 1191: it must lower its segment size to the path MTU)", pmtu)
		}
		phase.Store(pmtuAcksBack)
		restore()

		if err := <-read; err != nil {
			t.Fatalf("chargen over %s after the path MTU dropped: %v", fam.name, err)
		}
		mu.Lock()
		defer mu.Unlock()
		large := 0
		after := 0
		for _, w := range wire {
			switch {
			case w.phase == pmtuFull && w.wireLen > pmtu:
				large++
			case w.phase == pmtuAcksBack:
				after++
			}
		}
		if large == 0 {
			t.Fatalf("no segment above %d bytes before the error: the test did not exercise path MTU discovery", pmtu)
		}
		if len(badWire) > 0 {
			t.Fatalf("%d of %d segments after the error exceed the %d-byte path MTU, e.g. %s", len(badWire), after, pmtu, badWire[0])
		}
		if after == 0 {
			t.Fatal("no segment seen after the ACKs came back")
		}
		t.Logf("%d full-size segments before, %d segments of at most %d bytes after; %d bytes exact", large, after, pmtu, n)
	})
}
