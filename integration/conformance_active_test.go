package integration

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/tun/tuntest"
)

// Conformance tests: the active open. `tunstack dial` connects from the
// stack to 198.18.0.1; the raw peer plays the server. The TUN device is
// created here beforehand (tunstack attaches with --tun), so the packet
// socket is listening before the stack's first SYN.

const dialDev = "tsconf0"

// dialNet creates the TUN device dialDev with the kernel side 198.18.0.1/24
// and the raw plumbing on it, for `tunstack dial` in link mode m.
func dialNet(t *testing.T, m linkMode) *rawNet {
	t.Helper()
	needTool(t, "ip", "iproute2")
	tuntest.Require(t)
	dropKernelRSTs(t)
	tuntest.Run(t, "ip", "tuntap", "add", "dev", dialDev, "mode", "tun")
	t.Cleanup(func() { exec.Command("ip", "link", "del", dialDev).Run() })
	tuntest.Run(t, "ip", "addr", "add", hostAddr+"/24", "dev", dialDev)
	tuntest.Run(t, "ip", "link", "set", dialDev, "mtu", "1500", "up")
	n := newRawNet(t, dialDev)
	n.mode = m
	return n
}

// dial starts `tunstack dial` to our port with stdin as its input and
// returns the server-side peer, not yet connected.
func (n *rawNet) dial(t *testing.T, stdin []byte, flags ...string) *peer {
	t.Helper()
	p := n.newPeer(t, 0)
	args := append([]string{"dial", "--trace", "--grace", "50ms", "--tun", dialDev, "--addr", stackAddr}, n.mode.flags...)
	args = append(args, flags...)
	args = append(args, fmt.Sprintf("%s:%d", hostAddr, p.port))
	n.proc = startTunstack(t, stdin, args...)
	return p
}

// acceptSyn waits for the stack's SYN and records its sequence space.
func (p *peer) acceptSyn(timeout time.Duration) *rawPkt {
	p.t.Helper()
	r := p.next(timeout)
	if r == nil {
		p.t.Fatalf("no SYN within %v", timeout)
	}
	if r.seg.Flags != segment.FlagSYN || len(r.seg.Payload) != 0 {
		p.t.Fatalf("got %v, want a SYN", &r.seg)
	}
	p.sport = r.seg.SrcPort
	p.irs = r.seg.Seq
	p.rcvNxt = p.irs.Add(1)
	p.sndMax = p.rcvNxt
	p.synced = true
	p.n.waitPath(p.t)
	return r
}

// pathProbeID is the ICMP echo identifier of waitPath's probes.
const pathProbeID = 0x7a17

