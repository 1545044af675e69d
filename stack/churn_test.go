package stack_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/tunstack/tunstack/tun"
)

// TestDialChurn is the embedder's churn workload: many sequential short
// connections between two stacks on the in-memory pipe, a 4 KiB request and
// a 4 KiB answer each, every other one closed by the server first (so the
// server holds the TIME-WAIT record) and the rest by the client first. No
// Dial may hang: before RFC 6056 port selection, a dialer reusing a port
// within (bytes sent x 4 us) sent a SYN that the server's TIME-WAIT record
// could not accept, and every retransmission met the same fate until the
// Dial's context expired.
func TestDialChurn(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, nil)
	ln, err := p.b.Listen(":80")
	if err != nil {
		t.Fatal(err)
	}
	const size = 4096
	const n = 10000 // about 8 s under -race on a loaded 2-core machine
	srvErr := make(chan error, 1)
	go func() {
		buf := make([]byte, size)
		for {
			c, err := ln.Accept()
			if err != nil {
				srvErr <- nil
				return
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				srvErr <- err
				return
			}
			if _, err := c.Write(buf); err != nil {
				srvErr <- err
				return
			}
			if buf[0] == 1 {
				// The client closes first: wait for its FIN.
				if _, err := c.Read(buf[:1]); err != io.EOF {
					srvErr <- errors.New("server: want EOF before closing")
					return
				}
			}
			c.Close()
		}
	}()
	req := make([]byte, size)
	for i := range req {
		req[i] = byte(i)
	}
	resp := make([]byte, size)
	start := time.Now()
	for i := 0; i < n; i++ {
		req[0] = byte(i % 2) // 1: the client closes first
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := p.a.Dial(ctx, "198.18.0.2:80")
		cancel()
		if err != nil {
			t.Fatalf("dial %d failed or hung: %v\nstats A %+v\nstats B %+v", i, err, p.a.Stats(), p.b.Stats())
		}
		if _, err := c.Write(req); err != nil {
			t.Fatalf("conn %d write: %v", i, err)
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			t.Fatalf("conn %d read: %v", i, err)
		}
		if !bytes.Equal(resp, req) {
			t.Fatalf("conn %d: answer differs from request", i)
		}
		if req[0] == 0 {
			// Server closes first: its FIN arrives.
			if _, err := c.Read(resp[:1]); err != io.EOF {
				t.Fatalf("conn %d: want EOF, got %v", i, err)
			}
		}
		c.Close()
	}
	t.Logf("%d connections in %v, no hung dial", n, time.Since(start).Round(time.Millisecond))
	ln.Close()
	select {
	case err := <-srvErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
}
