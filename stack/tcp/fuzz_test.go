package tcp_test

// FuzzEstablished feeds arbitrary sequences of peer segments, clock
// advances and application calls to an established connection and checks
// after every step that nothing panicked and the invariants hold: SND.UNA
// =< SND.NXT =< SND.MAX, RCV.NXT never moves back, buffers within their
// bounds, Readable/Writable consistent, a valid state, no timer once CLOSED,
// segments no larger than the MSS, and every byte the application reads is
// the peer's stream at that offset (exactly once, in order): the scripted
// peer's payload is a function of the sequence number, so any overlap the
// fuzzer makes is consistent and any misdelivery shows.
//
// Run: go test ./stack/tcp -run '^$' -fuzz FuzzEstablished -fuzztime 10s

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// fuzzReader hands out the fuzz input a few bytes at a time; past the end it
// returns zeros.
type fuzzReader struct {
	b []byte
}

func (r *fuzzReader) u8() uint8 {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *fuzzReader) u16() uint16 { return uint16(r.u8())<<8 | uint16(r.u8()) }

func (r *fuzzReader) empty() bool { return len(r.b) == 0 }

const fuzzMaxSteps = 300

func FuzzEstablished(f *testing.F) {
	// Seeds: in-order data; out-of-order data and a gap fill; window
	// probes; RST/SYN in window; a close dance; big time jumps.
	f.Add([]byte{0, 0x10, 0, 1, 0, 0, 0xff, 0xff, 5, 0, 0x10, 0x05, 0xb5, 0, 0, 0xff, 0xff, 5, 6, 40, 5, 20})
	f.Add([]byte{1, 0x10, 0x05, 0xb5, 0, 0, 0xff, 0xff, 5, 0, 0x10, 0, 1, 0, 0, 0xff, 0xff, 5, 6, 255})
	f.Add([]byte{2, 7, 200, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 5, 255, 5, 255, 5, 255, 0, 0x10, 0, 0, 0, 0x20, 0xff, 0xff, 0})
	f.Add([]byte{3, 0, 0x04, 0, 10, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 8, 0, 0, 0x11, 0, 1, 0, 1, 0xff, 0xff, 0, 5, 30, 0, 0x10, 0, 1, 0, 2, 0xff, 0xff, 0, 5, 255, 5, 255})
	f.Add([]byte{4, 7, 255, 7, 255, 7, 255, 5, 255, 0, 0x10, 0, 0, 0x40, 0, 0, 0, 0, 5, 255, 5, 255, 8, 1})
	// A small window, a large write, time: SWS override, then RTOs (an
	// RTO once resent a full MSS past the window).
	f.Add([]byte{0, 0, 0x10, 0, 0, 0, 0x01, 0x2c, 0, 7, 32, 5, 100, 5, 100, 5, 100})
	f.Fuzz(func(t *testing.T, in []byte) { fuzzEstablished(t, in, fuzzPlain) })
}

