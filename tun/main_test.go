package tun_test

import (
	"os"
	"testing"

	"github.com/tunstack/tunstack/tun"
	"github.com/tunstack/tunstack/tun/tuntest"
)

// The whole test binary runs in a private network namespace when it can
// (see tuntest); the pipe tests need no privileges and run either way.
func TestMain(m *testing.M) { os.Exit(tuntest.RunInNetns(m)) }

// link mirrors stack.Link (stack/link.go). The check is structural so the
// tun tests do not depend on the stack package building.
type link interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	MTU() int
	Close() error
}

var (
	_ link = (*tun.PipeEnd)(nil)
	_ link = (*tun.FaultyDevice)(nil)
)
