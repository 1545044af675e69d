package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunstack/tunstack/tun/tuntest"
)

// The topology of the `tunstack forward` tests, all inside the test's
// private namespace ("fwd") and two more it creates with `unshare --net`
// (held by a sleeping process each, so they vanish with it):
//
//	app ns                      fwd ns (the test)                 srv ns
//	default dev fwd0 ──TUN──>   tunstack forward ── fwv0 ═══ veth ═══ srvv0  198.19.1.2 (HTTP 80, echo 7)
//	198.18.0.1/24 on fwd0       198.19.1.1/24 on fwv0               drops 198.19.4.0/22 (dead hosts)
//	(IPv6: app 2001:2::1 on fwd0, srv 2001:2:0:1::2 behind fwv0 2001:2:0:1::1)
//	appv0 198.19.3.1/24  ═══════════════ veth (the kernel's direct path) ═══ srvv1  198.19.3.2
//
// tunstack creates fwd0 in the fwd namespace and the test then moves it
// into the app namespace (its descriptor keeps working), so the app's
// default route points at the device while forward's upstream sockets
// live in fwd, bound to fwv0 (--interface).

const (
	fwdSrvAddr    = "198.19.1.2" // srv through forward
	fwdDirectAddr = "198.19.3.2" // srv by the kernel's direct path from app
	fwdDeadNet    = "198.19.4.0/22"
	fwdSrvAddr6   = "2001:2:0:1::2" // srv through forward, IPv6
)

type fwdTopo struct {
	app, srv int // pids holding the namespaces
	fw       *proc
}

// newNetnsHolder starts a process in a new network namespace and returns
// its pid; it is killed at the end of the test.
func newNetnsHolder(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("unshare", "--net", "sleep", "3600")
	if err := cmd.Start(); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	pid := cmd.Process.Pid
	self, _ := os.Readlink("/proc/self/ns/net")
	for i := 0; i < 200; i++ {
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && ns != self {
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the namespace holder did not enter its namespace")
	return 0
}

// nsRun runs a command in pid's network namespace and returns its output.
func nsRun(t *testing.T, pid int, args ...string) string {
	t.Helper()
	out, err := nsCmd(pid, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("in netns %d: %s: %v\n%s", pid, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func nsCmd(pid int, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/proc/" + strconv.Itoa(pid) + "/ns/net", "--"}, args...)...)
}

// inNetns runs f on a thread that has entered pid's network namespace:
// sockets f creates belong to it (and stay there when used elsewhere).
func inNetns(t *testing.T, pid int, f func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(self)
		target, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		f()
		if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
			errc <- err // the thread stays locked and dies with the goroutine
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatalf("netns %d: %v", pid, err)
	}
}

// listenIn listens on addr inside pid's namespace.
func listenIn(t *testing.T, pid int, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	inNetns(t, pid, func() { ln, err = net.Listen("tcp", addr) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// newFwdTopo builds the topology and starts `tunstack forward` with extra
// flags; the app's route goes through it.
func newFwdTopo(t *testing.T, flags ...string) *fwdTopo {
	t.Helper()
	tuntest.Require(t)
	tp := &fwdTopo{app: newNetnsHolder(t), srv: newNetnsHolder(t)}
	app, srv := strconv.Itoa(tp.app), strconv.Itoa(tp.srv)
	tuntest.Run(t, "ip", "link", "add", "fwv0", "type", "veth", "peer", "name", "srvv0")
	t.Cleanup(func() { exec.Command("ip", "link", "del", "fwv0").Run() })
	tuntest.Run(t, "ip", "link", "set", "srvv0", "netns", srv)
	tuntest.Run(t, "ip", "addr", "add", "198.19.1.1/24", "dev", "fwv0")
	tuntest.Run(t, "ip", "-6", "addr", "add", "2001:2:0:1::1/64", "dev", "fwv0", "nodad")
	tuntest.Run(t, "ip", "link", "set", "fwv0", "up")
	tuntest.Run(t, "ip", "route", "add", fwdDeadNet, "via", fwdSrvAddr)
	// The direct path app <-> srv.
	tuntest.Run(t, "ip", "link", "add", "appv0", "netns", app, "type", "veth", "peer", "name", "srvv1", "netns", srv)
	nsRun(t, tp.app, "bash", "-c", "ip link set lo up && ip addr add 198.19.3.1/24 dev appv0 && ip link set appv0 up")
	nsRun(t, tp.srv, "bash", "-c", "ip link set lo up && ip addr add "+fwdSrvAddr+"/24 dev srvv0 && ip link set srvv0 up && "+
		"ip addr add "+fwdDirectAddr+"/24 dev srvv1 && ip link set srvv1 up && ip -6 addr add "+fwdSrvAddr6+"/64 dev srvv0 nodad")
	// Dead hosts: their SYNs vanish without an answer.
	nsRun(t, tp.srv, "nft", "add table ip dead; add chain ip dead pre { type filter hook prerouting priority -300; }; add rule ip dead pre ip daddr "+fwdDeadNet+" drop")

	tp.fw = startTunstack(t, nil, append([]string{"forward", "--tun", "fwd0", "--addr", "198.18.0.2", "--host-addr", "198.18.0.1/24",
		"--interface", "fwv0"}, flags...)...)
	tp.fw.waitLine(regexp.MustCompile(`msg=forwarding`), 20*time.Second)
	tuntest.Run(t, "ip", "link", "set", "fwd0", "netns", app)
	nsRun(t, tp.app, "bash", "-c", "ip addr add 198.18.0.1/24 dev fwd0 && ip -6 addr add 2001:2::1/64 dev fwd0 nodad && "+
		"ip link set fwd0 up && ip route add default dev fwd0 && ip -6 route add default dev fwd0")
	return tp
}
