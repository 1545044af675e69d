package integration

import (
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/tunstack/tunstack/segment"
)

// Conformance tests: the three-way handshake as the raw peer sees it.

// confRFC7323_2_2_SynAckOptions (TestConformance/RFC7323_2_2_SynAckOptions): the SYN-ACK carries MSS 1460
// (MTU 1500 minus 40, RFC 9293 3.7.1) always, and the window scale option
// only when the SYN offered it (RFC 7323 1.3/2.2: "may be sent in a <SYN,ACK>
// segment only if the corresponding option was received in the initial
// <SYN>"). The SYN-ACK's window field is never scaled (RFC 7323 2.2).
// SACK-permitted and timestamps are echoed exactly when the SYN carried
// them (RFC 2018 2; RFC 7323 3.2: "MAY send a TSopt in <SYN,ACK> only if it
// received a TSopt in the initial <SYN>"), TSecr echoing the SYN's TSval.
func confRFC7323_2_2_SynAckOptions(t *testing.T, n *rawNet) {
	cases := []struct {
		name string
		syn  synOpts
	}{
		{"wscale7", synOpts{mss: 1460, wscale: 7, window: 64240}},
		{"no-options", synOpts{wscale: -1, window: 8192}},
		{"linux-syn-sack-ts", linuxSyn},
		{"wscale0", synOpts{mss: 1400, wscale: 0, window: 65535}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := n.newPeer(t, portEcho)
			sa := p.handshake(c.syn)
			o := sa.seg.Options
			if !o.HasMSS || o.MSS != 1460 {
				t.Errorf("SYN-ACK MSS option: has=%v mss=%d, want 1460 (RFC 9293 3.7.1, MTU 1500)", o.HasMSS, o.MSS)
			}
			if offered := c.syn.wscale >= 0; o.HasWScale != offered {
				t.Errorf("SYN-ACK window scale option present=%v, the SYN offered it=%v (RFC 7323 1.3)", o.HasWScale, offered)
			} else if offered && o.WScale > 14 {
				t.Errorf("SYN-ACK window scale %d > 14 (RFC 7323 2.3)", o.WScale)
			}
			if o.SACKPermitted != c.syn.sackPerm || o.HasTimestamp != c.syn.timestamp || o.NumSACK != 0 {
				t.Errorf("SYN-ACK options %+v; the SYN offered SACK %v, TS %v", o, c.syn.sackPerm, c.syn.timestamp)
			}
			if o.HasTimestamp && (o.TSEcr != p.synTSVal || o.TSVal == 0) {
				t.Errorf("SYN-ACK TS %d/%d, want TSecr %d (the SYN's TSval, RFC 7323 3.2)", o.TSVal, o.TSEcr, p.synTSVal)
			}
			// The default receive buffer (256 KiB) exceeds 16 bits, so the
			// unscaled SYN-ACK window is the field's maximum.
			if sa.seg.Window != 0xffff {
				t.Errorf("SYN-ACK window %d, want 65535 (256 KiB buffer, unscaled in a SYN, RFC 7323 2.2)", sa.seg.Window)
			}
			// gopacket's reading of the same options.
			g := gopacketTCP(t, sa.raw)
			var gMSS, gWS, gSACK, gTS bool
			for _, op := range g.Options {
				switch op.OptionType {
				case layers.TCPOptionKindMSS:
					gMSS = len(op.OptionData) == 2 && int(op.OptionData[0])<<8|int(op.OptionData[1]) == 1460
				case layers.TCPOptionKindWindowScale:
					gWS = true
				case layers.TCPOptionKindSACKPermitted:
					gSACK = true
				case layers.TCPOptionKindTimestamps:
					gTS = len(op.OptionData) == 8
				}
			}
			if !gMSS || gWS != (c.syn.wscale >= 0) || gSACK != c.syn.sackPerm || gTS != c.syn.timestamp {
				t.Errorf("gopacket reads the SYN-ACK options as %v", g.Options)
			}
			if !g.SYN || !g.ACK || g.RST || g.FIN || g.Ack != uint32(p.iss)+1 {
				t.Errorf("gopacket reads the SYN-ACK flags/ack as %+v", g)
			}
			// The connection works; with timestamps agreed our data
			// carries TSopt, its TSval after the SYN's (RFC 7323 5.3: an
			// older one would be dropped by PAWS).
			msg := pattern(300, 1)
			s := segment.Segment{Seq: p.nxt, Ack: p.rcvNxt, Flags: segment.FlagACK | segment.FlagPSH, Window: p.wnd, Payload: msg}
			if c.syn.timestamp {
				s.Options.HasTimestamp, s.Options.TSVal, s.Options.TSEcr = true, p.synTSVal+1, o.TSVal
			}
			p.sendSeg(s)
			p.nxt = p.nxt.Add(uint32(len(msg)))
			got, _ := p.readStream(len(msg), 3*time.Second)
			if string(got) != string(msg) {
				t.Fatalf("echo returned %d bytes that differ", len(got))
			}
			p.waitState("ESTABLISHED", time.Second)
		})
	}
}

