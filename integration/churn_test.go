package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/tun"
	"github.com/tunstack/tunstack/tun/tuntest"
)

// churnConns is how many sequential short connections each churn test
// makes: enough to pass through ports recently used many times over, at a
// few milliseconds each.
const churnConns = 10000

// slowDial is the dial time that counts as a failure: a connection that
// needed it lost its first SYN (the kernel's and our initial RTO is 1 s),
// which on this lossless path means a 4-tuple clash with a TIME-WAIT
// record, the start of the hang the churn tests guard against.
const slowDial = 900 * time.Millisecond

// dialTimes summarises dial durations for the log.
func dialTimes(d []time.Duration) string {
	s := slices.Clone(d)
	slices.Sort(s)
	return fmt.Sprintf("p50 %v p99 %v max %v", s[len(s)/2], s[len(s)*99/100], s[len(s)-1])
}

// TestKernelClientChurn: the kernel as client makes churnConns sequential
// short connections to the default `tunstack serve`: the even ones to echo
// with a 4 KiB request and answer, closed by the kernel first (the kernel
// holds TIME-WAIT), the odd ones to HTTP for a 4 KiB body with
// "Connection: close", closed by tunstack first (the stack holds
// TIME-WAIT). No dial may fail or need a SYN retransmission.
func TestKernelClientChurn(t *testing.T) {
	serve(t)
	req := bytes.Repeat([]byte("0123456789abcdef"), 256)
	httpReq := []byte("GET /bytes/4096 HTTP/1.1\r\nHost: " + stackAddr + "\r\nConnection: close\r\n\r\n")
	buf := make([]byte, 4096)
	before := kernelTCPStats(t)
	var times []time.Duration
	for i := range churnConns {
		port := "7"
		if i%2 == 1 {
			port = "80"
		}
		start := time.Now()
		c, err := net.DialTimeout("tcp4", net.JoinHostPort(stackAddr, port), 5*time.Second)
		d := time.Since(start)
		if err != nil {
			t.Fatalf("connection %d: dial hung or failed after %v: %v", i, d, err)
		}
		times = append(times, d)
		if d >= slowDial {
			t.Errorf("connection %d: dial took %v (a lost or refused SYN)", i, d)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if i%2 == 0 {
			if _, err := c.Write(req); err != nil {
				t.Fatalf("connection %d: write: %v", i, err)
			}
			if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, req) {
				t.Fatalf("connection %d: echo: %v", i, err)
			}
			c.Close() // the kernel closes first
		} else {
			if _, err := c.Write(httpReq); err != nil {
				t.Fatalf("connection %d: write: %v", i, err)
			}
			b, err := io.ReadAll(c) // to the server's FIN
			if err != nil || !bytes.HasPrefix(b, []byte("HTTP/1.1 200")) || len(b) < 4096 {
				t.Fatalf("connection %d: HTTP answer of %d bytes: %v", i, len(b), err)
			}
			c.Close()
		}
	}
	after := kernelTCPStats(t)
	delta, text := kstatDelta(before, after, "TcpExt.TCPSynRetrans", "Tcp.RetransSegs", "Tcp.ActiveOpens")
	t.Logf("%d connections; dial %s; kernel:%s", churnConns, dialTimes(times), text)
	if delta["TcpExt.TCPSynRetrans"] != 0 {
		t.Errorf("the kernel retransmitted %d SYNs on a lossless path", delta["TcpExt.TCPSynRetrans"])
	}
}

