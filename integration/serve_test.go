package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// checkFill reports whether b is the /bytes/N body pattern from offset
// off: byte i is 'a' + i mod 26.
func checkFill(b []byte, off int64) error {
	for i, x := range b {
		if want := byte('a' + (off+int64(i))%26); x != want {
			return fmt.Errorf("body byte %d is %q, want %q", off+int64(i), x, want)
		}
	}
	return nil
}

func TestCurl(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	serve(t)

	out, stderr, err := command(t, 20*time.Second, nil, curl, "-sS", "--max-time", "15", "http://"+stackAddr+"/")
	if err != nil {
		t.Fatalf("curl /: %v %s", err, stderr)
	}
	if !bytes.Contains(out, []byte("userspace TCP/IP stack")) {
		t.Fatalf("curl / answered %q", out)
	}

	for _, n := range []int64{0, 1, 1460, 65536, 1000003, size(100<<20, 8<<20)} {
		curlBytes(t, curl, ipv4, n)
	}
}

// curlBytes fetches /bytes/n with curl over fam and checks the status, the
// size, the address curl reached and every byte of the body.
func curlBytes(t *testing.T, curl string, fam family, n int64) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "body")
	// -g: the brackets of an IPv6 literal are not a curl glob.
	out, stderr, err := command(t, 120*time.Second, nil, curl, fam.flag, "-g", "-sS", "--max-time", "110", "-o", file,
		"-w", "%{http_code} %{size_download} %{remote_ip}", fam.url(fmt.Sprintf("/bytes/%d", n)))
	if err != nil {
		t.Fatalf("curl %s /bytes/%d: %v %s", fam.flag, n, err, stderr)
	}
	if want := fmt.Sprintf("200 %d %s", n, fam.stack); string(out) != want {
		t.Fatalf("curl %s /bytes/%d: %q, want %q", fam.flag, n, out, want)
	}
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(body)) != n {
		t.Fatalf("/bytes/%d: file has %d bytes", n, len(body))
	}
	if err := checkFill(body, 0); err != nil {
		t.Fatalf("/bytes/%d: %v", n, err)
	}
}

// TestHTTPKeepAliveAndClose checks the two connection behaviours the
// benchmark relies on, from Go's HTTP client on kernel sockets.
func TestHTTPKeepAliveAndClose(t *testing.T) {
	serve(t)
	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for i := range 5 {
		resp, err := cl.Get(fmt.Sprintf("http://%s/bytes/%d", stackAddr, 1000+i))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(body) != 1000+i || checkFill(body, 0) != nil {
			t.Fatalf("request %d: %d bytes, %v", i, len(body), err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("5 keep-alive requests used %d connections, want 1", n)
	}

	// Connection: close: the response, then the server's FIN.
	c := dialStack(t, 80)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading to the server's close: %v", err)
	}
	if !bytes.HasPrefix(all, []byte("HTTP/1.1 200")) || !bytes.Contains(all, []byte("userspace")) {
		t.Fatalf("response %q", all)
	}
}

func TestNetcatEcho(t *testing.T) {
	nc := needTool(t, "nc", "netcat-openbsd")
	serve(t)
	msg := make([]byte, 256<<10)
	rand.NewChaCha8([32]byte{1}).Read(msg)
	// -N: shut down the socket's write side at the end of stdin (openbsd
	// nc), so the echo server sees EOF and closes, and nc exits.
	out, stderr, err := command(t, 60*time.Second, msg, nc, "-N", "-w", "30", stackAddr, "7")
	if err != nil {
		t.Fatalf("nc: %v %s", err, stderr)
	}
	if !bytes.Equal(out, msg) {
		t.Fatalf("nc got %d bytes back, differing from the %d sent", len(out), len(msg))
	}
}

// exchange writes n pseudo-random bytes to c and reads n bytes back
// concurrently, and checks the SHA-256 of both directions.
func exchange(t testing.TB, c *net.TCPConn, n int64, seed uint64, timeout time.Duration) {
	t.Helper()
	c.SetDeadline(time.Now().Add(timeout))
	sent := sha256.New()
	werr := make(chan error, 1)
	go func() {
		src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
		buf := make([]byte, 64<<10)
		for left := n; left > 0; {
			k := min(left, int64(len(buf)))
			src.Read(buf[:k])
			sent.Write(buf[:k])
			if _, err := c.Write(buf[:k]); err != nil {
				werr <- err
				return
			}
			left -= k
		}
		werr <- c.CloseWrite()
	}()
	got := sha256.New()
	m, err := io.Copy(got, c)
	if err != nil {
		t.Fatalf("reading after %d of %d bytes: %v", m, n, err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("writing: %v", err)
	}
	if m != n || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatalf("echoed %d bytes of %d; SHA-256 sent %x, received %x", m, n, sent.Sum(nil), got.Sum(nil))
	}
}

// TestBulkTransfer moves 100 MB (8 MB with -short) through the echo
// service, both directions at once, and checks SHA-256 both ways; then an
// upload to discard waits for the stack's close, and a download from
// chargen checks the RFC 864 pattern.
func TestBulkTransfer(t *testing.T) {
	serve(t)
	n := size(100<<20, 8<<20)
	start := time.Now()
	exchange(t, dialStack(t, 7), n, 1, 180*time.Second)
	t.Logf("echo %d MB both ways in %v", n>>20, time.Since(start).Round(time.Millisecond))

	c := dialStack(t, 9)
	c.SetDeadline(time.Now().Add(120 * time.Second))
	buf := make([]byte, 128<<10)
	for left := n; left > 0; left -= int64(len(buf)) {
		if _, err := c.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			t.Fatalf("upload to discard: %v", err)
		}
	}
	c.CloseWrite()
	if k, err := io.Copy(io.Discard, c); err != nil || k != 0 {
		t.Fatalf("waiting for discard's close: %d bytes, %v", k, err)
	}

	c = dialStack(t, 19)
	c.SetDeadline(time.Now().Add(120 * time.Second))
	var off int64
	for off < n {
		k, err := c.Read(buf)
		if err := checkChargen(buf[:k], off); err != nil {
			t.Fatal(err)
		}
		off += int64(k)
		if err != nil {
			t.Fatalf("chargen after %d bytes: %v", off, err)
		}
	}
}

