package segment

import "strconv"

// String renders the segment the way a capture reads, e.g.
//
//	S. seq=100 ack=200 win=65535 len=0 mss=1460 sackOK ts=1/0 ws=7
//
// ack is shown only with the ACK flag, urg only with URG; len is the payload
// length. Options follow in a fixed order: mss, sackOK, ts=val/ecr, ws,
// sack=[start-end ...]. It allocates and is meant for logs and test failures,
// not the hot path.
func (s *Segment) String() string {
	b := make([]byte, 0, 128)
	b = append(b, s.Flags.String()...)
	b = append(b, " seq="...)
	b = strconv.AppendUint(b, uint64(s.Seq), 10)
	if s.Flags&FlagACK != 0 {
		b = append(b, " ack="...)
		b = strconv.AppendUint(b, uint64(s.Ack), 10)
	}
	b = append(b, " win="...)
	b = strconv.AppendUint(b, uint64(s.Window), 10)
	if s.Flags&FlagURG != 0 {
		b = append(b, " urg="...)
		b = strconv.AppendUint(b, uint64(s.Urgent), 10)
	}
	b = append(b, " len="...)
	b = strconv.AppendInt(b, int64(len(s.Payload)), 10)
	o := &s.Options
	if o.HasMSS {
		b = append(b, " mss="...)
		b = strconv.AppendUint(b, uint64(o.MSS), 10)
	}
	if o.SACKPermitted {
		b = append(b, " sackOK"...)
	}
	if o.HasTimestamp {
		b = append(b, " ts="...)
		b = strconv.AppendUint(b, uint64(o.TSVal), 10)
		b = append(b, '/')
		b = strconv.AppendUint(b, uint64(o.TSEcr), 10)
	}
	if o.HasWScale {
		b = append(b, " ws="...)
		b = strconv.AppendUint(b, uint64(o.WScale), 10)
	}
	if n := min(max(o.NumSACK, 0), MaxSACKBlocks); n > 0 {
		b = append(b, " sack=["...)
		for i, blk := range o.SACK[:n] {
			if i > 0 {
				b = append(b, ' ')
			}
			b = strconv.AppendUint(b, uint64(blk.Start), 10)
			b = append(b, '-')
			b = strconv.AppendUint(b, uint64(blk.End), 10)
		}
		b = append(b, ']')
	}
	if o.Unknown > 0 {
		b = append(b, " unknown="...)
		b = strconv.AppendInt(b, int64(o.Unknown), 10)
	}
	return string(b)
}
