package integration

import (
	"bytes"
	"encoding/binary"
	"regexp"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// Conformance tests: resets, challenge ACKs, the acceptability of sequence
// and acknowledgment numbers, segments reaching no connection, ping.

const (
	// quiet is how long "nothing is sent" is watched for.
	quiet = 300 * time.Millisecond
	// prompt bounds an answer that should come at once.
	prompt = time.Second
)

// established returns a peer with an echo connection that has exchanged
// one message each way.
func established(t *testing.T, n *rawNet, o synOpts) *peer {
	p := n.newPeer(t, portEcho)
	p.handshake(o)
	p.echoRoundTrip([]byte("hello\n"))
	return p
}

// confRFC5961_3_2_RST (TestConformance/RFC5961_3_2_RST): a RST whose sequence number is exactly
// RCV.NXT resets the connection (afterwards the 4-tuple reaches no
// connection and a segment there is answered with a RST, RFC 9293
// 3.10.7.1); one inside the window but not exactly at RCV.NXT gets a
// challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and the connection
// survives; one outside the window is silently dropped (RFC 5961 3.2).
// Nothing answers a RST with a RST.
func confRFC5961_3_2_RST(t *testing.T, n *rawNet) {

	t.Run("exact", func(t *testing.T) {
		p := established(t, n, linuxSyn)
		p.send(segment.FlagRST|segment.FlagACK, p.nxt, p.rcvNxt, nil)
		p.expectNone(quiet, "after a RST at RCV.NXT")
		p.waitState("CLOSED", prompt)
		// The connection is gone: data on the old 4-tuple, with ACK on,
		// gets <SEQ=SEG.ACK><CTL=RST>.
		p.sendData([]byte("anyone?"))
		p.expect(prompt, want{flags: segment.FlagRST, seq: p.rcvNxt}, "data after the reset (RFC 9293 3.10.7.1)")
	})

	t.Run("in-window-challenge", func(t *testing.T) {
		p := established(t, n, linuxSyn)
		for _, off := range []uint32{1, 100, 30000} {
			p.send(segment.FlagRST, p.nxt.Add(off), 0, nil)
			p.expect(prompt, want{flags: segment.FlagACK, seq: p.rcvNxt, ack: p.nxt}, "challenge ACK for an in-window RST (RFC 5961 3.2)")
		}
		p.send(segment.FlagRST|segment.FlagACK, p.nxt.Add(1), p.rcvNxt, nil)
		p.expect(prompt, want{flags: segment.FlagACK, seq: p.rcvNxt, ack: p.nxt}, "challenge ACK for an in-window RST|ACK (RFC 5961 3.2)")
		p.echoRoundTrip([]byte("still here\n"))
	})

	t.Run("out-of-window", func(t *testing.T) {
		p := established(t, n, linuxSyn)
		// Left of RCV.NXT (an old sequence number) and far right of the
		// window (256 KiB).
		p.send(segment.FlagRST, p.nxt.Add(^uint32(0)), 0, nil)
		p.send(segment.FlagRST|segment.FlagACK, back(p.nxt, 10000), p.rcvNxt, nil)
		p.send(segment.FlagRST, p.nxt.Add(1<<30), 0, nil)
		p.send(segment.FlagRST|segment.FlagACK, p.nxt.Add(1<<20), p.rcvNxt, nil)
		p.expectNone(quiet, "after RSTs outside the window (RFC 5961 3.2: discard)")
		p.echoRoundTrip([]byte("still here\n"))
	})
}

// confRFC5961_4_2_SynInEstablished (TestConformance/RFC5961_4_2_SynInEstablished): a SYN in a synchronized
// state, whatever its sequence number, gets a challenge ACK
// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and the connection stays (RFC 5961
// 4.2; RFC 9293 3.10.7.4 "fourth, check the SYN bit").
func confRFC5961_4_2_SynInEstablished(t *testing.T, n *rawNet) {
	p := established(t, n, linuxSyn)
	for i, seq := range []segment.Seq{p.nxt, p.nxt.Add(1000), p.iss, p.nxt.Add(1 << 31), p.nxt} {
		s := segment.Segment{Seq: seq, Flags: segment.FlagSYN, Window: 64240}
		if i == 4 {
			// With data (and ACK): still only a challenge ACK; the text
			// is not delivered (the echo stays silent below).
			s.Flags |= segment.FlagACK
			s.Ack = p.rcvNxt
			s.Payload = []byte("syn data")
		}
		s.Options.HasMSS, s.Options.MSS = true, 1460
		p.sendSeg(s)
		p.expect(prompt, want{flags: segment.FlagACK, seq: p.rcvNxt, ack: p.nxt}, "challenge ACK for a SYN in ESTABLISHED (RFC 5961 4.2)")
	}
	p.expectNone(quiet, "after the challenge ACKs")
	p.echoRoundTrip([]byte("still established\n"))
	p.waitState("ESTABLISHED", prompt)
}

// confRFC9293_3_10_7_4_AckAcceptability (TestConformance/RFC9293_3_10_7_4_AckAcceptability): in ESTABLISHED a
// segment acknowledging something not yet sent (SEG.ACK > SND.NXT) is
// answered with an ACK and dropped, its text included (RFC 9293 3.10.7.4,
// fifth step); so is one acknowledging data older than SND.UNA -
// MAX.SND.WND (RFC 5961 5.2: such segments "MUST be discarded and an ACK
// sent back").
func confRFC9293_3_10_7_4_AckAcceptability(t *testing.T, n *rawNet) {
	p := established(t, n, linuxSyn)
	for _, c := range []struct {
		name string
		ack  segment.Seq
	}{
		{"ack beyond SND.NXT", p.rcvNxt.Add(5000)},
		{"ack below SND.UNA-MAX.SND.WND", back(p.rcvNxt, 1<<20)},
	} {
		p.send(segment.FlagACK|segment.FlagPSH, p.nxt, c.ack, []byte("must be dropped"))
		p.expect(prompt, want{flags: segment.FlagACK, seq: p.rcvNxt, ack: p.nxt}, c.name+": ACK with the unchanged RCV.NXT")
		p.expectNone(quiet, c.name+": the text must not be delivered (no echo)")
	}
	// "fifth, check the ACK field: if the ACK bit is off, drop the segment
	// and return": text and FIN without ACK are not processed.
	p.send(segment.FlagPSH, p.nxt, 0, []byte("no ACK bit"))
	p.send(segment.FlagFIN, p.nxt, 0, nil)
	p.expectNone(quiet, "segments without the ACK bit: dropped, nothing delivered (no echo)")
	p.waitState("ESTABLISHED", prompt)
	p.echoRoundTrip([]byte("only this\n"))
	if l, ok := n.proc.findLine(regexp.MustCompile(regexp.QuoteMeta(p.traceAddr()+" ")+`.*ESTABLISHED -> CLOSE-WAIT`), 0, 0); ok {
		t.Fatalf("a FIN without ACK was processed: %s", l)
	}
}

// confRFC9293_3_10_7_4_SeqAcceptability (TestConformance/RFC9293_3_10_7_4_SeqAcceptability): a segment whose text
// lies entirely left of RCV.NXT (an old duplicate) or beyond the window is
// not acceptable: it is answered with <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
// and nothing is delivered (the four-case table of RFC 9293 3.10.7.4).
func confRFC9293_3_10_7_4_SeqAcceptability(t *testing.T, n *rawNet) {
	p := established(t, n, linuxSyn)
	old := pattern(1000, 3)
	p.echoRoundTrip(old)
	if w := p.rightEdge().Sub(p.nxt); w < 200<<10 {
		t.Fatalf("the stack advertises a %d-byte window, want about its 256 KiB buffer", w)
	}
	cases := []struct {
		name    string
		seq     segment.Seq
		payload []byte
	}{
		{"old duplicate", back(p.nxt, uint32(len(old))), old},
		{"old duplicate ending just before RCV.NXT", back(p.nxt, 1), []byte("x")},
		{"beyond the window", p.nxt.Add(300 << 10), []byte("far")},
		{"starting at the right edge of the advertised window", p.rightEdge(), []byte("edge")},
		{"empty, beyond the window", p.nxt.Add(1 << 30), nil},
		{"empty, left of RCV.NXT", back(p.nxt, 5), nil},
		// A keep-alive probe (RFC 9293 3.8.4: SEG.SEQ = SND.NXT-1) must be
		// answered with an ACK.
		{"keep-alive probe (empty, at RCV.NXT-1)", back(p.nxt, 1), nil},
	}
	for _, c := range cases {
		p.send(segment.FlagACK|segment.FlagPSH, c.seq, p.rcvNxt, c.payload)
		p.expect(prompt, want{flags: segment.FlagACK, seq: p.rcvNxt, ack: p.nxt}, c.name+": ACK with RCV.NXT")
		p.expectNone(quiet, c.name+": nothing delivered")
	}
	p.echoRoundTrip([]byte("in order\n"))
}

// confRFC9293_3_10_7_1_NoConnectionRST (TestConformance/RFC9293_3_10_7_1_NoConnectionRST): a segment for a port
// with no listener gets <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> when its
// ACK bit is off and <SEQ=SEG.ACK><CTL=RST> when it is on; a RST gets
// nothing (RFC 9293 3.10.7.1, "If the state is CLOSED").
func confRFC9293_3_10_7_1_NoConnectionRST(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portClosed)
	seq := segment.Seq(0xfffffff0) // wraps when the length is added

	p.syn(linuxSyn)
	p.expect(prompt, want{flags: segment.FlagRST | segment.FlagACK, seq: 0, ack: p.iss.Add(1)}, "SYN to a closed port")

	// ECN-setup SYN (ECE|CWR): same answer, no choking (gVisor #7075).
	p.send(segment.FlagSYN|segment.FlagECE|segment.FlagCWR, seq, 0, nil)
	p.expect(prompt, want{flags: segment.FlagRST | segment.FlagACK, seq: 0, ack: seq.Add(1)}, "ECN SYN to a closed port")

	// SYN with data and FIN: SEG.LEN counts SYN, text and FIN.
	p.send(segment.FlagSYN|segment.FlagFIN, seq, 0, []byte("0123456789abcdefghij"))
	p.expect(prompt, want{flags: segment.FlagRST | segment.FlagACK, seq: 0, ack: seq.Add(22)}, "SYN+data+FIN to a closed port")

	// ACK off, plain data.
	p.send(segment.FlagPSH, seq, 0, []byte("abc"))
	p.expect(prompt, want{flags: segment.FlagRST | segment.FlagACK, seq: 0, ack: seq.Add(3)}, "data without ACK to a closed port")

	// ACK on.
	p.send(segment.FlagACK, seq, 0x12345678, nil)
	p.expect(prompt, want{flags: segment.FlagRST, seq: 0x12345678}, "ACK to a closed port")
	p.send(segment.FlagACK|segment.FlagFIN|segment.FlagPSH, seq, 0xdeadbeef, []byte("bye"))
	p.expect(prompt, want{flags: segment.FlagRST, seq: 0xdeadbeef}, "data+FIN with ACK to a closed port")

	// Never a RST for a RST.
	p.send(segment.FlagRST, seq, 0, nil)
	p.send(segment.FlagRST|segment.FlagACK, seq, 1, nil)
	p.send(segment.FlagRST|segment.FlagPSH, seq, 0, []byte("reset with data"))
	p.expectNone(quiet, "RSTs to a closed port")
}

