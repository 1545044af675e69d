//go:build linux

package tuntest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	// EnvNetns is set to "1" in the re-executed test process, which runs in
	// its own network namespace.
	EnvNetns = "TUNSTACK_NETNS"
	// envHostNetns carries the parent's namespace identity to the child so
	// the child can prove it is somewhere else.
	envHostNetns = "TUNSTACK_HOST_NETNS"
)

// state of this process, set once by RunInNetns.
const (
	stateUnset   = iota // RunInNetns was not called (no TestMain)
	statePrivate        // inside the private namespace
	stateSkip           // a namespace is impossible; skipReason says why
)

var (
	state      atomic.Int32
	skipReason atomic.Pointer[string]
)

// RunInNetns is for TestMain: it returns the exit code for os.Exit. See the
// package documentation for what it does and when it skips or fails.
func RunInNetns(m *testing.M) int {
	if os.Getenv(EnvNetns) == "1" {
		if err := enterChild(); err != nil {
			fmt.Fprintf(os.Stderr, "tuntest: refusing to run the tests: %v\n", err)
			return 1
		}
		state.Store(statePrivate)
		return m.Run()
	}
	exe, reason := probe()
	if reason != "" {
		if ci() {
			fmt.Fprintf(os.Stderr, "tuntest: FAIL: CI=true and the privileged tests cannot run: %s\n", reason)
			return 1
		}
		fmt.Fprintf(os.Stderr, "tuntest: privileged tests will be skipped: %s\n", reason)
		skipReason.Store(&reason)
		state.Store(stateSkip)
		return m.Run()
	}
	return reexec(exe)
}

// Require skips t (fails it under CI=true) unless the test process runs in
// the private namespace set up by RunInNetns.
func Require(t testing.TB) {
	t.Helper()
	var reason string
	switch state.Load() {
	case statePrivate:
		return
	case stateSkip:
		reason = *skipReason.Load()
	default:
		reason = "the package's TestMain does not call tuntest.RunInNetns"
	}
	if ci() {
		t.Fatalf("privileged test cannot run under CI=true: %s", reason)
	}
	t.Skipf("privileged test skipped: %s", reason)
}

// InPrivateNetns reports whether this process runs in the namespace that
// RunInNetns created.
func InPrivateNetns() bool { return state.Load() == statePrivate }

// Run runs a command inside the test's namespace (every child of the test
// process inherits it) and returns its combined output. A failure to start
// or a non-zero exit fails t with the output.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	Require(t)
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// CheckIsolated fails t unless the process is in its private namespace
// (a different one from the namespace the tests were started in) and the
// only interfaces in it are lo and the allowed names.
func CheckIsolated(t testing.TB, allowed ...string) {
	t.Helper()
	Require(t)
	self, err := netnsID()
	if err != nil {
		t.Fatalf("tuntest: %v", err)
	}
	if host := os.Getenv(envHostNetns); host == "" || host == self {
		t.Fatalf("tuntest: not isolated: namespace %s, started from %q", self, host)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatalf("tuntest: listing interfaces: %v", err)
	}
	for _, ifc := range ifs {
		if ifc.Name == "lo" || contains(allowed, ifc.Name) {
			continue
		}
		t.Errorf("tuntest: unexpected interface %q in the test namespace (allowed: lo %v)", ifc.Name, allowed)
	}
}

// RunUnprivileged runs a copy of the test binary as the user nobody
// (uid/gid 65534) with args (e.g. "-test.run=^TestHelper$") and exactly the
// environment env plus PATH, and returns its combined output and exit code.
// The child is outside the private namespace only in the sense that
// RunInNetns there finds no privileges; it inherits this process's
// namespace. Use it to check what an unprivileged user is told.
func RunUnprivileged(t testing.TB, env []string, args ...string) (string, int) {
	t.Helper()
	Require(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	// go test's build directory is private to root: copy the binary.
	dir, err := os.MkdirTemp("", "tuntest")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	exe := filepath.Join(dir, "unprivileged.test")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return string(out), ee.ExitCode()
	default:
		t.Fatalf("running %s as nobody: %v\n%s", exe, err, out)
		return "", -1
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func ci() bool { return os.Getenv("CI") == "true" }

// netnsID identifies the network namespace of this process ("net:[4026531840]").
func netnsID() (string, error) {
	id, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return "", fmt.Errorf("reading /proc/self/ns/net: %w", err)
	}
	return id, nil
}

// probe returns the test executable, or why a private namespace is
// impossible.
func probe() (exe, reason string) {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return "", "/dev/net/tun is missing (load the tun module: modprobe tun)"
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return "", "the unshare command (util-linux) is not installed"
	}
	if out, err := exec.Command(unshare, "--net", "--", "true").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("unshare --net failed: %v: %s", err, strings.TrimSpace(string(out)))
		if os.Geteuid() != 0 {
			msg = "not root (run the tests with sudo): " + msg
		}
		return "", msg
	}
	exe, err = os.Executable()
	if err != nil {
		return "", fmt.Sprintf("cannot find the test executable: %v", err)
	}
	return exe, ""
}

// reexec runs the test binary again under unshare --net and returns its
// exit code.
func reexec(exe string) int {
	host, err := netnsID()
	if err != nil {
		fmt.Fprintf(os.Stderr, "tuntest: %v\n", err)
		return 1
	}
	args := append([]string{"--net", "--", exe}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), EnvNetns+"=1", envHostNetns+"="+host)
	// If this parent dies the child (and with it the namespace) goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return ee.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "tuntest: running the tests under unshare --net: %v\n", err)
		return 1
	}
}

// enterChild checks that this process is not in the namespace it was
// started from and brings lo up.
func enterChild() error {
	self, err := netnsID()
	if err != nil {
		return err
	}
	host := os.Getenv(envHostNetns)
	if host == "" || host == self {
		return fmt.Errorf("%s=1 but this process is not in a private network namespace (%s)", EnvNetns, self)
	}
	return linkUp("lo")
}

// linkUp sets IFF_UP on the named interface of the current namespace.
func linkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS %s: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing %s up: %w", name, err)
	}
	return nil
}
