package tun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// Adapter turns a packet io.ReadWriteCloser that somebody else opened into
// a link the stack can run on (it satisfies stack.Link). "Packet" means one
// whole IP packet per Read and per Write, as a TUN descriptor opened with
// IFF_NO_PI delivers them: github.com/songgao/water's *water.Interface is
// one, and so is an *os.File for such a descriptor.
//
// Adapter adds what the stack relies on and a bare ReadWriteCloser does not
// promise:
//   - after Close, Read and Write return ErrClosed (which matches
//     net.ErrClosed and os.ErrClosed), whatever the wrapped value returns;
//     errors that mean the device is gone (os.ErrClosed, net.ErrClosed,
//     io.EOF, and on Linux EBADFD from a deleted TUN) match them too;
//   - a packet longer than Read's buffer is reported as ErrShortBuffer, told
//     from the IP header's length field, because Linux's TUN truncates such
//     a packet silently;
//   - Write refuses a packet longer than the MTU with ErrTooBig.
//
// It has no offloads (no IFF_VNET_HDR): the stack reads and writes one
// MTU-sized packet per system call, as with tun.Device and --no-offload.
//
// Close unblocks a pending Read only if the wrapped value's Close does.
// A descriptor registered with the Go runtime poller qualifies: water's
// Linux Interface (it opens /dev/net/tun O_NONBLOCK and wraps it with
// os.NewFile; verified by the integration test TestWaterCloseUnblocksRead),
// os.OpenFile("/dev/net/tun", ...), net.Conn values. A blocking descriptor
// wrapped by os.NewFile does not: its Read stays in the kernel until the
// next packet, and Stack.Close, which waits for its input goroutine, would
// wait with it. Adapt detects that case when the value has SetReadDeadline
// (an *os.File does; it answers os.ErrNoDeadline) and refuses it. Close
// also sets an expired read deadline first when the value has
// SetReadDeadline, which wakes a Read on values whose Close alone would
// not.
//
// Concurrency is the wrapped value's: an *os.File (water's too) allows
// concurrent Reads, Writes and Close, as the stack uses them.
type Adapter struct {
	rwc      io.ReadWriteCloser
	mtu      int
	deadline readDeadliner // nil when rwc has no SetReadDeadline
	closed   atomic.Bool
}

type readDeadliner interface {
	SetReadDeadline(t time.Time) error
}

// Adapt wraps rwc, which carries IP packets of at most mtu bytes (the
// device's MTU: the caller knows it, a ReadWriteCloser cannot say). It
// clears rwc's read deadline if it has one. It returns an error for a nil
// rwc, an MTU outside 68..65535 (RFC 791: 68 is the least every host must
// pass) and a descriptor whose Read Close could not interrupt (see
// Adapter).
func Adapt(rwc io.ReadWriteCloser, mtu int) (*Adapter, error) {
	if rwc == nil {
		return nil, errors.New("tun.Adapt: nil ReadWriteCloser")
	}
	if mtu < 68 || mtu > 65535 {
		return nil, fmt.Errorf("tun.Adapt: MTU %d out of range (68..65535)", mtu)
	}
	a := &Adapter{rwc: rwc, mtu: mtu}
	if d, ok := rwc.(readDeadliner); ok {
		if err := d.SetReadDeadline(time.Time{}); errors.Is(err, os.ErrNoDeadline) {
			return nil, errors.New("tun.Adapt: this file's Read cannot be interrupted by Close (a blocking descriptor the Go runtime does not poll): open it with O_NONBLOCK before os.NewFile, or with os.OpenFile")
		}
		a.deadline = d
	}
	return a, nil
}

// Read reads one packet into p and returns its length. Give it MTU() bytes
// (the stack gives 64 KiB): a longer packet is cut to len(p) bytes and
// returned with ErrShortBuffer. After Close it returns ErrClosed.
func (a *Adapter) Read(p []byte) (int, error) {
	if a.closed.Load() {
		return 0, ErrClosed
	}
	n, err := a.rwc.Read(p)
	if a.closed.Load() {
		// Close raced this Read: what it returned (a packet, a
		// deadline error, "file already closed") no longer matters.
		return 0, ErrClosed
	}
	if err != nil {
		return n, a.mapErr(err)
	}
	if n == len(p) && truncated(p) {
		return n, ErrShortBuffer
	}
	return n, nil
}

// truncated reports whether p, a buffer the read filled completely, holds
// less than the IP packet its header announces (IPv4 total length, RFC 791
// 3.1; IPv6 payload length plus the fixed header, RFC 8200 3), or not even
// the fixed header.
func truncated(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	switch p[0] >> 4 {
	case 4:
		return len(p) < 20 || int(binary.BigEndian.Uint16(p[2:4])) > len(p)
	case 6:
		return len(p) < 40 || 40+int(binary.BigEndian.Uint16(p[4:6])) > len(p)
	}
	return false // not IP: nothing to go by, the stack drops it anyway
}

// Write writes one packet. It returns ErrTooBig (and writes nothing) for a
// packet longer than MTU(), ErrClosed after Close, io.ErrShortWrite if the
// wrapped value took only part of the packet. p is not retained.
func (a *Adapter) Write(p []byte) (int, error) {
	if a.closed.Load() {
		return 0, ErrClosed
	}
	if len(p) > a.mtu {
		return 0, ErrTooBig
	}
	n, err := a.rwc.Write(p)
	if err != nil {
		return n, a.mapErr(err)
	}
	if n < len(p) {
		return n, io.ErrShortWrite
	}
	return n, nil
}

// MTU returns the MTU given to Adapt.
func (a *Adapter) MTU() int { return a.mtu }

// Close marks the adapter closed, sets an expired read deadline when the
// wrapped value has SetReadDeadline, and closes it; a pending Read returns
// ErrClosed once the wrapped Read returns (see Adapter for when that is).
// Closing twice returns ErrClosed.
func (a *Adapter) Close() error {
	if a.closed.Swap(true) {
		return ErrClosed
	}
	if a.deadline != nil {
		a.deadline.SetReadDeadline(time.Unix(1, 0)) // best effort; Close follows
	}
	if err := a.rwc.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

// mapErr gives errors that mean "this device is gone" the ErrClosed
// identity, keeping the original in the message and under errors.Unwrap.
func (a *Adapter) mapErr(err error) error {
	if a.closed.Load() {
		return ErrClosed
	}
	if errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || isDeviceGone(err) {
		return &goneError{cause: err}
	}
	return err
}

// goneError is returned by an Adapter whose device went away without
// Close: it matches ErrClosed, net.ErrClosed and os.ErrClosed, and unwraps
// to the wrapped value's error.
type goneError struct{ cause error }

func (e *goneError) Error() string { return "tun: device gone: " + e.cause.Error() }

func (e *goneError) Unwrap() error { return e.cause }

func (e *goneError) Is(target error) bool {
	return target == ErrClosed || target == net.ErrClosed || target == os.ErrClosed
}
