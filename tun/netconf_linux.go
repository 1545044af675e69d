//go:build linux

package tun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// msgNeedRoot is the whole error text when the kernel says EPERM/EACCES.
const msgNeedRoot = "tunstack needs root or CAP_NET_ADMIN to open /dev/net/tun: run with sudo"

// OpenError is what Open returns when the kernel refuses: a one-line
// message saying what to do, wrapping the errno (errors.Is(err,
// os.ErrPermission), errors.Is(err, unix.EBUSY) work).
type OpenError struct {
	Op   string // "open", "TUNSETIFF", "SIOCSIFMTU", "RTM_NEWADDR", ...
	Name string // interface name, may be empty
	Err  error  // the errno
	msg  string
}

// Error returns the one-line message saying what to do.
func (e *OpenError) Error() string { return e.msg }

// Unwrap returns the underlying errno, so errors.Is(err, os.ErrPermission) works.
func (e *OpenError) Unwrap() error { return e.Err }

// openError turns a failed step of Open into its one-line error.
func openError(op, name string, err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return &OpenError{Op: op, Name: name, Err: err, msg: fmt.Sprintf("tunstack: %s %s: %v", op, name, err)}
	}
	e := &OpenError{Op: op, Name: name, Err: errno}
	switch {
	case errno == unix.EPERM || errno == unix.EACCES:
		e.msg = msgNeedRoot
	case op == "open" && (errno == unix.ENOENT || errno == unix.ENODEV || errno == unix.ENXIO):
		e.msg = "tunstack: /dev/net/tun is not available: load the tun module: modprobe tun"
	case op == "open":
		e.msg = fmt.Sprintf("tunstack: cannot open /dev/net/tun: %v", errno)
	case op == "TUNSETIFF" && errno == unix.EBUSY:
		e.msg = fmt.Sprintf("TUN device %s is in use by another process: stop it or choose another name", name)
	case op == "TUNSETIFF" && errno == unix.EINVAL:
		e.msg = fmt.Sprintf("tunstack: %s exists but is not a single-queue TUN device: delete it or choose another name", name)
	default:
		e.msg = fmt.Sprintf("tunstack: %s on TUN device %s: %v", op, name, errno)
	}
	return e
}

// interfaceExists reports whether the current network namespace has an
// interface called name.
func interfaceExists(name string) bool {
	_, err := ifIndex(name)
	return err == nil
}

func ioctlSocket() (int, error) {
	return unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
}

func ifIndex(name string) (int, error) {
	s, err := ioctlSocket()
	if err != nil {
		return 0, err
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, err
	}
	return int(ifr.Uint32()), nil
}

// configure applies cfg to the interface name and returns its MTU. Every
// step checks the current state first, so an already configured device
// (the benchmark harness's) is left untouched.
func configure(name string, cfg Config) (int, error) {
	s, err := ioctlSocket()
	if err != nil {
		return 0, openError("socket", name, err)
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, openError("ifreq", name, err)
	}

	if err := unix.IoctlIfreq(s, unix.SIOCGIFMTU, ifr); err != nil {
		return 0, openError("SIOCGIFMTU", name, err)
	}
	mtu := int(ifr.Uint32())
	if cfg.MTU != 0 && cfg.MTU != mtu {
		ifr.SetUint32(uint32(cfg.MTU))
		if err := unix.IoctlIfreq(s, unix.SIOCSIFMTU, ifr); err != nil {
			return 0, openError("SIOCSIFMTU", name, err)
		}
		mtu = cfg.MTU
	}

	if prefixes := cfg.prefixes(); len(prefixes) > 0 {
		idx, err := ifIndex(name)
		if err != nil {
			return 0, openError("SIOCGIFINDEX", name, err)
		}
		for _, p := range prefixes {
			if p.Addr().Is6() && mtu < minMTUIPv6 {
				// The kernel turns IPv6 off on such a link and would
				// answer RTM_NEWADDR with ENOBUFS.
				return 0, &OpenError{Op: "RTM_NEWADDR", Name: name, Err: ErrIPv6Unavailable, msg: fmt.Sprintf(
					"tunstack: %s has MTU %d; IPv6 needs at least %d (RFC 8200 5): raise the MTU or give no IPv6 address", name, mtu, minMTUIPv6)}
			}
			if err := addAddr(idx, p); err != nil && err != unix.EEXIST {
				return 0, addrError(name, p, err)
			}
		}
	}

	up := false
	if cfg.Up || hasIPv6(cfg.prefixes()) {
		ifr, _ = unix.NewIfreq(name)
		if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
			return 0, openError("SIOCGIFFLAGS", name, err)
		}
		f := ifr.Uint16()
		up = f&unix.IFF_UP != 0
		if cfg.Up && !up {
			ifr.SetUint16(f | unix.IFF_UP)
			if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
				return 0, openError("SIOCSIFFLAGS", name, err)
			}
			up = true
		}
	}
	// On a link that is up, an IPv6 address is usable when Open returns
	// (on one that is down it completes when the link comes up).
	for _, p := range cfg.prefixes() {
		if up && p.Addr().Is6() {
			if err := waitLocal(p.Addr()); err != nil {
				return 0, openError("RTM_GETROUTE", name, err)
			}
		}
	}
	return mtu, nil
}

