package tcp

import (
	"time"

	"github.com/tunstack/tunstack/segment"
)

// Opening a connection: active open (SYN-SENT), passive open (SYN-RECEIVED),
// simultaneous open, SYN-cookie completion, and the SYN/SYN-ACK
// retransmission that bounds connection establishment.

// Connect performs an active open (RFC 9293 3.10.1): it sends a SYN with
// sequence number iss and moves to SYN-SENT. Calling it in any state but a
// fresh CLOSED does nothing.
func (c *Conn) Connect(now time.Time, iss Seq) {
	if c.state != StateClosed || c.flags&flagOpened != 0 {
		return
	}
	c.initSend(iss)
	c.setState(now, StateSynSent, nil)
	c.sendSyn(now)
	c.rtxAt = c.inst(now.Add(c.rto.RTO()))
}

// AcceptSYN performs the passive open for a SYN that reached a listener
// (RFC 9293 3.10.7.2): it records the peer's ISN and options, sends a
// SYN-ACK with sequence number iss and moves from LISTEN to SYN-RECEIVED.
// syn is only read during the call. Data on the SYN is not accepted (the
// peer retransmits it after the handshake; RFC 9293 allows queuing it but
// does not require it).
func (c *Conn) AcceptSYN(now time.Time, iss Seq, syn *segment.Segment) {
	if c.state != StateClosed || c.flags&flagOpened != 0 {
		return
	}
	c.flags |= flagPassive
	c.state = StateListen
	c.initSend(iss)
	c.initRecv(syn.Seq, syn.Window)
	c.peerOptions(&syn.Options, c.cfg.WindowScale && syn.Options.HasWScale)
	c.tsInit(now, &syn.Options)
	c.setState(now, StateSynReceived, syn)
	c.sendSyn(now)
	c.rtxAt = c.inst(now.Add(c.rto.RTO()))
}

// AcceptCookie completes a passive open without a SYN-RECEIVED Conn (RFC
// 4987 SYN cookies): the runtime validated ack against the cookie in
// iss+1 and rebuilt p from it. The Conn goes from LISTEN straight to
// ESTABLISHED and then processes ack normally (it may carry data or a FIN).
// The SYN-ACK the runtime sent must have offered window scaling exactly
// when p.WScale >= 0 and Config.WindowScale, with shift
// Config.RcvWindowShift, SACK-permitted exactly when p.SACK and
// Config.SACK, and timestamps exactly when p.TS and Config.Timestamps
// (SynAckFor builds such a segment). With timestamps, TS.Recent starts
// from ack's TSval (RFC 7323 4.3 would take the SYN's, which is gone; the
// ACK's is no older and passes 5.3 R3 anyway).
func (c *Conn) AcceptCookie(now time.Time, iss Seq, p SynParams, ack *segment.Segment) {
	if c.state != StateClosed || c.flags&flagOpened != 0 {
		return
	}
	c.flags |= flagPassive
	c.state = StateListen
	c.initSend(iss)
	c.initRecv(p.IRS, 0)
	opts := segment.Options{HasMSS: p.MSS != 0, MSS: p.MSS, HasWScale: p.WScale >= 0, SACKPermitted: p.SACK}
	if p.WScale >= 0 {
		opts.WScale = uint8(min(p.WScale, 14))
	}
	if p.TS && ack.Options.HasTimestamp {
		opts.HasTimestamp, opts.TSVal = true, ack.Options.TSVal
		c.ackTSecr = ack.Options.TSEcr
	}
	c.peerOptions(&opts, c.cfg.WindowScale && p.WScale >= 0)
	c.tsInit(now, &opts)
	c.lastAckSent = c.RcvNxt // our SYN-ACK acknowledged the SYN
	// Our SYN-ACK went out (statelessly, SynAckFor) and ack acknowledges
	// it: complete the open exactly as SYN-RECEIVED does (synAcked), which
	// also takes the peer's first scaled window and SND.WL1/WL2 from ack
	// (RFC 9293 3.10.7.4; without them WL1 stays 0 and half of all IRS
	// values never update SND.WND, found by stack's TestSynFlood).
	c.SndNxt = iss.Add(1)
	c.sndMax = c.SndNxt
	c.synAcked(now, ack, uint32(ack.Window)<<c.sndShift)
	c.HandleSegment(now, ack)
}

