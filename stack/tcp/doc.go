// Package tcp is tunstack's TCP engine: a deterministic, sans-IO state
// machine per connection implementing RFC 9293 with RFC 6298 (RTO), RFC 5681
// and RFC 6582 (NewReno), RFC 6928 (initial window), RFC 7323 (window
// scaling, timestamps with PAWS), RFC 2018 and RFC 2883 (SACK, D-SACK),
// RFC 8985 (RACK-TLP loss detection and tail loss probes with SACK:
// rack.go, tlp.go; Config.RACK), RFC 6675 and RFC 6937 (SACK recovery,
// PRR), RFC 3708 with RFC 4015's response (undoing a spurious recovery:
// undo.go), congestion control behind an interface (cc.go): RFC 9438
// (CUBIC, the default) with RFC 9406 (HyStart++), NewReno, and
// draft-ietf-ccwg-bbr (BBRv3, paced: pacing.go),
// receive-buffer auto-tuning (autotune.go), RFC 5961 (blind-attack
// defences), RFC 6528 (ISNs),
// RFC 1337 and RFC 6191 (TIME-WAIT), RFC 1191 (path MTU: PathMTU) and RFC
// 1122 4.2.3.9 (ICMP soft and hard errors: SoftError, HardError). Passive
// opens come from a listener's SYN (AcceptSYN) or a SYN cookie
// (AcceptCookie, RFC 4987). With Config.GSOMaxSize new data may leave in
// segments of several MSS for the link to cut. Where the RFCs leave room
// it behaves as Linux does, with a comment at each such place (e.g. a RST
// when keepalive gives up, or on Close with unread data).
//
// Contract:
//   - No I/O, no clock, no goroutines. Every entry point takes "now"; output
//     goes to a Sink synchronously; Deadline says when HandleTimer is due.
//     api.go lists the entry points agreed with the runtime (package stack).
//   - Concurrency: a Conn is not safe for concurrent use; the runtime calls
//     every method under one lock per Conn. A TimeWait record likewise. An
//     ISNGenerator and a Config (read-only once in use) may be shared. The
//     package-wide buffer free list (buffer.go) has its own mutex.
//   - Bytes: a segment passed to HandleSegment (and its Payload) is only read
//     during the call. A segment passed to Sink.Output, and its Payload (a
//     view of the send buffer), is valid only during that call. Read and
//     Write copy.
//   - Panics: none on any input from the network; a segment is never
//     trusted beyond its decoded fields.
//   - Allocation: receiving an in-order segment, sending a segment and the
//     ACK path allocate nothing in steady state. Buffers are allocated on
//     demand and returned to a bounded free list when empty, so an idle
//     established Conn holds no buffer memory.
package tcp
