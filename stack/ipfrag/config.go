package ipfrag

import "time"

// Defaults, chosen to match Linux where Linux has a knob and the RFCs where
// they fix a value.
const (
	// DefaultMaxMemory bounds all the bytes a Reassembler holds: Linux's
	// net.ipv4.ipfrag_high_thresh (4 MiB).
	DefaultMaxMemory = 4 << 20
	// DefaultMaxDatagrams bounds the datagrams in progress (discarded ones
	// waiting out their timeout included). Linux bounds only memory; a
	// count bound keeps the per-datagram overhead of tiny fragments in
	// check too.
	DefaultMaxDatagrams = 1024
	// DefaultMaxFragments bounds the fragments of one datagram: 64 covers
	// a 65535-byte datagram cut for the IPv6 minimum MTU of 1280 (52
	// fragments). FreeBSD's net.inet.ip.maxfragsperpacket is 16; Linux has
	// no such bound.
	DefaultMaxFragments = 64
	// DefaultTimeoutIPv4 is Linux's net.ipv4.ipfrag_time (30 s). RFC 791
	// suggests 15 s as the initial timer and RFC 1122 3.3.2 60 s to 120 s;
	// we copy Linux, as the other stacks the users compare us with do.
	DefaultTimeoutIPv4 = 30 * time.Second
	// DefaultTimeoutIPv6: RFC 8200 4.5, "If insufficient fragments are
	// received to complete reassembly of a packet within 60 seconds of the
	// reception of the first-arriving fragment of that packet, reassembly
	// of that packet must be abandoned".
	DefaultTimeoutIPv6 = 60 * time.Second
	// MinMemory is the smallest MaxMemory accepted: room for one datagram
	// of the largest size plus the assembly buffer.
	MinMemory = 256 << 10
)

// Config holds a Reassembler's limits. A zero field takes its default.
type Config struct {
	// MaxMemory bounds the bytes held: fragment copies (by capacity), the
	// per-datagram bookkeeping, recycled buffers and the assembly buffer.
	// Values below MinMemory are raised to it.
	MaxMemory int
	// MaxMemoryPerSource bounds the bytes held for datagrams from one
	// source address, so one sender cannot take the whole budget. Default
	// MaxMemory/4; at least MinMemory/2, at most MaxMemory.
	MaxMemoryPerSource int
	// MaxDatagrams bounds the datagrams in progress. Default
	// DefaultMaxDatagrams.
	MaxDatagrams int
	// MaxFragments bounds the fragments one datagram may have; a datagram
	// that needs more is discarded. Default DefaultMaxFragments.
	MaxFragments int
	// TimeoutIPv4 and TimeoutIPv6 are how long after its first-arriving
	// fragment a datagram may take to complete.
	TimeoutIPv4 time.Duration
	TimeoutIPv6 time.Duration
	// TimeExceeded, if set, is called for each datagram that timed out
	// after its first fragment (offset 0) had arrived, with that fragment
	// as received (header and payload), so the caller can send ICMP Time
	// Exceeded code 1 (RFC 792; RFC 1122 3.3.2; RFC 8200 4.5 and RFC 4443
	// 3.3). The slice is valid only during the call; the callback must not
	// call the Reassembler.
	TimeExceeded func(firstFragment []byte)
}

// withDefaults returns c with zero fields filled in and bounds clamped.
func (c Config) withDefaults() Config {
	if c.MaxMemory <= 0 {
		c.MaxMemory = DefaultMaxMemory
	}
	c.MaxMemory = max(c.MaxMemory, MinMemory)
	if c.MaxMemoryPerSource <= 0 {
		c.MaxMemoryPerSource = c.MaxMemory / 4
	}
	c.MaxMemoryPerSource = min(max(c.MaxMemoryPerSource, MinMemory/2), c.MaxMemory)
	if c.MaxDatagrams <= 0 {
		c.MaxDatagrams = DefaultMaxDatagrams
	}
	if c.MaxFragments <= 0 {
		c.MaxFragments = DefaultMaxFragments
	}
	if c.TimeoutIPv4 <= 0 {
		c.TimeoutIPv4 = DefaultTimeoutIPv4
	}
	if c.TimeoutIPv6 <= 0 {
		c.TimeoutIPv6 = DefaultTimeoutIPv6
	}
	return c
}
