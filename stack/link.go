package stack

// Link is the packet device the stack runs on: one whole IP packet per Read
// and per Write. *tun.Device and the in-memory pipe ends in package tun
// satisfy it; stack does not import tun.
type Link interface {
	// Read blocks until one packet is available and copies it into p,
	// returning its length. After Close it returns an error wrapping
	// net.ErrClosed (or os.ErrClosed).
	Read(p []byte) (int, error)
	// Write sends one packet. The link does not retain p after returning.
	//
	// Blocking contract. Write is called concurrently from several
	// goroutines (the input goroutine, the clock's goroutine, application
	// goroutines), never with a stack lock held: the stack builds a
	// connection's segments under that connection's lock and writes them
	// after releasing it, one writer per connection at a time, so segment
	// order within a connection is the stack's business, not the link's.
	// Write should still return promptly: the input goroutine writes
	// answers (RSTs, TIME-WAIT ACKs, SYN-cookie SYN-ACKs, echo replies)
	// and the clock's goroutine retransmissions, and while either is
	// inside Write it serves no other connection. A link that cannot take
	// a packet now should drop it (with or without an error) rather than
	// wait, as a router queue does; TCP recovers the loss. A TUN device
	// never blocks here (the kernel queues the packet or drops it), nor
	// does tun's in-memory pipe (a full queue drops). An error is counted
	// (Stats.LinkWriteErrors) and the packet treated as lost.
	Write(p []byte) (int, error)
	// MTU is the largest IP packet the link carries, in bytes.
	MTU() int
	// Close unblocks a pending Read and releases the device.
	Close() error
}

// OffloadLink is an optional extension of Link that the stack discovers
// with a type assertion (*tun.Device implements it). Links without it get
// one Read per packet, verified checksums and MTU-sized segments.
type OffloadLink interface {
	Link
	// ReadPacket is Read, plus: when no packet is waiting it calls idle
	// (if not nil) once on the calling goroutine before blocking, and
	// csumOK says the device vouched for the TCP checksum (it need not be
	// verified). A packet may be a TCP super-segment longer than MTU().
	ReadPacket(p []byte, idle func()) (n int, csumOK bool, err error)
	// GSOMaxSize is the largest IPv4 packet WriteGSO accepts, or 0 when
	// the link cannot segment.
	GSOMaxSize() int
	// WriteGSO writes one TCP/IPv4 packet, given as its headers (with the
	// TCP checksum left to the link, segment.BuildIPv4TCPHeadersOnly) and
	// its payload, without copying; a payload longer than mss is cut by
	// the link into segments of mss bytes. It may overwrite hdr. It is
	// called as Write is, under the same blocking contract.
	WriteGSO(hdr, payload []byte, mss int) (int, error)
}

// IPv6OffloadLink is an OffloadLink that offloads IPv6 as well when
// GSOIPv6 reports true (*tun.Device with TUN_F_TSO6): WriteGSO then also
// takes TCP/IPv6 packets (segment.BuildIPv6TCPHeadersOnly), and ReadPacket
// may return IPv6 TCP super-segments. Without it, the stack builds its
// IPv6 packets whole, checksum included, and writes them with Write.
type IPv6OffloadLink interface {
	OffloadLink
	GSOIPv6() bool
}

// PollGater is an optional extension of Link (*tun.Device implements it):
// a link that busy-polls an empty device asks the gate before each further
// look. The stack's gate says "no goroutine is writing a connection's
// output": a bulk sender keeps one writing nearly all the time, and a
// reader spinning beside it takes the CPU the writer and the peer need,
// while a ping-pong exchange, whose writes are brief, keeps its latency.
type PollGater interface {
	SetPollGate(gate func() bool)
}
