package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/tun/tuntest"
)

const (
	stackAddr = "198.18.0.2"
	hostAddr  = "198.18.0.1"
	// devName is the device `tunstack serve` creates when not given --tun.
	devName = "tunstack0"
)

var (
	buildOnce sync.Once
	binPath   string
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := tuntest.RunInNetns(m)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// tunstackBin returns the path of the tunstack binary, building it on first
// use. The directory is world-readable so the unprivileged test can run it.
func tunstackBin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("TUNSTACK_BIN"); p != "" {
			binPath, buildErr = filepath.Abs(p)
			return
		}
		binDir, buildErr = os.MkdirTemp("", "tunstack-integration")
		if buildErr != nil {
			return
		}
		if buildErr = os.Chmod(binDir, 0o755); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "tunstack")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/tunstack/tunstack/cmd/tunstack")
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building tunstack: %v", buildErr)
	}
	return binPath
}

// needTool fails (never skips) when an external program is missing.
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install it (apt-get install %s)", name, pkg)
	}
	return p
}

// lineLog collects a subprocess's output line by line.
type lineLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

func (l *lineLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string(nil), l.lines...)
	if len(l.partial) > 0 {
		out = append(out, string(l.partial))
	}
	return out
}

// proc is a running tunstack process.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	out    *lineLog
	done   chan struct{}
	code   int // exit code, valid after done
	waitEr error
}

// startTunstack runs tunstack with args; its stdout and stderr go to one
// line log. The process is stopped (SIGTERM, then SIGKILL) at the end of
// the test, and its output is logged if the test failed.
func startTunstack(t testing.TB, stdin []byte, args ...string) *proc {
	t.Helper()
	tuntest.Require(t)
	return startBinary(t, tunstackBin(t), stdin, args...)
}

// startBinary is startTunstack with the tunstack binary at bin.
func startBinary(t testing.TB, bin string, stdin []byte, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, out: &lineLog{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if stdin != nil {
		p.cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting tunstack: %v", err)
	}
	go func() {
		p.waitEr = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(5 * time.Second)
		p.checkRaces()
		if t.Failed() {
			lines := p.out.snapshot()
			if len(lines) > 300 {
				lines = append([]string{"..."}, lines[len(lines)-300:]...)
			}
			t.Logf("tunstack %s output:\n%s", strings.Join(args, " "), strings.Join(lines, "\n"))
		}
	})
	return p
}

// setKnob writes value to a /proc/sys file for the rest of the test and
// restores the old value after it. Through /proc rather than sysctl(8): the
// container image has no procps. The net.* settings belong to the test's
// own network namespace.
func setKnob(t *testing.T, knob, value string) {
	t.Helper()
	old, err := os.ReadFile(knob)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(knob, []byte(value), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(knob, old, 0o644) })
}

// serve starts `tunstack serve` with extra flags and waits until it reports
// that it is serving and the echo service answers from the kernel side.
func serve(t testing.TB, flags ...string) *proc {
	t.Helper()
	p := startTunstack(t, nil, append([]string{"serve"}, flags...)...)
	p.waitLine(regexp.MustCompile(`msg=serving`), 20*time.Second)
	return p
}

// checkRaces fails the test if the race detector (tunstack is built with
// -race when the tests are) reported anything.
func (p *proc) checkRaces() {
	p.t.Helper()
	for _, l := range p.out.snapshot() {
		if strings.Contains(l, "WARNING: DATA RACE") {
			p.t.Errorf("the race detector reported a data race in tunstack (output below)")
			return
		}
	}
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits at most d for the process to exit and returns its exit code.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		p.t.Fatalf("tunstack did not exit within %v", d)
		return -1
	}
}

// stop sends SIGTERM and waits; after d it kills the process.
func (p *proc) stop(d time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// waitLine waits until an output line matches re and returns it; it fails
// the test after timeout or if the process exits first.
func (p *proc) waitLine(re *regexp.Regexp, timeout time.Duration) string {
	p.t.Helper()
	if l, ok := p.findLine(re, 0, timeout); ok {
		return l
	}
	p.t.Fatalf("no output line matching %q within %v", re, timeout)
	return ""
}

// findLine polls the output from line index from on for a match, for at
// most timeout.
func (p *proc) findLine(re *regexp.Regexp, from int, timeout time.Duration) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		lines := p.out.snapshot()
		for _, l := range lines[min(from, len(lines)):] {
			if re.MatchString(l) {
				return l, true
			}
		}
		select {
		case <-p.done:
			// One last look: output may have landed just before exit.
			for _, l := range p.out.snapshot()[min(from, len(lines)):] {
				if re.MatchString(l) {
					return l, true
				}
			}
			return "", false
		default:
		}
		if time.Now().After(deadline) {
			return "", false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialStack connects from the kernel to the stack.
func dialStack(t testing.TB, port int) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.Dial("tcp4", net.JoinHostPort(stackAddr, fmt.Sprint(port)))
	if err != nil {
		t.Fatalf("dial %s:%d: %v", stackAddr, port, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// command runs an external program with a time bound and returns stdout,
// stderr and the error.
func command(t testing.TB, timeout time.Duration, stdin []byte, name string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %v: %w", name, timeout, err)
	}
	return o.Bytes(), e.Bytes(), err
}

// size returns full, or small under -short.
func size(full, small int64) int64 {
	if testing.Short() {
		return small
	}
	return full
}

// linkExists reports whether an interface of that name exists in the test
// namespace.
func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// dialSession runs `tunstack dial [flags] 198.18.0.1:PORT` against a kernel
// listener it opens, with a stdin pipe the test keeps open (so only the
// test's own action can end the session). It returns the process, the
// kernel side of the accepted connection and the write end of the stdin
// pipe; all are closed when the test ends.
func dialSession(t *testing.T, flags ...string) (*proc, net.Conn, *os.File) {
	t.Helper()
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	accepted := make(chan net.Conn, 1)
	go func() {
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close(); pr.Close() })
	args := append(append([]string{"dial"}, flags...), fmt.Sprintf("%s:%d", hostAddr, port))
	p := &proc{t: t, out: &lineLog{}, done: make(chan struct{})}
	p.cmd = exec.Command(tunstackBin(t), args...)
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = pr, p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); p.code = p.cmd.ProcessState.ExitCode(); close(p.done) }()
	t.Cleanup(func() { p.stop(time.Second) })
	t.Cleanup(p.checkRaces)
	c, ok := <-accepted
	if !ok {
		t.Fatalf("tunstack dial never connected:\n%s", strings.Join(p.out.snapshot(), "\n"))
	}
	t.Cleanup(func() { c.Close() })
	return p, c, pw
}
