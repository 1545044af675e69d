//go:build linux

package tun

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Config says which TUN device Open creates or attaches to and how to
// configure it. The zero value of every field means "leave it as it is".
type Config struct {
	// Name is the interface name (at most 15 bytes). If a device of that
	// name exists, Open attaches to it; otherwise Open creates it. Empty
	// lets the kernel choose (tun0, tun1, ...).
	Name string
	// MTU to set on the interface; 0 keeps the current one (1500 for a
	// fresh device).
	MTU int
	// Addr is a host-side (kernel-side) address and prefix to add, e.g.
	// 198.18.0.1/24, which also gives the kernel a route to the prefix
	// through the device. Already present is fine. The zero Prefix adds
	// nothing. IPv4 or IPv6, as Addrs; kept for callers with one address.
	Addr netip.Prefix
	// Addrs are more host-side addresses and prefixes, IPv4 or IPv6 (e.g.
	// 198.18.0.1/24 and 2001:2::1/64), added after Addr in order, each
	// with its prefix route. IPv6 addresses are added without duplicate
	// address detection (IFA_F_NODAD: a TUN has no link layer), so they
	// are usable as soon as the link is up; IPv6 needs an MTU of at least
	// 1280 (errors wrap ErrIPv6Unavailable when IPv6 is off on the link).
	Addrs []netip.Prefix
	// Up sets the link up (already up is fine). False leaves the flag
	// alone; it never takes a link down.
	Up bool
	// Offload asks for IFF_VNET_HDR with checksum and TCP segmentation
	// offloads (TUNSETOFFLOAD TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6): the
	// kernel may then hand us TCP super-segments over IPv4 and IPv6 of up
	// to 64 KiB and packets with a partial checksum, and WriteGSO may give
	// it one large segment to cut. If the kernel refuses, the device is
	// opened without offloads (Offload() reports which; GSOIPv6() whether
	// TSO6 was granted).
	Offload bool
	// BusyPoll, if positive, makes a read that finds no packet waiting keep
	// looking for up to this long, yielding the processor to other
	// goroutines between attempts, before it parks in the runtime poller.
	// A request-response exchange then finds its next packet without a
	// poller wake-up, at the cost of CPU time while traffic trickles in
	// (see doc.go, "Busy polling"). Zero parks at once.
	BusyPoll time.Duration
}

// Device is a Linux TUN device opened with IFF_TUN|IFF_NO_PI: every Read
// and Write carries exactly one bare IP packet.
//
// The file descriptor is non-blocking and registered with the Go runtime
// poller, so a Read parks its goroutine rather than a thread, and Close
// unblocks it (with ErrClosed). Read and Write may be called concurrently
// with each other and with Close; concurrent Reads each get whole packets.
type Device struct {
	f       *os.File
	rc      syscall.RawConn
	name    string
	mtu     int
	created bool
	vnet    bool                        // IFF_VNET_HDR with TUN_F_CSUM|TUN_F_TSO4
	tso6    bool                        // ...and TUN_F_TSO6
	poll    time.Duration               // Config.BusyPoll
	gate    atomic.Pointer[func() bool] // SetPollGate
	spin    spinHistory                 // whether busy polling pays off now (spin.go)
	closed  atomic.Bool                 // Close was called
	opsMu   sync.Mutex
	ops     []*ioOp // free list, so a read or write allocates nothing
}

// Open creates the TUN device cfg.Name, or attaches to it if it exists (for
// example a persistent device made with `ip tuntap add dev X mode tun`),
// then applies cfg. Errors are one line saying what to do (see doc.go); they
// wrap the underlying errno for errors.Is.
//
// Open never sets or clears the device's persist flag: a device Open
// created disappears when it is closed, an existing persistent device stays.
func Open(cfg Config) (*Device, error) {
	if len(cfg.Name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("tunstack: TUN device name %q is longer than %d bytes", cfg.Name, unix.IFNAMSIZ-1)
	}
	if cfg.MTU != 0 && (cfg.MTU < 68 || cfg.MTU > 65535) { // RFC 791: 68 is the least every host must pass
		return nil, fmt.Errorf("tunstack: MTU %d out of range (68..65535)", cfg.MTU)
	}
	if err := cfg.checkPrefixes(); err != nil {
		return nil, err
	}

	if cfg.Offload {
		d, err := open(cfg, true)
		if err == nil {
			return d, nil
		}
		var oe *OpenError
		if errors.As(err, &oe) {
			// Permissions, a missing module, a busy device: the same
			// without offloads would fail the same way.
			return nil, err
		}
	}
	return open(cfg, false)
}

