package tcp_test

// The harness's side of option negotiation (RFC 2018, RFC 7323): a peer
// that offers and stamps timestamps, expectations on SACK blocks and TSecr,
// and the check that every engine segment carries only negotiated options.

import (
	"fmt"
	"strings"

	"github.com/tunstack/tunstack/segment"
)

// peerTSOpt makes the peer offer timestamps on its SYN and stamp every
// segment it sends (harness.pTS); peerSACKOpt makes it offer SACK.
func peerTSOpt() hopt   { return func(o *hopts) { o.peerTS = true } }
func peerSACKOpt() hopt { return func(o *hopts) { o.peerSACK = true } }

// noTS keeps a peer segment free of TSopt even when the harness stamps
// them (pTS).
func noTS() mod { return func(t *tmpl) { t.noTS = true } }

// sacks sets the SACK blocks an engine segment must carry, exactly and in
// this order: pairs of start, end relative to the peer's ISS. With no
// arguments the segment must carry none.
func sacks(pairs ...int64) mod {
	return func(t *tmpl) {
		t.sackWant = true
		t.opts.NumSACK = len(pairs) / 2
		for i := 0; i+1 < len(pairs); i += 2 {
			t.opts.SACK[i/2] = segment.SACKBlock{Start: peerISS.Add(uint32(pairs[i])), End: peerISS.Add(uint32(pairs[i+1]))}
		}
	}
}

// echo requires an engine segment to carry TSopt with TSecr v.
func echo(v uint32) mod { return func(t *tmpl) { t.ecrWant, t.ecr = true, v } }

// pTSBase is the peer's timestamp clock at t0 (see harness.pTS).
const pTSBase = 1_000_000

// peerTSVal is the peer's timestamp clock now.
func (h *harness) peerTSVal() uint32 { return pTSBase + uint32(h.now.Sub(t0)/ms) }

// checkNegotiated enforces RFC 2018 2 and RFC 7323 3.2 on every engine
// segment: a SYN offers SACK-permitted and TSopt as configured; a SYN-ACK
// only what the peer's SYN offered too; any other segment carries TSopt
// exactly when timestamps were agreed, and SACK blocks only when SACK was.
func (h *harness) checkNegotiated(got *segment.Segment) []string {
	var diffs []string
	o := &got.Options
	if got.Flags&segment.FlagSYN != 0 {
		wantSACK, wantTS := h.cfg.SACK, h.cfg.Timestamps
		if got.Flags&segment.FlagACK != 0 {
			wantSACK, wantTS = wantSACK && h.pSynSACK, wantTS && h.pSynTS
		}
		if o.SACKPermitted != wantSACK || o.HasTimestamp != wantTS {
			diffs = append(diffs, fmt.Sprintf("SYN offers sackOK %v TS %v, want %v %v", o.SACKPermitted, o.HasTimestamp, wantSACK, wantTS))
		}
		if o.NumSACK > 0 {
			diffs = append(diffs, "SACK blocks on a SYN")
		}
		return diffs
	}
	info := h.c.Info()
	if o.SACKPermitted {
		diffs = append(diffs, "SACK-permitted on a non-SYN segment")
	}
	if o.HasTimestamp != info.TimestampsOK {
		diffs = append(diffs, fmt.Sprintf("TSopt %v, but timestamps negotiated %v", o.HasTimestamp, info.TimestampsOK))
	}
	if o.NumSACK > 0 && !info.SACKOK {
		diffs = append(diffs, "SACK blocks sent, SACK not negotiated")
	}
	return diffs
}

// fmtSACK renders SACK blocks relative to the peer's ISS.
func (h *harness) fmtSACK(o *segment.Options) string {
	var b strings.Builder
	for i := range o.NumSACK {
		fmt.Fprintf(&b, "[%d,%d)", int32(o.SACK[i].Start-peerISS), int32(o.SACK[i].End-peerISS))
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}
