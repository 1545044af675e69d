// Package ipfrag reassembles fragmented IPv4 (RFC 791, RFC 815) and IPv6
// (RFC 8200 4.5) datagrams, and fragments outgoing ones.
//
// # Reassembly
//
// A Reassembler takes packets as read from the link (InputIPv4, InputIPv6)
// and answers with a Result: NotFragment (use the packet as it is), Held (a
// fragment was stored), Complete (Packet is the whole datagram, a normal
// packet: IPv4 total length and header checksum fixed, MF and offset clear;
// IPv6 payload length fixed and the fragment header spliced out), or Dropped
// with a Reason, each counted in Stats. For IPv6 a Result may ask the caller
// to send an ICMPv6 Parameter Problem (RFC 8200 4.5, RFC 7112 5); a timed-out
// datagram whose first fragment arrived is handed to Config.TimeExceeded for
// ICMP Time Exceeded code 1.
//
// Datagrams are keyed by (source, destination, protocol, ID) for IPv4 (RFC
// 791 2.3) and (source, destination, ID) for IPv6 (RFC 8200 4.5). Fragments
// are held sorted by offset; a datagram is complete when its last fragment
// has arrived and the data held adds up to its length (no two fragments may
// overlap, so this is RFC 815's "no holes left"). The rules:
//   - a fragment overlapping one held discards the whole datagram, and its
//     later fragments until its timeout (RFC 5722 4; for IPv4 too, as Linux
//     does); an exact copy of a held fragment is dropped as a duplicate;
//   - data of every fragment but the last is a multiple of 8 bytes; empty
//     fragments are dropped;
//   - a datagram may not exceed 65535 bytes (IPv4 total length, IPv6
//     payload length);
//   - a last fragment that contradicts the known end, or data beyond it, is
//     dropped (the fragment; the datagram lives on, as in Linux);
//   - RFC 1858: an IPv4 TCP fragment at offset 8 is dropped, and a first
//     one must hold the whole TCP header; RFC 7112: an IPv6 first fragment
//     must hold the header chain through the upper-layer header;
//   - an IPv6 atomic fragment (offset 0, M clear) is a whole datagram,
//     returned at once without touching any queue with its ID (RFC 6946);
//   - RFC 3168 5.3: fragments mixing not-ECT with ECT discard the datagram,
//     a CE fragment makes the datagram CE.
//
// # Bounds
//
// Config bounds the bytes held in total (Linux's 4 MiB ipfrag_high_thresh by
// default) and per source address, the datagrams in progress and the
// fragments per datagram; a datagram must complete within 30 s (IPv4, Linux's
// ipfrag_time) or 60 s (IPv6, RFC 8200 4.5) of its first fragment. Memory is
// charged by what is really held: each fragment is copied into a buffer of
// the next power-of-two size and charged its capacity, plus bookkeeping per
// datagram and fragment, recycled buffers and the assembly buffer. When a
// bound would be exceeded the oldest datagrams are evicted (counted); memory
// never grows past the bound.
//
// # Time
//
// The Reassembler reads no clock and starts no goroutine: every call takes
// now, a monotonic time.Time from the caller's clock, and expires what is
// due; Expire(now) does that alone, NextDeadline says when it is next due.
//
// # Fragmentation
//
// FragmentIPv4 and FragmentIPv6 cut a packet larger than the MTU into
// fragments written into a caller's buffer, one at a time, for an emit
// callback. The stack needs them only for ICMP echo replies to large
// requests, as Linux answers them (RFC 1122 3.3.2): TCP never fragments (it
// sets DF and its MSS fits the path MTU).
//
// # Concurrency and ownership
//
// A Reassembler is not safe for concurrent use. It copies what it keeps and
// retains no caller slice; Result.Packet and the slice passed to
// TimeExceeded are its own and valid until the next call. Nothing here
// panics on input from the network (fuzzed).
package ipfrag