// errOffload marks a refusal of the offload ioctls, after which Open
// retries without them.
var errOffload = errors.New("tun: offloads refused")

func open(cfg Config, vnet bool) (*Device, error) {
	existed := cfg.Name != "" && interfaceExists(cfg.Name)
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, openError("open", cfg.Name, err)
	}
	flags, tso6 := uint16(unix.IFF_TUN|unix.IFF_NO_PI), false
	if vnet {
		flags |= unix.IFF_VNET_HDR
	}
	excl := uint16(0)
	if !existed {
		// Create, and only create: if the name appeared since we looked,
		// the kernel says EBUSY and we attach instead, so Created is
		// never true for somebody else's device.
		excl = unix.IFF_TUN_EXCL
	}
	name, err := setIff(fd, cfg.Name, flags|excl)
	if err == unix.EBUSY && excl != 0 && cfg.Name != "" {
		existed = true
		name, err = setIff(fd, cfg.Name, flags)
	}
	if err != nil {
		unix.Close(fd)
		if vnet && err == unix.EINVAL {
			return nil, errOffload
		}
		return nil, openError("TUNSETIFF", cfg.Name, err)
	}
	if vnet {
		// The header size is a property of the device and outlives us
		// on a persistent one: set it rather than assume the default.
		if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, virtioNetHdrLen); err != nil {
			unix.Close(fd)
			return nil, errOffload
		}
		// TSO6 with the rest; a kernel that refuses it (every kernel
		// since 2.6.27 has it) still gets IPv4 offloads.
		tso6 = true
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, unix.TUN_F_CSUM|unix.TUN_F_TSO4|unix.TUN_F_TSO6); err != nil {
			tso6 = false
			if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, unix.TUN_F_CSUM|unix.TUN_F_TSO4); err != nil {
				unix.Close(fd)
				return nil, errOffload
			}
		}
	}
	// The fd is non-blocking, so os.NewFile registers it with the poller.
	d := &Device{
		f:       os.NewFile(uintptr(fd), "/dev/net/tun:"+name),
		name:    name,
		created: !existed,
		vnet:    vnet,
		tso6:    tso6,
		poll:    max(cfg.BusyPoll, 0),
	}
	if d.rc, err = d.f.SyscallConn(); err != nil {
		d.f.Close()
		return nil, err
	}
	mtu, err := configure(name, cfg)
	if err != nil {
		d.f.Close()
		return nil, err
	}
	d.mtu = mtu
	return d, nil
}

func setIff(fd int, name string, flags uint16) (string, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return "", err
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return "", err
	}
	return ifr.Name(), nil
}

// Read reads one packet into p and returns its length. p should be MTU()
// bytes long: the kernel truncates a longer packet to fit. After Close, and
// if the device is deleted under us (EBADFD), it returns ErrClosed.
//
// With offloads on (Offload() true), a packet may be a TCP super-segment
// (IPv4, and IPv6 when GSOIPv6() is true) longer than the MTU (up to 65535
// bytes; give Read that much); Read completes partial checksums, so every
// packet it returns carries valid checksums.
func (d *Device) Read(p []byte) (int, error) {
	if !d.vnet && d.poll == 0 {
		n, err := d.f.Read(p)
		if err != nil {
			return n, ioError(err)
		}
		return n, nil
	}
	n, _, _, err := d.readPacket(p, nil, true, false)
	return n, err
}

// errEmpty is readPacket's answer to a try when no packet is waiting.
var errEmpty = errors.New("tun: no packet waiting")

