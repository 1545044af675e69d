package tun_test

import (
	"errors"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// waitFor polls cond for up to 5 s of real time (for the pump goroutine).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFaultyOutDelay(t *testing.T) {
	clk := timers.NewManual(t0)
	a, kernel := tun.NewPipe(clk, 1500, tun.FaultConfig{}, tun.FaultConfig{})
	d := tun.WithFaults(a, clk, tun.FaultConfig{}, tun.FaultConfig{Delay: 5 * time.Millisecond})
	defer d.Close()
	if d.MTU() != 1500 {
		t.Fatalf("MTU %d", d.MTU())
	}
	if n, err := d.Write(pkt(1, 100)); n != 100 || err != nil {
		t.Fatalf("Write: %d %v", n, err)
	}
	clk.Advance(5*time.Millisecond - 1)
	if got := drain(t, kernel); len(got) != 0 {
		t.Fatalf("early: %v", got)
	}
	clk.Advance(1)
	if got := drain(t, kernel); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("at 5ms: %v", got)
	}
	if _, err := d.Write(make([]byte, 1501)); !errors.Is(err, tun.ErrTooBig) {
		t.Fatalf("oversized Write: %v", err)
	}
	// Pass-through in direction.
	send(t, kernel, 2, 80)
	buf := make([]byte, 1500)
	if n, err := d.Read(buf); err != nil || n != 80 {
		t.Fatalf("Read: %d %v", n, err)
	}
	in, out := d.Stats()
	if in != (tun.Stats{}) || out.Sent != 2 || out.Delivered != 1 || out.Dropped != 1 {
		t.Fatalf("stats in %+v out %+v", in, out)
	}
}

func TestFaultyInFaults(t *testing.T) {
	clk := timers.NewManual(t0)
	a, kernel := tun.NewPipe(clk, 1500, tun.FaultConfig{}, tun.FaultConfig{})
	d := tun.WithFaults(a, clk, tun.FaultConfig{Seed: 9, Loss: 0.5, Delay: 3 * time.Millisecond}, tun.FaultConfig{})
	const n = 400
	for i := range n {
		send(t, kernel, uint32(i), 100)
	}
	waitFor(t, "the pump", func() bool { in, _ := d.Stats(); return in.Sent == n })
	var read atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			if _, err := d.Read(buf); err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("Read: %v", err)
				}
				return
			}
			read.Add(1)
		}
	}()
	clk.Advance(3*time.Millisecond - 1)
	in, _ := d.Stats()
	if in.Delivered != 0 {
		t.Fatalf("delivered before the delay: %+v", in)
	}
	clk.Advance(1)
	in, _ = d.Stats()
	if in.Dropped < n/2-60 || in.Dropped > n/2+60 || in.Delivered != n-in.Dropped {
		t.Fatalf("in stats %+v at Loss 0.5", in)
	}
	waitFor(t, "the reader", func() bool { return read.Load() == in.Delivered })
	if err := d.Close(); err != nil { // unblocks the reader
		t.Fatal(err)
	}
	<-done
	// Close closed the wrapped device too.
	if _, err := a.Write(pkt(1, 10)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("wrapped device still open: %v", err)
	}
}

// TestFaultyDeviceFailure: when the wrapped device fails, Read returns what
// already arrived, then the error.
func TestFaultyDeviceFailure(t *testing.T) {
	clk := timers.NewManual(t0)
	a, kernel := tun.NewPipe(clk, 1500, tun.FaultConfig{}, tun.FaultConfig{})
	d := tun.WithFaults(a, clk, tun.FaultConfig{Duplicate: 1}, tun.FaultConfig{})
	send(t, kernel, 5, 60)
	waitFor(t, "the pump", func() bool { in, _ := d.Stats(); return in.Delivered == 2 })
	a.Close() // the device goes away underneath
	buf := make([]byte, 1500)
	for i := range 2 {
		if n, err := d.Read(buf); err != nil || n != 60 {
			t.Fatalf("Read %d: %d %v", i, n, err)
		}
	}
	if _, err := d.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after device failure: %v", err)
	}
}
