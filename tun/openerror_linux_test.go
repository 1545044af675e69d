//go:build linux

package tun

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpenErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		op   string
		err  error
		want string
	}{
		{"open", unix.EACCES, "tunstack needs root or CAP_NET_ADMIN to open /dev/net/tun: run with sudo"},
		{"open", unix.EPERM, "tunstack needs root or CAP_NET_ADMIN to open /dev/net/tun: run with sudo"},
		{"TUNSETIFF", unix.EPERM, "tunstack needs root or CAP_NET_ADMIN to open /dev/net/tun: run with sudo"},
		{"SIOCSIFMTU", unix.EPERM, "tunstack needs root or CAP_NET_ADMIN to open /dev/net/tun: run with sudo"},
		{"open", unix.ENOENT, "tunstack: /dev/net/tun is not available: load the tun module: modprobe tun"},
		{"open", unix.ENODEV, "tunstack: /dev/net/tun is not available: load the tun module: modprobe tun"},
		{"open", &fs.PathError{Op: "open", Path: "/dev/net/tun", Err: unix.ENXIO}, "tunstack: /dev/net/tun is not available: load the tun module: modprobe tun"},
		{"open", unix.EMFILE, "tunstack: cannot open /dev/net/tun: too many open files"},
		{"TUNSETIFF", unix.EBUSY, "TUN device tsut0 is in use by another process: stop it or choose another name"},
		{"TUNSETIFF", unix.EINVAL, "tunstack: tsut0 exists but is not a single-queue TUN device: delete it or choose another name"},
		{"SIOCSIFMTU", unix.EINVAL, "tunstack: SIOCSIFMTU on TUN device tsut0: invalid argument"},
	} {
		err := openError(tc.op, "tsut0", tc.err)
		if err.Error() != tc.want {
			t.Errorf("%s %v: %q, want %q", tc.op, tc.err, err, tc.want)
		}
		var errno unix.Errno
		if !errors.As(err, &errno) {
			t.Errorf("%s %v: errno not wrapped", tc.op, tc.err)
		}
	}
	if err := openError("open", "", unix.EACCES); !errors.Is(err, os.ErrPermission) {
		t.Error("permission error does not match os.ErrPermission")
	}
}

func TestIOErrorMapping(t *testing.T) {
	for _, err := range []error{
		&fs.PathError{Op: "read", Path: "/dev/net/tun", Err: os.ErrClosed},
		&fs.PathError{Op: "read", Path: "/dev/net/tun", Err: unix.EBADFD},
	} {
		got := ioError(err)
		if got != ErrClosed || !errors.Is(got, net.ErrClosed) || !errors.Is(got, os.ErrClosed) {
			t.Errorf("ioError(%v) = %v", err, got)
		}
	}
	other := &fs.PathError{Op: "write", Path: "/dev/net/tun", Err: unix.EINVAL}
	if got := ioError(other); got != error(other) {
		t.Errorf("ioError(%v) = %v, want it unchanged", other, got)
	}
}
