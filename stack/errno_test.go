package stack_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/tun"
)

// Code written for package net tests the errno: Listen on a port in use
// matches syscall.EADDRINUSE, Listen on an address that is not ours
// matches syscall.EADDRNOTAVAIL; both still match the stack's sentinels.
func TestListenErrorsMatchErrno(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, nil)
	ln, err := p.b.Listen(":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = p.b.Listen(":80")
	if !errors.Is(err, syscall.EADDRINUSE) || !errors.Is(err, stack.ErrAddrInUse) {
		t.Errorf("Listen on a port in use: %v; errors.Is EADDRINUSE %v, ErrAddrInUse %v",
			err, errors.Is(err, syscall.EADDRINUSE), errors.Is(err, stack.ErrAddrInUse))
	}
	if errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, stack.ErrNotOurAddr) {
		t.Errorf("Listen on a port in use matches the wrong errors: %v", err)
	}
	_, err = p.b.Listen("198.18.0.77:81")
	if !errors.Is(err, syscall.EADDRNOTAVAIL) || !errors.Is(err, stack.ErrNotOurAddr) {
		t.Errorf("Listen on another address: %v; want EADDRNOTAVAIL and ErrNotOurAddr", err)
	}
	for _, e := range []error{stack.ErrAddrInUse, stack.ErrNoPorts, stack.ErrNotOurAddr} {
		var errno syscall.Errno
		if !errors.As(e, &errno) || errno == 0 {
			t.Errorf("%v: errors.As finds no errno", e)
		}
	}
	if !errors.Is(stack.ErrNoPorts, syscall.EADDRNOTAVAIL) {
		t.Errorf("ErrNoPorts does not match EADDRNOTAVAIL")
	}
}
