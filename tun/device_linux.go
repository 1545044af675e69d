//go:build linux

package tun

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
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
	// Addr is the host-side (kernel-side) IPv4 address and prefix to add,
	// e.g. 198.18.0.1/24, which also gives the kernel a route to the
	// prefix through the device. Already present is fine. The zero Prefix
	// adds nothing.
	Addr netip.Prefix
	// Up sets the link up (already up is fine). False leaves the flag
	// alone; it never takes a link down.
	Up bool
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
	name    string
	mtu     int
	created bool
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
	if cfg.MTU < 0 || cfg.MTU > 65535 {
		return nil, fmt.Errorf("tunstack: MTU %d out of range (68..65535)", cfg.MTU)
	}
	if cfg.Addr.IsValid() && !cfg.Addr.Addr().Is4() {
		return nil, fmt.Errorf("tunstack: address %v: only IPv4 addresses are supported", cfg.Addr)
	}

	existed := cfg.Name != "" && interfaceExists(cfg.Name)
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, openError("open", cfg.Name, err)
	}
	flags := uint16(unix.IFF_TUN | unix.IFF_NO_PI)
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
		return nil, openError("TUNSETIFF", cfg.Name, err)
	}
	// The fd is non-blocking, so os.NewFile registers it with the poller.
	d := &Device{
		f:       os.NewFile(uintptr(fd), "/dev/net/tun:"+name),
		name:    name,
		created: !existed,
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
func (d *Device) Read(p []byte) (int, error) {
	n, err := d.f.Read(p)
	if err != nil {
		return n, ioError(err)
	}
	return n, nil
}

// Write writes one IPv4 or IPv6 packet. The kernel rejects a buffer whose
// first nibble is not 4 or 6 with EINVAL. p is not retained.
func (d *Device) Write(p []byte) (int, error) {
	n, err := d.f.Write(p)
	if err != nil {
		return n, ioError(err)
	}
	return n, nil
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
