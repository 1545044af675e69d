package tcp_test

import (
	"errors"
	"syscall"
	"testing"
	"time"

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

// RFC 1122 4.2.3.9: an ICMP soft error (e.g. host unreachable) does not
// abort the connection; it is recorded (SoftErr, EventSoftError) and, if
// the connection later times out, is what the application sees as the
// reason: EHOSTUNREACH, not ETIMEDOUT, as Linux reports it.
func TestEstablished_RFC1122_4_2_3_9_SoftError(t *testing.T) {
	h := newEstablished(t, handshakeRTT(100*ms), withConfig(func(c *tcp.Config) { c.MaxRetries = 2 }))
	h.write(1*s, 100)
	h.expect(1*s, h.out("P.", seq(1), data(100)))
	h.c.SoftError(syscall.EHOSTUNREACH)
	h.expectEvent(tcp.EventSoftError)
	if h.c.SoftErr() != syscall.EHOSTUNREACH {
		h.fatalf("SoftErr() = %v", h.c.SoftErr())
	}
	h.expectState(tcp.StateEstablished)
	h.drainOut(10 * time.Minute)
	h.expectState(tcp.StateClosed)
	if err := h.c.Err(); err != syscall.EHOSTUNREACH {
		h.fatalf("Err() = %v after a timeout with a soft error recorded, want EHOSTUNREACH", err)
	}
}

// A soft error is forgotten once the peer acknowledges new data (the path
// works again, as Linux clears sk_err_soft in tcp_ack): a later timeout is
// reported as ETIMEDOUT.
func TestEstablished_RFC1122_4_2_3_9_SoftErrorForgottenOnProgress(t *testing.T) {
	h := newEstablished(t, handshakeRTT(100*ms), withConfig(func(c *tcp.Config) { c.MaxRetries = 2 }))
	h.write(1*s, 100)
	h.expect(1*s, h.out("P.", seq(1), data(100)))
	h.c.SoftError(syscall.EHOSTUNREACH)
	h.send(1*s+100*ms, h.in(".", seq(1), ack(101)))
	if err := h.c.SoftErr(); err != nil {
		h.fatalf("SoftErr() = %v after the peer acknowledged new data, want nil", err)
	}
	h.write(2*s, 100)
	h.expect(2*s, h.out("P.", seq(101), data(100)))
	h.drainOut(10 * time.Minute)
	h.expectState(tcp.StateClosed)
	if err := h.c.Err(); err != syscall.ETIMEDOUT {
		h.fatalf("Err() = %v, want ETIMEDOUT", err)
	}
}

// RFC 1122 4.2.3.9 in SYN-SENT: a host unreachable does not abort the open
// (Linux aborts it at once; the RFC's MUST NOT abort is followed here),
// the SYN is still retransmitted, and when the retries run out the open
// fails with EHOSTUNREACH rather than ETIMEDOUT.
func TestSynSent_RFC1122_4_2_3_9_SoftErrorReportedOnTimeout(t *testing.T) {
	h := newSynSent(t)
	h.advance(100 * ms)
	h.c.SoftError(syscall.EHOSTUNREACH)
	h.expectState(tcp.StateSynSent)
	o := h.drainOut(10 * time.Minute)
	if len(o) == 0 {
		h.fatalf("no SYN retransmitted after the soft error")
	}
	h.expectState(tcp.StateClosed)
	if err := h.c.Err(); err != syscall.EHOSTUNREACH {
		h.fatalf("Err() = %v, want EHOSTUNREACH", err)
	}
}
