package stack_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// TestNettestConn runs x/net/nettest.TestConn, the executable spec of
// net.Conn, over two stacks on the in-memory pipe with the real clock.
func TestNettestConn(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		g := tun.FaultConfig{}
		pa, pb := tun.NewPipe(timers.NewReal(), 1500, g, g)
		a, err := stack.New(pa, stack.Options{Addr: addrA})
		if err != nil {
			return nil, nil, nil, err
		}
		b, err := stack.New(pb, stack.Options{Addr: addrB})
		if err != nil {
			return nil, nil, nil, err
		}
		ln, err := b.Listen(":7")
		if err != nil {
			return nil, nil, nil, err
		}
		acc := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			acc <- c
		}()
		c1, err = a.Dial(context.Background(), "198.18.0.2:7")
		if err != nil {
			return nil, nil, nil, err
		}
		c2 = <-acc
		if c2 == nil {
			return nil, nil, nil, errors.New("accept failed")
		}
		ln.Close()
		stop = func() {
			c1.Close()
			c2.Close()
			a.Close()
			b.Close()
		}
		return c1, c2, stop, nil
	})
}

// TestHTTP runs net/http's server on stack B and an http.Client dialing
// through stack A.
func TestHTTP(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, nil)
	ln, err := p.b.Listen(":80")
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.RemoteAddr)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(big) })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		// Read all, then answer: HTTP/1 handlers are not full duplex.
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{DialContext: p.a.DialContext}, Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()
	for i := 0; i < 5; i++ {
		resp, err := client.Get("http://198.18.0.2/hello")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(body), "hello 198.18.0.1:") {
			t.Fatalf("body %q", body)
		}
	}
	resp, err := client.Get("http://198.18.0.2/big")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big: %d bytes, err %v", len(got), err)
	}
	payload := bytes.Repeat([]byte("x"), 100000)
	resp, err = client.Post("http://198.18.0.2/echo", "application/octet-stream", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echo: %d bytes, err %v", len(got), err)
	}
}

// selfSigned returns a TLS certificate for "tunstack.test".
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tunstack.test"},
		DNSNames:              []string{"tunstack.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestTLS runs crypto/tls over a stack connection.
func TestTLS(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, nil)
	c1, c2 := p.connect(t, 443)
	cert, pool := selfSigned(t)
	srv := tls.Server(c2, &tls.Config{Certificates: []tls.Certificate{cert}})
	cli := tls.Client(c1, &tls.Config{RootCAs: pool, ServerName: "tunstack.test"})
	defer srv.Close()
	defer cli.Close()
	msg := bytes.Repeat([]byte("secret "), 20000)
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(srv, buf); err != nil {
			errc <- err
			return
		}
		_, err := srv.Write(buf)
		errc <- err
	}()
	if _, err := cli.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(cli, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("TLS echo mismatch")
	}
	if v := cli.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Fatalf("TLS version %x", v)
	}
}

// TestBulkCopyLossy copies 100 MB (10 MB with -short) from A to B over a
// pipe that loses and reorders packets, and checks the SHA-256 of what
// arrives.
func TestBulkCopyLossy(t *testing.T) {
	size := int64(100 << 20)
	if testing.Short() {
		size = 10 << 20
	}
	f := tun.FaultConfig{Seed: 7, Loss: 0.005, Reorder: 0.01}
	p := newPair(t, nil, f, nil)
	c1, c2 := p.connect(t, 9)
	deadline := time.Now().Add(3 * time.Minute)
	c1.SetDeadline(deadline)
	c2.SetDeadline(deadline)

	src := io.LimitReader(newPRNG(42), size)
	hw := sha256.New()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(c1, hw), src)
		if err == nil {
			err = c1.(*stack.Conn).CloseWrite()
		}
		done <- err
	}()
	hr := sha256.New()
	start := time.Now()
	n, err := io.Copy(hr, c2)
	if err != nil {
		t.Fatal(err)
	}
	if werr := <-done; werr != nil {
		t.Fatal(werr)
	}
	el := time.Since(start)
	if n != size {
		t.Fatalf("received %d bytes, want %d", n, size)
	}
	if !bytes.Equal(hw.Sum(nil), hr.Sum(nil)) {
		t.Fatal("SHA-256 mismatch")
	}
	st := p.a.Stats()
	ps := p.pa.Stats()
	t.Logf("%d MB in %v (%.1f MB/s); pipe A->B dropped %d reordered %d; A retransmissions %d",
		size>>20, el.Round(time.Millisecond), float64(size)/el.Seconds()/1e6, ps.Dropped, ps.Reordered, st.Retransmissions)
	if ps.Dropped == 0 || ps.Reordered == 0 {
		t.Fatalf("the pipe injected no faults (dropped %d, reordered %d)", ps.Dropped, ps.Reordered)
	}
	if st.Retransmissions == 0 {
		t.Fatal("losses but no retransmissions counted")
	}
	// Stats.Recovery: the repairs are counted, and stay counted once the
	// connection has left the table.
	rec := st.Recovery
	t.Logf("A recovery: %+v", rec)
	if rec.FastRecoveries+rec.RTOExpiries+rec.TLPProbes == 0 {
		t.Fatalf("retransmissions but no recovery counted: %+v", rec)
	}
	c1.Close()
	c2.Close()
	if !waitFor(5*time.Second, func() bool { return p.a.Stats().Conns == 0 }) {
		t.Fatalf("connection still in A's table: %+v", p.a.Stats())
	}
	if after := p.a.Stats().Recovery; after.FastRecoveries < rec.FastRecoveries || after.RTOExpiries < rec.RTOExpiries ||
		after.TLPProbes < rec.TLPProbes {
		t.Fatalf("recovery counters went back when the connection left: %+v, then %+v", rec, after)
	}
}

