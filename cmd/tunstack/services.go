package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The four TCP services of `tunstack serve`. They are written against
// net.Listener / net.Conn only, so the unit tests run them on the kernel's
// loopback and `serve` runs them on the userspace stack's listeners.

// Well-known ports (RFC 862, 863, 864; RFC 9110 4.2.1 for http).
const (
	portEcho    = 7
	portDiscard = 9
	portChargen = 19
	portHTTP    = 80
)

// service is one named TCP service.
type service struct {
	name string
	port uint16
	// handle serves one connection; the caller closes c afterwards.
	handle func(c net.Conn)
}

// serviceNames lists what --services accepts, in port order.
var serviceNames = []string{"echo", "discard", "chargen", "http"}

// parseServices turns "echo,http" into a set. "all" and "" mean every
// service; "none" means no service (a bare stack answering pings and
// resetting connection attempts).
func parseServices(s string) (map[string]bool, error) {
	set := map[string]bool{}
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		for _, n := range serviceNames {
			set[n] = true
		}
		return set, nil
	}
	if s == "none" {
		return set, nil
	}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch f {
		case "echo", "discard", "chargen", "http":
			set[f] = true
		case "source": // the benchmark contract's name for port 19
			set["chargen"] = true
		default:
			return nil, fmt.Errorf("unknown service %q in --services (want a comma-separated subset of %s, or all/none)",
				f, strings.Join(serviceNames, ","))
		}
	}
	return set, nil
}

// echoBufSize is small on purpose: the benchmark holds 10,000 idle echo
// connections and each one's read buffer counts towards memory per
// connection (the reference servers in shared/peers use the same size).
const echoBufSize = 4096

// serveEcho is RFC 862: "any data received is sent back", until the client
// closes. A plain read/write loop: the stack's Conn need not implement
// ReaderFrom.
func serveEcho(c net.Conn) {
	buf := make([]byte, echoBufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// discardBufs recycles read buffers between discard connections: the upload
// benchmark opens one connection, but a 10,000-connection run would
// otherwise pin 64 KiB each.
var discardBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// serveDiscard is RFC 863: "simply throw away any data received". The
// connection is closed (by the caller) once the client's FIN has been read:
// the benchmark's upload measurement waits for that close.
func serveDiscard(c net.Conn) {
	bp := discardBufs.Get().(*[]byte)
	defer discardBufs.Put(bp)
	for {
		if _, err := c.Read(*bp); err != nil {
			return
		}
	}
}

// chargenPattern holds whole RFC 864 cycles: 95 lines of 72 printable ASCII
// characters, line k starting with character k (mod 95), each line ending
// in CR LF. Its length is a whole number of cycles (95*74 = 7030 bytes), so
// writing it repeatedly keeps the pattern continuous across writes.
var chargenPattern = func() []byte {
	const lines, width, cycles = 95, 72, 9 // 63,270 bytes
	b := make([]byte, 0, cycles*lines*(width+2))
	for range cycles {
		for line := range lines {
			for i := range width {
				b = append(b, byte(' '+(line+i)%95))
			}
			b = append(b, '\r', '\n')
		}
	}
	return b
}()

// serveChargen is the source service on port 19 (RFC 864 pattern): it
// writes as fast as the connection takes bytes, until a write fails because
// the client closed or reset. Data the client sends is not read ("the
// data may be thrown away", RFC 864).
func serveChargen(c net.Conn) {
	for {
		if _, err := c.Write(chargenPattern); err != nil {
			return
		}
	}
}

// fillPeriod and fillBuf define the body of GET /bytes/N: byte i of the body
// is 'a' + i mod 26. fillBuf holds a whole number of periods so the body is
// streamed from this one shared, read-only buffer whatever N is.
const fillPeriod = 26

var fillBuf = func() []byte {
	b := make([]byte, fillPeriod*2520) // 65,520 bytes
	for i := range b {
		b[i] = 'a' + byte(i%fillPeriod)
	}
	return b
}()

// maxBytesN bounds /bytes/N: 1 TiB, far beyond the contract's 10^9 and far
// below int64 overflow.
const maxBytesN = 1 << 40

// indexPage is the body of GET /.
const indexPage = `tunstack: this page was served over a userspace TCP/IP stack written in Go,
running on a Linux TUN device (not the kernel's TCP).

  GET /bytes/N   N bytes of the pattern abc...xyzabc... (Content-Length: N)
  TCP 7 echo, 9 discard, 19 chargen; UDP 7 echo; ICMP echo is answered too.
`

// httpHandler serves GET / and GET /bytes/N, and with root != "" every other
// path from that directory.
func httpHandler(root string) http.Handler {
	var files http.Handler
	if root != "" {
		files = http.FileServer(http.Dir(root))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if ns, ok := strings.CutPrefix(r.URL.Path, "/bytes/"); ok {
			serveBytes(w, r, ns)
			return
		}
		if r.URL.Path == "/" && (files == nil || !hasIndex(root)) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Content-Length", strconv.Itoa(len(indexPage)))
			io.WriteString(w, indexPage)
			return
		}
		if files != nil {
			files.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
}

func hasIndex(root string) bool {
	_, err := os.Stat(root + "/index.html")
	return err == nil
}

// serveBytes writes exactly n bytes with Content-Length n, in chunks of the
// shared fill buffer: memory use does not depend on n.
func serveBytes(w http.ResponseWriter, r *http.Request, ns string) {
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil || n < 0 || n > maxBytesN {
		http.Error(w, fmt.Sprintf("bad byte count %q: want 0..%d", ns, int64(maxBytesN)), http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	for n > 0 {
		k := min(n, int64(len(fillBuf)))
		if _, err := w.Write(fillBuf[:k]); err != nil {
			return
		}
		n -= k
	}
}

// runServices starts the selected services on listeners obtained from
// listen and returns a function that stops accepting (the listeners are
// closed) and waits for the accept loops. Connections in progress are left
// to the stack's graceful shutdown.
func runServices(set map[string]bool, httpRoot string, listen func(port uint16) (net.Listener, error), log *slog.Logger) (stop func(), err error) {
	var (
		ls []net.Listener
		wg sync.WaitGroup
	)
	closeAll := func() {
		for _, l := range ls {
			l.Close()
		}
	}
	table := []service{
		{"echo", portEcho, serveEcho},
		{"discard", portDiscard, serveDiscard},
		{"chargen", portChargen, serveChargen},
	}
	for _, s := range table {
		if !set[s.name] {
			continue
		}
		l, err := listen(s.port)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listen on port %d (%s): %w", s.port, s.name, err)
		}
		ls = append(ls, l)
		wg.Add(1)
		go func() {
			defer wg.Done()
			acceptLoop(l, s.name, s.handle, log)
		}()
	}
	var srv *http.Server
	if set["http"] {
		l, err := listen(portHTTP)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listen on port %d (http): %w", portHTTP, err)
		}
		ls = append(ls, l)
		srv = &http.Server{
			Handler:           httpHandler(httpRoot),
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				log.Debug("http server stopped", "err", err)
			}
		}()
	}
	return func() {
		closeAll()
		wg.Wait()
	}, nil
}

// acceptLoop accepts until the listener is closed; each connection gets its
// own goroutine and is closed when its handler returns.
func acceptLoop(l net.Listener, name string, handle func(net.Conn), log *slog.Logger) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Anything else (for instance EMFILE on a kernel listener):
			// back off briefly and keep serving.
			log.Debug("accept", "service", name, "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}
