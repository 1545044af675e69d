package integration

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// `tunstack forward` with the kernel on both sides: an application in its
// own namespace, routed into the device, reaches servers in another
// namespace through the forward's host sockets (forward_topo_test.go).

// fwdServers starts, in the srv namespace on both its addresses, an HTTP
// server (GET /bytes/N: N bytes of the 'a'+i%26 pattern, as serve's) and
// a TCP echo server on port 7.
func fwdServers(t *testing.T, tp *fwdTopo) {
	t.Helper()
	h := http.NewServeMux()
	h.HandleFunc("/bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "bad size", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.CopyN(w, newFill(), n)
	})
	for _, a := range []string{fwdSrvAddr, fwdDirectAddr, "[" + fwdSrvAddr6 + "]"} {
		ln := listenIn(t, tp.srv, a+":80")
		srv := &http.Server{Handler: h}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		echo := listenIn(t, tp.srv, a+":7")
		go func() {
			for {
				c, err := echo.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					io.Copy(c, c)
				}()
			}
		}()
	}
}

// fill reads as the /bytes/N pattern.
type fill struct{ off int64 }

func newFill() *fill { return &fill{} }

func (f *fill) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte('a' + (f.off+int64(i))%26)
	}
	f.off += int64(len(p))
	return len(p), nil
}

func sha256File(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestForwardTransparent: curl and nc in the app namespace reach the HTTP
// and echo servers through forward, 100 MB each with SHA-256 checked; a
// refused port fails at once (the upstream's RST passed on); the flow
// table shows the flows. The same transfers over the kernel's direct path
// between the two namespaces give the comparison figures (logged).
func TestForwardTransparent(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	nc := needTool(t, "nc", "netcat-openbsd")
	tp := newFwdTopo(t, "--stats", "0")
	fwdServers(t, tp)
	n := size(100<<20, 8<<20)

	h := sha256.New()
	io.CopyN(h, newFill(), n)
	wantHTTP := hex.EncodeToString(h.Sum(nil))
	speeds := map[string]string{}
	for _, host := range []string{fwdSrvAddr, fwdDirectAddr} {
		file := filepath.Join(t.TempDir(), "body")
		out, err := nsCmd(tp.app, curl, "-sS", "--max-time", "110", "-o", file, "-w", "%{http_code} %{size_download} %{speed_download}",
			fmt.Sprintf("http://%s/bytes/%d", host, n)).Output()
		f := strings.Fields(string(out))
		if err != nil || len(f) != 3 || f[0] != "200" || f[1] != strconv.FormatInt(n, 10) {
			t.Fatalf("curl via %s: %q %v", host, out, err)
		}
		if got := sha256File(t, file); got != wantHTTP {
			t.Fatalf("curl via %s: sha256 %s, want %s", host, got, wantHTTP)
		}
		speeds["curl "+host] = f[2]
	}

	in := filepath.Join(t.TempDir(), "in")
	data := make([]byte, n)
	rand.Read(data)
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	data = nil
	for _, host := range []string{fwdSrvAddr, fwdDirectAddr} {
		out := filepath.Join(t.TempDir(), "out")
		start := time.Now()
		if err := ncEcho(tp.app, nc, in, out, host); err != nil {
			t.Fatalf("nc via %s: %v", host, err)
		}
		el := time.Since(start)
		if got := sha256File(t, out); got != hex.EncodeToString(sum[:]) {
			t.Fatalf("nc echo via %s: sha256 %s differs", host, got)
		}
		speeds["nc echo "+host] = fmt.Sprintf("%.0f MB/s each way", float64(n)/el.Seconds()/1e6)
	}

	// IPv6 through forward too.
	in6, out6 := filepath.Join(t.TempDir(), "in6"), filepath.Join(t.TempDir(), "out6")
	os.WriteFile(in6, mustRead(t, in)[:1000000], 0o644)
	if err := ncEcho(tp.app, nc, in6, out6, "-6", fwdSrvAddr6); err != nil {
		t.Fatalf("nc -6: %v", err)
	}
	if !bytes.Equal(mustRead(t, in6), mustRead(t, out6)) {
		t.Fatal("nc -6 echo differs")
	}

	// A closed port: the upstream's RST reaches curl as a refusal, at once.
	start := time.Now()
	err := nsCmd(tp.app, curl, "-sS", "--max-time", "10", "http://"+fwdSrvAddr+":81/").Run()
	var ee *exec.ExitError
	if ok := errors.As(err, &ee); !ok || ee.ExitCode() != 7 || time.Since(start) > 3*time.Second {
		t.Fatalf("curl to a closed port: %v after %v, want exit 7 (connection refused) at once", err, time.Since(start))
	}

	rate := map[string]float64{}
	for _, host := range []string{fwdSrvAddr, fwdDirectAddr} {
		rate[host] = connRate(t, tp.app, host+":7", int(size(500, 100)))
	}
	tp.fw.signal(syscall.SIGUSR1)
	tp.fw.waitLine(regexp.MustCompile(`^flows tcp=\d+ udp=\d+ done_tcp=\d+`), 10*time.Second)
	t.Logf("through forward (%s) vs the kernel's direct path (%s), %d bytes:", fwdSrvAddr, fwdDirectAddr, n)
	keys := make([]string, 0, len(speeds))
	for k := range speeds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("  %-24s %s", k, speeds[k])
	}
	t.Logf("  connections/s (connect, 1-byte echo, close): forward %.0f, direct %.0f", rate[fwdSrvAddr], rate[fwdDirectAddr])
}

