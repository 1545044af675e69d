package integration

import (
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/tunstack/tunstack/tun/tuntest"
)

// TestDeviceDeletedUnderServe: when the TUN device disappears while
// `tunstack serve` runs on it, tunstack notices (stack.Done), says so in one
// line and exits with the runtime-error code instead of serving nothing
// forever.
func TestDeviceDeletedUnderServe(t *testing.T) {
	needTool(t, "ip", "iproute2")
	tuntest.Require(t)
	const dev = "tvanish0"
	tuntest.Run(t, "ip", "tuntap", "add", "dev", dev, "mode", "tun")
	t.Cleanup(func() { exec.Command("ip", "link", "del", dev).Run() })
	tuntest.Run(t, "ip", "addr", "add", hostAddr+"/24", "dev", dev)
	tuntest.Run(t, "ip", "link", "set", dev, "up")
	p := serve(t, "--tun", dev)
	tuntest.Run(t, "ip", "link", "del", dev)
	if code := p.wait(10 * time.Second); code != 1 {
		t.Fatalf("exit code %d after the device was deleted, want 1 (runtime error)", code)
	}
	p.waitLine(regexp.MustCompile(`^tunstack: the TUN device `+dev+` stopped working: `), time.Second)
}

// TestDeviceDeletedUnderDial: the same for `tunstack dial` with an open
// connection to a kernel listener: it exits 1 with the one-line reason
// instead of waiting for a peer it can no longer reach.
func TestDeviceDeletedUnderDial(t *testing.T) {
	needTool(t, "ip", "iproute2")
	tuntest.Require(t)
	const dev = "tvanish1"
	tuntest.Run(t, "ip", "tuntap", "add", "dev", dev, "mode", "tun")
	t.Cleanup(func() { exec.Command("ip", "link", "del", dev).Run() })
	tuntest.Run(t, "ip", "addr", "add", hostAddr+"/24", "dev", dev)
	tuntest.Run(t, "ip", "link", "set", dev, "up")
	p, _, _ := dialSession(t, "--tun", dev)
	tuntest.Run(t, "ip", "link", "del", dev)
	if code := p.wait(10 * time.Second); code != 1 {
		t.Fatalf("exit code %d after the device was deleted, want 1", code)
	}
	p.waitLine(regexp.MustCompile(`^tunstack: the TUN device `+dev+` stopped working: `), time.Second)
}