// minMTUIPv6 is the least link MTU IPv6 runs on (RFC 8200 5).
const minMTUIPv6 = 1280

// ErrIPv6Unavailable is wrapped by the *OpenError of Open when an IPv6
// host-side address cannot be added because IPv6 is off on the link: the
// kernel has no IPv6, it is disabled there (sysctl
// net.ipv6.conf.<dev>.disable_ipv6), or the MTU is below 1280. A caller
// may open again without IPv6 prefixes.
var ErrIPv6Unavailable = errors.New("tun: IPv6 is not available on the device")

// hasIPv6 reports whether one of ps is IPv6.
func hasIPv6(ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Addr().Is6() {
			return true
		}
	}
	return false
}

// prefixes returns the host-side prefixes to add: Addr, then Addrs.
func (cfg *Config) prefixes() []netip.Prefix {
	if !cfg.Addr.IsValid() {
		return cfg.Addrs
	}
	return append([]netip.Prefix{cfg.Addr}, cfg.Addrs...)
}

// checkPrefixes validates the host-side prefixes of cfg (Addr and Addrs):
// each an IPv4 or IPv6 address (not IPv4-mapped, no zone) with a prefix
// length, and an MTU of at least 1280 if one is IPv6 and the MTU is set.
func (cfg *Config) checkPrefixes() error {
	for _, p := range cfg.prefixes() {
		a := p.Addr()
		switch {
		case !p.IsValid():
			return fmt.Errorf("tunstack: host address %v: not an address with a prefix length", p)
		case a.Is4In6() || a.Zone() != "":
			return fmt.Errorf("tunstack: host address %v: give a plain IPv4 or IPv6 address (no IPv4-mapped form, no zone)", p)
		case a.Is6() && cfg.MTU != 0 && cfg.MTU < minMTUIPv6:
			return fmt.Errorf("tunstack: host address %v: IPv6 needs an MTU of at least %d (RFC 8200 5), not %d", p, minMTUIPv6, cfg.MTU)
		}
	}
	return nil
}

// addrError turns a refused RTM_NEWADDR into its one-line error. For IPv6
// the kernel answers EACCES when IPv6 is disabled on the link and
// EAFNOSUPPORT when it has none; permission problems are EPERM.
func addrError(name string, p netip.Prefix, err error) error {
	if p.Addr().Is6() && (err == unix.EACCES || err == unix.EAFNOSUPPORT) {
		msg := fmt.Sprintf("tunstack: cannot add %v to %s: IPv6 is disabled there (sysctl net.ipv6.conf.%s.disable_ipv6=1): enable it or give no IPv6 address", p, name, name)
		if err == unix.EAFNOSUPPORT {
			msg = fmt.Sprintf("tunstack: cannot add %v to %s: the kernel has no IPv6 (booted with ipv6.disable=1?): give no IPv6 address", p, name)
		}
		return &OpenError{Op: "RTM_NEWADDR", Name: name, Err: fmt.Errorf("%w: %w", ErrIPv6Unavailable, err), msg: msg}
	}
	return openError("RTM_NEWADDR", name, err)
}

