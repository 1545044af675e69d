package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tunstack/tunstack/stack"
)

// forward's TCP half: every SYN routed into the TUN device (to any
// destination) is held by the stack as a pending request
// (stack.SetTCPForwarder) while a goroutine connects to the original
// destination from a host socket; then the client's handshake is completed
// (Accept) and bytes are relayed both ways, or it is refused the way the
// upstream refused us (stack.RefusalFor: RST for a refused connection, ICMP
// unreachable for an unreachable network or host, prohibited for EACCES).
// A destination that does not answer costs only its own goroutine and
// pending slot: the others go on (no global queue to wedge).

// flow is one forwarded TCP connection or UDP flow, for the table.
type flow struct {
	proto      string
	src, dst   netip.AddrPort
	start      time.Time
	up, down   atomic.Int64 // bytes client->destination and back
	lastActive atomic.Int64 // unix nanoseconds (UDP idle timeout)
}

// flowTable lists the live flows and counts the finished ones.
type flowTable struct {
	mu    sync.Mutex
	live  map[*flow]struct{}
	done  map[string]uint64 // finished flows by protocol
	fails map[string]uint64 // upstream failures by refusal
}

func newFlowTable() *flowTable {
	return &flowTable{live: make(map[*flow]struct{}), done: make(map[string]uint64), fails: make(map[string]uint64)}
}

func (t *flowTable) add(f *flow) {
	t.mu.Lock()
	t.live[f] = struct{}{}
	t.mu.Unlock()
}

func (t *flowTable) remove(f *flow) {
	t.mu.Lock()
	delete(t.live, f)
	t.done[f.proto]++
	t.mu.Unlock()
}

func (t *flowTable) failed(how string) {
	t.mu.Lock()
	t.fails[how]++
	t.mu.Unlock()
}

// print writes a summary line and one line per live flow, oldest first.
func (t *flowTable) print(w io.Writer, now time.Time, fst stack.ForwardStats) {
	t.mu.Lock()
	fl := make([]*flow, 0, len(t.live))
	n := map[string]int{}
	for f := range t.live {
		fl = append(fl, f)
		n[f.proto]++
	}
	fmt.Fprintf(w, "flows tcp=%d udp=%d done_tcp=%d done_udp=%d pending=%d upstream_failed=%v\n",
		n["tcp"], n["udp"], t.done["tcp"], t.done["udp"], fst.Pending, t.fails)
	t.mu.Unlock()
	sort.Slice(fl, func(i, j int) bool { return fl[i].start.Before(fl[j].start) })
	for _, f := range fl {
		fmt.Fprintf(w, "  %-3s %-45s -> %-45s age=%-10v up=%d down=%d\n", f.proto, f.src, f.dst,
			now.Sub(f.start).Round(time.Millisecond), f.up.Load(), f.down.Load())
	}
}

// tcpForwarder answers the stack's TCP requests.
type tcpForwarder struct {
	ctx   context.Context                                          // cancelled at shutdown: pending dials give up
	dial  func(ctx context.Context, addr string) (net.Conn, error) // upstream.dialTCP
	flows *flowTable
	log   *slog.Logger
	wg    sync.WaitGroup
}

// handle is the stack's handler: it must not block, so the upstream dial
// runs on a goroutine of its own.
func (f *tcpForwarder) handle(r *stack.TCPRequest) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.forward(r)
	}()
}

func (f *tcpForwarder) forward(r *stack.TCPRequest) {
	dst := r.Destination()
	up, err := f.dial(f.ctx, dst.String())
	if err != nil {
		how := stack.RefusalFor(err)
		if f.ctx.Err() != nil {
			how = stack.RefuseReset // shutting down
		}
		f.flows.failed(how.String())
		f.log.Debug("upstream connect failed", "src", r.Source(), "dst", dst, "err", err, "refusal", how)
		r.Refuse(how)
		return
	}
	c, err := r.Accept()
	if err != nil {
		// The client gave up meanwhile, or the request expired.
		f.log.Debug("accept", "src", r.Source(), "dst", dst, "err", err)
		up.Close()
		return
	}
	fl := &flow{proto: "tcp", src: r.Source(), dst: dst, start: time.Now()}
	f.flows.add(fl)
	defer f.flows.remove(fl)
	relay(c.(*stack.Conn), up, fl)
}

// relay copies both ways until both directions have ended. A direction
// that ends with the peer's FIN is passed on as a half-close; one that
// ends in an error (a reset) aborts both connections at once, the client's
// with a RST (SetLinger(0)), as the upstream's reset would have reached it.
func relay(c *stack.Conn, up net.Conn, fl *flow) {
	var once sync.Once
	abort := func() {
		once.Do(func() {
			c.SetLinger(0)
			if tc, ok := up.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.Close()
			up.Close()
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := copyCount(up, c, &fl.up); err != nil {
			abort()
			return
		}
		closeWrite(up)
	}()
	if err := copyCount(c, up, &fl.down); err != nil {
		abort()
	} else {
		c.CloseWrite()
	}
	<-done
	once.Do(func() {
		c.Close()
		up.Close()
	})
}

// relayBufs recycles the large relay buffers (64 KiB: one GSO segment's
// worth), which a direction holds only while data streams.
var relayBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// relaySmall is what an idle direction reads into: 1,000 idle connections
// cost 4 MB of buffers, not the 128 MB that two 64 KiB buffers each would.
const relaySmall = 2 << 10

// copyCount copies src to dst until EOF (nil) or an error, adding the
// bytes to n as it goes (so the table shows progress). It reads into a
// small buffer, switching to a pooled large one while reads fill it (a
// bulk transfer) and back once they stop.
func copyCount(dst io.Writer, src io.Reader, n *atomic.Int64) error {
	small := make([]byte, relaySmall)
	buf := small
	var big *[]byte
	defer func() {
		if big != nil {
			relayBufs.Put(big)
		}
	}()
	for {
		k, err := src.Read(buf)
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return werr
			}
			n.Add(int64(k))
		}
		switch {
		case big == nil && k == len(buf):
			big = relayBufs.Get().(*[]byte)
			buf = *big
		case big != nil && k < len(buf)/4:
			relayBufs.Put(big)
			big, buf = nil, small
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