// SynAckFor fills out with the SYN-ACK a Conn using cfg would send at now
// in answer to syn with initial sequence number iss (for a runtime that
// answers from a SYN cookie and keeps no Conn). Window and options come
// from synFields, as in sendSyn; the TSval is the connection's clock
// (ISNGenerator.TSOffset through Config.TSOffsets), so the Conn that
// AcceptCookie later opens continues it.
func SynAckFor(cfg *Config, now time.Time, iss Seq, syn *segment.Segment, out *segment.Segment) {
	if cfg == nil {
		cfg = &defaultConfig
	}
	*out = segment.Segment{
		Src: syn.Dst, Dst: syn.Src, SrcPort: syn.DstPort, DstPort: syn.SrcPort,
		Seq: iss, Ack: syn.Seq.Add(1), Flags: segment.FlagSYN | segment.FlagACK,
	}
	so := synOffer{ws: syn.Options.HasWScale, sack: syn.Options.SACKPermitted, ts: syn.Options.HasTimestamp}
	if so.ts && cfg.Timestamps {
		t := Tuple{LocalAddr: syn.Dst, LocalPort: syn.DstPort, RemoteAddr: syn.Src, RemotePort: syn.SrcPort}
		so.tsVal, so.tsEcr = tsClock(now, cfg.tsOffset(t)), syn.Options.TSVal
	}
	cfg.synFields(out, so)
}

// synOffer is what our SYN or SYN-ACK offers beyond the MSS, subject to
// the Config: in a SYN everything configured; in a SYN-ACK only what the
// peer's SYN carried (RFC 7323 2.2 for window scaling, 3.2 for timestamps:
// "MAY send a TSopt in <SYN,ACK> only if it received a TSopt in the
// initial <SYN>"; RFC 2018 2 for SACK-permitted).
type synOffer struct {
	ws, sack, ts bool
	tsVal, tsEcr uint32
}

// synFields sets the window and options of our SYN or SYN-ACK: the
// unscaled window (RFC 7323 2.2), MSS (RFC 9293 3.7.1), and what so offers
// and the Config enables: window scale, SACK-permitted, timestamps. The
// segment package lays them out as Linux does (MSS, SACK-permitted+TS in
// 12 bytes, NOP+WS: 20 option bytes with all of them).
func (cfg *Config) synFields(o *segment.Segment, so synOffer) {
	o.Window = cfg.synWindow()
	o.Options.HasMSS, o.Options.MSS = true, uint16(cfg.mss())
	if cfg.WindowScale && so.ws {
		o.Options.HasWScale, o.Options.WScale = true, cfg.RcvWindowShift()
	}
	o.Options.SACKPermitted = cfg.SACK && so.sack
	if cfg.Timestamps && so.ts {
		o.Options.HasTimestamp = true
		o.Options.TSVal, o.Options.TSEcr = so.tsVal, so.tsEcr
	}
}

// synWindow is the window field of our SYN or SYN-ACK (unscaled, RFC 7323
// 2.2).
func (cfg *Config) synWindow() uint16 {
	return uint16(min(cfg.recvBufferSize(), 0xffff))
}

func (c *Conn) initSend(iss Seq) {
	c.flags |= flagOpened
	c.ISS = iss
	c.SndUna = iss
	c.SndNxt = iss
	c.sndMax = iss
	c.sndBufSeq = iss.Add(1)
	c.ccInit()
}

// initRecv records the peer's initial sequence number. The window field of
// a SYN is never scaled (RFC 7323 2.2).
func (c *Conn) initRecv(irs Seq, wnd uint16) {
	c.IRS = irs
	c.RcvNxt = irs.Add(1)
	c.rcvAdv = c.RcvNxt.Add(uint32(c.synWindow()))
	c.SndWnd = uint32(wnd)
	c.maxSndWnd = c.SndWnd
}

// synWindow is the window field of our SYN or SYN-ACK.
func (c *Conn) synWindow() uint16 { return c.cfg.synWindow() }

// senderUsesSACK says the sender processes the SACK blocks it receives (the
// scoreboard, RFC 6675, and RACK-TLP's D-SACK input: senderAck in ack.go
// feeds them). A negotiated SACK then sets flagSackOK as well as
// flagSackRcv (we report blocks), which switches the scoreboard and
// RACK-TLP (rackEnabled) on. Without the peer's SACK and D-SACK information
// every tail loss probe would count as a repaired loss and halve cwnd
// (TestUnitSendBufferGrowsByDoubling).
const senderUsesSACK = true

