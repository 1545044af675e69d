package integration

import (
	"bytes"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// Conformance tests: the close paths of RFC 9293 3.6 as the raw peer
// drives them, with the stack's state read from its --trace output.

const httpClose = "GET / HTTP/1.1\r\nHost: 198.18.0.2\r\nConnection: close\r\n\r\n"

// confRFC9293_3_6_PassiveClose (TestConformance/RFC9293_3_6_PassiveClose): our FIN in ESTABLISHED is
// acknowledged (CLOSE-WAIT); the echo service then closes, so the stack's
// FIN follows (LAST-ACK) and is retransmitted until acknowledged (RFC 9293
// 3.10.4, 3.8.1); our final ACK closes the connection, after which the
// 4-tuple reaches no connection (RST, RFC 9293 3.10.7.1).
func confRFC9293_3_6_PassiveClose(t *testing.T, n *rawNet) {
	p := established(t, n, linuxSyn)
	p.send(segment.FlagFIN|segment.FlagACK, p.nxt, p.rcvNxt, nil)
	p.nxt = p.nxt.Add(1)
	fin := p.expectFIN("the echo service closes after our FIN")
	p.waitState("LAST-ACK", prompt)
	// Do not acknowledge it: the FIN comes again (same sequence number).
	r := p.next(3 * time.Second)
	if r == nil {
		t.Fatal("the FIN was not retransmitted in LAST-ACK")
	}
	if r.seg.Flags != segment.FlagFIN|segment.FlagACK || r.seg.Seq != fin.seg.Seq || r.seg.Ack != p.nxt || len(r.seg.Payload) != 0 {
		t.Fatalf("retransmission %v, want %v again", p.show(r), p.show(fin))
	}
	t.Logf("FIN retransmitted after %v", r.at.Sub(fin.at).Round(time.Millisecond))
	p.rcvNxt = fin.seg.Seq.Add(1)
	p.ack()
	p.waitState("CLOSED", prompt)
	p.expectNone(quiet, "after the last ACK")
	p.send(segment.FlagACK|segment.FlagPSH, p.nxt, p.rcvNxt, []byte("late"))
	p.expect(prompt, want{flags: segment.FlagRST, seq: p.rcvNxt}, "data after LAST-ACK -> CLOSED (RFC 9293 3.10.7.1)")
}

// expectFIN waits for the stack's FIN at p.rcvNxt acknowledging
// everything we sent (p.nxt). Pure ACKs advancing towards p.nxt may come
// first (of our data, of our FIN): the stack may acknowledge before it
// closes. It returns the FIN segment.
func (p *peer) expectFIN(why string) *rawPkt {
	p.t.Helper()
	prev := p.lastAck
	for range 4 {
		r := p.next(prompt)
		if r == nil {
			p.t.Fatalf("%s: no FIN", why)
		}
		s := &r.seg
		if s.Flags == segment.FlagACK && len(s.Payload) == 0 && s.Seq == p.rcvNxt &&
			s.Ack.GreaterThan(prev) && s.Ack.LessThanEq(p.nxt) {
			prev = s.Ack
			continue
		}
		if s.Flags != segment.FlagFIN|segment.FlagACK || s.Seq != p.rcvNxt || s.Ack != p.nxt || len(s.Payload) != 0 {
			p.t.Fatalf("%s: got %v, want [F.] seq=%d ack=%d", why, p.show(r), uint32(p.rcvNxt), uint32(p.nxt))
		}
		return r
	}
	p.t.Fatalf("%s: only ACKs, no FIN", why)
	return nil
}

// confRFC9293_3_6_DiscardCloseAfterEOF (TestConformance/RFC9293_3_6_DiscardCloseAfterEOF): the discard service
// reads until our FIN and then closes; the stack's FIN acknowledges our
// data and FIN.
func confRFC9293_3_6_DiscardCloseAfterEOF(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portDiscard)
	p.handshake(linuxSyn)
	p.sendData(pattern(1000, 0))
	p.send(segment.FlagFIN|segment.FlagACK, p.nxt, p.rcvNxt, nil)
	p.nxt = p.nxt.Add(1)
	fin := p.expectFIN("discard closes after EOF")
	p.rcvNxt = fin.seg.Seq.Add(1)
	p.ack()
	p.waitState("CLOSED", prompt)
}

