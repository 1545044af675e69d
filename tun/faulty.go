package tun

import (
	"errors"
	"sync"

	"github.com/tunstack/tunstack/timers"
)

// PacketDevice is what WithFaults wraps: one IP packet per Read and Write
// (the shape of stack.Link; *Device, *PipeEnd and *FaultyDevice have it).
type PacketDevice interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	MTU() int
	Close() error
}

// FaultyDevice is a PacketDevice with impairments applied by the same code
// as the in-memory pipe. It satisfies stack.Link; all methods are safe for
// concurrent use.
type FaultyDevice struct {
	dev    PacketDevice
	out    *line  // Write -> faults -> dev.Write
	in     *line  // pump: dev.Read -> faults -> rx; nil for a pass-through
	rx     *queue // packets read from dev that survived the faults
	closed sync.Once
	cerr   error
}

// WithFaults wraps dev: packets read from it go through the faults in
// before Read returns them, packets written go through out before they
// reach dev.Write. clock drives delays (a timers.Real clock for a real
// device). If in is the zero FaultConfig, Read calls dev.Read directly;
// otherwise a goroutine reads dev continuously until Close or a read error
// (which Read returns after the packets already received). Errors of
// dev.Write are not reported to Write (the packet may be written later, by
// a timer) and count as drops; a failed device shows up on Read.
func WithFaults(dev PacketDevice, clock timers.Clock, in, out FaultConfig) *FaultyDevice {
	mtu := dev.MTU()
	d := &FaultyDevice{dev: dev}
	d.out = newLine(clock, mtu, out, devSink{dev})
	if in != (FaultConfig{}) {
		d.rx = newQueue(mtu, in.limit())
		d.in = newLine(clock, mtu, in, d.rx)
		go d.pump(mtu)
	}
	return d
}

type devSink struct{ dev PacketDevice }

func (s devSink) put(p []byte) bool {
	_, err := s.dev.Write(p)
	return err == nil
}

func (devSink) delivered() {}

// pump moves packets from the device through the in faults.
func (d *FaultyDevice) pump(mtu int) {
	buf := make([]byte, mtu)
	for {
		n, err := d.dev.Read(buf)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				err = ErrClosed
			}
			d.rx.fail(err)
			return
		}
		if d.in.send(buf[:n]) == ErrClosed {
			return
		}
	}
}

// Read returns the next packet that survived the in faults.
func (d *FaultyDevice) Read(p []byte) (int, error) {
	if d.in == nil {
		return d.dev.Read(p)
	}
	return d.rx.read(p)
}

// Write sends p through the out faults to the device; it does not block on
// delayed packets. ErrTooBig if len(p) > MTU, ErrClosed after Close.
func (d *FaultyDevice) Write(p []byte) (int, error) {
	if err := d.out.send(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// MTU is the wrapped device's MTU.
func (d *FaultyDevice) MTU() int { return d.dev.MTU() }

// Stats returns the counters of both directions. A pass-through in
// direction (zero FaultConfig) counts nothing.
func (d *FaultyDevice) Stats() (in, out Stats) {
	if d.in != nil {
		in = d.in.getStats()
	}
	return in, d.out.getStats()
}

// Close discards packets in flight, unblocks Read and closes the wrapped
// device, returning its error. Later calls return the same error.
func (d *FaultyDevice) Close() error {
	d.closed.Do(func() {
		d.out.close()
		if d.in != nil {
			d.in.close()
			d.rx.close()
		}
		d.cerr = d.dev.Close()
	})
	return d.cerr
}
