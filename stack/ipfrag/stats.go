package ipfrag

// Stats counts what a Reassembler did since it was made. Some counters
// count fragments (or packets), others datagrams, as each says: a fragment
// is held, or dropped for one reason (Result.Reason), and a datagram leaves
// the table reassembled, timed out, evicted, or discarded (overlap, too many
// fragments, ECN, too big) after waiting out its timeout.
type Stats struct {
	FragmentsIn uint64 // fragments taken in (well-formed headers, atomic ones excluded)
	Reassembled uint64 // datagrams completed and returned
	Atomic      uint64 // IPv6 atomic fragments passed through whole (RFC 6946)

	Duplicates uint64 // fragments dropped as exact copies of one already held
	Overlaps   uint64 // datagrams discarded because two fragments overlapped (RFC 5722)
	Discarded  uint64 // fragments dropped because their datagram had been discarded
	Timeouts   uint64 // datagrams abandoned incomplete at their timeout
	// TimeExceeded counts the timeouts reported to Config.TimeExceeded
	// (the first fragment had arrived).
	TimeExceeded uint64

	MemoryEvictions   uint64 // datagrams evicted to stay under MaxMemory or MaxMemoryPerSource
	DatagramEvictions uint64 // datagrams evicted to stay under MaxDatagrams
	TooManyFragments  uint64 // datagrams discarded for needing more than MaxFragments

	TooBig       uint64 // fragments dropped: the datagram would exceed 65535 bytes
	BadLength    uint64 // fragments dropped: empty, or not the last and not a multiple of 8
	Inconsistent uint64 // fragments dropped: contradicting the known end, or data beyond it
	Tiny         uint64 // fragments dropped: RFC 1858 tiny/overlapping TCP, RFC 7112 short chain
	ECN          uint64 // datagrams discarded: ECT and not-ECT fragments mixed (RFC 3168 5.3)
	Malformed    uint64 // packets dropped: the IP header does not validate
}

// Reason says why a packet was dropped (Verdict Dropped).
type Reason uint8

// Drop reasons; each has a Stats counter.
const (
	ReasonNone Reason = iota
	ReasonMalformed
	ReasonBadLength
	ReasonTooBig
	ReasonInconsistent
	ReasonTiny
	ReasonDuplicate
	ReasonOverlap
	ReasonDiscarded
	ReasonTooManyFragments
	ReasonMemory
	ReasonECN
)

var reasonNames = [...]string{
	ReasonNone:             "none",
	ReasonMalformed:        "malformed",
	ReasonBadLength:        "bad-length",
	ReasonTooBig:           "too-big",
	ReasonInconsistent:     "inconsistent",
	ReasonTiny:             "tiny",
	ReasonDuplicate:        "duplicate",
	ReasonOverlap:          "overlap",
	ReasonDiscarded:        "discarded",
	ReasonTooManyFragments: "too-many-fragments",
	ReasonMemory:           "memory",
	ReasonECN:              "ecn",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Verdict is what became of a packet handed to the Reassembler.
type Verdict uint8

const (
	// NotFragment: the packet is no fragment; process it as it is.
	NotFragment Verdict = iota
	// Held: the fragment is stored; its datagram is not complete yet.
	Held
	// Complete: Result.Packet is a whole datagram (reassembled, or an
	// IPv6 atomic fragment with its fragment header removed).
	Complete
	// Dropped: the packet was dropped for Result.Reason.
	Dropped
)

var verdictNames = [...]string{NotFragment: "not-fragment", Held: "held", Complete: "complete", Dropped: "dropped"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "unknown"
}

// Result is the outcome of one Input call.
type Result struct {
	Verdict Verdict
	// Packet (Verdict Complete) is the whole datagram as a normal packet:
	// IPv4 with total length and header checksum fixed and MF and offset
	// cleared; IPv6 with payload length fixed and the fragment header
	// spliced out. It aliases the Reassembler's buffer and is valid until
	// the next call on the Reassembler; the caller may modify it in place
	// (e.g. turn an echo request into its reply).
	Packet []byte
	// Reason (Verdict Dropped) says why.
	Reason Reason
	// ParamProblem (IPv6 only) asks the caller to send an ICMPv6 Parameter
	// Problem to the fragment's source with ParamCode and ParamPointer
	// (RFC 8200 4.5, RFC 7112 5), quoting the packet it passed in.
	ParamProblem bool
	ParamCode    uint8
	ParamPointer uint32
}
