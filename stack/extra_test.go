package stack_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/tun"
)

// TestAcceptQueueBound: with Backlog 2 and nobody calling Accept, a third
// handshake cannot complete (its SYN is dropped and counted); once Accept
// drains the queue, it gets in on its SYN retransmission.
func TestAcceptQueueBound(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, func(o *stack.Options) { o.Backlog = 2 })
	ln, err := p.b.Listen(":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for i := 0; i < 2; i++ {
		if _, err := p.a.Dial(context.Background(), "198.18.0.2:80"); err != nil {
			t.Fatal(err)
		}
	}
	// Dial returns once A is ESTABLISHED; its final ACK may still be on
	// the way to B (it is written after A's lock is released), and a third
	// SYN arriving before it would find room in the accept queue.
	if !waitFor(5*time.Second, func() bool {
		n := 0
		for _, c := range p.b.Conns() {
			if c.State == tcp.StateEstablished {
				n++
			}
		}
		return n == 2
	}) {
		t.Fatalf("B did not complete the two handshakes: %+v", p.b.Conns())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = p.a.Dial(ctx, "198.18.0.2:80")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third dial with a full accept queue: %v", err)
	}
	if p.b.Stats().ListenOverflows == 0 {
		t.Fatal("no listen overflow counted")
	}
	for i := 0; i < 2; i++ {
		if _, err := ln.Accept(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.a.Dial(ctx, "198.18.0.2:80"); err != nil {
		t.Fatalf("dial after draining the accept queue: %v", err)
	}
}

// TestCloseRead: after CloseRead, Read returns EOF at once and the peer
// can keep writing (data is acknowledged and discarded, no zero window).
func TestCloseRead(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, func(o *stack.Options) { o.ReceiveBufferSize = 16 << 10 })
	c1, c2 := p.connect(t, 3)
	if err := c2.(*stack.Conn).CloseRead(); err != nil {
		t.Fatal(err)
	}
	if n, err := c2.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read after CloseRead = %d, %v", n, err)
	}
	c1.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c1.Write(make([]byte, 256<<10)); err != nil { // 16x the receive buffer
		t.Fatalf("peer write after CloseRead: %v", err)
	}
	// The reverse direction still works.
	if _, err := c2.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(c1, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("%q %v", buf, err)
	}
}

// TestShutdown: Shutdown closes listeners, FINs every connection and waits
// for the closing handshakes; with a peer that never closes, ctx ends it.
func TestShutdown(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, nil)
	var conns [3][2]interface {
		io.ReadWriteCloser
	}
	for i := range conns {
		c1, c2 := p.connect(t, 80+i)
		conns[i][0], conns[i][1] = c1, c2
	}
	ln, _ := p.b.Listen(":99")
	// B's peers (on A) close when they see EOF.
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func(c io.ReadWriteCloser) {
			defer wg.Done()
			io.Copy(io.Discard, c)
			c.Close()
		}(conns[i][0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wg.Wait()
	if _, err := ln.Accept(); err == nil {
		t.Fatal("listener still accepting after Shutdown")
	}
	if st := p.b.Stats(); st.Conns != 0 {
		t.Fatalf("%d conns left after Shutdown", st.Conns)
	}

	// A peer that never closes: Shutdown returns ctx's error.
	q := newPair(t, nil, tun.FaultConfig{}, nil)
	q.connect(t, 80)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if err := q.b.Shutdown(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a stuck peer: %v", err)
	}
}

// TestTraceAndConns: the Trace hook sees the handshake transitions, and
// Conns reports live connection info.
func TestTraceAndConns(t *testing.T) {
	var mu sync.Mutex
	var trans []tcp.Transition
	p := newPair(t, nil, tun.FaultConfig{}, func(o *stack.Options) {
		o.Trace = func(tr tcp.Transition) {
			mu.Lock()
			trans = append(trans, tr)
			mu.Unlock()
		}
	})
	c1, c2 := p.connect(t, 80)
	c1.Write([]byte("x"))
	io.ReadFull(c2, make([]byte, 1))
	mu.Lock()
	var sawActive, sawPassive bool
	for _, tr := range trans {
		if tr.From == tcp.StateSynSent && tr.To == tcp.StateEstablished && tr.Tuple.LocalAddr == addrA {
			sawActive = true
		}
		if tr.From == tcp.StateSynReceived && tr.To == tcp.StateEstablished && tr.Tuple.LocalAddr == addrB {
			sawPassive = true
		}
	}
	mu.Unlock()
	if !sawActive || !sawPassive {
		t.Fatalf("trace missed the handshake: %+v", trans)
	}
	infos := p.a.Conns()
	if len(infos) != 1 {
		t.Fatalf("A has %d conns", len(infos))
	}
	in := infos[0]
	if in.State != tcp.StateEstablished || in.RemoteAddr.Port != 80 || in.BytesOut != 1 || in.Cwnd == 0 || in.RTO == 0 {
		t.Fatalf("conn info %+v", in)
	}
}
