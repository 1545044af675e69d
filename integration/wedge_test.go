package integration

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The wedge hunt of issue 8 section 2: the default `tunstack serve`
// (offloads, ACK coalescing, busy polling) against the kernel's TCP, 32
// echo connections exchanging messages of up to 256 KiB, 2 uploads to
// discard and 2 downloads from chargen, first without loss, then with
// random loss each way (nftables numgen drops in the test's namespace).
// A watchdog per connection notes every stall: no byte moved by the
// application and neither the kernel's SND.UNA nor its RCV.NXT advancing
// (TCP_INFO bytes_acked / bytes_received). A stall longer than the limit
// is dumped (the stack's connection table, SIGUSR1, and `ss -tino` from the
// kernel side) and fails the test; every byte echoed or downloaded is
// verified.
//
// The default is short enough for CI; the hunt runs the shape:
//
//	TUNSTACK_WEDGE=clean=20s,loss=20s,pct=3,note=3s go test -count=10 -run TestLossWedge ./integration/
//
// (stall=D sets the limit, note=D logs every stall longer than D with a
// dump without failing.)

type wedgeShape struct {
	clean, loss time.Duration
	pct         int
	stall       time.Duration // the longest stall allowed
	note        time.Duration // a stall this long is logged with a dump (0: never)
}

func wedgeShapeFromEnv(t *testing.T) wedgeShape {
	// The stall limit: the wedge of issue 8 was a connection still stuck
	// after 30 s. Recovery by retransmission timeout alone (the engine
	// negotiates neither SACK nor timestamps, and the kernel's GRO leaves
	// few duplicate ACKs) legitimately stalls a flow for a few seconds
	// when a retransmission is lost again (0.2 + 0.4 + 0.8 + ... s, more
	// if Karn's rule kept an earlier backoff); 20 s leaves room for that
	// and still catches an RTO that ratchets towards its 60 s cap.
	s := wedgeShape{clean: 5 * time.Second, loss: 10 * time.Second, pct: 3, stall: 20 * time.Second}
	env := os.Getenv("TUNSTACK_WEDGE")
	if env == "" {
		return s
	}
	for _, kv := range strings.Split(env, ",") {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "clean":
			s.clean, err = time.ParseDuration(v)
		case "loss":
			s.loss, err = time.ParseDuration(v)
		case "stall":
			s.stall, err = time.ParseDuration(v)
		case "note":
			s.note, err = time.ParseDuration(v)
		case "pct":
			_, err = fmt.Sscan(v, &s.pct)
		default:
			err = fmt.Errorf("unknown key")
		}
		if err != nil {
			t.Fatalf("TUNSTACK_WEDGE %q: %s: %v", env, kv, err)
		}
	}
	return s
}

// flow is one kernel-side connection under the watchdog.
type flow struct {
	name  string
	c     *net.TCPConn
	port  int          // kernel-side port
	moved atomic.Int64 // application bytes moved (both ways)
	done  atomic.Bool
	err   error // set by the flow's goroutine before done

	// watchdog state (watchdog goroutine only)
	last                      time.Time
	lastMoved, lastAcked, rcv uint64
	maxStall                  time.Duration
	dumped, noted             bool
}

// kernelProgress reads the kernel's bytes_acked and bytes_received.
func (f *flow) kernelProgress() (acked, received uint64) {
	rc, err := f.c.SyscallConn()
	if err != nil {
		return 0, 0
	}
	rc.Control(func(fd uintptr) {
		if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			acked, received = ti.Bytes_acked, ti.Bytes_received
		}
	})
	return acked, received
}

func TestLossWedge(t *testing.T) {
	shape := wedgeShapeFromEnv(t)
	p := serve(t)
	end := time.Now().Add(shape.clean + shape.loss)
	deadline := end.Add(2 * time.Minute) // a wedged flow must not hang the test
	var flows []*flow
	add := func(name string, port int) *flow {
		c := dialStack(t, port)
		c.SetDeadline(deadline)
		f := &flow{name: name, c: c, port: c.LocalAddr().(*net.TCPAddr).Port, last: time.Now()}
		flows = append(flows, f)
		return f
	}
	var wg sync.WaitGroup
	run := func(f *flow, body func(f *flow) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.err = body(f)
			f.done.Store(true)
		}()
	}
	for i := range 32 {
		run(add(fmt.Sprintf("echo%d", i), 7), func(f *flow) error { return echoFlow(f, uint64(i), end) })
	}
	for i := range 2 {
		run(add(fmt.Sprintf("upload%d", i), 9), func(f *flow) error { return uploadFlow(f, end) })
		run(add(fmt.Sprintf("download%d", i), 19), func(f *flow) error { return downloadFlow(f, end) })
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	var dropped func() (int, int)
	lossAt := time.After(shape.clean)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var stalls []string
watch:
	for {
		select {
		case <-allDone:
			break watch
		case <-lossAt:
			dropped = nftLoss(t, devName, shape.pct)
			t.Logf("%v: %d%% loss each way from now on", time.Now().Format("15:04:05.000"), shape.pct)
		case now := <-tick.C:
			for _, f := range flows {
				if f.done.Load() {
					continue
				}
				moved := uint64(f.moved.Load())
				acked, rcv := f.kernelProgress()
				if moved != f.lastMoved || acked != f.lastAcked || rcv != f.rcv {
					if f.noted {
						t.Logf("%s: progress again after %v", f.name, now.Sub(f.last).Round(time.Millisecond))
					}
					f.lastMoved, f.lastAcked, f.rcv, f.last, f.noted = moved, acked, rcv, now, false
					continue
				}
				stall := now.Sub(f.last)
				f.maxStall = max(f.maxStall, stall)
				if shape.note > 0 && stall > shape.note && !f.noted && !f.dumped {
					f.noted = true
					t.Logf("%s (kernel port %d): no progress for %v\n%s", f.name, f.port, stall.Round(time.Millisecond), stallDump(t, p, f.port))
				}
				if stall > shape.stall && !f.dumped {
					f.dumped = true
					stalls = append(stalls, f.name)
					t.Errorf("%s (kernel port %d): no progress for %v (application bytes %d, kernel bytes_acked %d bytes_received %d)\n%s",
						f.name, f.port, stall.Round(time.Millisecond), moved, acked, rcv, stallDump(t, p, f.port))
				}
			}
		}
	}
	var total int64
	var worst time.Duration
	for _, f := range flows {
		if f.err != nil {
			t.Errorf("%s: %v", f.name, f.err)
		}
		total += f.moved.Load()
		worst = max(worst, f.maxStall)
	}
	if dropped == nil {
		t.Fatal("the flows ended before the loss phase began")
	}
	in, out := dropped()
	if in == 0 || out == 0 {
		t.Errorf("nftables dropped %d packets from the stack and %d to it: the loss was not applied", in, out)
	}
	t.Logf("%d flows, %d MB moved and verified, nftables dropped %d from the stack and %d to it; longest stall %v; stalled: %v",
		len(flows), total>>20, in, out, worst.Round(time.Millisecond), stalls)
	p.checkRaces()
}

