package tun_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/tun"
)

var _ stack.Link = (*tun.Adapter)(nil)

// packetRWC is a packet ReadWriteCloser in memory: Read delivers the
// packets sent on in (copying and silently truncating, as Linux's TUN does)
// and blocks until one comes or Close; Write records packets.
type packetRWC struct {
	in      chan []byte
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	written [][]byte
	readErr error // returned by Read instead of a packet when set
}

func newPacketRWC() *packetRWC {
	return &packetRWC{in: make(chan []byte, 8), done: make(chan struct{})}
}

func (f *packetRWC) Read(p []byte) (int, error) {
	if f.readErr != nil {
		return 0, f.readErr
	}
	select {
	case pkt := <-f.in:
		return copy(p, pkt), nil
	case <-f.done:
		return 0, os.ErrClosed
	}
}

func (f *packetRWC) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.written = append(f.written, append([]byte(nil), p...))
	return len(p), nil
}

func (f *packetRWC) Close() error {
	f.once.Do(func() { close(f.done) })
	return nil
}

// ipv4Packet returns an IPv4 packet of n bytes whose total length field
// says n.
func ipv4Packet(n int) []byte {
	p := make([]byte, n)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:4], uint16(n))
	for i := 20; i < n; i++ {
		p[i] = byte(i)
	}
	return p
}

func mustAdapt(t *testing.T, rwc io.ReadWriteCloser, mtu int) *tun.Adapter {
	t.Helper()
	a, err := tun.Adapt(rwc, mtu)
	if err != nil {
		t.Fatalf("Adapt: %v", err)
	}
	return a
}

func TestAdapterPassesPackets(t *testing.T) {
	f := newPacketRWC()
	a := mustAdapt(t, f, 1400)
	if a.MTU() != 1400 {
		t.Fatalf("MTU() = %d, want 1400", a.MTU())
	}
	pkt := ipv4Packet(1400)
	f.in <- pkt
	buf := make([]byte, 65536)
	n, err := a.Read(buf)
	if err != nil || !bytes.Equal(buf[:n], pkt) {
		t.Fatalf("Read = %d, %v; want the 1400-byte packet", n, err)
	}
	// A packet exactly filling the buffer is whole, not short.
	f.in <- pkt
	n, err = a.Read(buf[:1400])
	if err != nil || n != 1400 {
		t.Fatalf("Read into an exact buffer = %d, %v; want 1400, nil", n, err)
	}
	if n, err := a.Write(pkt); err != nil || n != 1400 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if n, err := a.Write(ipv4Packet(1401)); !errors.Is(err, tun.ErrTooBig) || n != 0 {
		t.Fatalf("Write of MTU+1 bytes = %d, %v; want 0, ErrTooBig", n, err)
	}
	if len(f.written) != 1 || !bytes.Equal(f.written[0], pkt) {
		t.Fatalf("the wrapped value saw %d writes, want exactly the one packet", len(f.written))
	}
}

func TestAdapterShortBuffer(t *testing.T) {
	f := newPacketRWC()
	a := mustAdapt(t, f, 1500)
	v6 := make([]byte, 40+200)
	v6[0] = 0x60
	binary.BigEndian.PutUint16(v6[4:6], 200)
	for _, tc := range []struct {
		name string
		pkt  []byte
		buf  int
	}{
		{"ipv4", ipv4Packet(1000), 100},
		{"ipv4 header cut", ipv4Packet(1000), 3},
		{"ipv6", v6, 239},
	} {
		f.in <- tc.pkt
		buf := make([]byte, tc.buf)
		n, err := a.Read(buf)
		if !errors.Is(err, tun.ErrShortBuffer) || n != tc.buf || !bytes.Equal(buf, tc.pkt[:tc.buf]) {
			t.Errorf("%s: Read of a %d-byte packet into %d bytes = %d, %v; want %d, ErrShortBuffer",
				tc.name, len(tc.pkt), tc.buf, n, err, tc.buf)
		}
	}
	// The next packet is read whole: the short read consumed only its own.
	f.in <- ipv4Packet(60)
	n, err := a.Read(make([]byte, 1500))
	if err != nil || n != 60 {
		t.Fatalf("Read after short reads = %d, %v; want 60, nil", n, err)
	}
}

