package integration

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tunstack/tunstack/tun/tuntest"
)

var (
	plainOnce sync.Once
	plainPath string
	plainErr  error
)

// plainTunstackBin returns a tunstack binary built without the race
// detector, as users run it: memory figures of a -race build (shadow
// memory, never returned) say nothing about tunstack's. TUNSTACK_BIN, if
// set, is used as it is.
func plainTunstackBin(t testing.TB) string {
	t.Helper()
	if !raceEnabled || os.Getenv("TUNSTACK_BIN") != "" {
		return tunstackBin(t)
	}
	dir := filepath.Dir(tunstackBin(t)) // the tests' temporary directory
	plainOnce.Do(func() {
		plainPath = filepath.Join(dir, "tunstack-norace")
		out, err := exec.Command("go", "build", "-o", plainPath, "github.com/tunstack/tunstack/cmd/tunstack").CombinedOutput()
		if err != nil {
			plainErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if plainErr != nil {
		t.Fatalf("building tunstack without -race: %v", plainErr)
	}
	return plainPath
}

var vmRSS = regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB$`)

// rssKB reads a process's resident set size.
func rssKB(t testing.TB, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := vmRSS.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	kb, _ := strconv.Atoi(string(m[1]))
	return kb
}

// TestMemoryAfterLoad is issue 8 section 4 against the default `serve`:
// 32 busy connections from the kernel (uploads to discard, downloads from
// chargen, echo both ways, the echoed bytes checked) raise the RSS well
// above idle; within 30 s after the last one closed the RSS must be back to
// at most twice the idle RSS. (Before the stack trimmed its buffer free
// list and returned freed memory to the OS: 16 MB idle, 80 MB under load,
// 75 MB a minute after.)
func TestMemoryAfterLoad(t *testing.T) {
	tuntest.Require(t)
	p := startBinary(t, plainTunstackBin(t), nil, "serve")
	p.waitLine(regexp.MustCompile(`msg=serving`), 20*time.Second)
	pid := p.cmd.Process.Pid
	// Idle: the smallest of a few samples once serving (start-up
	// allocations settle within the first second).
	time.Sleep(time.Second)
	idle := rssKB(t, pid)
	for range 4 {
		time.Sleep(100 * time.Millisecond)
		idle = min(idle, rssKB(t, pid))
	}

	const conns = 32
	load := 8 * time.Second
	if testing.Short() {
		load = 4 * time.Second
	}
	var (
		stop     atomic.Bool
		moved    [3]atomic.Int64 // bytes: uploaded, downloaded, echoed
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	chunk := make([]byte, 128<<10)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	cs := make([]*net.TCPConn, conns)
	for i := range cs {
		kind := i % 3
		cs[i] = dialStack(t, []int{9, 19, 7}[kind])
		cs[i].SetDeadline(time.Now().Add(load + 30*time.Second))
		c := cs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch kind {
			case 0: // upload to discard
				for !stop.Load() {
					n, err := c.Write(chunk)
					moved[0].Add(int64(n))
					if err != nil {
						fail(fmt.Errorf("upload: %w", err))
						return
					}
				}
			case 1: // download from chargen
				buf := make([]byte, 128<<10)
				for !stop.Load() {
					n, err := c.Read(buf)
					moved[1].Add(int64(n))
					if err != nil {
						fail(fmt.Errorf("download: %w", err))
						return
					}
				}
			case 2: // echo, checked
				werr := make(chan error, 1)
				go func() {
					for !stop.Load() {
						if _, err := c.Write(chunk); err != nil {
							werr <- err
							return
						}
					}
					werr <- c.CloseWrite()
				}()
				got, off := make([]byte, 64<<10), 0
				for {
					n, err := c.Read(got)
					for j := range n {
						if got[j] != chunk[(off+j)%len(chunk)] {
							fail(fmt.Errorf("echo: byte %d is %d, want %d", off+j, got[j], chunk[(off+j)%len(chunk)]))
							return
						}
					}
					off += n
					moved[2].Add(int64(n))
					if err == io.EOF {
						break
					}
					if err != nil {
						fail(fmt.Errorf("echo read: %w", err))
						return
					}
				}
				if err := <-werr; err != nil {
					fail(fmt.Errorf("echo write: %w", err))
				}
			}
		}()
	}
	peak := 0
	for end := time.Now().Add(load); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		peak = max(peak, rssKB(t, pid))
	}
	stop.Store(true)
	wg.Wait()
	for _, c := range cs {
		c.Close()
	}
	closed := time.Now()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	for i, what := range []string{"uploaded", "downloaded", "echoed"} {
		if moved[i].Load() == 0 {
			t.Fatalf("nothing %s", what)
		}
	}
	// The load must have raised the RSS well above the bound, or the test
	// shows nothing.
	limit := 2 * idle
	if peak < limit+8<<10 {
		t.Fatalf("RSS idle %d kB, peak under load only %d kB: the load did not exercise memory", idle, peak)
	}
	var timeline strings.Builder // the samples where the RSS changed
	for last := -1; ; {
		rss := rssKB(t, pid)
		since := time.Since(closed)
		if rss != last {
			fmt.Fprintf(&timeline, " %.1fs:%d", since.Seconds(), rss)
			last = rss
		}
		if rss <= limit {
			t.Logf("RSS idle %d kB, peak %d kB (%d MB uploaded, %d MB downloaded, %d MB echoed), %d kB %.1f s after the last connection closed",
				idle, peak, moved[0].Load()>>20, moved[1].Load()>>20, moved[2].Load()>>20, rss, since.Seconds())
			break
		}
		if since > 30*time.Second {
			t.Fatalf("RSS %d kB 30 s after the last connection closed, want <= %d kB (2x idle %d kB; peak %d kB); RSS in kB by seconds after the close, where it changed:%s",
				rss, limit, idle, peak, timeline.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}
