package ui

import (
	"slices"
	"sync"
	"time"

	"github.com/tunstack/tunstack/stack"
)

// Marks of an event (event.mark), known only when a WireTap sees the wire
// below a fault injector.
const (
	markPending  = 1 << iota // out: not (yet) seen on the wire below the injector
	markDropped              // in: reached the wire, never the stack
	markInjected             // a copy the injector made (a duplicate)
)

// maxPendingIn bounds the segments read from the wire and not yet seen by
// the stack (the injector holds at most its queue limit, 1000 by default).
const maxPendingIn = 4096

// pendingScan is how far a match is looked for among pending segments
// (the injector reorders a packet behind a few later ones at most).
const pendingScan = 64

// wireState is what a WireTap adds to the recorder.
type wireState struct {
	mu    sync.Mutex
	on    bool
	grace time.Duration
	in    []pendingIn // oldest first; under mu
}

// pendingIn is a segment read from the wire that the stack has not read
// yet.
type pendingIn struct {
	h hdr
}

// WireTap wraps the device below a fault injector (tun.WithFaults) while
// Link wraps the injector: the recorder then sees each segment on both
// sides of it and marks what it did. A segment the stack wrote that does
// not reach the wire within grace, or one the wire brought that the stack
// never read within grace, is marked dropped ("dropped": true in
// api/conn/{id}); a copy the injector added is marked injected
// ("injected": true). grace is the longest the injector may hold a packet
// (its delay, jitter and reordering hold, plus a margin). Call it before
// the stack starts.
func (r *Recorder) WireTap(dev stack.Link, grace time.Duration) stack.Link {
	r.wire.mu.Lock()
	r.wire.on, r.wire.grace = true, grace
	r.wire.mu.Unlock()
	r.wireOn.Store(true)
	return &wireTap{Link: dev, r: r}
}

type wireTap struct {
	stack.Link
	r *Recorder
}

// Read takes note of a segment that reached the wire, for the stack's read
// above the injector to match.
func (l *wireTap) Read(p []byte) (int, error) {
	n, err := l.Link.Read(p)
	if n > 0 && err == nil {
		var h recHdr
		if parseTCP(p[:n], &h, false) {
			h.e.at = l.r.clock()
			w := &l.r.wire
			w.mu.Lock()
			if len(w.in) == maxPendingIn {
				w.in = append(w.in[:0], w.in[1:]...)
			}
			w.in = append(w.in, pendingIn{h: h.hdr})
			w.mu.Unlock()
		}
	}
	return n, err
}

// Write marks the stack's record of the segment as on the wire; a segment
// the stack did not write (the injector's duplicate) is recorded, marked.
func (l *wireTap) Write(p []byte) (int, error) {
	var h recHdr
	if parseTCP(p, &h, false) {
		l.r.wireOut(&h)
	}
	return l.Link.Write(p)
}

func sameSegment(a, b *event) bool {
	return a.seq == b.seq && a.ack == b.ack && a.flags == b.flags && a.n == b.n
}

// wireOut clears the pending mark of the out event h stands for.
func (r *Recorder) wireOut(h *recHdr) {
	if !r.wireOn.Load() {
		return
	}
	r.mu.Lock()
	c := r.live[h.tuple(true)]
	r.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	found := false
	for i := 0; i < min(len(c.events.buf), pendingScan*4); i++ {
		e := c.events.newest(i)
		if e.kind == kindOut && e.mark&markPending != 0 && sameSegment(e, &h.e) {
			e.mark &^= markPending
			found = true
			break
		}
	}
	if !found {
		e := h.e
		e.at, e.kind, e.mark = r.clock(), kindOut, markInjected
		c.events.push(e)
	}
	c.mu.Unlock()
	r.version.Add(1)
}

// matchIn finds the segment the stack just read among those the wire
// brought; false means the injector made it (a duplicate). Pending
// segments older than grace are recorded as dropped.
func (r *Recorder) matchIn(h *hdr) bool {
	k := h.tuple(false)
	w := &r.wire
	w.mu.Lock()
	found := false
	for i := 0; i < min(len(w.in), pendingScan); i++ {
		p := &w.in[i]
		if p.h.tuple(false) == k && sameSegment(&p.h.e, &h.e) {
			w.in = slices.Delete(w.in, i, i+1)
			found = true
			break
		}
	}
	lost := r.expireLocked()
	w.mu.Unlock()
	r.recordDropped(lost)
	return found
}

// expireIn records the pending segments older than grace as dropped.
func (r *Recorder) expireIn() {
	if !r.wireOn.Load() {
		return
	}
	r.wire.mu.Lock()
	lost := r.expireLocked()
	r.wire.mu.Unlock()
	r.recordDropped(lost)
}

func (r *Recorder) expireLocked() []pendingIn {
	w := &r.wire
	now := r.clock()
	n := 0
	for n < len(w.in) && time.Duration(now-w.in[n].h.e.at) > w.grace {
		n++
	}
	if n == 0 {
		return nil
	}
	lost := slices.Clone(w.in[:n])
	w.in = append(w.in[:0], w.in[n:]...)
	return lost
}

// recordDropped adds segments the stack never read to their connections,
// at the time they reached the wire (earlier than events recorded since:
// the connection is marked for sorting).
func (r *Recorder) recordDropped(lost []pendingIn) {
	for i := range lost {
		h := &lost[i].h
		// A drop noticed after the connection closed belongs to its
		// record, not to a new one (which would show as a second row of
		// the same tuple and take a live slot).
		c := r.recordOf(h.tuple(false))
		if c == nil {
			continue
		}
		e := h.e
		e.kind, e.mark = kindIn, markDropped
		c.mu.Lock()
		c.events.push(e)
		c.unsorted = true
		c.mu.Unlock()
		r.version.Add(1)
	}
}

// markLost marks, in a snapshot taken at now, the out events still
// pending after grace: the injector dropped them.
func (r *Recorder) markLost(events []event, now int64) {
	if !r.wireOn.Load() {
		return
	}
	r.wire.mu.Lock()
	grace := r.wire.grace
	r.wire.mu.Unlock()
	for i := range events {
		if e := &events[i]; e.mark&markPending != 0 && time.Duration(now-e.at) > grace {
			e.mark = e.mark&^markPending | markDropped
		}
	}
}