func TestAdapterCloseUnblocksRead(t *testing.T) {
	f := newPacketRWC()
	a := mustAdapt(t, f, 1500)
	got := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1500))
		got <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the Read block (not needed for correctness)
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-got:
		checkClosedErr(t, "pending Read", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock the pending Read")
	}
	_, err := a.Read(make([]byte, 1500))
	checkClosedErr(t, "Read after Close", err)
	_, err = a.Write(ipv4Packet(60))
	checkClosedErr(t, "Write after Close", err)
	checkClosedErr(t, "second Close", a.Close())
}

func checkClosedErr(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, net.ErrClosed) || !errors.Is(err, os.ErrClosed) || !errors.Is(err, tun.ErrClosed) {
		t.Errorf("%s: %v, want an error matching net.ErrClosed, os.ErrClosed and tun.ErrClosed", what, err)
	}
}

// A device that goes away without Close (the wrapped value's Read fails
// with a "closed" error) is reported as closed, keeping the cause.
func TestAdapterDeviceGone(t *testing.T) {
	for _, cause := range []error{io.EOF, os.ErrClosed, &os.PathError{Op: "read", Path: "tun", Err: os.ErrClosed}} {
		f := newPacketRWC()
		f.readErr = cause
		a := mustAdapt(t, f, 1500)
		_, err := a.Read(make([]byte, 1500))
		checkClosedErr(t, "Read of a vanished device", err)
		if !errors.Is(err, cause) {
			t.Errorf("Read: %v does not unwrap to its cause %v", err, cause)
		}
	}
	// Other errors pass through unchanged: the stack counts them and
	// reads on.
	f := newPacketRWC()
	f.readErr = errors.New("transient")
	a := mustAdapt(t, f, 1500)
	if _, err := a.Read(make([]byte, 1500)); err != f.readErr {
		t.Fatalf("Read: %v, want the transient error itself", err)
	}
}

func TestAdaptRejects(t *testing.T) {
	for _, mtu := range []int{0, 67, 65536} {
		if _, err := tun.Adapt(newPacketRWC(), mtu); err == nil {
			t.Errorf("Adapt with MTU %d: no error", mtu)
		}
	}
	if _, err := tun.Adapt(nil, 1500); err == nil {
		t.Error("Adapt(nil): no error")
	}
}

// deadlineRWC's Close does not wake a pending Read (like a value whose
// Close waits for its reader), but an expired read deadline does.
type deadlineRWC struct {
	*packetRWC
	expired chan struct{}
	once    sync.Once
}

func (d *deadlineRWC) Read(p []byte) (int, error) {
	select {
	case pkt := <-d.in:
		return copy(p, pkt), nil
	case <-d.expired:
		return 0, os.ErrDeadlineExceeded
	}
}

func (d *deadlineRWC) SetReadDeadline(t time.Time) error {
	if !t.IsZero() && t.Before(time.Now()) {
		d.once.Do(func() { close(d.expired) })
	}
	return nil
}

func TestAdapterCloseExpiresReadDeadline(t *testing.T) {
	d := &deadlineRWC{packetRWC: newPacketRWC(), expired: make(chan struct{})}
	a := mustAdapt(t, d, 1500)
	got := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1500))
		got <- err
	}()
	a.Close()
	select {
	case err := <-got:
		checkClosedErr(t, "pending Read", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not expire the read deadline to unblock the pending Read")
	}
}

// fixedRWC hands out the same packet on every Read and drops writes,
// allocating nothing itself.
type fixedRWC struct{ pkt []byte }

func (f *fixedRWC) Read(p []byte) (int, error)  { return copy(p, f.pkt), nil }
func (f *fixedRWC) Write(p []byte) (int, error) { return len(p), nil }
func (f *fixedRWC) Close() error                { return nil }

// The adapter adds no allocation to the per-packet path.
func TestAdapterNoAllocs(t *testing.T) {
	pkt := ipv4Packet(1500)
	a := mustAdapt(t, &fixedRWC{pkt: pkt}, 1500)
	buf := make([]byte, 65536)
	short := make([]byte, 100)
	if n := testing.AllocsPerRun(1000, func() {
		a.Read(buf)
		a.Read(short) // ErrShortBuffer is a preallocated sentinel
		a.Write(pkt)
	}); n != 0 {
		t.Fatalf("%v allocations per Read+Read+Write, want 0", n)
	}
}
