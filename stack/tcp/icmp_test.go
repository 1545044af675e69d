package tcp_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/tunstack/tunstack/stack/tcp"
)

// RFC 1122 4.2.3.9: a port unreachable for a connection being opened
// aborts it at once with ECONNREFUSED, sending nothing and leaving no
// timer (the SYN is not retransmitted); for an established connection it
// stays a soft error (RFC 5461 4).
func TestSynSent_RFC1122_4_2_3_9_HardErrorAborts(t *testing.T) {
	h := newSynSent(t)
	h.advance(100 * ms)
	if !h.c.HardError(h.now, syscall.ECONNREFUSED) {
		h.fatalf("HardError in SYN-SENT did not abort")
	}
	h.expectState(tcp.StateClosed)
	if err := h.c.Err(); !errors.Is(err, syscall.ECONNREFUSED) {
		h.fatalf("Err() = %v, want ECONNREFUSED", err)
	}
	if !h.c.Deadline().IsZero() {
		h.fatalf("a timer is left at %v", h.c.Deadline())
	}
	h.expectNothing(5 * s)
}

func TestEstablished_RFC5461_HardErrorIsSoft(t *testing.T) {
	h := newEstablished(t)
	h.advance(1 * s)
	if h.c.HardError(h.now, syscall.ECONNREFUSED) {
		h.fatalf("HardError aborted an established connection")
	}
	h.expectState(tcp.StateEstablished)
	if err := h.c.SoftErr(); !errors.Is(err, syscall.ECONNREFUSED) {
		h.fatalf("SoftErr() = %v, want ECONNREFUSED", err)
	}
	h.write(2*s, 100)
	h.expect(2*s, h.out("P.", data(100)))
}
