package integration

import (
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunstack/tunstack/segment"
)

// procStatus returns a field of /proc/PID/status in kB (VmRSS) or as a
// count (Threads).
func procStatus(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field+":" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// fwdPending asks forward for its flow line (SIGUSR1) and returns the
// pending count.
func fwdPending(t *testing.T, tp *fwdTopo) int {
	t.Helper()
	from := len(tp.fw.out.snapshot())
	tp.fw.signal(syscall.SIGUSR1)
	l, _ := tp.fw.findLine(regexp.MustCompile(`^flows `), from, 5*time.Second)
	m := regexp.MustCompile(`pending=(\d+)`).FindStringSubmatch(l)
	if m == nil {
		t.Fatalf("no pending count in %q", l)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// A SYN flood from 20,000 spoofed sources to dead destinations through
// `tunstack forward` (--max-pending 512, --dial-timeout 3s): the pending
// requests stop at the limit (the rest are dropped and counted, as
// documented), forward's memory and threads stay bounded while the flood
// lasts, and once the flood's requests time out a live connection goes
// through again: no lasting wedge, nothing leaked.
func TestForwardSynFlood(t *testing.T) {
	const maxPending, syns = 512, 20000
	tp := newFwdTopo(t, "--dial-timeout", "3s", "--max-pending", strconv.Itoa(maxPending))
	fwdServers(t, tp)
	pid := tp.fw.cmd.Process.Pid
	rss0, threads0 := procStatus(t, pid, "VmRSS"), procStatus(t, pid, "Threads")

	inNetns(t, tp.app, func() {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		if err != nil {
			t.Fatalf("raw socket: %v", err)
		}
		defer unix.Close(fd)
		buf := make([]byte, 128)
		for i := 0; i < syns; i++ {
			src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			dst := netip.AddrFrom4([4]byte{198, 19, byte(4 + i%4), byte(i % 251)})
			seg := &segment.Segment{Src: src, Dst: dst, SrcPort: uint16(10000 + i%50000), DstPort: 80,
				Seq: segment.Seq(i * 7919), Flags: segment.FlagSYN, Window: 64240}
			seg.Options.HasMSS, seg.Options.MSS = true, 1460
			n, err := segment.BuildIPv4TCP(buf, seg, uint16(i), 64)
			if err != nil {
				t.Fatal(err)
			}
			sa := &unix.SockaddrInet4{Addr: dst.As4()}
			if err := unix.Sendto(fd, buf[:n], 0, sa); err != nil && err != unix.ENOBUFS {
				t.Fatalf("sendto: %v", err)
			}
			if i%500 == 499 {
				time.Sleep(time.Millisecond) // the TUN's queue holds 500 packets
			}
		}
	})
	peak := fwdPending(t, tp)
	rss, threads := procStatus(t, pid, "VmRSS"), procStatus(t, pid, "Threads")
	t.Logf("after %d SYNs: pending %d (limit %d), RSS %d -> %d kB, threads %d -> %d", syns, peak, maxPending, rss0, rss, threads0, threads)
	if peak > maxPending {
		t.Fatalf("pending %d above --max-pending %d", peak, maxPending)
	}
	if peak < maxPending/2 {
		t.Fatalf("pending %d: the flood did not reach forward", peak)
	}
	// Bounded: each pending request holds a dial goroutine and ~0.5 KB in
	// the stack; 64 MB covers the race detector's overhead many times.
	if rss-rss0 > 64<<10 {
		t.Fatalf("RSS grew by %d kB during the flood", rss-rss0)
	}
	if threads > threads0+64 {
		t.Fatalf("threads %d -> %d during the flood", threads0, threads)
	}
	// The flood's requests expire with their upstream connects (3 s).
	deadline := time.Now().Add(20 * time.Second)
	for fwdPending(t, tp) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("pending requests never drained: %d", fwdPending(t, tp))
		}
		time.Sleep(200 * time.Millisecond)
	}
	inNetns(t, tp.app, func() {
		c, err := net.DialTimeout("tcp", fwdSrvAddr+":7", 5*time.Second)
		if err != nil {
			t.Fatalf("live connect after the flood: %v", err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("still there")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 11)
		if _, err := c.Read(got); err != nil || string(got) != "still there" {
			t.Fatalf("echo after the flood: %q, %v", got, err)
		}
	})
}
