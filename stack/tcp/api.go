package tcp

import (
	"net/netip"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// This file is the contract between the engine and the runtime (package
// stack). The runtime holds one lock per Conn and calls every method below
// under it; the engine itself does no I/O, reads no clock and starts no
// goroutines: it is handed "now" and talks back through a Sink.

// State is a connection state (RFC 9293 3.3.2).
type State uint8

// The eleven states of RFC 9293 3.3.2.
const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

var stateNames = [...]string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
	"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

// String returns the state's RFC 9293 name, e.g. "SYN-RECEIVED".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "INVALID"
}

// Event is a bit set of application-visible happenings, reported through
// Sink.Notify.
type Event uint16

const (
	// EventConnected: the handshake completed (ESTABLISHED reached).
	EventConnected Event = 1 << iota
	// EventReadable: new data, or the peer's FIN, is available to Read.
	EventReadable
	// EventWritable: space was freed in the send buffer.
	EventWritable
	// EventClosed: the connection reached CLOSED; Err says why (nil for a
	// clean close).
	EventClosed
	// EventTimeWait: the connection entered TIME-WAIT. The runtime takes
	// the TimeWait record (Conn.TimeWait) and drops the Conn.
	EventTimeWait
	// EventSoftError: an ICMP soft error was recorded (Conn.SoftErr); it is
	// the error a later timeout reports.
	EventSoftError
)

// Tuple identifies a connection: local and remote address and port.
type Tuple struct {
	LocalAddr  netip.Addr
	LocalPort  uint16
	RemoteAddr netip.Addr
	RemotePort uint16
}

// Sink receives what the engine produces. It is called synchronously from
// inside Conn methods and must not call back into the same Conn.
type Sink interface {
	// Output transmits one segment now. seg and seg.Payload are only valid
	// during the call: the sink serialises them into a packet and forgets
	// them. Addresses and ports are filled in.
	Output(seg *segment.Segment)
	// Notify reports application events.
	Notify(ev Event)
}

// BufferReleaser is an optional extension of Sink, for a runtime that
// writes segments after releasing its lock (package stack does). A payload
// given to Output may alias the Conn's send buffer. When the Sink is a
// BufferReleaser, the Conn never hands send-buffer memory back to the free
// list itself: a block it lets go of (the send ring outgrown or emptied, a
// wrapped segment's scratch copy) goes to ReleaseBuffer, called like
// Output (under the runtime's lock, in order with the segments), and the
// runtime returns it with PutBuffer once it has written every segment it
// was given before. So the bytes of new data stay where Output saw them
// until the peer acknowledges them. A retransmitted payload has no such
// guarantee (the peer may acknowledge the original meanwhile, and new data
// may then reuse its space): a runtime that defers writes copies those.
type BufferReleaser interface {
	ReleaseBuffer(b []byte)
}

// PutBuffer returns a block received through BufferReleaser.ReleaseBuffer
// to the engine's free list. It is safe for concurrent use.
func PutBuffer(b []byte) { putBuf(b) }

// Tracer is an optional extension of Sink. When Config.Trace is set and a
// Conn's Sink implements Tracer, the Conn reports its state transitions to
// the Sink's Trace instead of Config.Trace, under the same rules as Output
// (called with the runtime's lock held; tr.Seg is only valid during the
// call). A runtime that writes its output after releasing the lock uses it
// to deliver transitions in order with that output (package stack does).
type Tracer interface {
	Trace(tr Transition)
}

// Transition describes one state change, for tracing (Config.Trace).
type Transition struct {
	Time     time.Time
	Tuple    Tuple
	From, To State
	// Seg is the segment whose processing caused the change, or nil when an
	// application call or a timer caused it.
	Seg *segment.Segment
}