// TestConformance_RFC9293_3_6_ActiveCloseTimeWait: the HTTP service closes
// first after a "Connection: close" response: the stack's FIN (FIN-WAIT-1),
// our ACK (FIN-WAIT-2), our FIN, its ACK (TIME-WAIT). In TIME-WAIT a
// retransmitted FIN is acknowledged again and restarts the 2 MSL timer, a
// RST is ignored (RFC 1337 TIME-WAIT assassination hazard), and after 2*MSL
// the 4-tuple reaches no connection (RFC 9293 3.10.7.4 "TIME-WAIT STATE").
func TestConformance_RFC9293_3_6_ActiveCloseTimeWait(t *testing.T) {
	inEveryModeAndIPv6(t, confRFC9293_3_6_ActiveCloseTimeWait)
}

func confRFC9293_3_6_ActiveCloseTimeWait(t *testing.T, m linkMode, fam family) {
	const msl = 500 * time.Millisecond
	n := conformanceIn(t, m, fam, "--msl", msl.String())
	p := n.newPeer(t, portHTTP)
	p.handshake(linuxSyn)
	p.sendData([]byte(httpClose))
	resp, fin := p.read(-1, true, true, 3*time.Second)
	if !fin || !bytes.HasPrefix(resp, []byte("HTTP/1.1 200 ")) {
		t.Fatalf("response %q, FIN %v", resp, fin)
	}
	p.waitState("FIN-WAIT-2", prompt)
	p.expectNone(quiet, "FIN-WAIT-2 with nothing to send")

	finAck := want{flags: segment.FlagACK, seq: p.rcvNxt, ack: p.nxt.Add(1)}
	ourFIN := p.nxt
	p.send(segment.FlagFIN|segment.FlagACK, ourFIN, p.rcvNxt, nil)
	p.nxt = p.nxt.Add(1)
	p.expect(prompt, finAck, "ACK of our FIN in FIN-WAIT-2")
	p.waitState("TIME-WAIT", prompt)

	// A retransmission of our FIN: ACKed again.
	p.send(segment.FlagFIN|segment.FlagACK, ourFIN, p.rcvNxt, nil)
	p.expect(prompt, finAck, "ACK of a retransmitted FIN in TIME-WAIT")
	// A RST (in window, even exact) must not end TIME-WAIT early (RFC 1337).
	p.send(segment.FlagRST, p.nxt, 0, nil)
	p.send(segment.FlagRST|segment.FlagACK, p.nxt, p.rcvNxt, nil)
	p.expectNone(100*time.Millisecond, "RST in TIME-WAIT")
	p.send(segment.FlagFIN|segment.FlagACK, ourFIN, p.rcvNxt, nil)
	last := time.Now()
	p.expect(prompt, finAck, "ACK of a retransmitted FIN in TIME-WAIT after RSTs (RFC 1337)")

	// 2*MSL after the last restart the record expires.
	p.waitState("CLOSED", 2*msl+3*time.Second)
	held := time.Since(last)
	t.Logf("TIME-WAIT ended %v after the last retransmitted FIN (2*MSL = %v)", held.Round(time.Millisecond), 2*msl)
	if held < 2*msl-50*time.Millisecond {
		t.Fatalf("TIME-WAIT ended %v after the FIN that should have restarted 2*MSL = %v", held, 2*msl)
	}
	p.send(segment.FlagFIN|segment.FlagACK, ourFIN, p.rcvNxt, nil)
	p.expect(prompt, want{flags: segment.FlagRST, seq: p.rcvNxt}, "FIN after TIME-WAIT expired (RFC 9293 3.10.7.1)")
}

