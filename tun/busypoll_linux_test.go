//go:build linux

package tun_test

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/tun"
	"github.com/tunstack/tunstack/tun/tuntest"
)

// cpuTime returns the process's user plus system CPU time.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// busyRead runs a reader on d for window and returns the CPU time the
// process used meanwhile, then closes d and checks that Close and the
// reader's ErrClosed come within a second (well inside a 10 s polling
// budget).
func busyRead(t *testing.T, d *tun.Device, window time.Duration) time.Duration {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := d.ReadPacket(buf, nil); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond) // the reader finds the device empty
	before := cpuTime(t)
	time.Sleep(window)
	used := cpuTime(t) - before
	start := time.Now()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("ReadPacket after Close: %v, want ErrClosed", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Close did not stop a busy-polling read within 1 s")
	}
	// Close itself waits for a read in progress (the poller's reference):
	// count it in.
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Close and the read's return took %v, want well under the 10 s budget", el)
	}
	t.Logf("CPU %v over %v of reading; Close returned the read after %v", used, window, time.Since(start))
	return used
}

// TestDeviceBusyPoll: with Config.BusyPoll a read on an empty device keeps
// polling (it burns CPU instead of parking) yet answers packets, allocates
// nothing, and Close still ends it at once; without, the read parks.
func TestDeviceBusyPoll(t *testing.T) {
	tuntest.Require(t)
	const window = 200 * time.Millisecond
	for _, offload := range []bool{false, true} {
		cfg := tun.Config{Name: "tsut0", MTU: 1500, Addr: netip.PrefixFrom(hostAddr, 24), Up: true, Offload: offload}

		// Parked: next to no CPU.
		d, err := tun.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if used := busyRead(t, d, window); used > window/4 {
			t.Errorf("offload %v, no busy polling: %v of CPU in %v, want a parked read", offload, used, window)
		}

		cfg.BusyPoll = 10 * time.Second
		d, err = tun.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Packets are read while polling: an echo round trip, no allocation.
		req, buf := echoRequest(1, 1, 56), make([]byte, 65536)
		var rtErr error
		allocs := testing.AllocsPerRun(100, func() {
			if e := echoRoundTrip(d, req, buf); e != nil {
				rtErr = e
			}
		})
		if rtErr != nil {
			t.Fatal(rtErr)
		}
		if allocs != 0 {
			t.Errorf("offload %v, busy polling: %v allocs per write+read", offload, allocs)
		}
		// Polling: the reader keeps a processor busy (a 2-vCPU machine
		// shared with others still gives it well over a third).
		if used := busyRead(t, d, window); used < window/3 {
			t.Errorf("offload %v, busy polling: %v of CPU in %v, want a polling read", offload, used, window)
		}

		// A poll gate that says no parks the read as without polling,
		// and one that says yes again brings the polling back.
		d, err = tun.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var asked atomic.Int32
		d.SetPollGate(func() bool { asked.Add(1); return false })
		if used := busyRead(t, d, window); used > window/4 || asked.Load() == 0 {
			t.Errorf("offload %v, busy polling with a closed gate: %v of CPU in %v (gate asked %d times), want a parked read",
				offload, used, window, asked.Load())
		}
		d, err = tun.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d.SetPollGate(func() bool { return true })
		if used := busyRead(t, d, window); used < window/3 {
			t.Errorf("offload %v, busy polling with an open gate: %v of CPU in %v, want a polling read", offload, used, window)
		}
	}
}