// TestKernelClientReopensStackTimeWait: with the kernel's ephemeral range
// narrowed to 64 ports (connect uses the 32 even ones), 2,000 sequential
// HTTP connections closed by tunstack first reuse each 4-tuple about 60
// times while tunstack still
// holds its TIME-WAIT record: every reuse is a new SYN above the record's
// RCV.NXT (Linux's ISN clock ticks every 64 ns), which must reopen the
// connection at once (RFC 9293 3.10.7.4, RFC 6191), never cost a SYN
// retransmission.
func TestKernelClientReopensStackTimeWait(t *testing.T) {
	serve(t)
	setKnob(t, "/proc/sys/net/ipv4/ip_local_port_range", "40000 40063")
	httpReq := []byte("GET /bytes/100 HTTP/1.1\r\nHost: " + stackAddr + "\r\nConnection: close\r\n\r\n")
	before := kernelTCPStats(t)
	var times []time.Duration
	ports := map[int]int{}
	for i := range 2000 {
		start := time.Now()
		c, err := net.DialTimeout("tcp4", stackAddr+":80", 5*time.Second)
		d := time.Since(start)
		if err != nil {
			t.Fatalf("connection %d: dial hung or failed after %v: %v", i, d, err)
		}
		times = append(times, d)
		ports[c.LocalAddr().(*net.TCPAddr).Port]++
		if d >= slowDial {
			t.Errorf("connection %d: dial took %v (a SYN the TIME-WAIT record did not take)", i, d)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(httpReq); err != nil {
			t.Fatalf("connection %d: write: %v", i, err)
		}
		if b, err := io.ReadAll(c); err != nil || !bytes.HasPrefix(b, []byte("HTTP/1.1 200")) {
			t.Fatalf("connection %d: HTTP answer %q: %v", i, b, err)
		}
		c.Close()
	}
	after := kernelTCPStats(t)
	delta, text := kstatDelta(before, after, "TcpExt.TCPSynRetrans", "Tcp.RetransSegs")
	t.Logf("2000 connections over %d ports; dial %s; kernel:%s", len(ports), dialTimes(times), text)
	if len(ports) > 64 {
		t.Fatalf("the kernel used %d ports, more than the range set", len(ports))
	}
	if delta["TcpExt.TCPSynRetrans"] != 0 {
		t.Errorf("the kernel retransmitted %d SYNs", delta["TcpExt.TCPSynRetrans"])
	}
}

// TestStackClientChurn: a stack in the test process, on a TUN device of
// its own, dials a kernel listener churnConns times in sequence: the even
// connections closed by the kernel first (the kernel holds TIME-WAIT, the
// case that hung before RFC 6056 port selection), the odd ones by the
// stack first (the stack holds TIME-WAIT). No dial may fail or need a SYN
// retransmission.
func TestStackClientChurn(t *testing.T) {
	tuntest.Require(t)
	dev, err := tun.Open(tun.Config{
		Name: "churn0", Addr: netip.MustParsePrefix(hostAddr + "/24"), Up: true, Offload: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := stack.New(dev, stack.Options{Addr: netip.MustParseAddr(stackAddr)})
	if err != nil {
		dev.Close()
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := net.Listen("tcp4", hostAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	target := net.JoinHostPort(hostAddr, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	srvErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			c, err := ln.Accept()
			if err != nil {
				srvErr <- nil
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(c, buf); err != nil {
				srvErr <- fmt.Errorf("kernel listener read: %w", err)
				return
			}
			if _, err := c.Write(buf); err != nil {
				srvErr <- fmt.Errorf("kernel listener write: %w", err)
				return
			}
			if buf[0] == 1 { // the stack closes first
				if n, err := c.Read(buf[:1]); n != 0 || !errors.Is(err, io.EOF) {
					srvErr <- fmt.Errorf("kernel listener: want EOF, got %d bytes, %v", n, err)
					return
				}
			}
			c.Close()
		}
	}()
	d := &stack.Dialer{Stack: s}
	req := bytes.Repeat([]byte("fedcba9876543210"), 256)
	resp := make([]byte, len(req))
	var times []time.Duration
	for i := range churnConns {
		req[0] = byte(i % 2)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		c, err := d.DialContext(ctx, "tcp4", target)
		dt := time.Since(start)
		cancel()
		if err != nil {
			t.Fatalf("connection %d: dial hung or failed after %v: %v\nstack %+v", i, dt, err, s.Stats())
		}
		times = append(times, dt)
		if dt >= slowDial {
			t.Errorf("connection %d: dial took %v (a lost or refused SYN)", i, dt)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req); err != nil {
			t.Fatalf("connection %d: write: %v", i, err)
		}
		if _, err := io.ReadFull(c, resp); err != nil || !bytes.Equal(resp, req) {
			t.Fatalf("connection %d: answer: %v", i, err)
		}
		if req[0] == 0 {
			if _, err := c.Read(resp[:1]); !errors.Is(err, io.EOF) {
				t.Fatalf("connection %d: want the kernel's FIN, got %v", i, err)
			}
		}
		c.Close()
		select {
		case err := <-srvErr:
			t.Fatalf("connection %d: %v", i, err)
		default:
		}
	}
	st := s.Stats()
	t.Logf("%d connections; dial %s; stack: TIME-WAIT %d, retransmissions %d, RSTs sent %d",
		churnConns, dialTimes(times), st.TimeWait, st.Retransmissions, st.RSTsSent)
	if st.RSTsSent != 0 {
		t.Errorf("the stack sent %d RSTs (a SYN-SENT answering a TIME-WAIT ACK?)", st.RSTsSent)
	}
}
