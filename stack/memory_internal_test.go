package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
)

// TestMemReleaseDecision drives memTrimmer.unused through load shapes, one
// trim interval per step: memory goes back to the OS once after a load
// ends (or the free list drops enough), never while a load holds steady,
// and never for churn that holds little.
func TestMemReleaseDecision(t *testing.T) {
	const mib = 1 << 20
	type step struct {
		u       tcp.BufferUsage
		release bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"load then idle", []step{
			{tcp.BufferUsage{Held: 30 * mib, Peak: 30 * mib}, false},
			{tcp.BufferUsage{Held: 28 * mib, Peak: 32 * mib}, false},
			{tcp.BufferUsage{Held: 0, Peak: 32 * mib}, false}, // ended in this interval
			{tcp.BufferUsage{Held: 0, Peak: 0, Parked: 4 * mib, Freed: 2 * mib}, true},
			{tcp.BufferUsage{Held: 0, Peak: 0, Parked: 0, Freed: 4 * mib}, true}, // the rest of the free list
			{tcp.BufferUsage{}, false},
			{tcp.BufferUsage{}, false},
		}},
		{"steady load with dips", []step{
			{tcp.BufferUsage{Held: 20 * mib, Peak: 24 * mib}, false},
			{tcp.BufferUsage{Held: 1 * mib, Peak: 23 * mib}, false},
			{tcp.BufferUsage{Held: 22 * mib, Peak: 24 * mib}, false},
			{tcp.BufferUsage{Held: 0, Peak: 21 * mib, Freed: 1 * mib}, false},
		}},
		{"churn of small connections", []step{
			{tcp.BufferUsage{Held: 64 << 10, Peak: 2 * mib}, false},
			{tcp.BufferUsage{Held: 0, Peak: 0, Freed: 1 * mib}, false},
			{tcp.BufferUsage{Held: 0, Peak: 2 * mib}, false},
			{tcp.BufferUsage{Held: 0, Peak: 0, Freed: 1 * mib}, false},
		}},
		{"load drops to a lower level", []step{
			{tcp.BufferUsage{Held: 40 * mib, Peak: 40 * mib}, false},
			{tcp.BufferUsage{Held: 10 * mib, Peak: 40 * mib}, false},
			{tcp.BufferUsage{Held: 10 * mib, Peak: 12 * mib}, true},
			{tcp.BufferUsage{Held: 10 * mib, Peak: 12 * mib}, false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m memTrimmer
			for i, s := range tc.steps {
				if unused, ok := m.unused(s.u); ok != s.release {
					t.Fatalf("interval %d (%+v): release %v (%d bytes unused), want %v", i, s.u, ok, unused, s.release)
				}
			}
		})
	}
}

// TestKeepFreedMemory: a trim that calls for returning memory to the OS
// runs the release by default and never with Options.KeepFreedMemory (the
// release is process-wide: GC and debug.FreeOSMemory).
func TestKeepFreedMemory(t *testing.T) {
	const mib = 1 << 20
	for _, keep := range []bool{false, true} {
		l := &recLink{closed: make(chan struct{})}
		s, err := New(l, Options{Addr: netip.MustParseAddr("198.18.0.2"), KeepFreedMemory: keep})
		if err != nil {
			t.Fatal(err)
		}
		released := make(chan struct{}, 1)
		s.mem.mu.Lock()
		s.mem.release = func() { released <- struct{}{} }
		// As if 64 MiB of buffers were in use before this interval and
		// none during it: enough for a release.
		s.mem.sincePeak = 64 * mib
		s.mem.mu.Unlock()
		s.mem.trim()
		select {
		case <-released:
			if keep {
				t.Errorf("KeepFreedMemory: the stack returned memory to the OS")
			}
		case <-time.After(2 * time.Second):
			if !keep {
				t.Errorf("default: no release after a trim that called for one")
			}
		}
		s.Close()
	}
}