// peerOptions applies the options of the peer's SYN: MSS (RFC 9293 3.7.1:
// 536 when absent), window scaling (RFC 7323 2.2: used only if both sides
// sent the option), SACK-permitted (RFC 2018 2) and timestamps (RFC 7323
// 3.2), each in use only when both SYNs carried it (we offer what the
// Config enables, and answer a SYN only with what it carried).
func (c *Conn) peerOptions(o *segment.Options, useWS bool) {
	c.flags &^= flagSackOK | flagSackRcv | flagTSOK
	if c.cfg.SACK && o.SACKPermitted {
		c.flags |= flagSackRcv
		if senderUsesSACK {
			c.flags |= flagSackOK
		}
	}
	if c.cfg.Timestamps && o.HasTimestamp {
		c.flags |= flagTSOK
	}
	mss := MinMSS
	if o.HasMSS && o.MSS > 0 {
		mss = int(o.MSS)
	}
	// Eff.snd.MSS = min(SendMSS+20, MMS_S) - TCPhdrsize - IPoptionsize,
	// where "TCPhdrsize is the size of the fixed TCP header and any
	// options" (RFC 9293 3.7.1; RFC 6691 2: the MSS option does not count
	// the options, the sender deducts them): our MTU's MSS caps the peer's,
	// and the 12 bytes of TSopt every segment then carries come off.
	mss = min(mss, c.cfg.mss()) - c.optOverhead()
	if mss < 64 {
		mss = 64 // a peer advertising a tiny MSS must not stall us
	}
	c.sndMSS = uint16(mss)
	c.rcvMSSEst = uint16(min(c.cfg.mss(), MinMSS))
	if useWS {
		c.sndShift = min(o.WScale, 14) // RFC 7323 2.3: values above 14 are used as 14
		c.rcvShift = c.cfg.RcvWindowShift()
		c.flags |= flagSynOptWS
	} else {
		c.sndShift, c.rcvShift = 0, 0
	}
	c.ccInit()
}

// sendSyn sends (or retransmits) our SYN or SYN-ACK.
func (c *Conn) sendSyn(now time.Time) {
	flags := segment.FlagSYN
	if c.state != StateSynSent {
		flags |= segment.FlagACK
	}
	o := c.prepare(c.ISS, flags)
	so := synOffer{ws: true, sack: true, ts: true, tsVal: c.tsVal(now)}
	if c.state != StateSynSent {
		// A SYN-ACK: echo what was agreed (peerOptions).
		so = synOffer{ws: c.flags&flagSynOptWS != 0, sack: c.flags&flagSackRcv != 0,
			ts: c.flags&flagTSOK != 0, tsVal: so.tsVal, tsEcr: c.tsRecent}
	}
	c.cfg.synFields(o, so)
	c.emit(now, o)
	if c.SndNxt == c.ISS {
		c.SndNxt = c.ISS.Add(1)
		c.sndMax = c.SndNxt
		c.rttSeq, c.rttStart = c.ISS, c.inst(now)
		c.flags |= flagRTTTiming
	}
}

// synSentSegment is RFC 9293 3.10.7.3 (SYN-SENT).
func (c *Conn) synSentSegment(now time.Time, seg *segment.Segment) {
	f := seg.Flags
	// First: the ACK bit.
	if f&segment.FlagACK != 0 {
		// "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless
		// the RST bit is set, if so drop the segment and return)".
		if seg.Ack.LessThanEq(c.ISS) || seg.Ack.GreaterThan(c.SndNxt) {
			if f&segment.FlagRST == 0 {
				c.sendRst(now, seg.Ack)
			}
			return
		}
	}
	// Second: the RST bit. Acceptable only if it acknowledges our SYN
	// (RFC 9293 3.10.7.3; RFC 5961 3.2 leaves SYN-SENT to this check).
	if f&segment.FlagRST != 0 {
		if f&segment.FlagACK != 0 {
			c.close(now, errRefused, seg)
		}
		return
	}
	// Fourth: the SYN bit.
	if f&segment.FlagSYN == 0 {
		return
	}
	c.initRecv(seg.Seq, seg.Window)
	c.peerOptions(&seg.Options, c.cfg.WindowScale && seg.Options.HasWScale)
	c.tsInit(now, &seg.Options)
	if f&segment.FlagACK != 0 && c.flags&flagTSOK != 0 {
		c.ackTSecr = seg.Options.TSEcr // the SYN's RTT (ackedSyn)
	}
	if f&segment.FlagACK != 0 {
		c.SndUna = seg.Ack
		c.SndWL1, c.SndWL2 = seg.Seq, seg.Ack
		c.ackedSyn(now)
		c.established(now, seg)
		c.flags |= flagAckNow
		// Data or a FIN on the SYN-ACK: "continue processing at the
		// sixth step".
		if len(seg.Payload) > 0 || f&segment.FlagFIN != 0 {
			c.lastHeard(now)
			if len(seg.Payload) > 0 {
				c.receiveText(now, c.RcvNxt, c.trimSynData(seg.Payload))
			}
			if f&segment.FlagFIN != 0 && len(seg.Payload) <= int(c.synWindow()) {
				c.finArrived(now, seg.Seq.Add(1+uint32(len(seg.Payload))), seg)
			}
		}
		return
	}
	// Simultaneous open: "enter SYN-RECEIVED, form a SYN,ACK segment
	// <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and send it". The SYN-ACK
	// repeats our window scale offer only if the peer's SYN had one
	// (peerOptions set flagSynOptWS).
	c.setState(now, StateSynReceived, seg)
	c.SndNxt = c.ISS // resend the SYN with the ACK
	c.sendSyn(now)
	c.flags &^= flagRTTTiming // Karn: our SYN now went out twice
	c.rtxAt = c.inst(now.Add(c.rto.RTO()))
}

