package integration

import (
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
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
	ln, err := net.Listen("tcp4", hostAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	// stdin is a pipe we never close: only the device's end can end it.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	defer pr.Close()
	p := &proc{t: t, out: &lineLog{}, done: make(chan struct{})}
	p.cmd = exec.Command(tunstackBin(t), "dial", "--tun", dev, ln.Addr().String())
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = pr, p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); p.code = p.cmd.ProcessState.ExitCode(); close(p.done) }()
	defer p.stop(time.Second)
	defer p.checkRaces()
	c, ok := <-accepted
	if !ok {
		t.Fatalf("tunstack dial never connected:\n%s", strings.Join(p.out.snapshot(), "\n"))
	}
	defer c.Close()
	tuntest.Run(t, "ip", "link", "del", dev)
	if code := p.wait(10 * time.Second); code != 1 {
		t.Fatalf("exit code %d after the device was deleted, want 1", code)
	}
	p.waitLine(regexp.MustCompile(`^tunstack: the TUN device `+dev+` stopped working: `), time.Second)
}
