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
