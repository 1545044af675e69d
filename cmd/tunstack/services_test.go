package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests run the services on the kernel's loopback (127.0.0.1,
// ephemeral ports), which needs no privileges: they pin the services'
// behaviour independently of the userspace stack.

type loopback struct {
	addrs map[uint16]string // service port -> 127.0.0.1:ephemeral
	stop  func()
}

func startLoopback(t *testing.T, services, root string) *loopback {
	t.Helper()
	set, err := parseServices(services)
	if err != nil {
		t.Fatal(err)
	}
	lb := &loopback{addrs: map[uint16]string{}}
	listen := func(port uint16) (net.Listener, error) {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err == nil {
			lb.addrs[port] = l.Addr().String()
		}
		return l, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	stop, err := runServices(set, root, listen, log)
	if err != nil {
		t.Fatal(err)
	}
	lb.stop = stop
	t.Cleanup(stop)
	return lb
}

func dialT(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c.(*net.TCPConn)
}

func TestEchoReturnsEveryByte(t *testing.T) {
	lb := startLoopback(t, "echo", "")
	c := dialT(t, lb.addrs[portEcho])
	msg := make([]byte, 1<<20)
	rand.Read(msg)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		if err == nil {
			err = c.CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo returned %d bytes, differing from the %d sent", len(got), len(msg))
	}
}

func TestDiscardClosesAfterEOF(t *testing.T) {
	lb := startLoopback(t, "discard", "")
	c := dialT(t, lb.addrs[portDiscard])
	if _, err := c.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// The server must close its side once it has read our FIN, and must
	// not have sent anything.
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		t.Fatalf("waiting for the server's close: %v", err)
	}
	if n != 0 {
		t.Fatalf("discard sent %d bytes", n)
	}
}

// checkChargen verifies that b continues the RFC 864 pattern from offset
// off (bytes since the start of the connection).
func checkChargen(b []byte, off int) error {
	period := len(chargenPattern)
	for i, x := range b {
		if want := chargenPattern[(off+i)%period]; x != want {
			return fmt.Errorf("byte %d is %q, want %q", off+i, x, want)
		}
	}
	return nil
}

func TestChargenPattern(t *testing.T) {
	if len(chargenPattern)%(95*74) != 0 {
		t.Fatalf("pattern length %d is not a whole number of 95-line cycles", len(chargenPattern))
	}
	// RFC 864's sample: the first line starts with the space character's
	// successor sequence "!\"#$%&'()*+,-./0123456789" after a leading space.
	if got := string(chargenPattern[:74]); !strings.HasPrefix(got, ` !"#$%&'()*+,-./0123456789:;<=>?@ABC`) || !strings.HasSuffix(got, "\r\n") {
		t.Fatalf("first line %q", got)
	}
	if got := string(chargenPattern[74 : 74+3]); got != `!"#` {
		t.Fatalf("second line starts %q, want the pattern shifted by one", got)
	}

	lb := startLoopback(t, "chargen", "")
	c := dialT(t, lb.addrs[portChargen])
	buf := make([]byte, 32<<10)
	total := 0
	for total < 1<<20 {
		n, err := c.Read(buf)
		if err := checkChargen(buf[:n], total); err != nil {
			t.Fatal(err)
		}
		total += n
		if err != nil {
			t.Fatalf("after %d bytes: %v", total, err)
		}
	}
}

// TestChargenStopsWhenPeerCloses checks that the writer returns once the
// peer has gone: the goroutine must not leak.
func TestChargenStopsWhenPeerCloses(t *testing.T) {
	done := make(chan struct{})
	sc, cc := net.Pipe()
	go func() { serveChargen(sc); close(done) }()
	if _, err := io.ReadFull(cc, make([]byte, 100000)); err != nil {
		t.Fatal(err)
	}
	cc.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("serveChargen kept running after the peer closed")
	}
}

