package stack_test

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// errUnplugged is what dyingLink's Read returns once killed, as a TUN
// device deleted under its reader would.
var errUnplugged = &os.PathError{Op: "read", Path: "/dev/net/tun", Err: os.ErrClosed}

// dyingLink is a pipe end whose Read fails for good once kill is called.
type dyingLink struct {
	*tun.PipeEnd
	dead atomic.Bool
}

func (l *dyingLink) Read(p []byte) (int, error) {
	n, err := l.PipeEnd.Read(p)
	if l.dead.Load() {
		return 0, errUnplugged
	}
	return n, err
}

func (l *dyingLink) kill() {
	l.dead.Store(true)
	l.PipeEnd.Close() // unblocks the Read in progress
}

// TestLinkDeathFailsBlockedCalls: when the link's Read fails under the
// stack mid-connection, a Read and a Write already blocked, an Accept, and
// a Dial still in SYN-SENT all return promptly with the stack's error
// (which wraps the link's), and a new Dial or Listen fails at once.
func TestLinkDeathFailsBlockedCalls(t *testing.T) {
	clk := timers.NewReal()
	pa, pb := tun.NewPipe(clk, 1500, tun.FaultConfig{}, tun.FaultConfig{Seed: 1})
	la := &dyingLink{PipeEnd: pa}
	a, err := stack.New(la, stack.Options{Addr: addrA, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := stack.New(pb, stack.Options{Addr: addrB, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p := &pair{a: a, b: b, pa: pa, pb: pb}
	c1, c2 := p.connect(t, 80)
	defer c1.Close()
	defer c2.Close()
	lnA, err := a.Listen(":90")
	if err != nil {
		t.Fatal(err)
	}
	defer lnA.Close()

	type result struct {
		what string
		err  error
	}
	results := make(chan result, 4)
	go func() {
		_, err := c1.Read(make([]byte, 10))
		results <- result{"read", err}
	}()
	go func() {
		// B never reads: the windows and A's send buffer fill, and the
		// Write blocks.
		_, err := c1.Write(make([]byte, 8<<20))
		results <- result{"write", err}
	}()
	go func() {
		_, err := lnA.Accept()
		results <- result{"accept", err}
	}()
	go func() {
		// Nobody answers 198.18.0.9: the Dial waits in SYN-SENT.
		_, err := a.Dial(context.Background(), "198.18.0.9:80")
		results <- result{"dial in progress", err}
	}()
	time.Sleep(200 * time.Millisecond) // let all four block
	select {
	case r := <-results:
		t.Fatalf("%s returned before the link died: %v", r.what, r.err)
	default:
	}
	la.kill()
	for i := 0; i < 4; i++ {
		select {
		case r := <-results:
			if !errors.Is(r.err, errUnplugged) {
				t.Errorf("%s after the link died: %v, want the stack's error wrapping the link's", r.what, r.err)
			}
			var oe *net.OpError
			if !errors.As(r.err, &oe) {
				t.Errorf("%s error %v is not a *net.OpError", r.what, r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of 4 blocked calls still blocked 5 s after the link died", 4-i)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := a.Dial(ctx, "198.18.0.2:80"); !errors.Is(err, errUnplugged) {
		t.Errorf("Dial after the link died: %v, want the stack's error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Dial after the link died took %v, want at once", d)
	}
	if _, err := a.Listen(":91"); !errors.Is(err, errUnplugged) {
		t.Errorf("Listen after the link died: %v, want the stack's error", err)
	}
	if _, err := c1.Write([]byte("x")); !errors.Is(err, errUnplugged) {
		t.Errorf("Write after the link died: %v, want the stack's error", err)
	}
}