// prng is a fast deterministic byte source.
type prng struct{ r *mrand.ChaCha8 }

func newPRNG(seed byte) *prng {
	var s [32]byte
	s[0] = seed
	return &prng{mrand.NewChaCha8(s)}
}

func (p *prng) Read(b []byte) (int, error) { return p.r.Read(b) }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}

// TestDeadlines: read and write deadlines fire with a net.Error whose
// Timeout() is true, can be extended, and the conn stays usable.
func TestDeadlines(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, func(o *stack.Options) { o.SendBufferSize = 64 << 10; o.ReceiveBufferSize = 64 << 10 })
	c1, c2 := p.connect(t, 1)

	c1.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	n, err := c1.Read(make([]byte, 10))
	if n != 0 || !isTimeout(err) {
		t.Fatalf("Read = %d, %v; want timeout", n, err)
	}
	if el := time.Since(start); el < 40*time.Millisecond || el > 2*time.Second {
		t.Fatalf("read deadline fired after %v", el)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("want *net.OpError op read, got %#v", err)
	}
	// Clearing the deadline makes the conn usable again.
	c1.SetReadDeadline(time.Time{})
	go c2.Write([]byte("ok"))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c1, buf); err != nil || string(buf) != "ok" {
		t.Fatalf("after clearing deadline: %q %v", buf, err)
	}

	// Write deadline: B never reads, so A fills its send buffer and B's
	// receive window, and then Write blocks until the deadline.
	c1.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	total := 0
	chunk := make([]byte, 32<<10)
	for {
		n, err := c1.Write(chunk)
		total += n
		if err != nil {
			if !isTimeout(err) {
				t.Fatalf("Write error %v, want timeout", err)
			}
			break
		}
		if total > 10<<20 {
			t.Fatal("Write never blocked: no backpressure")
		}
	}
	if total < 64<<10 || total > 1<<20 {
		t.Fatalf("wrote %d bytes before blocking; want between the send buffer and a few windows", total)
	}
	// A deadline in the past fails at once with nothing written.
	c1.SetWriteDeadline(time.Now().Add(-time.Second))
	if n, err := c1.Write([]byte("x")); n != 0 || !isTimeout(err) {
		t.Fatalf("past deadline Write = %d, %v", n, err)
	}
}

// TestDeadlineManualClock: on a manual clock a blocked Read times out when
// the test advances the clock, not before.
func TestDeadlineManualClock(t *testing.T) {
	clk := timers.NewManual(time.Unix(1e9, 0))
	p := newPair(t, clk, tun.FaultConfig{}, nil)
	c1, _ := p.connect(t, 2)
	c1.SetReadDeadline(clk.Now().Add(5 * time.Second))
	errc := make(chan error, 1)
	go func() {
		_, err := c1.Read(make([]byte, 1))
		errc <- err
	}()
	clk.Advance(4 * time.Second)
	select {
	case err := <-errc:
		t.Fatalf("Read returned before the deadline: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	clk.Advance(time.Second)
	select {
	case err := <-errc:
		if !isTimeout(err) {
			t.Fatalf("want timeout, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not time out after the manual clock passed the deadline")
	}
}

// TestHalfClose: CloseWrite sends FIN (peer reads EOF) while the reverse
// direction keeps working.
func TestHalfClose(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, nil)
	c1, c2 := p.connect(t, 3)
	if _, err := c1.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := c1.(*stack.Conn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c2)
	if err != nil || string(got) != "request" {
		t.Fatalf("B read %q, %v", got, err)
	}
	if _, err := c1.Write([]byte("more")); err == nil {
		t.Fatal("Write after CloseWrite succeeded")
	}
	if _, err := c2.Write([]byte("response")); err != nil {
		t.Fatal(err)
	}
	c2.Close()
	got, err = io.ReadAll(c1)
	if err != nil || string(got) != "response" {
		t.Fatalf("A read %q, %v", got, err)
	}
	c1.Close()
	// Active closer A ends in TIME-WAIT.
	if !waitFor(5*time.Second, func() bool { return p.a.Stats().TimeWait == 1 }) {
		t.Fatalf("TIME-WAIT count %d, want 1", p.a.Stats().TimeWait)
	}
}

// TestReset: closing with unread data sends RST; the peer's Read and Write
// fail with ECONNRESET; dialing a closed port fails with ECONNREFUSED.
func TestReset(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, nil)
	c1, c2 := p.connect(t, 4)
	if _, err := c1.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return c2.(*stack.Conn).Info().BytesIn >= 6 }) {
		t.Fatal("data did not arrive")
	}
	rst0 := p.b.Stats().RSTsSent
	c2.Close() // unread data: RST (as Linux)
	_, err := c1.Read(make([]byte, 10))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after RST: %v, want ECONNRESET", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("want *net.OpError, got %T", err)
	}
	if _, err := c1.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Write after RST: %v, want ECONNRESET", err)
	}
	if d := p.b.Stats().RSTsSent - rst0; d != 1 {
		t.Fatalf("B sent %d RSTs, want 1", d)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = p.a.Dial(ctx, "198.18.0.2:4444")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial to a closed port: %v, want ECONNREFUSED", err)
	}
}