// confRFC9293_3_7_1_NoMSSMeans536 (TestConformance/RFC9293_3_7_1_NoMSSMeans536): a SYN without the MSS
// option means the stack must not send segments larger than 536 bytes
// (RFC 9293 3.7.1, MUST-15).
func confRFC9293_3_7_1_NoMSSMeans536(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portEcho)
	p.handshake(synOpts{wscale: -1, window: 65535})
	msg := pattern(3000, 7)
	for off := 0; off < len(msg); off += 500 {
		p.sendData(msg[off : off+500])
	}
	var got []byte
	deadline := time.Now().Add(3 * time.Second)
	for len(got) < len(msg) {
		r := p.next(time.Until(deadline))
		if r == nil {
			t.Fatalf("echo returned %d of %d bytes", len(got), len(msg))
		}
		if len(r.seg.Payload) > 536 {
			t.Fatalf("segment of %d bytes to a peer that sent no MSS option (RFC 9293 3.7.1: 536): %v", len(r.seg.Payload), p.show(r))
		}
		if r.seg.Seq == p.rcvNxt {
			got = append(got, r.seg.Payload...)
			p.rcvNxt = p.rcvNxt.Add(uint32(len(r.seg.Payload)))
			p.ack()
		}
	}
	if string(got) != string(msg) {
		t.Fatal("echo data differs")
	}
}

// confRFC6298_SynAckRetransmission (TestConformance/RFC6298_SynAckRetransmission): when the final ACK of the
// handshake is lost the stack retransmits the SYN-ACK, the first time after
// the initial RTO of 1 s (RFC 6298 2.1), then with the timeout doubled (RFC
// 6298 5.5), as Linux does (1 s, 2 s, ...). Each retransmission is the same
// SYN-ACK (same ISS, same options). A late ACK still completes the
// handshake.
func confRFC6298_SynAckRetransmission(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portEcho)
	p.syn(linuxSyn)
	first := p.expectSynAck(2 * time.Second)
	prev := first
	for i, wantGap := range []time.Duration{time.Second, 2 * time.Second} {
		r := p.next(wantGap + time.Second)
		if r == nil {
			t.Fatalf("retransmission %d of the SYN-ACK not seen within %v", i+1, wantGap+time.Second)
		}
		if r.seg.Flags != first.seg.Flags || r.seg.Seq != first.seg.Seq || r.seg.Ack != first.seg.Ack ||
			!sameSynRetransmission(prev, r) || r.seg.Window != first.seg.Window {
			t.Fatalf("retransmission %d is %v, the original was %v", i+1, p.show(r), p.show(first))
		}
		gap := r.at.Sub(prev.at)
		t.Logf("SYN-ACK retransmission %d after %v", i+1, gap.Round(time.Millisecond))
		if gap < wantGap-100*time.Millisecond || gap > wantGap+500*time.Millisecond {
			t.Errorf("retransmission %d came %v after the previous SYN-ACK, want about %v (RFC 6298 2.1, 5.5)", i+1, gap, wantGap)
		}
		prev = r
	}
	// The late ACK completes the handshake; data flows.
	p.ack()
	p.echoRoundTrip([]byte("late ACK\n"))
	p.waitState("ESTABLISHED", time.Second)
	// And no further SYN-ACK (the next one would be due 4 s after the last).
	p.expectNone(300*time.Millisecond, "after the handshake completed")
}