// confRFC9293_3_10_7_2_Listen (TestConformance/RFC9293_3_10_7_2_Listen): on a listening port with no
// connection for the 4-tuple, an ACK-bearing segment gets
// <SEQ=SEG.ACK><CTL=RST>, a RST is ignored, and a segment with neither SYN
// nor ACK is dropped (RFC 9293 3.10.7.2).
func confRFC9293_3_10_7_2_Listen(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portEcho)
	p.send(segment.FlagACK, 1000, 777777, nil)
	p.expect(prompt, want{flags: segment.FlagRST, seq: 777777}, "ACK to a listener")
	p.send(segment.FlagACK|segment.FlagFIN, 1000, 4242, nil)
	p.expect(prompt, want{flags: segment.FlagRST, seq: 4242}, "FIN|ACK to a listener")
	p.send(segment.FlagRST, 1000, 0, nil)
	p.send(segment.FlagRST|segment.FlagACK, 1000, 5, nil)
	p.send(segment.FlagPSH, 1000, 0, []byte("no SYN, no ACK"))
	p.send(segment.FlagFIN, 1000, 0, nil)
	p.expectNone(quiet, "RST, or neither SYN nor ACK, to a listener")
	// The listener is unharmed.
	q := n.newPeer(t, portEcho)
	q.handshake(linuxSyn)
	q.echoRoundTrip([]byte("listener fine\n"))
}

