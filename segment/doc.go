// Package segment holds tunstack's wire formats: IPv4, IPv6 (with its
// extension headers), TCP, ICMPv4, ICMPv6 and UDP headers as zero-copy views over
// []byte, a decoded TCP Segment value for the
// engine, builders that serialise into caller buffers, the Internet checksum,
// and TCP sequence-number arithmetic (Seq).
//
// # Parsing
//
// Parse takes one packet as read from the link and fills a caller's Segment.
// It switches on the IP version nibble (IPVersion): IPv4 goes to
// ParseIPv4TCP, IPv6 to ParseIPv6TCP; Segment carries netip.Addr, and
// PseudoHeaderSum picks the pseudo-header by address family. ParseIPv4TCP
// validates the IPv4 header
// (IPv4.Validate), the protocol, the TCP header length, the TCP checksum over
// the pseudo-header and the options, in that order, and returns the first
// failure as a preallocated sentinel error (ErrShort, ErrVersion, ErrIHL,
// ErrTotalLength, ErrChecksum, ErrFragment, ErrProtocol, ErrDataOffset,
// ErrTCPChecksum, ErrBadOption), each usable as a drop-reason counter.
// ParseTCP does the TCP half for a caller that validated the IP header itself
// (the runtime, which also dispatches ICMP); ParseTCPTrusted skips the TCP
// checksum for a segment whose checksum the link vouched for (TUN offloads).
// ParseIPv4ICMP, ICMPv4.Quoted and ParseIPv4UDP cover the other protocols
// the runtime meets. ParseUDP checks a UDP datagram of either family given
// its addresses (RFC 768: a zero checksum is "none" over IPv4; RFC 8200
// 8.1: it is ErrUDPZeroChecksum over IPv6); ParseIPv6UDP walks the
// extension headers to it.
//
// What this package validates is the wire format only; which addresses and
// ports are acceptable (e.g. dropping a SYN sent to a broadcast or multicast
// address, RFC 1122 4.2.3.10, or answering echo requests only for our own
// address) is the stack's decision.
//
// # IPv6
//
// IPv6.Validate checks the fixed header (RFC 8200 3); WalkIPv6 walks the
// extension headers (RFC 8200 4: hop-by-hop first only, routing, fragment,
// destination options) up to TCP, UDP, ICMPv6 or No Next Header without
// allocating, bounded to 8 headers, 8 options and 7 bytes of padding in a
// row. It reports in an IPv6Chain the upper-layer protocol and offset, the
// fragment header's fields and position (IPv6Fragment, for a reassembler),
// and, when the packet must be dropped, whether the RFCs ask for an ICMPv6
// Parameter Problem and with which code and pointer (unknown next header,
// routing header with segments left, the action bits of an unrecognised
// option, bad fragment lengths, an incomplete first fragment, RFC 7112).
// No routing type and no option is implemented: options are skipped or
// acted on by their action bits alone, and jumbograms (RFC 2675) and IPsec
// headers are refused. ParseIPv6TCP walks to TCP and checks the checksum
// over the IPv6 pseudo-header (RFC 8200 8.1). BuildIPv6TCP,
// BuildIPv6TCPHeaders and BuildIPv6TCPHeadersOnly mirror the IPv4 builders
// with a flow label (RFC 6437) and hop limit instead of the ID and TTL, and
// write no extension headers. No neighbour discovery is needed: a TUN has
// no link layer.
//
// ICMPv6 (RFC 4443): ParseIPv6ICMP validates a message (checksum over the
// IPv6 pseudo-header with next header 58); ICMPv6.Quoted finds the packet
// an error quotes and its TCP ports and sequence number through any
// extension headers, from a quote truncated to as little as 8 transport
// bytes; ICMPv6EchoReply answers an echo request; ICMPv6Error builds an
// error quoting as much of the invoking packet as fits in 1280 bytes, and
// refuses (ErrICMPNotAllowed) what ICMPv6ErrorAllowed forbids by RFC 4443
// 2.4(e): errors about ICMPv6 errors, redirects, packets to multicast
// addresses (bar Packet Too Big and option action 10) or from addresses
// that are not unicast. Rate limiting (2.4(f)) and path MTU discovery (RFC
// 8201) belong to the stack.
//
// # Fragments
//
// The parsers take whole datagrams: an IPv4 fragment, or an IPv6 packet
// with a fragment header that is not an atomic fragment (RFC 6946), is
// rejected with ErrFragment; reassembly happens before them, in another
// package, from the fields IPv4 and IPv6Fragment expose. TCP never needs
// fragmenting: the stack sends IPv4 with DF set, sizes segments to the path
// MTU, and IPv6 routers never fragment.
//
// # Segmentation offload
//
// CutIPv4TCP and CutIPv6TCP cut a super-segment (virtio-net GSO_TCPV4,
// GSO_TCPV6) into wire segments the way Linux does; SplitIPv4TCP and
// SplitIPv6TCP find its headers and payload.
//
// The views (IPv4, TCP, ICMPv4, UDP) are plain byte slices with accessors at
// fixed offsets. Before their validating call (IPv4.Validate, TCP.Validate,
// ICMPv4.Validate, UDP.Validate, or a Parse function that returned nil) an
// accessor may panic on a short slice; after it, no accessor panics. No
// function in this package panics on input from the network, whatever its
// bytes; this is fuzzed (FuzzParseIPv4TCP, FuzzParseOptions, FuzzWalkIPv6,
// FuzzParseIPv6TCP, FuzzICMPv6, FuzzCutIPv4TCP, FuzzCutIPv6TCP).
//
// # Building
//
// BuildIPv4TCP writes IPv4 header + TCP header + options + payload into a
// caller buffer and computes both checksums. BuildIPv4TCPHeaders does the same
// for a payload the caller already placed at offset IPv4TCPHeaderLen(seg), so
// the send path can write data once and headers in front of it;
// BuildIPv4TCPHeadersOnly writes the headers of a payload kept elsewhere and
// leaves the TCP checksum to a link with checksum offload; the BuildIPv6TCP
// family does the same for IPv6. Options are written 4-byte aligned the way
// Linux lays them out, packed when that does not fit, and SACK blocks
// beyond what fits in 40 bytes are dropped from the end (TCPOptionsLen says
// how many bytes will be written). BuildUDP (either family; BuildIPv4UDP and
// BuildIPv6UDP), ICMPv4EchoReply,
// ICMPv6EchoReply and ICMPv6Error are the small builders the runtime and
// tests need besides TCP. Builders report a short buffer or an address of
// the wrong family with sentinel errors; the lower-level Put functions
// (PutIPv4Header, PutIPv6Header, PutOptions) panic if handed a buffer
// shorter than documented, which is a programming error, not network input.
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
