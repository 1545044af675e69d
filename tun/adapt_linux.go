//go:build linux

package tun

import (
	"errors"

	"golang.org/x/sys/unix"
)

// isDeviceGone reports an error a TUN descriptor returns once its device
// was deleted under it (tun_chr_read_iter answers EBADFD when the
// descriptor is no longer attached).
func isDeviceGone(err error) bool { return errors.Is(err, unix.EBADFD) }
