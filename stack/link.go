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
	// the link into segments of mss bytes. It may overwrite hdr.
	WriteGSO(hdr, payload []byte, mss int) (int, error)
}