// echoFlow sends messages of random size (up to 256 KiB) to echo and reads
// each back whole, byte-checked, while writing it.
func echoFlow(f *flow, seed uint64, end time.Time) error {
	rng := rand.New(rand.NewPCG(seed, 0x3dd))
	msg := make([]byte, 256<<10)
	got := make([]byte, 256<<10)
	for n := 0; time.Now().Before(end); n++ {
		m := msg[:1+rng.IntN(len(msg))]
		for i := range m {
			m[i] = byte(rng.Uint32())
		}
		werr := make(chan error, 1)
		go func() {
			for off := 0; off < len(m); {
				k, err := f.c.Write(m[off:min(len(m), off+16<<10)])
				off += k
				f.moved.Add(int64(k))
				if err != nil {
					werr <- err
					return
				}
			}
			werr <- nil
		}()
		for off := 0; off < len(m); {
			k, err := f.c.Read(got[off:len(m)])
			off += k
			f.moved.Add(int64(k))
			if err != nil {
				return fmt.Errorf("message %d (%d bytes): read after %d bytes: %v", n, len(m), off, err)
			}
		}
		if err := <-werr; err != nil {
			return fmt.Errorf("message %d (%d bytes): write: %v", n, len(m), err)
		}
		if !bytes.Equal(got[:len(m)], m) {
			return fmt.Errorf("message %d (%d bytes): echo differs", n, len(m))
		}
	}
	f.c.CloseWrite()
	if k, err := io.Copy(io.Discard, f.c); err != nil || k != 0 {
		return fmt.Errorf("waiting for echo's close: %d bytes, %v", k, err)
	}
	return nil
}

// uploadFlow writes to discard until end, then waits for the stack's close
// (it reads everything before it closes).
func uploadFlow(f *flow, end time.Time) error {
	buf := make([]byte, 16<<10)
	for time.Now().Before(end) {
		k, err := f.c.Write(buf)
		f.moved.Add(int64(k))
		if err != nil {
			return fmt.Errorf("upload after %d bytes: %v", f.moved.Load(), err)
		}
	}
	f.c.CloseWrite()
	if k, err := io.Copy(io.Discard, f.c); err != nil || k != 0 {
		return fmt.Errorf("waiting for discard's close: %d bytes, %v", k, err)
	}
	return nil
}

// downloadFlow reads chargen until end, checking the pattern.
func downloadFlow(f *flow, end time.Time) error {
	buf := make([]byte, 64<<10)
	var off int64
	for time.Now().Before(end) {
		k, err := f.c.Read(buf)
		if err := checkChargen(buf[:k], off); err != nil {
			return err
		}
		off += int64(k)
		f.moved.Add(int64(k))
		if err != nil {
			return fmt.Errorf("download after %d bytes: %v", off, err)
		}
	}
	return nil
}

// stallDump returns the stack's view of the connection from kernel port
// port (its SIGUSR1 table entry) and the kernel's (`ss -tino`).
func stallDump(t *testing.T, p *proc, port int) string {
	var b strings.Builder
	from := len(p.out.snapshot())
	p.signal(syscall.SIGUSR1)
	time.Sleep(300 * time.Millisecond)
	lines := p.out.snapshot()[from:]
	peer := fmt.Sprintf("%s:%d", hostAddr, port)
	b.WriteString("stack (SIGUSR1 table):\n")
	for i, l := range lines {
		if strings.Contains(l, "connections=") || strings.HasSuffix(strings.TrimSpace(l), peer) {
			b.WriteString("  " + l + "\n")
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") && !strings.Contains(l, "connections=") {
				b.WriteString("  " + lines[i+1] + "\n")
			}
		}
	}
	out, _, err := command(t, 5*time.Second, nil, "ss", "-tino", fmt.Sprintf("( sport = :%d )", port))
	fmt.Fprintf(&b, "kernel (ss -tino, err %v):\n%s", err, out)
	return b.String()
}
