package tcp

import (
	"sync"
	"time"
)

// The transmission records: one per transmitted piece of the send sequence
// space between SND.UNA and snd.max, in sequence order. They are the
// sender's memory of what it sent and when, which the SACK scoreboard (RFC
// 6675), RACK-TLP (RFC 8985) and delivery-rate estimation
// (draft-cheng-iccrg-delivery-rate-estimation) work on, as Linux keeps
// per-skb state in its retransmission queue.
//
// A record covers at most one send MSS of data (a GSO super-segment is
// recorded per MSS-sized piece, the pieces the peer will see and SACK),
// plus the FIN if the piece carried it. Retransmissions keep the records'
// boundaries and update them in place.

// txRecord describes one transmitted piece [start, end).
type txRecord struct {
	start, end Seq
	xmitTime   time.Time // most recent (re)transmission (RFC 8985 "xmit_ts")
	// Delivery-rate state when it was last sent (draft-cheng-iccrg-
	// delivery-rate-estimation 3.2, the packet's "P." fields).
	delivered     uint64
	deliveredTime int64 // Unix nanoseconds (ratesample.go's clock)
	firstSentTime int64
	lostAtSend    uint64 // C.lost at send (BBR's P.lost)
	txInFlight    uint32 // bytes in flight after it was sent (BBR's P.tx_in_flight)
	flags         txFlags
}

type txFlags uint8

const (
	txSacked     txFlags = 1 << iota // covered by a SACK block (RFC 2018, RFC 6675 "SACKed")
	txLost                           // deemed lost and not retransmitted since (RFC 6675 IsLost, RFC 8985)
	txRetrans                        // retransmitted at least once
	txAppLimited                     // sent while application-limited (P.is_app_limited)
	txFin                            // carries the FIN (end includes it)
)

func (r *txRecord) len() uint32 { return uint32(r.end.Sub(r.start)) }

// txq is a growable ring of transmission records, oldest first.
type txq struct {
	buf  []txRecord  // power-of-two length
	box  *[]txRecord // buf's box for txqPools
	head int
	n    int
	hint uint8  // size class the last use of a ring needed: the next one starts there
	peak uint32 // most records held since the ring was taken
}

// txqMin is the smallest ring. An emptied queue gives its ring back (an
// idle connection holds no records) to a pool per size class, and the
// next transmission takes one of the size the last one grew to: a bulk
// sender whose queue empties with every ACK of a burst neither reallocates
// nor copies records as the ring grows again (that was about a tenth of
// the CPU of a local download, with the garbage collector's share).
const (
	txqMin     = 16
	txqClasses = 14 // up to txqMin<<13 = 131072 records
)

var txqPools [txqClasses]sync.Pool

// txqGet returns a ring of size class k (txqMin<<k records) in its box.
func txqGet(k int) *[]txRecord {
	if b, ok := txqPools[k].Get().(*[]txRecord); ok {
		return b
	}
	b := make([]txRecord, txqMin<<k)
	return &b
}

// txqClass returns the size class of a ring of n records.
func txqClass(n int) int {
	k := 0
	for txqMin<<k < n {
		k++
	}
	return k
}

func (q *txq) len() int { return q.n }

// at returns the i-th oldest record.
func (q *txq) at(i int) *txRecord { return &q.buf[(q.head+i)&(len(q.buf)-1)] }

// last returns the newest record, or nil.
func (q *txq) last() *txRecord {
	if q.n == 0 {
		return nil
	}
	return q.at(q.n - 1)
}

// push appends a zeroed record and returns it.
func (q *txq) push() *txRecord {
	if q.n == len(q.buf) {
		q.grow()
	}
	r := q.at(q.n)
	*r = txRecord{}
	q.n++
	q.peak = max(q.peak, uint32(q.n))
	return r
}

func (q *txq) grow() {
	if q.buf == nil {
		q.box = txqGet(int(q.hint))
		q.buf, q.head = *q.box, 0
		return
	}
	k := txqClass(len(q.buf)) + 1
	if k >= txqClasses {
		// Beyond the pooled classes (a window of over 100,000
		// segments): plain allocation.
		nb := make([]txRecord, 2*len(q.buf))
		q.copyTo(nb)
		q.putBox()
		q.buf, q.head = nb, 0
		return
	}
	box := txqGet(k)
	q.copyTo(*box)
	q.putBox()
	q.buf, q.box, q.head = *box, box, 0
}

// copyTo copies the records, oldest first, to the start of nb.
func (q *txq) copyTo(nb []txRecord) {
	for i := 0; i < q.n; i++ {
		nb[i] = *q.at(i)
	}
}