// FuzzEstablishedSACKTS is FuzzEstablished on a connection that negotiated
// SACK (RFC 2018) and timestamps (RFC 7323): peer segments carry random
// SACK blocks around SND.UNA (malformed, stale, beyond SND.MAX, up to
// four beside TSopt) and TSvals/TSecrs off the peer's clock (old ones that
// PAWS drops, wrapped ones, zero, or none at all), so the scoreboard,
// RACK-TLP, PRR, D-SACK and PAWS run on hostile input. Engine segments must
// carry TSopt on every non-SYN segment and their options must fit in 40
// bytes.
//
// Run: go test ./stack/tcp -run '^$' -fuzz FuzzEstablishedSACKTS -fuzztime 60s
func FuzzEstablishedSACKTS(f *testing.F) {
	// Data out, SACKs of parts of it, time for RACK/TLP/RTO.
	f.Add([]byte{0, 7, 100, 0x10, 0x10, 0, 0, 0, 0xff, 0xff, 0, 0x22, 0, 0x05, 0xb4, 0x0b, 0x68, 0, 0, 5, 30, 5, 255})
	f.Add([]byte{0, 7, 255, 7, 255, 0x10, 0x10, 0, 0, 0, 0xff, 0xff, 0, 0x43, 0x16, 0xd0, 0x1c, 0x84, 0, 0, 0x10, 0x10, 0, 0, 0, 0xff, 0xff, 0, 0x41, 0x05, 0xb4, 0x0b, 0x68, 0, 0, 5, 10, 5, 100, 5, 255})
	f.Add([]byte{0, 0x10, 0x10, 0x80, 0, 0, 0xff, 0xff, 5, 0x83, 0x80, 0, 0, 0, 0, 0x80, 0, 0xff, 0xff, 0, 0x10, 0x10, 0x05, 0xb5, 0, 0, 0xff, 0xff, 5, 0x10, 0, 0x01, 0x80, 0, 6, 40})
	f.Fuzz(func(t *testing.T, in []byte) { fuzzEstablished(t, in, fuzzSACK|fuzzTS) })
}

// FuzzEstablishedSACK is FuzzEstablishedSACKTS with SACK alone negotiated:
// four SACK blocks fit (RFC 2018 3), and the peer's stray TSopts must be
// ignored (RFC 7323 3.2).
//
// Run: go test ./stack/tcp -run '^$' -fuzz FuzzEstablishedSACK$ -fuzztime 60s
func FuzzEstablishedSACK(f *testing.F) {
	f.Add([]byte{0, 7, 100, 0x10, 0x10, 0, 0, 0, 0xff, 0xff, 0, 0x24, 0, 0x05, 0xb4, 0x0b, 0x68, 0, 0, 0x11, 0x1c, 0x16, 0xd0, 5, 30, 5, 255})
	f.Fuzz(func(t *testing.T, in []byte) { fuzzEstablished(t, in, fuzzSACK) })
}

// FuzzEstablishedBBR is FuzzEstablishedSACKTS with BBR, whose pacing
// (pacing.go) and model (cc_bbr*.go) then see the fuzzed ACKs and losses.
//
// Run: go test ./stack/tcp -run '^$' -fuzz FuzzEstablishedBBR -fuzztime 60s
func FuzzEstablishedBBR(f *testing.F) {
	f.Add([]byte{0, 7, 255, 7, 255, 0x10, 0x10, 0, 0, 0, 0xff, 0xff, 0, 0x43, 0x16, 0xd0, 0x1c, 0x84, 0, 0, 5, 10, 5, 100, 5, 255})
	f.Fuzz(func(t *testing.T, in []byte) { fuzzEstablished(t, in, fuzzSACK|fuzzTS|fuzzBBR) })
}

// What a fuzzed connection negotiates, and its congestion control.
const (
	fuzzPlain = 0
	fuzzSACK  = 1 << iota
	fuzzTS
	fuzzBBR
)

// fuzzSACKTS returns the options of a fuzzed peer segment on a connection
// with SACK and timestamps: up to four SACK blocks relative to SND.UNA
// (each end a signed 16-bit offset, so blocks may be empty, reversed,
// stale or beyond SND.MAX) and a TSopt whose TSval is off the peer's clock
// by a signed 16-bit amount, or absent, with a TSecr that echoes ours, is
// zero or is arbitrary.
func fuzzSACKTS(h *harness, r *fuzzReader) []mod {
	var mods []mod
	m := r.u8()
	una := int64(int32(h.c.SndUna - engISS))
	for range int(m & 7 % 5) {
		s, e := int64(int16(r.u16())), int64(int16(r.u16()))
		mods = append(mods, sackBlock(una+s, una+e))
	}
	switch m >> 3 & 3 {
	case 0: // the harness stamps it from the peer's clock
	case 1:
		d := int32(int16(r.u16()))
		ecr := h.engTSVal
		switch r.u8() % 3 {
		case 1:
			ecr = 0
		case 2:
			ecr = binary.BigEndian.Uint32([]byte{r.u8(), r.u8(), r.u8(), r.u8()})
		}
		mods = append(mods, ts(h.peerTSVal()+uint32(d), ecr))
	case 2: // wrapped: half the clock space away
		mods = append(mods, ts(h.peerTSVal()+1<<31+uint32(r.u8()), h.engTSVal))
	default:
		mods = append(mods, noTS())
	}
	return mods
}

