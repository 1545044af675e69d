package stack_test

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/tun"
)

// slowWriteLink delays every write while slow is set and fails a write
// that ends after Close, as a closed TUN device does. It counts the pure
// ACKs it wrote while slow.
type slowWriteLink struct {
	*tun.PipeEnd
	slow, closed atomic.Bool
	acks         atomic.Int32
}

func (l *slowWriteLink) Write(p []byte) (int, error) {
	slow := l.slow.Load()
	if slow {
		time.Sleep(50 * time.Millisecond)
	}
	if l.closed.Load() {
		return 0, net.ErrClosed
	}
	var s segment.Segment
	if slow && segment.ParseIPv4TCP(p, &s) == nil && s.Flags == segment.FlagACK && len(s.Payload) == 0 {
		l.acks.Add(1)
	}
	return l.PipeEnd.Write(p)
}

func (l *slowWriteLink) Close() error {
	l.closed.Store(true)
	return l.PipeEnd.Close()
}

// TestCloseWritesQueuedOutput: output the stack queued before the
// application could see its effect is on the link before Close closes it.
// Here the ACK of the peer's FIN, queued on entering TIME-WAIT: the
// application reads EOF and closes the stack at once (as `tunstack dial`
// does) while the input goroutine is still writing that ACK; it was lost,
// leaving the peer in LAST-ACK until its RTO.
func TestCloseWritesQueuedOutput(t *testing.T) {
	var sl *slowWriteLink
	p := newPairOn(t, nil, tun.FaultConfig{}, nil, func(e *tun.PipeEnd) stack.Link {
		sl = &slowWriteLink{PipeEnd: e}
		return sl
	})
	c1, c2 := p.connect(t, 80)
	deadline := time.Now().Add(10 * time.Second)
	c1.SetDeadline(deadline)
	c2.SetDeadline(deadline)
	if err := c1.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var buf [16]byte
	if n, err := c2.Read(buf[:]); n != 0 || err != io.EOF {
		t.Fatalf("B read %d, %v; want A's FIN", n, err)
	}
	sl.slow.Store(true)
	c2.Close() // B's FIN: A acknowledges it on entering TIME-WAIT
	if n, err := c1.Read(buf[:]); n != 0 || err != io.EOF {
		t.Fatalf("A read %d, %v; want B's FIN", n, err)
	}
	p.a.Close()
	if n := sl.acks.Load(); n != 1 {
		t.Fatalf("A wrote %d pure ACKs after B's FIN before its link closed, want 1 (the ACK of the FIN)", n)
	}
}
