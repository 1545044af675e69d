package tun_test

import (
	"os"
	"testing"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/tun"
	"github.com/tunstack/tunstack/tun/tuntest"
)

// The whole test binary runs in a private network namespace when it can
// (see tuntest); the pipe tests need no privileges and run either way.
func TestMain(m *testing.M) { os.Exit(tuntest.RunInNetns(m)) }

// The link types satisfy the stack's Link interface (stack does not import
// tun; importing stack from tun's external tests creates no cycle).
var (
	_ stack.Link       = (*tun.PipeEnd)(nil)
	_ stack.Link       = (*tun.FaultyDevice)(nil)
	_ tun.PacketDevice = (*tun.PipeEnd)(nil)
)