func fuzzEstablished(t *testing.T, in []byte, neg int) {
	{
		r := &fuzzReader{b: in}
		// Connection setup from the first byte: peer MSS, window
		// scaling on either side, small or default buffers, Nagle.
		setup := r.u8()
		opts := []hopt{peerMSSOpt([]int{1460, 0, 100, 9000}[setup&3])}
		if setup&4 != 0 {
			opts = append(opts, peerWScaleOpt(int(setup>>4)))
		}
		small := setup&8 != 0
		opts = append(opts, withConfig(func(c *tcp.Config) {
			if small {
				c.RecvBufferSize = 4096
				c.SendBufferSize = 4096
				c.SendBufferMax = 4096 // no auto-tuning beyond them
				c.RecvBufferMax = 4096
			}
			c.Nagle = setup&0x40 != 0
			c.Keepalive = setup&0x80 != 0
			if neg&fuzzBBR != 0 {
				c.CongestionControl = "bbr"
			}
			c.KeepaliveIdle = time.Minute
			c.KeepaliveInterval = 10 * time.Second
		}))
		sackTS := neg&fuzzSACK != 0
		if sackTS {
			opts = append(opts, peerSACKOpt())
		}
		if neg&fuzzTS != 0 {
			opts = append(opts, peerTSOpt())
		}
		h := newEstablished(t, opts...)
		if info := h.c.Info(); info.SACKOK != sackTS || info.TimestampsOK != (neg&fuzzTS != 0) {
			h.fatalf("SACK %v, timestamps %v: not negotiated", info.SACKOK, info.TimestampsOK)
		}
		h.log = h.log[:0] // keep failure output short: the steps only
		h.maxLog = 400
		// Auto-tuning grows the buffers up to their Max (autotune.go,
		// sockopt.go sndLimit).
		rcvBuf := max(h.cfg.RecvBufferSize, h.cfg.RecvBufferMax)
		sndBuf := max(h.cfg.SendBufferSize, h.cfg.SendBufferMax)
		lastRcvNxt := h.c.RcvNxt
		prevSndMax := h.c.Info().SndMax
		at := h.now.Sub(t0)

		check := func(step int, what string) {
			t.Helper()
			info := h.c.Info()
			st := h.c.State()
			if st.String() == "INVALID" || info.State != st {
				h.fatalf("step %d (%s): invalid state %d", step, what, st)
			}
			if info.SndUna != h.c.SndUna || info.SndNxt != h.c.SndNxt {
				h.fatalf("step %d (%s): Info disagrees with the TCB", step, what)
			}
			if st != tcp.StateClosed {
				if !info.SndUna.LessThanEq(info.SndNxt) || !info.SndNxt.LessThanEq(info.SndMax) {
					h.fatalf("step %d (%s): SND.UNA %d SND.NXT %d SND.MAX %d out of order", step, what,
						int32(info.SndUna-engISS), int32(info.SndNxt-engISS), int32(info.SndMax-engISS))
				}
				if info.RcvNxt.LessThan(lastRcvNxt) {
					h.fatalf("step %d (%s): RCV.NXT moved back from %d to %d", step, what, int32(lastRcvNxt-peerISS), int32(info.RcvNxt-peerISS))
				}
				lastRcvNxt = info.RcvNxt
			}
			// The receive buffer holds at most RecvBufferSize, plus, with
			// window scaling, the 256 window units by which rounding the
			// window up (never shrinking the right edge, RFC 7323 2.4)
			// may overcommit it (receive.go rcvSlack; Linux does the
			// same).
			limit := rcvBuf
			if info.RcvWndShift > 0 {
				limit += 256 << info.RcvWndShift
			}
			if n := h.c.Readable(); n < 0 || n > limit || n != info.RecvQueued {
				h.fatalf("step %d (%s): Readable %d (RecvQueued %d), buffer %d (+slack: %d)", step, what, n, info.RecvQueued, rcvBuf, limit)
			}
			if w := h.c.Writable(); w < 0 || w > sndBuf {
				h.fatalf("step %d (%s): Writable %d outside [0, %d]", step, what, w, sndBuf)
			}
			if info.SendQueued < 0 || info.SendQueued > sndBuf {
				h.fatalf("step %d (%s): SendQueued %d outside [0, %d]", step, what, info.SendQueued, sndBuf)
			}
			if st == tcp.StateClosed && !h.c.Deadline().IsZero() {
				h.fatalf("step %d (%s): CLOSED with a timer armed", step, what)
			}
			for _, o := range h.sink.out {
				if d := h.checkNegotiated(&o.seg); len(d) > 0 {
					h.fatalf("step %d (%s): %s", step, what, d[0])
				}
				if n := optionBytes(&o.seg.Options); n > 40 {
					h.fatalf("step %d (%s): %d bytes of options", step, what, n)
				}
				if len(o.seg.Payload) > int(info.SndMSS) && info.SndMSS > 0 {
					h.fatalf("step %d (%s): %d-byte segment, MSS %d", step, what, len(o.seg.Payload), info.SndMSS)
				}
				if o.seg.Flags&segment.FlagRST == 0 && len(o.seg.Payload) > 0 {
					end := o.seg.Seq.Add(uint32(len(o.seg.Payload)))
					// New data (never sent before) stays within the peer's
					// window: RFC 5681 3, nothing above SND.UNA +
					// min(cwnd, rwnd); a one-byte zero-window probe aside.
					if st != tcp.StateClosed && end.GreaterThan(prevSndMax) &&
						end.GreaterThan(info.SndUna.Add(info.SndWnd)) && !(len(o.seg.Payload) == 1 && info.SndWnd == 0) {
						h.fatalf("step %d (%s): new data up to %d beyond SND.UNA %d + SND.WND %d", step, what,
							int32(end-engISS), int32(info.SndUna-engISS), info.SndWnd)
					}
					// Beyond SND.MAX only a zero-window probe's single
					// byte at SND.NXT (RFC 9293 3.8.6.1).
					probe := len(o.seg.Payload) == 1 && o.seg.Seq == info.SndNxt
					if st != tcp.StateClosed && end.GreaterThan(info.SndMax) && !probe {
						h.fatalf("step %d (%s): sent data beyond SND.MAX", step, what)
					}
					// The bytes sent are the bytes written, at their offset.
					off := int64(int32(o.seg.Seq-engISS)) - 1
					if off < 0 || off+int64(len(o.seg.Payload)) > h.wOff {
						h.fatalf("step %d (%s): sent bytes %d..%d, only %d written", step, what, off, off+int64(len(o.seg.Payload)), h.wOff)
					}
					for i, b := range o.seg.Payload {
						if b != pat(off+int64(i)) {
							h.fatalf("step %d (%s): sent byte at offset %d is not the written stream", step, what, off+int64(i))
						}
					}
				}
			}
			h.sink.out = h.sink.out[:0]
			prevSndMax = info.SndMax
		}

		for step := 0; step < fuzzMaxSteps && !r.empty(); step++ {
			op := r.u8()
			switch op % 9 {
			case 0, 1, 2, 3, 4:
				// A peer segment. Flags from the low 6 bits plus ECE/CWR.
				fl := segment.Flags(r.u8())
				var seqOff int64
				switch m := r.u8(); m >> 6 {
				case 0: // near RCV.NXT
					seqOff = int64(int8(m<<2)) / 4
				case 1: // within +-32 KiB
					seqOff = int64(int16(r.u16()))
				case 2: // anywhere
					seqOff = int64(int32(binary.BigEndian.Uint32([]byte{r.u8(), r.u8(), r.u8(), r.u8()})))
				default: // a multiple of 1460 ahead (out-of-order full segments)
					seqOff = int64(m&0x3f) * 1460
				}
				ackOff := int64(int16(r.u16()))
				wnd := r.u16()
				n := int(r.u8()) * 6 // up to 1530 bytes
				rel := int64(int32(h.c.RcvNxt-peerISS)) + seqOff
				mods := []mod{seq(rel), ack(int64(int32(h.c.SndUna-engISS)) + ackOff), win(wnd), data(n)}
				switch {
				case sackTS && op&0x10 != 0:
					mods = append(mods, fuzzSACKTS(h, r)...)
				case op&0x10 != 0:
					mods = append(mods, ts(uint32(step), 1), sackBlock(1, 2))
				}
				if op&0x20 != 0 {
					mods = append(mods, mss(int(wnd)), wscale(int(wnd&15)))
				}
				flags := ""
				for _, x := range []struct {
					f segment.Flags
					c byte
				}{{segment.FlagSYN, 'S'}, {segment.FlagFIN, 'F'}, {segment.FlagRST, 'R'}, {segment.FlagPSH, 'P'},
					{segment.FlagURG, 'U'}, {segment.FlagECE, 'E'}, {segment.FlagCWR, 'W'}, {segment.FlagACK, '.'}} {
					if fl&x.f != 0 {
						flags += string(x.c)
					}
				}
				h.send(at, h.in(flags, mods...))
				check(step, "segment")
			case 5:
				// Time passes: mostly milliseconds, sometimes minutes.
				v := r.u8()
				d := time.Duration(v) * 10 * time.Millisecond
				if v >= 250 {
					d = time.Duration(v-249) * 2 * time.Minute
				}
				at += d
				h.advance(at)
				check(step, "timer")
			case 6:
				n := int(r.u8())*32 + 1
				// io.EOF or the terminal error are fine: read has checked
				// that the bytes before them continue the stream.
				h.read(at, n)
				check(step, "read")
			case 7:
				n := int(r.u8()) * 64
				h.advance(at)
				k, err := h.c.Write(h.now, patBytes(h.wOff, n))
				h.logf("%s  app           Write(%d) = %d, %v", h.ts(h.now), n, k, err)
				if k < 0 || k > n {
					h.fatalf("Write(%d) = %d", n, k)
				}
				if err == nil {
					h.wOff += int64(k)
				} else if k != 0 {
					h.fatalf("Write returned %d bytes and error %v", k, err)
				}
				check(step, "write")
			case 8:
				h.advance(at)
				switch r.u8() % 3 {
				case 0:
					h.logf("%s  app           CloseWrite = %v", h.ts(h.now), h.c.CloseWrite(h.now))
				case 1:
					h.logf("%s  app           Close = %v", h.ts(h.now), h.c.Close(h.now))
				default:
					h.logf("%s  app           Abort", h.ts(h.now))
					h.c.Abort(h.now)
				}
				check(step, "close")
			}
		}
		// Let the timers run for an hour of simulated time and check once
		// more.
		at += time.Hour
		h.advance(at)
		check(fuzzMaxSteps, "drain")
	}
}

// optionBytes is the option space o takes on the wire, NOP padding
// included, laid out as the segment package does for a non-SYN segment
// (NOP, NOP, TSopt; NOP, NOP, SACK).
func optionBytes(o *segment.Options) int {
	n := 0
	if o.HasTimestamp {
		n += 12
	}
	if o.NumSACK > 0 {
		n += 4 + 8*o.NumSACK
	}
	return n
}
