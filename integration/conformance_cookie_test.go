package integration

import (
	"bytes"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// TestConformance_RFC4987_3_6_SynCookies: once a listener's half-open
// queue is full (1,024 SYNs left unanswered), a SYN is answered statelessly
// with a SYN cookie (RFC 4987 3.6): the SYN-ACK still carries MSS and window
// scale, it is never retransmitted (no state), and the returning ACK opens
// a connection that honours what the cookie encoded: our MSS rounded down
// to the cookie's table (1350 -> 1300) and our window scale (7), and the
// stack scales its own window by the shift it announced.
func TestConformance_RFC4987_3_6_SynCookies(t *testing.T) {
	inEveryModeAndIPv6(t, confRFC4987_3_6_SynCookies)
}

func confRFC4987_3_6_SynCookies(t *testing.T, m linkMode, fam family) {
	const backlog = 1024 // stack.DefaultSynBacklog
	const flood = backlog + 64
	n := conformanceIn(t, m, fam)
	catchAll := make(chan *rawPkt, 8192)
	n.mu.Lock()
	n.catchAll = catchAll
	n.mu.Unlock()
	// Fill echo's half-open queue from ports no peer listens on, paced so
	// that the TUN's queue does not overflow, and send again the SYNs whose
	// SYN-ACK does not come back (lost on a busy machine); 64 more than the
	// queue holds, so that no room is left.
	base := uint16(nextPeerPort.Add(flood+1)) - flood
	synFor := func(i int) []byte {
		s := segment.Segment{Src: fam.hostIP(), Dst: fam.stackIP(), SrcPort: base + uint16(i), DstPort: portEcho,
			Seq: segment.Seq(1000 + i), Flags: segment.FlagSYN, Window: 1000}
		buf := make([]byte, 64)
		m, err := buildRawTCP(buf, &s, uint16(i))
		if err != nil {
			t.Fatal(err)
		}
		return buf[:m]
	}
	answered := map[uint16]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for round := 0; len(answered) < flood; round++ {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of the %d flood SYNs were answered: the half-open queue may not be full", len(answered), flood)
		}
		k := 0
		for i := range flood {
			if answered[base+uint16(i)] {
				continue
			}
			n.write(t, synFor(i))
			if k++; k%16 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
		collect := time.After(300 * time.Millisecond)
	wait:
		for {
			select {
			case r := <-catchAll:
				if r.seg.Flags == segment.FlagSYN|segment.FlagACK && r.seg.SrcPort == portEcho {
					answered[r.seg.DstPort] = true
				}
			case <-collect:
				break wait
			}
		}
	}

	p := n.newPeer(t, portEcho)
	p.syn(synOpts{mss: 1350, wscale: 7, window: 65535})
	sa := p.expectSynAck(prompt)
	o := sa.seg.Options
	if !o.HasMSS || o.MSS != 1460 || !o.HasWScale {
		t.Fatalf("cookie SYN-ACK options %+v, want MSS 1460 and a window scale", o)
	}
	// Stateless: no retransmission when the final ACK does not come.
	p.expectNone(1500*time.Millisecond, "a SYN-ACK retransmission (a cookie SYN-ACK keeps no state)")
	p.wnd = 65535 >> 7
	p.ack()
	p.waitState("ESTABLISHED", prompt)

	// The MSS the cookie carried: 1350 rounds down to 1300.
	// In full 1350-byte segments (our MSS): each echo write is larger than
	// 1300, so the limit is always exercised.
	d := pattern(6*1350, 31)
	for off := 0; off < len(d); off += 1350 {
		p.sendData(d[off : off+1350])
	}
	var got []byte
	largest := 0
	for len(got) < len(d) {
		r := p.next(3 * time.Second)
		if r == nil {
			t.Fatalf("echo returned %d of %d bytes", len(got), len(d))
		}
		if len(r.seg.Payload) > 1300 {
			t.Fatalf("a %d-byte segment on a cookie connection for MSS 1350 (table value 1300): %v", len(r.seg.Payload), p.show(r))
		}
		largest = max(largest, len(r.seg.Payload))
		if r.seg.Seq == p.rcvNxt && len(r.seg.Payload) > 0 {
			got = append(got, r.seg.Payload...)
			p.rcvNxt = p.rcvNxt.Add(uint32(len(r.seg.Payload)))
			p.ack()
		}
	}
	if !bytes.Equal(got, d) {
		t.Fatalf("echo differs at %d", firstDiff(got, d))
	}
	if largest != 1300 {
		t.Errorf("largest segment %d bytes, want 1300", largest)
	}
	// Its own window, scaled by the shift in the cookie SYN-ACK: about
	// the 256 KiB buffer.
	if w := int(p.lastWnd) << p.stackShift; w < 200<<10 {
		t.Errorf("the stack advertises field %d << %d = %d bytes on a cookie connection, want about 256 KiB", p.lastWnd, p.stackShift, w)
	}
	// Our window scale survived the cookie: a field of 75 means 9600
	// bytes. The echo's writes (4 KiB) do not fall on segment boundaries,
	// so sender SWS avoidance may hold back the last partial segment; with
	// the scale lost the window would be 75 bytes.
	// The window shrinks only while nothing is in flight: the new field
	// rides on the data that provokes the echo.
	p.wnd = 75
	more := pattern(20000, 3)
	for off := 0; off < len(more); off += 1000 {
		p.sendData(more[off : off+1000])
	}
	sent, _ := p.windowRound(75, 7, time.Second)
	if sent < 9600-1300 {
		t.Fatalf("%d bytes sent into a window field of 75 << 7 = 9600 bytes on a cookie connection (our window scale lost?)", sent)
	}
	// And the stack's own count agrees.
	n.proc.signal(syscall.SIGTERM)
	n.proc.wait(5 * time.Second)
	re := regexp.MustCompile(`^\s+syn_cookies_validated\s+(\d+)$`)
	l, ok := n.proc.findLine(re, 0, time.Second)
	if !ok {
		t.Fatal("no syn_cookies_validated counter in the exit statistics")
	}
	if v, _ := strconv.Atoi(re.FindStringSubmatch(l)[1]); v < 1 {
		t.Fatalf("the stack validated %d SYN cookies, want the one above", v)
	}
}