// TestCloseWhileBlocked: Close unblocks Read, Write and Accept with
// net.ErrClosed; Stack.Close unblocks everything.
func TestCloseWhileBlocked(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, func(o *stack.Options) { o.SendBufferSize = 16 << 10; o.ReceiveBufferSize = 16 << 10 })
	c1, _ := p.connect(t, 5)
	errs := make(chan error, 2)
	go func() {
		_, err := c1.Read(make([]byte, 10))
		errs <- err
	}()
	go func() {
		_, err := c1.Write(make([]byte, 1<<20)) // blocks: B never reads
		errs <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c1.Close()
	for i := 0; i < 2; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("blocked call returned %v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("blocked call not released by Close")
		}
	}
	if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if err := c1.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}

	ln, err := p.b.Listen(":6")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := ln.Accept()
		errs <- err
	}()
	time.Sleep(20 * time.Millisecond)
	ln.Close()
	if err := <-errs; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}

	// Stack.Close releases a blocked Read on another connection.
	c3, _ := p.connect(t, 8)
	go func() {
		_, err := c3.Read(make([]byte, 10))
		errs <- err
	}()
	time.Sleep(20 * time.Millisecond)
	p.a.Close()
	select {
	case err := <-errs:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Stack.Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stack.Close did not release a blocked Read")
	}
	if _, err := p.a.Dial(context.Background(), "198.18.0.2:6"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Dial after Close: %v", err)
	}
}

// TestDialContext: cancellation and timeout of a dial that gets no answer.
func TestDialContext(t *testing.T) {
	l := newRawLink() // nobody answers
	s, err := stack.New(l, stack.Options{Addr: addrB})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Dial(ctx, "198.18.0.1:80")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want context.DeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Dial timeout error is not a net.Error with Timeout(): %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("Dial returned after %v", el)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(30 * time.Millisecond); cancel2() }()
	if _, err := s.Dial(ctx2, "198.18.0.1:80"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial: %v, want context.Canceled", err)
	}
	if st := s.Stats(); st.Conns != 0 || st.ActiveOpens != 2 {
		t.Fatalf("after cancelled dials: %d conns, %d active opens", st.Conns, st.ActiveOpens)
	}
	if _, err := s.DialContext(context.Background(), "udp", "198.18.0.1:80"); err == nil {
		t.Fatal("udp dial succeeded")
	}
}

// TestEphemeralPorts: many concurrent dials to one destination get
// distinct local ports.
func TestEphemeralPorts(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, nil)
	ln, err := p.b.Listen(":80")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	const n = 300
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.a.Dial(context.Background(), "198.18.0.2:80")
			if err != nil {
				t.Error(err)
				return
			}
			port := c.LocalAddr().(*net.TCPAddr).Port
			mu.Lock()
			if seen[port] {
				t.Errorf("port %d used twice", port)
			}
			seen[port] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d distinct ports for %d dials", len(seen), n)
	}
}

// TestNoGoroutineLeak: after Close, the goroutine count returns to what it
// was (checked, with a short bounded wait for exiting goroutines).
func TestNoGoroutineLeak(t *testing.T) {
	before := goroutines()
	func() {
		clk := timers.NewReal()
		pa, pb := tun.NewPipe(clk, 1500, tun.FaultConfig{}, tun.FaultConfig{})
		a, _ := stack.New(pa, stack.Options{Addr: addrA, Clock: clk})
		b, _ := stack.New(pb, stack.Options{Addr: addrB, Clock: clk})
		ln, _ := b.Listen(":7")
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(c, c); c.Close() }()
			}
		}()
		for i := 0; i < 20; i++ {
			c, err := a.Dial(context.Background(), "198.18.0.2:7")
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("ping"))
			io.ReadFull(c, make([]byte, 4))
			if i%2 == 0 {
				c.Close()
			}
		}
		a.Close()
		b.Close()
	}()
	// The real clock's dispatcher lingers up to 1 s after its queue
	// empties; echo goroutines exit once their conns are closed.
	var after int
	ok := waitFor(5*time.Second, func() bool { after = goroutines(); return after <= before })
	if !ok {
		buf := make([]byte, 1<<20)
		n := runtimeStack(buf)
		t.Fatalf("goroutines: %d before, %d after Close\n%s", before, after, buf[:n])
	}
}