// addAddr adds the IPv4 or IPv6 address p to interface idx with rtnetlink,
// like `ip addr add p dev X` (with `nodad` for IPv6): the kernel also
// installs the prefix route. Unlike the SIOCSIFADDR ioctl, which replaces
// the interface's primary address, RTM_NEWADDR with NLM_F_EXCL adds
// alongside what is there and answers EEXIST if p is already present.
//
// An IPv6 address gets IFA_F_NODAD: a TUN has no link layer and no other
// node on the link, so there is nothing for duplicate address detection
// (RFC 4862 5.4) to find, and without the flag the address would stay
// "tentative" (unusable as a source) until DAD finished. Linux skips DAD on
// an IFF_NOARP device such as a TUN anyway; the flag says so explicitly and
// keeps holding if that changes.
func addAddr(idx int, p netip.Prefix) error {
	family, flags, a := byte(unix.AF_INET), byte(0), p.Addr().AsSlice()
	if p.Addr().Is6() {
		family, flags = unix.AF_INET6, unix.IFA_F_NODAD
	}
	attrLen := unix.SizeofRtAttr + len(a) // 4 or 16 bytes: no padding needed
	var buf [unix.SizeofNlMsghdr + unix.SizeofIfAddrmsg + 2*(unix.SizeofRtAttr+16)]byte
	msg := nlRequest(buf[:], unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, unix.SizeofIfAddrmsg+2*attrLen)
	// struct ifaddrmsg
	b := msg[unix.SizeofNlMsghdr:]
	b[0] = family
	b[1] = byte(p.Bits())
	b[2] = flags
	b[3] = unix.RT_SCOPE_UNIVERSE // scope
	binary.NativeEndian.PutUint32(b[4:], uint32(idx))
	// IFA_LOCAL and IFA_ADDRESS, both the address: on a point-to-point
	// device (TUN) an IFA_ADDRESS different from IFA_LOCAL would name a
	// peer instead of giving us the prefix route (the same holds for
	// IPv6: equal attributes name no peer).
	b = b[unix.SizeofIfAddrmsg:]
	for _, typ := range []uint16{unix.IFA_LOCAL, unix.IFA_ADDRESS} {
		putRtAttr(b, typ, a)
		b = b[attrLen:]
	}
	return rtnetlink(msg, nil)
}

// isLocal reports whether the kernel routes packets to a as its own (`ip
// route get a` says "local"): RTM_GETROUTE, rtm_type RTN_LOCAL.
func isLocal(a netip.Addr) (bool, error) {
	family, ab := byte(unix.AF_INET), a.AsSlice()
	if a.Is6() {
		family = unix.AF_INET6
	}
	var buf [unix.SizeofNlMsghdr + unix.SizeofRtMsg + unix.SizeofRtAttr + 16]byte
	msg := nlRequest(buf[:], unix.RTM_GETROUTE, 0, unix.SizeofRtMsg+unix.SizeofRtAttr+len(ab))
	b := msg[unix.SizeofNlMsghdr:]
	b[0], b[1] = family, byte(len(ab)*8) // rtm_family, rtm_dst_len
	putRtAttr(b[unix.SizeofRtMsg:], unix.RTA_DST, ab)
	local := false
	err := rtnetlink(msg, func(typ uint16, body []byte) {
		if typ == unix.RTM_NEWROUTE && len(body) >= unix.SizeofRtMsg {
			local = body[7] == unix.RTN_LOCAL // rtm_type
		}
	})
	return local, err
}

// waitLocal waits until the kernel accepts packets addressed to a, the
// IPv6 address just added to a link that is up. An IPv6 address is
// complete only when the kernel's address-configuration work (which runs
// the DAD state machine, even with IFA_F_NODAD) inserts its local route,
// shortly after RTM_NEWADDR returns; until then a packet to it is dropped
// (Ip6InAddrErrors). Open returns once that is done.
func waitLocal(a netip.Addr) error {
	deadline := time.Now().Add(localWait)
	for {
		ok, err := isLocal(a)
		if ok || (err != nil && err != unix.ENETUNREACH && err != unix.EHOSTUNREACH) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%v did not become a local address within %v", a, localWait)
		}
		time.Sleep(time.Millisecond)
	}
}

// localWait bounds waitLocal: the kernel's work normally takes well
// under a millisecond, but a loaded machine may delay the work queue.
const localWait = 5 * time.Second