// connRate opens n connections one after another from the app namespace,
// each echoing one byte, and returns connections per second.
func connRate(t *testing.T, app int, addr string, n int) float64 {
	t.Helper()
	var err error
	var el time.Duration
	inNetns(t, app, func() {
		start := time.Now()
		b := []byte{'x'}
		for i := 0; i < n && err == nil; i++ {
			var c net.Conn
			if c, err = net.DialTimeout("tcp", addr, 10*time.Second); err != nil {
				break
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err = c.Write(b); err == nil {
				_, err = io.ReadFull(c, b)
			}
			c.Close()
		}
		el = time.Since(start)
	})
	if err != nil {
		t.Fatalf("connection rate to %s: %v", addr, err)
	}
	return float64(n) / el.Seconds()
}

// TestForwardDeadDestinations: SYNs to 1,000 destinations that never
// answer (each one a pending request and an upstream connect in progress)
// do not delay a connection to a live one: it takes what it takes without
// them (plus scheduling noise), nowhere near the client's 1 s SYN
// retransmission that a wedged forwarder would cost.
func TestForwardDeadDestinations(t *testing.T) {
	tp := newFwdTopo(t, "--dial-timeout", "60s")
	fwdServers(t, tp)
	measure := func(ns int, addr string) time.Duration {
		var best []time.Duration
		for i := 0; i < 21; i++ { // the median of 21: the machine is shared
			var d time.Duration
			var err error
			f := func() {
				start := time.Now()
				var c net.Conn
				if c, err = net.DialTimeout("tcp", addr, 10*time.Second); err == nil {
					d = time.Since(start)
					c.Close()
				}
			}
			if ns == 0 {
				f()
			} else {
				inNetns(t, ns, f)
			}
			if err != nil {
				t.Fatalf("connect to %s: %v", addr, err)
			}
			best = append(best, d)
		}
		sort.Slice(best, func(i, j int) bool { return best[i] < best[j] })
		return best[len(best)/2]
	}
	upstream := measure(0, fwdSrvAddr+":7") // one upstream round trip (and a bit)
	baseline := measure(tp.app, fwdSrvAddr+":7")

	// 1,000 connects to dead hosts from the app namespace, left pending.
	const dead = 1000
	var fds []int
	inNetns(t, tp.app, func() {
		for i := 0; i < dead; i++ {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				break
			}
			fds = append(fds, fd)
			sa := &unix.SockaddrInet4{Port: 80, Addr: [4]byte{198, 19, byte(4 + i/256), byte(i % 256)}}
			unix.Connect(fd, sa) // EINPROGRESS
		}
	})
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	if len(fds) != dead {
		t.Fatalf("opened %d sockets", len(fds))
	}
	// Wait until forward holds them all.
	deadline := time.Now().Add(20 * time.Second)
	re := regexp.MustCompile(`pending=(\d+)`)
	for {
		from := len(tp.fw.out.snapshot())
		tp.fw.signal(syscall.SIGUSR1)
		l, _ := tp.fw.findLine(regexp.MustCompile(`^flows `), from, 5*time.Second)
		if m := re.FindStringSubmatch(l); m != nil && m[1] == strconv.Itoa(dead) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("forward does not hold %d pending connections: %s", dead, l)
		}
		time.Sleep(100 * time.Millisecond)
	}
	loaded := measure(tp.app, fwdSrvAddr+":7")
	t.Logf("connect to a live destination: upstream round trip %v, through forward %v, with %d dead destinations pending %v",
		upstream, baseline, dead, loaded)
	// The allowance is for the loaded 2-core test machine's scheduling;
	// a wedge costs the client's 1 s SYN retransmission at least.
	if loaded > baseline+upstream+250*time.Millisecond {
		t.Fatalf("with %d dead destinations pending, a live connect took %v (without: %v, upstream round trip %v)", dead, loaded, baseline, upstream)
	}
}

