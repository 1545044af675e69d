package main

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/songgao/water"

	"github.com/tunstack/tunstack/tun"
)

// device is what serve and dial need of the TUN device: the link the stack
// runs on plus its name and how it was opened. *tun.Device (--link tun, the
// default) and *waterDevice (--link water) are devices.
type device interface {
	link
	Name() string
	Created() bool
	Offload() bool
}

// Values of --link.
const (
	linkTun   = "tun"   // tun.Device: offloads, busy polling, creates or attaches
	linkWater = "water" // github.com/songgao/water through tun.Adapt, attach only
)

// waterDevice is a TUN device opened with github.com/songgao/water and
// adapted to the stack by tun.Adapt: the path a program that already uses
// water takes (README "Already using water?"). One MTU-sized packet per
// system call, no offloads, no busy polling.
type waterDevice struct {
	*tun.Adapter
	name string
}

func (d *waterDevice) Name() string  { return d.name }
func (d *waterDevice) Created() bool { return false }
func (d *waterDevice) Offload() bool { return false }

// openWater attaches to the existing TUN device name with water. The
// device must exist (water cannot give it an address or bring it up; `ip
// tuntap add` makes one), and a device that exists without a holder is a
// persistent one, so water is told Persist: true: with the zero value its
// open would clear the persist flag and the kernel would delete the device
// when tunstack exits. The MTU is the interface's, capped by --mtu in start.
// (Should the device vanish between the lookup and water.New, water would
// create a new one, persistent because of that flag: water has no
// attach-only mode, and cannot tell creating from attaching as tun.Open
// does with IFF_TUN_EXCL.)
func openWater(name string) (device, error) {
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return nil, &exitError{code: exitUsage, msg: fmt.Sprintf(
			"--link water attaches to an existing TUN device, and %s does not exist: create it first "+
				"(ip tuntap add dev %s mode tun; ip addr add %s dev %s; ip link set %s up) or leave out --link",
			name, name, defaultHostAddr, name, name)}
	}
	ifce, err := water.New(water.Config{
		DeviceType:             water.TUN,
		PlatformSpecificParams: water.PlatformSpecificParams{Name: name, Persist: true},
	})
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, deviceError(err, name, false)
		}
		return nil, &exitError{code: exitRuntime, msg: fmt.Sprintf("--link water: opening %s: %v", name, err)}
	}
	a, err := tun.Adapt(ifce, iface.MTU)
	if err != nil {
		ifce.Close()
		return nil, &exitError{code: exitRuntime, msg: fmt.Sprintf("--link water: %v", err)}
	}
	return &waterDevice{Adapter: a, name: ifce.Name()}, nil
}
