// Package segment holds tunstack's wire formats: IPv4, TCP, ICMPv4 and UDP
// headers as zero-copy views over []byte, a decoded TCP Segment value for the
// engine, builders that serialise into caller buffers, the Internet checksum,
// and TCP sequence-number arithmetic (Seq).
//
// # Parsing
//
// Parse takes one packet as read from the link and fills a caller's Segment.
// It switches on the IP version nibble (IPVersion); IPv4 goes to
// ParseIPv4TCP, and IPv6 will get its own view and parser behind the same
// switch (Segment already carries netip.Addr, and PseudoHeaderSum already
// takes IPv6 addresses). ParseIPv4TCP validates the IPv4 header
// (IPv4.Validate), the protocol, the TCP header length, the TCP checksum over
// the pseudo-header and the options, in that order, and returns the first
// failure as a preallocated sentinel error (ErrShort, ErrVersion, ErrIHL,
// ErrTotalLength, ErrChecksum, ErrFragment, ErrProtocol, ErrDataOffset,
// ErrTCPChecksum, ErrBadOption), each usable as a drop-reason counter.
// ParseTCP does the TCP half for a caller that validated the IP header itself
// (the runtime, which also dispatches ICMP); ParseTCPTrusted skips the TCP
// checksum for a segment whose checksum the link vouched for (TUN offloads).
// ParseIPv4ICMP, ICMPv4.Quoted and ParseIPv4UDP cover the other protocols
// the runtime meets.
//
// What this package validates is the wire format only; which addresses and
// ports are acceptable (e.g. dropping a SYN sent to a broadcast or multicast
// address, RFC 1122 4.2.3.10, or answering echo requests only for our own
// address) is the stack's decision.
//
// IPv4 fragments are not reassembled: they are rejected with ErrFragment. The
// stack sends with DF set and relies on path MTU discovery.
//
// The views (IPv4, TCP, ICMPv4, UDP) are plain byte slices with accessors at
// fixed offsets. Before their validating call (IPv4.Validate, TCP.Validate,
// ICMPv4.Validate, UDP.Validate, or a Parse function that returned nil) an
// accessor may panic on a short slice; after it, no accessor panics. No
// function in this package panics on input from the network, whatever its
// bytes; this is fuzzed (FuzzParseIPv4TCP, FuzzParseOptions).
//
// # Building
//
// BuildIPv4TCP writes IPv4 header + TCP header + options + payload into a
// caller buffer and computes both checksums. BuildIPv4TCPHeaders does the same
// for a payload the caller already placed at offset IPv4TCPHeaderLen(seg), so
// the send path can write data once and headers in front of it;
// BuildIPv4TCPHeadersOnly writes the headers of a payload kept elsewhere and
// leaves the TCP checksum to a link with checksum offload. Options are
// written 4-byte aligned the way Linux lays them out, packed when that does
// not fit, and SACK blocks beyond what fits in 40 bytes are dropped from the
// end (TCPOptionsLen says how many bytes will be written).
// BuildIPv4UDP and ICMPv4EchoReply are the small builders the runtime and
// tests need besides TCP. Builders report a short buffer or an unusable
// address with sentinel errors; the lower-level Put functions (PutIPv4Header,
// PutOptions) panic if handed a buffer shorter than documented, which is a
// programming error, not network input.
//
// # Ownership and allocation
//
// Nothing is copied on parse: Segment.Payload, IPv4.Payload, Quoted.Header
// and the like alias the caller's packet and are valid only as long as the
// caller keeps that buffer unchanged. Builders write only into the buffer
// they are given and keep no reference to it. Parsing, building and checksum
// functions do not allocate (tested with testing.AllocsPerRun); String
// methods do and are for logs and tests.
//
// # Concurrency
//
// The package has no global mutable state. Functions are safe to call
// concurrently on distinct buffers; a view or Segment shared between
// goroutines needs the caller's synchronisation like any []byte.
package segment