// putBox gives the current ring back to its pool.
func (q *txq) putBox() {
	if q.box != nil {
		txqPools[txqClass(len(*q.box))].Put(q.box)
		q.box = nil
	}
}

// popFront drops the k oldest records.
func (q *txq) popFront(k int) {
	q.head = (q.head + k) & (len(q.buf) - 1)
	q.n -= k
	if q.n == 0 {
		q.release()
	}
}

// release drops every record and gives the ring back, remembering the
// size class its use needed.
func (q *txq) release() {
	if q.buf != nil {
		q.hint = uint8(min(txqClass(int(q.peak)), txqClasses-1))
	}
	q.putBox()
	q.buf, q.head, q.n, q.peak = nil, 0, 0, 0
}

// search returns the index of the first record whose end lies beyond s
// (q.len() if none): the record holding s, or the first after it.
func (q *txq) search(s Seq) int {
	lo, hi := 0, q.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if q.at(m).end.LessThanEq(s) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// recordSent notes the transmission at now of [seq, seq+used), where the
// segment carried the FIN if fin (the FIN then occupies the last sequence
// number). Records it overlaps are retransmissions and are updated in
// place; what lies beyond the newest record is appended in pieces of at
// most the send MSS.
func (c *Conn) recordSent(now time.Time, seq Seq, used uint32, fin bool) {
	end := seq.Add(used)
	q := &c.txq
	// Stamps never go back: RACK orders transmissions by them (RFC 8985
	// 6.2, RACK_sent_after), and data of higher sequence numbers stamped
	// before data already sent reads as sent first, so that its delivery
	// declares the later-stamped data lost. A runtime whose goroutines
	// read the clock before they take the connection's lock passes such
	// times; each call's time stands for "now" within it, no earlier than
	// the last transmission.
	if l := q.last(); l != nil && now.Before(l.xmitTime) {
		now = l.xmitTime
	}
	for i := q.search(seq); i < q.n; i++ {
		r := q.at(i)
		if r.start.GreaterThanEq(end) {
			break
		}
		r.xmitTime = now
		if r.flags&txLost != 0 {
			c.sb.lostBytes -= r.len() // back in the network (scoreboard.go)
		}
		r.flags |= txRetrans
		r.flags &^= txLost
		c.onRecordSent(now, r)
	}
	if l := q.last(); l != nil && l.end.GreaterThan(seq) {
		seq = l.end
	}
	dataEnd := end
	if fin {
		dataEnd = end.Add(^uint32(0))
	}
	mss := uint32(c.sndMSS)
	var added *txRecord
	for seq.LessThan(dataEnd) {
		added = q.push()
		added.start, added.end = seq, seq.Add(min(uint32(dataEnd.Sub(seq)), mss))
		added.xmitTime = now
		c.onRecordSent(now, added)
		seq = added.end
	}
	if fin && seq.LessThan(end) {
		// The FIN rides on the last piece sent with it, or is a record
		// of its own.
		if added == nil {
			added = q.push()
			added.start, added.xmitTime = seq, now
			c.onRecordSent(now, added)
		}
		added.end = end
		added.flags |= txFin
	}
}

// recordsAcked drops the records the cumulative ACK ack, arriving at now,
// covers, trimming a record it covers in part, and returns how many whole
// records went. RACK sees each delivered record first (rackDelivered).
func (c *Conn) recordsAcked(now time.Time, ack Seq) int {
	q := &c.txq
	k := q.search(ack)
	rk := &c.rack
	for i := 0; i < k; i++ {
		r := q.at(i)
		if r.flags&txSacked != 0 {
			c.rackCumAcked(r)
			continue
		}
		// A record sent once, followed by another such record this ACK
		// also delivers, and not below RACK.fack (no reordering to
		// note): RFC 8985 6.2 steps 1-3 for the pair end as for the
		// later one alone (sent later, so its RTT is the smaller and its
		// transmission the more recent; stamps never go back,
		// recordSent). A bulk sender's ACK covers dozens of records.
		if i+1 < k && r.flags&txRetrans == 0 && rk.fackValid && !r.end.LessThan(rk.fack) &&
			q.at(i+1).flags&(txSacked|txRetrans) == 0 {
			continue
		}
		c.rackDelivered(now, r)
	}
	q.popFront(k)
	if q.n > 0 {
		if r := q.at(0); r.start.LessThan(ack) {
			r.start = ack
		}
	}
	return k
}