// confRFC9293_3_6_SimultaneousClose (TestConformance/RFC9293_3_6_SimultaneousClose): the stack's FIN and ours
// cross: we send our FIN without acknowledging the stack's, so it moves
// FIN-WAIT-1 -> CLOSING and acknowledges our FIN; our ACK of its FIN then
// moves it to TIME-WAIT (RFC 9293 3.6, Figure 13, 3.10.7.4).
func confRFC9293_3_6_SimultaneousClose(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portHTTP)
	p.handshake(linuxSyn)
	p.sendData([]byte(httpClose))
	resp, fin := p.read(-1, true, false, 3*time.Second)
	if !fin || !bytes.HasPrefix(resp, []byte("HTTP/1.1 200 ")) {
		t.Fatalf("response %q, FIN %v", resp, fin)
	}
	stackFIN := p.rcvNxt // not acknowledged
	p.send(segment.FlagFIN|segment.FlagACK, p.nxt, stackFIN, nil)
	p.nxt = p.nxt.Add(1)
	p.expect(prompt, want{flags: segment.FlagACK, seq: stackFIN.Add(1), ack: p.nxt}, "ACK of our FIN in FIN-WAIT-1 (-> CLOSING)")
	p.waitState("CLOSING", prompt)
	p.rcvNxt = stackFIN.Add(1)
	p.ack()
	p.waitState("TIME-WAIT", prompt)
	p.send(segment.FlagFIN|segment.FlagACK, back(p.nxt, 1), p.rcvNxt, nil)
	p.expect(prompt, want{flags: segment.FlagACK, seq: p.rcvNxt, ack: p.nxt}, "ACK of a retransmitted FIN in TIME-WAIT")
}

// confRFC9293_3_10_4_CloseWithZeroWindow (TestConformance/RFC9293_3_10_4_CloseWithZeroWindow): the HTTP service
// writes its response and closes while our window is zero. CLOSE must still
// move the connection to FIN-WAIT-1 at once ("queue this until all
// preceding SENDs have been segmentized, then form a FIN segment and send
// it. In any case, enter FIN-WAIT-1 state", RFC 9293 3.10.4; gVisor #13393
// did not); when the window opens, the rest of the data and then the FIN
// arrive.
func confRFC9293_3_10_4_CloseWithZeroWindow(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portHTTP)
	p.handshake(synOpts{mss: 1460, wscale: -1, window: 500})
	p.sendData([]byte("GET /bytes/3000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	var resp []byte
	for len(resp) < 500 {
		r := p.next(prompt)
		if r == nil {
			t.Fatalf("%d bytes of the response, want the 500 our window allows", len(resp))
		}
		if end := r.seg.Seq.Add(r.seg.Len()); end.GreaterThan(p.irs.Add(501)) {
			t.Fatalf("%v goes beyond our 500-byte window", p.show(r))
		}
		if r.seg.Seq == p.rcvNxt {
			resp = append(resp, r.seg.Payload...)
			p.rcvNxt = p.rcvNxt.Add(uint32(len(r.seg.Payload)))
		}
	}
	p.wnd = 0
	p.ack()
	p.waitState("FIN-WAIT-1", 2*time.Second)
	p.wnd = 65535
	more, fin := p.read(-1, true, true, 3*time.Second)
	resp = append(resp, more...)
	if !fin {
		t.Fatal("no FIN")
	}
	i := bytes.Index(resp, []byte("\r\n\r\n"))
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 200 ")) || i < 0 || len(resp)-i-4 != 3000 {
		t.Fatalf("response of %d bytes: %q...", len(resp), resp[:min(len(resp), 200)])
	}
	p.waitState("FIN-WAIT-2", prompt)
}