func httpGet(t *testing.T, addr, path string) (*http.Response, []byte) {
	t.Helper()
	cl := &http.Client{Timeout: 60 * time.Second}
	resp, err := cl.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// verifyFill checks a /bytes/N body streamed through it.
type fillChecker struct {
	n   int64
	err error
}

func (f *fillChecker) Write(p []byte) (int, error) {
	for i, x := range p {
		if want := byte('a' + (f.n+int64(i))%fillPeriod); x != want && f.err == nil {
			f.err = fmt.Errorf("body byte %d is %q, want %q", f.n+int64(i), x, want)
		}
	}
	f.n += int64(len(p))
	return len(p), nil
}

func TestHTTP(t *testing.T) {
	lb := startLoopback(t, "http", "")
	addr := lb.addrs[portHTTP]

	resp, body := httpGet(t, addr, "/")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("userspace TCP/IP stack")) {
		t.Fatalf("GET /: %s %q", resp.Status, body)
	}

	sizes := []int64{0, 1, 1460, 65536, 65520, 65521, 1000003}
	if !testing.Short() {
		sizes = append(sizes, 1_000_000_000)
	}
	for _, n := range sizes {
		resp, err := http.Get("http://" + addr + "/bytes/" + strconv.FormatInt(n, 10))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.ContentLength != n {
			t.Fatalf("/bytes/%d: %s Content-Length %d", n, resp.Status, resp.ContentLength)
		}
		fc := &fillChecker{}
		_, err = io.Copy(fc, resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("/bytes/%d: %v", n, err)
		}
		if fc.n != n || fc.err != nil {
			t.Fatalf("/bytes/%d: got %d bytes, %v", n, fc.n, fc.err)
		}
	}

	for _, bad := range []string{"/bytes/-1", "/bytes/x", "/bytes/99999999999999999999"} {
		if resp, _ := httpGet(t, addr, bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %s, want 400", bad, resp.Status)
		}
	}
	if resp, _ := httpGet(t, addr, "/nothing"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing: %s, want 404", resp.Status)
	}
	r, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %s, want 405", r.Status)
	}
}

// TestHTTPConnectionHandling speaks raw HTTP/1.1: two requests on one
// connection (keep-alive), then Connection: close must end in the server's
// close after the response.
func TestHTTPConnectionHandling(t *testing.T) {
	lb := startLoopback(t, "http", "")
	c := dialT(t, lb.addrs[portHTTP])
	br := bufio.NewReader(c)
	for i, hdr := range []string{"", "Connection: close\r\n"} {
		fmt.Fprintf(c, "GET /bytes/10 HTTP/1.1\r\nHost: x\r\n%s\r\n", hdr)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != "abcdefghij" {
			t.Fatalf("request %d: body %q, %v", i, body, err)
		}
	}
	if n, err := br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after Connection: close: read %d, %v; want EOF", n, err)
	}
}

func TestHTTPRoot(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hi there\n"), 0o644)
	lb := startLoopback(t, "http", dir)
	if resp, body := httpGet(t, lb.addrs[portHTTP], "/hello.txt"); resp.StatusCode != 200 || string(body) != "hi there\n" {
		t.Fatalf("GET /hello.txt: %s %q", resp.Status, body)
	}
	// No index.html: / is still the built-in page.
	if resp, body := httpGet(t, lb.addrs[portHTTP], "/"); resp.StatusCode != 200 || !bytes.Contains(body, []byte("tunstack")) {
		t.Fatalf("GET /: %s %q", resp.Status, body)
	}
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>mine</p>"), 0o644)
	if resp, body := httpGet(t, lb.addrs[portHTTP], "/"); resp.StatusCode != 200 || string(body) != "<p>mine</p>" {
		t.Fatalf("GET / with index.html: %s %q", resp.Status, body)
	}
}

// TestServicesManyConnections holds 1,000 echo connections at once: the
// services must not serialise connections.
func TestServicesManyConnections(t *testing.T) {
	lb := startLoopback(t, "all", "")
	const n = 1000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.DialTimeout("tcp4", lb.addrs[portEcho], 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	buf := make([]byte, 1)
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range conns {
		if _, err := io.ReadFull(c, buf); err != nil || buf[0] != byte(i) {
			t.Fatalf("conn %d: %v %v", i, buf, err)
		}
	}
}

func TestParseServices(t *testing.T) {
	for in, want := range map[string]string{
		"": "chargen,discard,echo,http", "all": "chargen,discard,echo,http", "none": "",
		"echo, http": "echo,http", "source": "chargen",
	} {
		set, err := parseServices(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		var got []string
		for _, n := range []string{"chargen", "discard", "echo", "http"} {
			if set[n] {
				got = append(got, n)
			}
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%q: got %v, want %s", in, got, want)
		}
	}
	if _, err := parseServices("echo,ssh"); err == nil {
		t.Error("unknown service accepted")
	}
}