// trimSynData limits data carried on a SYN-ACK to the window we offered.
func (c *Conn) trimSynData(p []byte) []byte {
	if w := int(c.synWindow()); len(p) > w {
		return p[:w]
	}
	return p
}

// ackedSyn is called when our SYN (or SYN-ACK) has been acknowledged.
func (c *Conn) ackedSyn(now time.Time) {
	if c.flags&flagRTTTiming != 0 && c.retries == 0 {
		c.rttLatest = c.since(now, c.rttStart)
		c.rto.Sample(c.rttLatest)
	} else if r, ok := c.tsRTT(now, c.ackTSecr); ok && c.flags&flagTSOK != 0 {
		// RFC 7323 4: TSecr times even a retransmitted SYN.
		c.rttLatest = r
		c.rto.Sample(r)
	}
	c.flags &^= flagRTTTiming
	c.rto.ResetBackoff()
	c.soft = nil // the path works (see SoftError)
	if c.retries > 0 && !c.rto.HasSample() {
		// RFC 6298 5.7: "If the timer expires awaiting the ACK of a
		// SYN segment and the TCP implementation is using an RTO less
		// than 3 seconds, the RTO MUST be re-initialized to 3 seconds
		// when data transmission begins" (Linux: TCP_TIMEOUT_FALLBACK).
		c.rto.Fallback(synTimeoutRTO)
	}
	if c.retries > 0 {
		c.cc.OnHandshakeLoss(c.ccSync(now)) // RFC 5681 3.1: IW of one segment
	}
	c.retries = 0
	c.unackedSince = 0
	if c.SndNxt.LessThan(c.SndUna) {
		c.SndNxt = c.SndUna
	}
	if c.sndMax.LessThan(c.SndNxt) {
		c.sndMax = c.SndNxt
	}
	c.rtxAt = 0
	if c.sndMax != c.SndUna { // a FIN sent in FIN-WAIT-1 before the SYN was acked
		c.unackedSince = c.inst(now)
		c.armRtx(now)
	}
}

// synTimeoutRTO is the RTO data transmission starts with when the SYN (or
// SYN-ACK) had to be retransmitted and no RTT sample exists (RFC 6298 5.7).
const synTimeoutRTO = 3 * time.Second

// established enters ESTABLISHED and tells the application.
func (c *Conn) established(now time.Time, seg *segment.Segment) {
	c.setState(now, StateEstablished, seg)
	c.lastHeard(now)
	c.sink.Notify(EventConnected)
	if c.flags&flagFinQueued != 0 {
		// CloseWrite was called in SYN-RECEIVED: "enter FIN-WAIT-1".
		c.setState(now, StateFinWait1, seg)
	}
}

// dupSyn handles a SYN arriving in SYN-RECEIVED that repeats the peer's SYN
// (our SYN-ACK was lost): the SYN-ACK is retransmitted, as Linux does. It
// reports whether the segment was consumed.
func (c *Conn) dupSyn(now time.Time, seg *segment.Segment) bool {
	if seg.Flags&(segment.FlagSYN|segment.FlagACK|segment.FlagRST) != segment.FlagSYN || seg.Seq != c.IRS {
		return false
	}
	c.SndNxt = c.ISS
	c.sendSyn(now)
	c.flags &^= flagRTTTiming // Karn: the SYN-ACK is now ambiguous
	c.stats.retransSegs++
	return true
}

