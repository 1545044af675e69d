package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// These tests run the services on the real userspace stack without any
// privileges: two stacks joined by tun's in-memory pipe, the server side
// wired the way `serve` wires it (observing link, trace, services), the
// client side standing in for the kernel.

// syncBuffer is a bytes.Buffer safe for the tracer and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type pipeSetup struct {
	rt     *runtime
	client *stack.Stack
	out    *syncBuffer
}

func newPipeSetup(t *testing.T, services string) *pipeSetup {
	t.Helper()
	clock := timers.NewReal()
	a, b := tun.NewPipe(clock, 1500, tun.FaultConfig{}, tun.FaultConfig{})
	out := &syncBuffer{}
	tr := newTracer(out)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := stack.New(observe(a, nil, tr), stack.Options{
		Addr: netip.MustParseAddr("198.18.0.2"), Clock: clock, MSL: 100 * time.Millisecond, Trace: tr.transition,
	})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := stack.New(b, stack.Options{Addr: netip.MustParseAddr("198.18.0.1"), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	set, err := parseServices(services)
	if err != nil {
		t.Fatal(err)
	}
	stop, err := runServices(set, "", func(port uint16) (net.Listener, error) {
		return srv.Listen(":" + strconv.Itoa(int(port)))
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		cli.Close()
		srv.Close()
	})
	return &pipeSetup{rt: &runtime{stack: srv, out: out, log: log}, client: cli, out: out}
}

func (p *pipeSetup) dial(t *testing.T, port string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := p.client.DialContext(ctx, "tcp4", "198.18.0.2:"+port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

func TestServicesOnStack(t *testing.T) {
	p := newPipeSetup(t, "all")

	// Echo, 256 KiB both ways at once.
	c := p.dial(t, "7")
	msg := bytes.Repeat([]byte("0123456789abcdef"), 16<<10)
	go func() {
		c.Write(msg)
		c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo over the stack: %d bytes back, %v", len(got), err)
	}

	// Discard closes after EOF.
	d := p.dial(t, "9")
	d.Write(make([]byte, 100000))
	d.(interface{ CloseWrite() error }).CloseWrite()
	if n, err := io.Copy(io.Discard, d); n != 0 || err != nil {
		t.Fatalf("discard: %d bytes, %v; want its close", n, err)
	}

	// HTTP through Go's client with the stack as its dialer.
	cl := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: p.client.DialContext}}
	resp, err := cl.Get("http://198.18.0.2/bytes/300001")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(body) != 300001 || resp.ContentLength != 300001 {
		t.Fatalf("/bytes/300001: %d bytes (Content-Length %d), %v", len(body), resp.ContentLength, err)
	}
	fc := &fillChecker{}
	fc.Write(body)
	if fc.err != nil {
		t.Fatal(fc.err)
	}

	// Chargen streams its pattern.
	g := p.dial(t, "19")
	buf := make([]byte, 50000)
	if _, err := io.ReadFull(g, buf); err != nil {
		t.Fatal(err)
	}
	if err := checkChargen(buf, 0); err != nil {
		t.Fatal(err)
	}
}

func TestTableStatsAndTrace(t *testing.T) {
	p := newPipeSetup(t, "echo")
	c := p.dial(t, "7")
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().String()

	p.rt.printTable()
	out := p.out.String()
	if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{6} connections=1 listeners=1 time_wait=0 `).MatchString(out) {
		t.Fatalf("no summary line in:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^ESTABLISHED\s+198\.18\.0\.2:7\s+` + regexp.QuoteMeta(local)).MatchString(out) {
		t.Fatalf("no ESTABLISHED entry for %s in:\n%s", local, out)
	}
	for _, key := range []string{"srtt:", "rto:", "cwnd:", "snd_wnd:", "bytes_in:1", "bytes_out:1"} {
		if !strings.Contains(out, key) {
			t.Errorf("table lacks %q:\n%s", key, out)
		}
	}

	// The trace has the handshake: segment lines and transitions.
	for _, re := range []string{
		`198\.18\.0\.1:\d+ > 198\.18\.0\.2:7 \[S\] seq=\d+ ack=0 win=\d+ len=0`,
		`198\.18\.0\.1:\d+ > 198\.18\.0\.2:7 LISTEN -> SYN-RECEIVED \[S\]`,
		`198\.18\.0\.2:7 > 198\.18\.0\.1:\d+ \[S\.\] seq=\d+ ack=\d+`,
		`SYN-RECEIVED -> ESTABLISHED \[\.\] seq=\d+ ack=\d+`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("trace lacks %s:\n%s", re, out)
		}
	}

	// Close from the client: the server sees CLOSE-WAIT then LAST-ACK.
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.out.String(), "LAST-ACK -> CLOSED") {
		if time.Now().After(deadline) {
			t.Fatalf("no LAST-ACK -> CLOSED in the trace:\n%s", p.out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}

	var st bytes.Buffer
	p.rt.out = &st
	p.rt.printStats()
	for _, want := range []string{"tunstack statistics:", "passive_opens", "segments_in", "retransmissions"} {
		if !strings.Contains(st.String(), want) {
			t.Errorf("statistics lack %q:\n%s", want, st.String())
		}
	}
	if strings.Contains(st.String(), "dropped.") && regexp.MustCompile(`dropped\.\S+\s+0\n`).MatchString(st.String()) {
		t.Errorf("zero drop reasons printed:\n%s", st.String())
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"SRTT": "srtt", "SndWnd": "snd_wnd", "RSTsSent": "rsts_sent", "RTTVar": "rtt_var",
		"PacketsIn": "packets_in", "ICMPEchoAnswered": "icmp_echo_answered", "TCPChecksum": "tcp_checksum",
		"SegsIn": "segs_in", "ISS": "iss",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}
