package stack_test

import (
	"io"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
)

// RFC 3168 6.1.1: a SYN with ECE and CWR set is an "ECN-setup SYN". We do
// not negotiate ECN, so it is answered with an ordinary SYN-ACK (no ECE,
// no CWR: "a non-ECN-setup SYN-ACK"), never with a RST (gVisor #7075), on
// the listener's stateful path and on the SYN-cookie path alike, and the
// connection then works. The SYN is what Linux sends with
// net.ipv4.tcp_ecn=1 (MSS, SACK-permitted, timestamps, window scale).
func TestListenerECNSetupSYN(t *testing.T) {
	for _, cookie := range []bool{false, true} {
		name := "stateful"
		if cookie {
			name = "cookie"
		}
		t.Run(name, func(t *testing.T) {
			o := stack.Options{}
			if cookie {
				o.SynBacklog = 1
			}
			l, s, ln := rawListener(t, o)
			if cookie {
				// One half-open connection fills the SYN queue.
				l.inject(tcpPacket(t, &segment.Segment{Src: addrA, Dst: addrB, SrcPort: 39999, DstPort: 80, Seq: 1, Flags: segment.FlagSYN, Window: 65535}))
				if l.next(t, 2*time.Second) == nil {
					t.Fatal("no SYN-ACK for the first SYN")
				}
			}
			syn := &segment.Segment{Src: addrA, Dst: addrB, SrcPort: 40000, DstPort: 80, Seq: 1000,
				Flags: segment.FlagSYN | segment.FlagECE | segment.FlagCWR, Window: 64240}
			syn.Options = segment.Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 5000, HasWScale: true, WScale: 7}
			l.inject(tcpPacket(t, syn))
			pkt := l.next(t, 2*time.Second)
			if pkt == nil {
				t.Fatal("no answer to an ECN-setup SYN")
			}
			var sa segment.Segment
			if err := segment.ParseIPv4TCP(pkt, &sa); err != nil {
				t.Fatal(err)
			}
			if sa.Flags != segment.FlagSYN|segment.FlagACK || sa.Ack != 1001 {
				t.Fatalf("answer %v ack %d, want a SYN-ACK acknowledging 1001 without ECE/CWR (RFC 3168 6.1.1)", sa.Flags, sa.Ack)
			}
			if !sa.Options.HasTimestamp || sa.Options.TSEcr != 5000 || !sa.Options.SACKPermitted {
				t.Fatalf("SYN-ACK options %+v, want SACK-permitted and TS echoing 5000", sa.Options)
			}
			if stats := s.Stats(); stats.RSTsSent != 0 || cookie != (stats.SynCookiesSent == 1) {
				t.Fatalf("%d RSTs sent, %d cookies sent (cookie path %v)", stats.RSTsSent, stats.SynCookiesSent, cookie)
			}
			ack := &segment.Segment{Src: addrA, Dst: addrB, SrcPort: 40000, DstPort: 80, Seq: 1001, Ack: sa.Seq.Add(1),
				Flags: segment.FlagACK | segment.FlagPSH, Window: 502, Payload: []byte("hello")}
			ack.Options = segment.Options{HasTimestamp: true, TSVal: 5001, TSEcr: sa.Options.TSVal}
			l.inject(tcpPacket(t, ack))
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 5)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
				t.Fatalf("read %q, %v", buf, err)
			}
		})
	}
}