func (d *Device) readPacket(p []byte, idle func(), complete, try bool) (int, bool, int, error) {
	op := d.getOp()
	op.p, op.idle, op.try = p, idle, try
	err := d.rc.Read(op.readFn)
	n, hdr := op.n, op.hdr
	if err == nil {
		err = op.err
	}
	op.p, op.idle, op.err, op.spinning, op.missed, op.try = nil, nil, nil, false, false, false
	d.putOp(op)
	if err == errEmpty {
		return 0, false, 0, err
	}
	if err != nil {
		return 0, false, 0, d.ioErr(err)
	}
	if !d.vnet {
		return n, false, 0, nil
	}
	if n < virtioNetHdrLen {
		return 0, false, 0, errShortVnet
	}
	n -= virtioNetHdrLen
	var h virtioNetHdr
	h.decode(hdr[:])
	pkt := p[:n]
	gso := 0
	if h.gsoType == vnetGSOTCPv4 || h.gsoType == vnetGSOTCPv6 {
		gso = int(h.gsoSize)
	}
	if h.flags&vnetFlagNeedsCsum != 0 {
		// The field holds the pseudo-header sum, IPv4's or IPv6's (RFC
		// 8200 8.1): summing from csum_start completes either.
		if _, _, ok := tcpLayout(pkt); ok && !complete {
			return n, true, gso, nil
		}
		if !completeChecksum(pkt, int(h.csumStart), int(h.csumOffset)) {
			return 0, false, 0, errShortVnet
		}
		return n, false, gso, nil
	}
	if h.flags&vnetFlagDataValid != 0 && !complete {
		_, _, ok := tcpLayout(pkt)
		return n, ok, gso, nil
	}
	return n, false, gso, nil
}

// getOp takes an ioOp from the free list. A mutex-guarded slice rather than
// sync.Pool: the pool drops items at random under the race detector, and
// the zero-allocation tests run there too.
func (d *Device) getOp() *ioOp {
	d.opsMu.Lock()
	if n := len(d.ops); n > 0 {
		op := d.ops[n-1]
		d.ops = d.ops[:n-1]
		d.opsMu.Unlock()
		return op
	}
	d.opsMu.Unlock()
	op := &ioOp{d: d}
	op.readFn, op.writeFn = op.read, op.write
	return op
}

// putOp returns op to the free list (at most one per concurrent caller is
// ever made).
func (d *Device) putOp(op *ioOp) {
	d.opsMu.Lock()
	d.ops = append(d.ops, op)
	d.opsMu.Unlock()
}

// errShortVnet is returned for a packet whose virtio-net header is
// missing or inconsistent; the packet is dropped.
var errShortVnet = errors.New("tun: malformed virtio-net header")

// ioOp carries one read or write through syscall.RawConn without
// allocating: its methods are bound once, as readFn and writeFn.
type ioOp struct {
	d               *Device
	p, p2           []byte // packet, or headers and payload (writes)
	idle            func()
	try             bool // a read that must not wait: errEmpty when nothing is waiting
	hdr             [virtioNetHdrLen]byte
	n               int
	err             error
	readFn, writeFn func(fd uintptr) bool
	iov             [3][]byte
	spinning        bool      // a read is busy polling (Config.BusyPoll)...
	spinFrom        time.Time // ...since then (monotonic clock)
	missed          bool      // ...and ran its budget out (spinHistory)
}

// read is the RawConn.Read callback: false means "would block, wait".
func (op *ioOp) read(fd uintptr) bool {
	for {
		var n int
		var err error
		if op.d.vnet {
			op.iov[0], op.iov[1] = op.hdr[:], op.p
			n, err = unix.Readv(int(fd), op.iov[:2])
			op.iov[1] = nil
		} else {
			n, err = unix.Read(int(fd), op.p)
		}
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if op.try {
				op.n, op.err = 0, errEmpty
				return true
			}
			if f := op.idle; f != nil {
				op.idle = nil
				f()
				continue // the idle work took time: look again first
			}
			if op.keepPolling() {
				runtime.Gosched()
				continue
			}
			return false
		}
		if err != nil {
			n = 0
		}
		if op.spinning && !op.missed && err == nil {
			op.d.spin.record(true)
		}
		op.n, op.err = n, err
		return true
	}
}