// checkChargen checks the RFC 864 pattern: line k (0-based) holds 72
// printable characters starting at ' '+k mod 95, then CR LF.
func checkChargen(b []byte, off int64) error {
	for i, x := range b {
		pos := off + int64(i)
		line, col := pos/74, pos%74
		var want byte
		switch col {
		case 72:
			want = '\r'
		case 73:
			want = '\n'
		default:
			want = byte(' ' + (line+col)%95)
		}
		if x != want {
			return fmt.Errorf("chargen byte %d is %q, want %q", pos, x, want)
		}
	}
	return nil
}

// TestConcurrentConnections holds 1,000 kernel connections to echo at once
// (64 dialers in parallel, like the benchmark), echoes a byte on each,
// then another after all are open, then closes them.
func TestConcurrentConnections(t *testing.T) {
	serve(t)
	const total, dialers = 1000, 64
	conns := make([]*net.TCPConn, total)
	var next atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, dialers)
	deadline := time.Now().Add(60 * time.Second)
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				c, err := net.DialTimeout("tcp4", stackAddr+":7", 10*time.Second)
				if err != nil {
					errs <- fmt.Errorf("dial %d: %w", i, err)
					return
				}
				tc := c.(*net.TCPConn)
				conns[i] = tc
				tc.SetDeadline(deadline)
				if err := echoByte(tc, byte(i)); err != nil {
					errs <- fmt.Errorf("conn %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	for i, c := range conns {
		if err := echoByte(c, byte(i+1)); err != nil {
			t.Fatalf("second echo on conn %d: %v", i, err)
		}
	}
}

func echoByte(c net.Conn, b byte) error {
	if _, err := c.Write([]byte{b}); err != nil {
		return err
	}
	var got [1]byte
	if _, err := io.ReadFull(c, got[:]); err != nil {
		return err
	}
	if got[0] != b {
		return fmt.Errorf("echoed %d, want %d", got[0], b)
	}
	return nil
}

func TestPing(t *testing.T) {
	ping := needTool(t, "ping", "iputils-ping")
	serve(t)
	out, stderr, err := command(t, 20*time.Second, nil, ping, "-n", "-c", "3", "-i", "0.2", "-W", "2", stackAddr)
	if err != nil {
		t.Fatalf("ping: %v\n%s%s", err, out, stderr)
	}
	if !strings.Contains(string(out), "3 received") {
		t.Fatalf("ping output:\n%s", out)
	}
}