// SynParams is what a passive open needs to remember of the peer's SYN; the
// runtime rebuilds it from a SYN cookie (RFC 4987) when the SYN queue
// overflowed.
type SynParams struct {
	IRS    segment.Seq // the peer's initial sequence number
	MSS    uint16      // peer's MSS option, 0 if absent (536 applies, RFC 9293 3.7.1)
	WScale int         // peer's window scale shift, -1 if not offered
	SACK   bool        // the SYN carried SACK-permitted (RFC 2018 2)
	TS     bool        // the SYN carried timestamps (RFC 7323 3.2)
}

// Engine entry points (implemented in the other files of this package):
//
//	func DefaultConfig() Config
//	func NewConn(cfg *Config, t Tuple, sink Sink) *Conn            // state CLOSED
//	func (c *Conn) Connect(now time.Time, iss segment.Seq)          // active open: SYN-SENT, sends SYN
//	func (c *Conn) AcceptSYN(now time.Time, iss segment.Seq, syn *segment.Segment)
//	        // passive open from a listener: LISTEN -> SYN-RECEIVED, sends SYN-ACK
//	func (c *Conn) AcceptCookie(now time.Time, iss segment.Seq, p SynParams, ack *segment.Segment)
//	        // passive open completed by a valid SYN-cookie ACK: straight to ESTABLISHED
//	func (c *Conn) HandleSegment(now time.Time, seg *segment.Segment)
//	func (c *Conn) HandleTimer(now time.Time)  // runs every expired timer
//	func (c *Conn) Deadline() time.Time         // when HandleTimer is next due; zero: none
//	func (c *Conn) Read(now time.Time, p []byte) (int, error)  // (0, nil): nothing yet; io.EOF after FIN
//	func (c *Conn) Write(now time.Time, p []byte) (int, error) // copies what fits; (0, nil): buffer full
//	func (c *Conn) CloseWrite(now time.Time) error              // half-close: FIN after queued data
//	func (c *Conn) Close(now time.Time) error                   // full close (RST if unread data, as Linux)
//	func (c *Conn) Abort(now time.Time)                         // RST, straight to CLOSED
//	func (c *Conn) State() State
//	func (c *Conn) Err() error     // terminal error: syscall.ECONNRESET, ECONNREFUSED, ETIMEDOUT, or nil
//	func (c *Conn) SoftError(err error) / SoftErr() error  // ICMP soft errors, RFC 1122 4.2.3.9: reported on timeout
//	func (c *Conn) HardError(now time.Time, err error) bool // ICMP protocol/port unreachable: aborts a connection still opening
//	func (c *Conn) PathMTU(now time.Time, mtu int) bool      // ICMP fragmentation needed (RFC 1191): lower the send MSS, resend
//	func (c *Conn) Readable() int  // bytes ready to Read
//	func (c *Conn) Writable() int  // free send-buffer space
//	func (c *Conn) Info() Info     // state, tuple, SRTT/RTTVAR/RTO, cwnd/ssthresh, windows, counters
//	func (c *Conn) TimeWait() TimeWait // the small record that replaces the Conn in TIME-WAIT
//	func (tw *TimeWait) HandleSegment(now time.Time, seg *segment.Segment, sink Sink) TimeWaitVerdict
//	func ResetFor(in *segment.Segment, out *segment.Segment) bool // RST for a segment that reached nothing (RFC 9293 3.10.7.1)
//	type ISNGenerator; func NewISNGenerator(secret [16]byte) *ISNGenerator; func (g *ISNGenerator) ISN(t Tuple, now time.Time) segment.Seq
//	func (g *ISNGenerator) TSOffset(t Tuple) uint32 // the timestamp clock's per-4-tuple offset (RFC 7323 5.4); set Config.TSOffsets
//	func SynAckFor(cfg *Config, now time.Time, iss segment.Seq, syn, out *segment.Segment) // the SYN-ACK a cookie answer sends
//	func (c *Conn) SetRecvBufferSize(n int) int // fixes the receive buffer (stops auto-tuning, as SO_RCVBUF)
//	type Tracer, type BufferReleaser // optional Sink extensions for a runtime that writes after releasing its lock
//	func PutBuffer(b []byte)        // returns a block given to BufferReleaser.ReleaseBuffer