// keepPolling reports whether a read that found nothing should look again
// rather than park: Config.BusyPoll has not elapsed since the read first
// found the device empty, and recent spins paid off (spinHistory). The budget is per call of readPacket, so it
// restarts after every packet read. Close stops it; an expired deadline is
// noticed by the poller once it runs out.
func (op *ioOp) keepPolling() bool {
	if op.d.poll <= 0 || op.d.closed.Load() {
		return false
	}
	if g := op.d.gate.Load(); g != nil && !(*g)() {
		return false
	}
	if !op.spinning {
		if !op.d.spin.allow() {
			return false
		}
		op.spinning, op.spinFrom = true, time.Now()
		return true
	}
	if time.Since(op.spinFrom) < op.d.poll {
		return true
	}
	if !op.missed {
		op.missed = true
		op.d.spin.record(false)
	}
	return false
}

// SetPollGate makes busy polling (Config.BusyPoll) ask gate before each
// further look at an empty device: false parks the read at once, as
// without busy polling. The stack's gate is "no other goroutine is writing
// output": a bulk sender keeps one writing nearly all the time, and a read
// spinning beside it only takes the CPU that the writer and the peer need
// (on a 2-core machine, a third of the download rate), while a ping-pong
// exchange still finds its next packet spinning. nil removes the gate.
func (d *Device) SetPollGate(gate func() bool) {
	if gate == nil {
		d.gate.Store(nil)
		return
	}
	d.gate.Store(&gate)
}

// write is the RawConn.Write callback.
func (op *ioOp) write(fd uintptr) bool {
	for {
		var n int
		var err error
		if op.d.vnet {
			op.iov[0], op.iov[1], op.iov[2] = op.hdr[:], op.p, op.p2
			iov := op.iov[:3]
			if op.p2 == nil {
				iov = op.iov[:2]
			}
			n, err = unix.Writev(int(fd), iov)
			op.iov[1], op.iov[2] = nil, nil
		} else {
			n, err = unix.Write(int(fd), op.p)
		}
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		if err != nil {
			n = 0
		}
		if op.spinning && !op.missed && err == nil {
			op.d.spin.record(true)
		}
		op.n, op.err = n, err
		return true
	}
}

// ioErr maps an error of a RawConn call: the poller's "file closing" is
// not wrapped as os.ErrClosed there, so Close's flag decides.
func (d *Device) ioErr(err error) error {
	if d.closed.Load() {
		return ErrClosed
	}
	return ioError(err)
}

// Write writes one IPv4 or IPv6 packet. The kernel rejects a buffer whose
// first nibble is not 4 or 6 with EINVAL. p is not retained.
func (d *Device) Write(p []byte) (int, error) {
	if !d.vnet {
		n, err := d.f.Write(p)
		if err != nil {
			return n, ioError(err)
		}
		return n, nil
	}
	var h virtioNetHdr // no offload asked for: checksums are complete
	return d.writeVnet(p, nil, &h)
}

// SetReadDeadline makes a pending and future Reads fail with
// os.ErrDeadlineExceeded after t; the zero time clears it.
func (d *Device) SetReadDeadline(t time.Time) error { return d.f.SetReadDeadline(t) }

// MTU returns the interface MTU as it was after Open configured it.
func (d *Device) MTU() int { return d.mtu }

// Name returns the interface name (the kernel's choice if Config.Name was
// empty).
func (d *Device) Name() string { return d.name }

// Created reports whether Open created the device (true) or attached to an
// existing one (false). A created device is not persistent and is removed
// by the kernel when Close releases the last descriptor; an attached
// persistent device is left as it was found.
func (d *Device) Created() bool { return d.created }

// Close releases the device and unblocks pending Reads. Closing twice
// returns ErrClosed.
func (d *Device) Close() error {
	if d.vnet && !d.closed.Load() {
		// Offload features belong to the device and would outlive us on
		// a persistent one, where the next user may not expect 64 KiB
		// packets: turn them off again (best effort).
		d.rc.Control(func(fd uintptr) { unix.IoctlSetInt(int(fd), unix.TUNSETOFFLOAD, 0) })
	}
	d.closed.Store(true)
	if err := d.f.Close(); err != nil {
		return ioError(err)
	}
	return nil
}

// ioError maps errors of a closed or vanished device to ErrClosed.
func ioError(err error) error {
	if errors.Is(err, os.ErrClosed) || errors.Is(err, unix.EBADFD) {
		return ErrClosed
	}
	return err
}