// synReceivedAck is the ACK step in SYN-RECEIVED (RFC 9293 3.10.7.4):
// "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state and
// continue processing"; otherwise "form a reset segment <SEQ=SEG.ACK>
// <CTL=RST> and send it". It reports whether processing continues.
func (c *Conn) synReceivedAck(now time.Time, seg *segment.Segment) bool {
	if !(c.SndUna.LessThan(seg.Ack) && seg.Ack.LessThanEq(c.SndNxt)) {
		c.sendRst(now, seg.Ack)
		return false
	}
	c.synAcked(now, seg, uint32(seg.Window)<<c.sndShift)
	return true
}

// synAcked completes SYN-RECEIVED (or FIN-WAIT-1 entered from it, or a
// SYN-cookie open, AcceptCookie) on seg,
// whose ACK acknowledges our SYN, with wnd as the peer's window (RFC 9293
// 3.10.7.4: SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK).
func (c *Conn) synAcked(now time.Time, seg *segment.Segment, wnd uint32) {
	// Consume the SYN only; an ACK that also covers a FIN sent from
	// FIN-WAIT-1 (CloseWrite in SYN-RECEIVED) continues in ackArrived.
	c.SndUna = c.ISS.Add(1)
	c.SndWnd = wnd
	c.maxSndWnd = max(c.maxSndWnd, c.SndWnd)
	c.SndWL1, c.SndWL2 = seg.Seq, seg.Ack
	c.ackedSyn(now)
	if c.state == StateFinWait1 {
		c.sink.Notify(EventConnected)
	} else {
		c.established(now, seg) // SYN-RECEIVED, or LISTEN for AcceptCookie
	}
}

// crossingSynAck handles the peer's SYN,ACK arriving after a simultaneous
// open, when our own SYN,ACK crossed it (RFC 9293 3.5, Figure 8, line 6:
// SYN-RECEIVED -> ESTABLISHED on <SEQ=IRS><ACK=ISS+1><CTL=SYN,ACK>). Read
// literally, the acceptability test of 3.10.7.4 rejects it (its SYN lies
// before RCV.NXT) and only an ACK goes back; Linux instead lets it complete
// the handshake (since 6.11: tcp_validate_incoming lets it "pass" in
// SYN_RECV) and sends nothing more, so it never answers that ACK and the
// handshake would wait a whole RTO for our SYN-ACK retransmission. We
// take it as the ACK of our SYN, as the figure shows, and acknowledge it.
// It reports whether seg was consumed.
func (c *Conn) crossingSynAck(now time.Time, seg *segment.Segment) bool {
	const synAck = segment.FlagSYN | segment.FlagACK
	if c.flags&flagPassive != 0 || seg.Seq != c.IRS || len(seg.Payload) != 0 ||
		seg.Flags&(synAck|segment.FlagRST|segment.FlagFIN) != synAck ||
		!(c.SndUna.LessThan(seg.Ack) && seg.Ack.LessThanEq(c.SndNxt)) {
		return false
	}
	c.synAcked(now, seg, uint32(seg.Window)) // RFC 7323 2.2: a SYN's window is never scaled
	c.lastHeard(now)
	c.flags |= flagAckNow
	return true
}

// synRetransmit is the retransmission timer in SYN-SENT and SYN-RECEIVED:
// exponential backoff (RFC 6298 5.5) and, after SynRetries or
// SynAckRetries, the connection timeout (RFC 9293 3.8.3 R2 for SYNs).
func (c *Conn) synRetransmit(now time.Time) {
	limit := c.cfg.synRetries()
	if c.state != StateSynSent {
		limit = c.cfg.synAckRetries()
	}
	if int(c.retries) >= limit {
		c.close(now, c.timeoutErr(), nil)
		return
	}
	c.retries++
	c.stats.retransSegs++
	c.stats.rtoExpiries++
	c.rto.Backoff()
	c.SndNxt = c.ISS
	c.sendSyn(now)
	c.flags &^= flagRTTTiming // Karn: no sample from a retransmitted SYN
	c.rtxAt = c.inst(now.Add(c.rto.RTO()))
}