// waitPath returns once packets from the kernel reach the stack through
// the TUN: right after tunstack (re)attaches to the device the kernel may
// drop them for a moment (seen as lost first packets). It pings the stack
// every 10 ms and fails after 900 ms, before the SYN would be
// retransmitted.
func (n *rawNet) waitPath(t *testing.T) {
	t.Helper()
	for len(n.pathEcho) > 0 {
		<-n.pathEcho
	}
	deadline := time.Now().Add(900 * time.Millisecond)
	for k := 0; time.Now().Before(deadline); k++ {
		n.write(t, n.pathProbe(k))
		select {
		case <-n.pathEcho:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("the kernel -> TUN path did not work within 900 ms of the stack's SYN")
}

// synAck sends our SYN-ACK with the given options and data.
func (p *peer) synAck(o synOpts, ack segment.Seq, payload []byte) {
	p.t.Helper()
	s := segment.Segment{Seq: p.iss, Ack: ack, Flags: segment.FlagSYN | segment.FlagACK, Window: o.window, Payload: payload}
	if o.mss != 0 {
		s.Options.HasMSS, s.Options.MSS = true, o.mss
	}
	if o.wscale >= 0 {
		s.Options.HasWScale, s.Options.WScale = true, uint8(o.wscale)
	}
	p.sendSeg(s)
	p.nxt = p.iss.Add(1 + uint32(len(payload)))
}

// finishDial reads the stack's data and FIN (dial half-closes at the end
// of its stdin), then closes our side, and checks dial exits with 0.
func (p *peer) finishDial(data []byte) {
	p.t.Helper()
	got, fin := p.read(-1, true, true, 5*time.Second)
	if !bytes.Equal(got, data) || !fin {
		p.t.Fatalf("dial sent %q (FIN %v), want %q and a FIN", got, fin, data)
	}
	p.send(segment.FlagFIN|segment.FlagACK, p.nxt, p.rcvNxt, nil)
	p.nxt = p.nxt.Add(1)
	p.expect(prompt, want{flags: segment.FlagACK, seq: p.rcvNxt, ack: p.nxt}, "ACK of our FIN (TIME-WAIT)")
	if code := p.n.proc.wait(5 * time.Second); code != 0 {
		p.t.Fatalf("dial exited with %d, want 0", code)
	}
}

// TestConformance_RFC9293_3_10_7_3_SynSent: the active open as RFC 9293
// 3.10.7.3 ("If the state is SYN-SENT") specifies it, against the raw peer.
func TestConformance_RFC9293_3_10_7_3_SynSent(t *testing.T) {
	inEveryMode(t, confRFC9293_3_10_7_3_SynSent)
}

func confRFC9293_3_10_7_3_SynSent(t *testing.T, m linkMode) {
	n := dialNet(t, m)
	msg := []byte("hello from the stack\n")

	// The SYN offers MSS 1460, window scaling with an unscaled window (RFC
	// 7323 2.2), SACK-permitted (RFC 2018 2) and timestamps with TSecr 0
	// (RFC 7323 3.2); unanswered, it is retransmitted after 1 s and then 2 s
	// (RFC 6298 2.1, 5.5), the same but for the TSval; a SYN-ACK then
	// completes the handshake.
	t.Run("SYN-and-backoff", func(t *testing.T) {
		p := n.dial(t, msg)
		syn := p.acceptSyn(5 * time.Second)
		o := syn.seg.Options
		if !o.HasMSS || o.MSS != 1460 || !o.HasWScale || o.WScale > 14 || !o.SACKPermitted || !o.HasTimestamp || o.TSEcr != 0 || o.NumSACK != 0 {
			t.Errorf("SYN options %+v, want MSS 1460, a window scale, SACK-permitted and TS (ecr 0)", o)
		}
		if syn.seg.Window != 0xffff {
			t.Errorf("SYN window %d, want 65535 (256 KiB buffer, unscaled in a SYN)", syn.seg.Window)
		}
		prev := syn
		for i, gap := range []time.Duration{time.Second, 2 * time.Second} {
			r := p.next(gap + time.Second)
			if r == nil {
				t.Fatalf("SYN retransmission %d not seen", i+1)
			}
			if r.seg.Flags != segment.FlagSYN || r.seg.Seq != syn.seg.Seq || !sameSynRetransmission(prev, r) {
				t.Fatalf("retransmission %v, want the SYN again", p.show(r))
			}
			d := r.at.Sub(prev.at)
			t.Logf("SYN retransmission %d after %v", i+1, d.Round(time.Millisecond))
			if d < gap-100*time.Millisecond || d > gap+500*time.Millisecond {
				t.Errorf("SYN retransmission %d after %v, want about %v", i+1, d, gap)
			}
			prev = r
		}
		p.synAck(synOpts{mss: 1460, wscale: 7, window: 64240}, p.rcvNxt, nil)
		p.wnd = 64240 >> 7
		r := p.next(prompt)
		if r == nil || r.seg.Seq != p.rcvNxt || r.seg.Ack != p.nxt || !r.seg.Flags.Has(segment.FlagACK) || r.seg.Flags.Has(segment.FlagSYN) {
			t.Fatalf("after our SYN-ACK got %v, want the ACK <SEQ=ISS+1><ACK=our ISS+1> (possibly with data)", r)
		}
		p.waitState("ESTABLISHED", prompt)
		// Whatever it carried is the start of the data.
		got := p.takeEcho(r)
		rest := msg[len(got):]
		if !bytes.HasPrefix(msg, got) {
			t.Fatalf("first data %q", got)
		}
		p.finishDial(rest)
	})

	// The window field of a SYN-ACK is not scaled (RFC 7323 2.2: "The
	// window field in a segment where the SYN bit is set ... MUST NOT be
	// scaled"), even when it negotiates scaling: the stack may send 1000
	// bytes after a SYN-ACK with window 1000 and shift 7, not 128,000.
	// Later windows are scaled: a field of 40 is 5120 bytes.
	t.Run("SYN-ACK-window-unscaled", func(t *testing.T) {
		big := pattern(5000, 9)
		p := n.dial(t, big)
		p.acceptSyn(5 * time.Second)
		p.synAck(synOpts{mss: 500, wscale: 7, window: 1000}, p.rcvNxt, nil)
		var got []byte
		deadline := time.Now().Add(quiet)
		for {
			r := p.next(time.Until(deadline))
			if r == nil {
				break
			}
			if end := r.seg.Seq.Add(uint32(len(r.seg.Payload))); end.GreaterThan(p.irs.Add(1 + 1000)) {
				t.Fatalf("%v goes beyond the SYN-ACK's unscaled 1000-byte window", p.show(r))
			}
			if r.seg.Seq == p.rcvNxt {
				got = append(got, r.seg.Payload...)
				p.rcvNxt = p.rcvNxt.Add(uint32(len(r.seg.Payload)))
			}
		}
		if len(got) != 1000 {
			t.Fatalf("%d bytes sent into the SYN-ACK's 1000-byte window, want 1000", len(got))
		}
		p.wnd = 40
		rest, fin := p.read(-1, true, true, 5*time.Second)
		got = append(got, rest...)
		if !bytes.Equal(got, big) || !fin {
			t.Fatalf("dial sent %d bytes (FIN %v), want the %d of its input and a FIN", len(got), fin, len(big))
		}
		p.send(segment.FlagFIN|segment.FlagACK, p.nxt, p.rcvNxt, nil)
		p.nxt = p.nxt.Add(1)
		p.expect(prompt, want{flags: segment.FlagACK, seq: p.rcvNxt, ack: p.nxt}, "ACK of our FIN")
		if code := p.n.proc.wait(5 * time.Second); code != 0 {
			t.Fatalf("dial exited with %d", code)
		}
	})

	// An ICMP port unreachable quoting our SYN is a hard error (RFC 1122
	// 4.2.3.9: "Destination Unreachable -- codes 2-4 ... hard error
	// conditions, so TCP SHOULD abort the connection"); Linux fails the
	// connect at once with ECONNREFUSED instead of retransmitting the SYN.
	// (In synchronized states such errors stay soft, RFC 5461.)
	t.Run("ICMP-port-unreachable", func(t *testing.T) {
		p := n.dial(t, msg)
		syn := p.acceptSyn(5 * time.Second)
		b := make([]byte, 20+8+40)
		segment.PutIPv4Header(b, &segment.IPv4Header{TTL: rawTTL, Protocol: segment.ProtocolICMP, Src: hostIP, Dst: stackIP}, 8+40)
		m := b[20:]
		m[0], m[1] = 3, 3 // destination unreachable, port unreachable
		copy(m[8:], syn.raw[:40])
		binary.BigEndian.PutUint16(m[2:], segment.Checksum(m, 0))
		n.write(t, b)
		start := time.Now()
		p.waitState("CLOSED", 2*time.Second)
		if code := p.n.proc.wait(5 * time.Second); code != 1 {
			t.Fatalf("dial exited with %d after a port unreachable, want 1", code)
		}
		t.Logf("connect failed %v after the ICMP message", time.Since(start).Round(time.Millisecond))
		p.expectNone(quiet, "a SYN retransmission after the hard error")
	})

	// Half-close on the active side: dial sends its input and a FIN
	// (FIN-WAIT-1, then FIN-WAIT-2 once we acknowledge it) and keeps
	// receiving: data in FIN-WAIT-2 is acknowledged and delivered (RFC 9293
	// 3.10.7.4, seventh step, FIN-WAIT-2), until our FIN moves it to
	// TIME-WAIT.
	t.Run("half-close-FIN-WAIT-2", func(t *testing.T) {
		p := n.dial(t, msg)
		p.acceptSyn(5 * time.Second)
		p.synAck(synOpts{mss: 1460, wscale: -1, window: 65535}, p.rcvNxt, nil)
		got, fin := p.read(-1, true, true, 5*time.Second)
		if !bytes.Equal(got, msg) || !fin {
			t.Fatalf("dial sent %q (FIN %v)", got, fin)
		}
		p.waitState("FIN-WAIT-2", prompt)
		reply := []byte(strings.Repeat("reply in FIN-WAIT-2\n", 100))
		for off := 0; off < len(reply); off += 1000 {
			p.sendData(reply[off:min(off+1000, len(reply))])
		}
		deadline := time.Now().Add(prompt)
		for p.lastAck != p.nxt {
			r := p.next(time.Until(deadline))
			if r == nil {
				t.Fatalf("data in FIN-WAIT-2 acknowledged up to %d, want %d", uint32(p.lastAck), uint32(p.nxt))
			}
			if r.seg.Flags != segment.FlagACK || r.seg.Seq != p.rcvNxt || len(r.seg.Payload) != 0 {
				t.Fatalf("in FIN-WAIT-2 got %v, want pure ACKs <SEQ=SND.NXT>", p.show(r))
			}
		}
		p.send(segment.FlagFIN|segment.FlagACK, p.nxt, p.rcvNxt, nil)
		p.nxt = p.nxt.Add(1)
		p.expect(prompt, want{flags: segment.FlagACK, seq: p.rcvNxt, ack: p.nxt}, "ACK of our FIN (TIME-WAIT)")
		if code := p.n.proc.wait(5 * time.Second); code != 0 {
			t.Fatalf("dial exited with %d", code)
		}
		if out := strings.Join(p.n.proc.out.snapshot(), "\n"); strings.Count(out, "reply in FIN-WAIT-2") != 100 {
			t.Fatalf("dial's stdout holds %d of the 100 lines sent in FIN-WAIT-2", strings.Count(out, "reply in FIN-WAIT-2"))
		}
	})

	// A SYN-ACK whose ACK is not ISS+1 gets <SEQ=SEG.ACK><CTL=RST> and is
	// otherwise ignored; the right one still completes.
	t.Run("unacceptable-ACK", func(t *testing.T) {
		p := n.dial(t, msg)
		p.acceptSyn(5 * time.Second)
		for _, ack := range []segment.Seq{p.irs.Add(1000), p.irs, back(p.irs, 1)} {
			p.synAck(synOpts{mss: 1460, wscale: -1, window: 65535}, ack, nil)
			p.expect(prompt, want{flags: segment.FlagRST, seq: ack}, "SYN-ACK with an unacceptable ACK in SYN-SENT")
		}
		p.synAck(synOpts{mss: 1460, wscale: -1, window: 65535}, p.rcvNxt, nil)
		p.finishDial(msg)
	})

	// A RST without ACK, or with an unacceptable ACK, is dropped; a RST
	// acknowledging the SYN refuses the connection ("error: connection
	// reset", here ECONNREFUSED, and CLOSED).
	t.Run("RST", func(t *testing.T) {
		p := n.dial(t, msg)
		p.acceptSyn(5 * time.Second)
		p.send(segment.FlagRST, p.iss, 0, nil)
		p.send(segment.FlagRST|segment.FlagACK, p.iss, p.irs.Add(7), nil)
		p.expectNone(quiet, "RSTs that do not acknowledge the SYN")
		p.send(segment.FlagRST|segment.FlagACK, 0, p.rcvNxt, nil)
		p.waitState("CLOSED", prompt)
		if code := p.n.proc.wait(5 * time.Second); code != 1 {
			t.Fatalf("dial exited with %d after a RST, want 1 (connection refused)", code)
		}
		if !regexp.MustCompile(`(?i)refused`).MatchString(strings.Join(p.n.proc.out.snapshot(), "\n")) {
			t.Errorf("dial's output does not say the connection was refused")
		}
	})

	// Simultaneous open: a SYN answering our SYN moves the stack to
	// SYN-RECEIVED with <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>; our ACK then
	// establishes the connection (RFC 9293 3.5 Figure 8, 3.10.7.3).
	t.Run("simultaneous-open", func(t *testing.T) {
		p := n.dial(t, msg)
		syn := p.acceptSyn(5 * time.Second)
		s := segment.Segment{Seq: p.iss, Flags: segment.FlagSYN, Window: 65535}
		s.Options.HasMSS, s.Options.MSS = true, 1460
		p.sendSeg(s)
		p.nxt = p.iss.Add(1)
		r := p.next(prompt)
		if r == nil || r.seg.Flags != segment.FlagSYN|segment.FlagACK || r.seg.Seq != syn.seg.Seq || r.seg.Ack != p.nxt {
			t.Fatalf("after our SYN got %v, want [S.] seq=%d ack=%d", r, uint32(syn.seg.Seq), uint32(p.nxt))
		}
		p.waitState("SYN-RECEIVED", prompt)
		p.ack()
		p.waitState("ESTABLISHED", prompt)
		p.finishDial(msg)
	})

	// A SYN-ACK carrying data and no MSS option: the data is accepted and
	// acknowledged, and the stack's segments are at most 536 bytes (RFC 9293
	// 3.7.1).
	t.Run("SYN-ACK-with-data-no-MSS", func(t *testing.T) {
		big := pattern(2000, 1)
		p := n.dial(t, big)
		p.acceptSyn(5 * time.Second)
		greet := []byte("greetings\n")
		p.synAck(synOpts{wscale: -1, window: 65535}, p.rcvNxt, greet)
		var got []byte
		deadline := time.Now().Add(5 * time.Second)
		fin := false
		for !fin {
			r := p.next(time.Until(deadline))
			if r == nil {
				t.Fatalf("dial sent %d of %d bytes", len(got), len(big))
			}
			if r.seg.Ack != p.nxt {
				t.Fatalf("%v does not acknowledge the SYN-ACK's data (ack %d, want %d)", p.show(r), uint32(r.seg.Ack), uint32(p.nxt))
			}
			if len(r.seg.Payload) > 536 {
				t.Fatalf("a %d-byte segment to a peer without MSS option: %v", len(r.seg.Payload), p.show(r))
			}
			if r.seg.Seq == p.rcvNxt {
				got = append(got, r.seg.Payload...)
				p.rcvNxt = p.rcvNxt.Add(uint32(len(r.seg.Payload)))
				if r.seg.Flags.Has(segment.FlagFIN) {
					p.rcvNxt = p.rcvNxt.Add(1)
					fin = true
				}
				p.ack()
			}
		}
		if !bytes.Equal(got, big) {
			t.Fatalf("dial's data differs at %d", firstDiff(got, big))
		}
		p.send(segment.FlagFIN|segment.FlagACK, p.nxt, p.rcvNxt, nil)
		p.nxt = p.nxt.Add(1)
		p.expect(prompt, want{flags: segment.FlagACK, seq: p.rcvNxt, ack: p.nxt}, "ACK of our FIN")
		if code := p.n.proc.wait(5 * time.Second); code != 0 {
			t.Fatalf("dial exited with %d", code)
		}
		if out := strings.Join(p.n.proc.out.snapshot(), "\n"); !strings.Contains(out, "greetings") {
			t.Fatalf("the SYN-ACK's data did not reach dial's stdout:\n%s", out)
		}
	})
}