// udpEchoIn starts, in the srv namespace, a UDP echo server on addr:53
// and a "third party" on addr:5353 that answers from addr:5354.
func udpEchoIn(t *testing.T, tp *fwdTopo, addr string) {
	t.Helper()
	var echo, in, other net.PacketConn
	var err error
	inNetns(t, tp.srv, func() {
		if echo, err = net.ListenPacket("udp", addr+":53"); err != nil {
			return
		}
		if in, err = net.ListenPacket("udp", addr+":5353"); err != nil {
			return
		}
		other, err = net.ListenPacket("udp", addr+":5354")
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close(); in.Close(); other.Close() })
	serveUDP := func(rx, tx net.PacketConn) {
		buf := make([]byte, 65535)
		for {
			n, from, err := rx.ReadFrom(buf)
			if err != nil {
				return
			}
			tx.WriteTo(buf[:n], from)
		}
	}
	go serveUDP(echo, echo)
	go serveUDP(in, other)
}

// TestForwardUDP: nc -u and a Go client in the app namespace get their
// datagrams echoed through forward, each reply from the address and port
// the client sent to; a reply from another port of the server reaches the
// client from that port (endpoint-independent mapping and filtering, RFC
// 4787); the flow is forgotten after --udp-timeout without traffic.
func TestForwardUDP(t *testing.T) {
	nc := needTool(t, "nc", "netcat-openbsd")
	tp := newFwdTopo(t, "--udp-timeout", "1s")
	udpEchoIn(t, tp, fwdSrvAddr)

	cmd := nsCmd(tp.app, nc, "-u", "-w", "2", fwdSrvAddr, "53")
	cmd.Stdin = strings.NewReader("hello-udp\n")
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "hello-udp" {
		t.Fatalf("nc -u: %q %v", out, err)
	}

	var c *net.UDPConn
	inNetns(t, tp.app, func() { c, err = net.ListenUDP("udp4", nil) })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echo := netip.MustParseAddrPort(fwdSrvAddr + ":53")
	buf := make([]byte, 2000)
	for i := 0; i < 200; i++ {
		msg := make([]byte, 1+i*7)
		rand.Read(msg)
		if _, err := c.WriteToUDPAddrPort(msg, echo); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if from != echo || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("datagram %d: %d bytes from %v, want %d from %v", i, n, from, len(msg), echo)
		}
	}
	// The server answers from another port: the same mapping lets it in.
	if _, err := c.WriteToUDPAddrPort([]byte("cone"), netip.MustParseAddrPort(fwdSrvAddr+":5353")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "cone" || from != netip.MustParseAddrPort(fwdSrvAddr+":5354") {
		t.Fatalf("third-party reply: %q from %v, %v", buf[:n], from, err)
	}

	// Idle flows are forgotten: after the timeout the table has none.
	time.Sleep(2500 * time.Millisecond)
	from0 := len(tp.fw.out.snapshot())
	tp.fw.signal(syscall.SIGUSR1)
	l, _ := tp.fw.findLine(regexp.MustCompile(`^flows `), from0, 5*time.Second)
	m := regexp.MustCompile(`udp=(\d+) done_tcp=\d+ done_udp=(\d+)`).FindStringSubmatch(l)
	if m == nil || m[1] != "0" || m[2] != "2" {
		t.Fatalf("after the idle timeout: %q, want no live UDP flow and 2 finished (nc's and the client's)", l)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestForwardManyConns: 1,000 connections from the app namespace, all
// open at once through forward, each echoing its own message; the flow
// table shows them all, and forward's resident memory with them is
// logged.
func TestForwardManyConns(t *testing.T) {
	tp := newFwdTopo(t, "--stats", "0")
	fwdServers(t, tp)
	const n = 1000
	conns := make([]net.Conn, 0, n)
	var err error
	inNetns(t, tp.app, func() {
		for i := 0; i < n && err == nil; i++ {
			var c net.Conn
			if c, err = net.DialTimeout("tcp", fwdSrvAddr+":7", 10*time.Second); err == nil {
				conns = append(conns, c)
			}
		}
	})
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	if err != nil {
		t.Fatalf("after %d connections: %v", len(conns), err)
	}
	errs := make(chan error, n)
	for i, c := range conns {
		go func() {
			msg := []byte(fmt.Sprintf("connection %d of %d", i, n))
			c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := c.Write(msg); err != nil {
				errs <- err
				return
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
				errs <- fmt.Errorf("connection %d: %q %v", i, got, err)
				return
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	from := len(tp.fw.out.snapshot())
	tp.fw.signal(syscall.SIGUSR1)
	l, _ := tp.fw.findLine(regexp.MustCompile(`^flows `), from, 10*time.Second)
	if !strings.HasPrefix(l, fmt.Sprintf("flows tcp=%d ", n)) {
		t.Fatalf("flow table: %q, want %d TCP flows", l, n)
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", tp.fw.cmd.Process.Pid))
	rss := regexp.MustCompile(`VmRSS:\s+(\d+ kB)`).FindSubmatch(status)
	if rss != nil {
		t.Logf("tunstack forward with %d open connections (race build: %v): VmRSS %s", n, raceEnabled, rss[1])
	}
	// SIGTERM with them all open: FINs, --grace, statistics, exit 0.
	tp.fw.signal(syscall.SIGTERM)
	if code := tp.fw.wait(20 * time.Second); code != 0 {
		t.Fatalf("forward exited with %d after SIGTERM, want 0", code)
	}
	tp.fw.waitLine(regexp.MustCompile(`^tunstack statistics:`), time.Second)
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("connection %d after forward's shutdown: %v, want EOF (its FIN)", i, err)
		}
	}
}

// ncEcho sends the file in to the echo port (7) of the last argument with
// nc in the app namespace and writes what comes back to out. -N: shut
// down the sending side at the end of the input, so the echo server's FIN
// ends nc.
func ncEcho(app int, nc, in, out string, args ...string) error {
	fi, err := os.Open(in)
	if err != nil {
		return err
	}
	defer fi.Close()
	fo, err := os.Create(out)
	if err != nil {
		return err
	}
	defer fo.Close()
	cmd := nsCmd(app, append(append([]string{nc, "-N", "-w", "60"}, args...), "7")...)
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = fi, fo, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v: %s", err, stderr.Bytes())
	}
	return nil
}
