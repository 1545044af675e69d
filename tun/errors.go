package tun

import (
	"errors"
	"net"
	"os"
)

// ErrClosed is returned by Read and Write after Close (of a Device, a
// PipeEnd, a FaultyDevice or an Adapter), and by a Read that Close unblocked. It matches
// both net.ErrClosed and os.ErrClosed under errors.Is, so callers written
// against either keep working.
var ErrClosed error = closedError{}

type closedError struct{}

func (closedError) Error() string { return "tun: use of closed device" }

func (closedError) Is(target error) bool { return target == net.ErrClosed || target == os.ErrClosed }

// ErrTooBig is returned by Write for a packet longer than the MTU. The
// packet is dropped.
var ErrTooBig = errors.New("tun: packet larger than MTU")

// ErrShortBuffer is returned by a pipe, fault-wrapper or Adapter Read whose
// buffer is smaller than the packet: the packet is consumed and the first
// len(p) bytes are returned with this error. Give Read MTU() bytes.
var ErrShortBuffer = errors.New("tun: read buffer smaller than packet")