// confRFC1122_3_2_2_6_Ping (TestConformance/RFC1122_3_2_2_6_Ping): an ICMP echo request is answered
// with an echo reply carrying the same identifier, sequence number and data
// (RFC 1122 3.2.2.6: "The data received in the ICMP Echo Request MUST be
// entirely included in the resulting Echo Reply"), with a valid checksum.
func confRFC1122_3_2_2_6_Ping(t *testing.T, n *rawNet) {
	for i, size := range []int{0, 56, 1472} {
		id, seq := uint16(0xbeef), uint16(i+1)
		data := pattern(size, i)
		n.write(t, icmpEcho(id, seq, data))
		select {
		case r := <-n.icmp:
			ip, m, err := segment.ParseIPv4ICMP(r.raw)
			if err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			if m.Type() != 0 || m.Code() != 0 || m.ID() != id || m.Seq() != seq || !bytes.Equal(m[8:], data) {
				t.Fatalf("reply type %d code %d id %#x seq %d, %d bytes of data; want echo reply id %#x seq %d with the %d bytes sent",
					m.Type(), m.Code(), m.ID(), m.Seq(), len(m)-8, id, seq, size)
			}
			if src, dst := binary.BigEndian.Uint32(ip[12:16]), binary.BigEndian.Uint32(ip[16:20]); dst != binary.BigEndian.Uint32(hostIP.AsSlice()) || src != binary.BigEndian.Uint32(stackIP.AsSlice()) {
				t.Fatalf("reply from %x to %x, want %v to %v", src, dst, stackIP, hostIP)
			}
		case <-time.After(prompt):
			t.Fatalf("no echo reply to a %d-byte echo request", size)
		}
	}
	// A request with a bad ICMP checksum is discarded (RFC 1122 3.2.2:
	// the checksum is verified like any other).
	bad := icmpEcho(0xbeef, 99, []byte("corrupt"))
	bad[20+2] ^= 0xff
	n.write(t, bad)
	select {
	case r := <-n.icmp:
		t.Fatalf("an echo request with a bad checksum was answered: % x", r.raw[:28])
	case <-time.After(quiet):
	}
}

// back returns s moved n sequence numbers to the left.
func back(s segment.Seq, n uint32) segment.Seq { return s - segment.Seq(n) }
