package stack

import (
	"net/netip"
	"sync"

	"github.com/tunstack/tunstack/segment"
)

// Loopback: a packet the stack addresses to itself (a Dial to the stack's
// own address, and everything that connection's two ends send each other)
// is delivered to the stack's own input instead of the link, as a host's
// loopback interface does (RFC 1122 3.3.4.2 lets a host send datagrams to
// itself "internally"). Such packets are not seen by the link, so neither
// --trace nor --pcap (which observe the link) records them.
//
// The input goroutine is the only one that processes packets, and it may
// be blocked in Link.Read, so looped packets go through a queue served by a
// second goroutine, started on first use. The two never process packets at
// the same time: each holds Stack.inMu while it does (the per-packet state,
// Stack.inSeg, rawSink and ackq, is shared). The output path never calls
// input: it only appends to the queue (under loopback.mu, a leaf lock), so
// a packet looped while a connection's lock is held, or from inside the
// input goroutine, cannot re-enter the stack under that lock.
type loopback struct {
	mu      sync.Mutex
	q       [][]byte
	spare   [][]byte
	started bool
	stopped bool
	wake    chan struct{}
	exited  chan struct{}
}

// maxLoopQueue bounds the packets waiting on the loopback queue; beyond it
// they are dropped, as a full device queue drops them, and counted as link
// write errors.
const maxLoopQueue = 4096

// isLoop reports whether a packet is addressed to the stack itself.
func (s *Stack) isLoop(pkt []byte) bool {
	switch {
	case len(pkt) >= segment.IPv4MinHeaderLen && pkt[0]>>4 == 4:
		return netip.AddrFrom4([4]byte(pkt[16:20])) == s.addr4
	case len(pkt) >= segment.IPv6HeaderLen && pkt[0]>>4 == 6:
		return netip.AddrFrom16([16]byte(pkt[24:40])) == s.addr6
	}
	return false
}

// loopPacket queues a copy of pkt (given as its parts, concatenated) for the
// stack's own input. It reports false if the packet was dropped.
func (s *Stack) loopPacket(parts ...[]byte) bool {
	l := &s.loop
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n) // loopback is not the hot path: one copy per packet
	for _, p := range parts {
		b = append(b, p...)
	}
	l.mu.Lock()
	if l.stopped || len(l.q) >= maxLoopQueue {
		l.mu.Unlock()
		return false
	}
	if !l.started {
		l.started = true
		l.wake = make(chan struct{}, 1)
		l.exited = make(chan struct{})
		go s.loopInput()
	}
	l.q = append(l.q, b)
	l.mu.Unlock()
	signal(l.wake)
	return true
}

// loopInput is the loopback goroutine: it processes looped packets in
// batches, as the input goroutine processes packets from the link, until
// the stack closes.
func (s *Stack) loopInput() {
	l := &s.loop
	defer close(l.exited)
	for {
		select {
		case <-l.wake:
		case <-s.done:
			return
		}
		l.mu.Lock()
		q := l.q
		l.q, l.spare = l.spare[:0], nil
		l.mu.Unlock()
		s.inMu.Lock()
		s.inLoop = true
		for i, p := range q {
			// Trusted (csumOK): we built these packets ourselves, and
			// those meant for WriteGSO carry only the pseudo-header sum.
			s.input(p, true)
			q[i] = nil
		}
		s.inLoop = false
		s.flushAcks()
		s.inMu.Unlock()
		l.mu.Lock()
		if l.spare == nil {
			l.spare = q[:0]
		}
		l.mu.Unlock()
	}
}

// stopLoop stops the loopback goroutine, if it ever started, and waits for
// it (Stack.Close).
func (s *Stack) stopLoop() {
	l := &s.loop
	l.mu.Lock()
	l.stopped = true
	started := l.started
	l.mu.Unlock()
	if started {
		<-l.exited
	}
}
