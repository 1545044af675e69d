package tcp_test

import (
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
)

// draft-ietf-ccwg-bbr 5.6.2 InitPacingRate: nominal_bandwidth =
// InitialCwnd / (SRTT ? SRTT : 1 ms), pacing_rate = StartupPacingGain *
// nominal_bandwidth. The handshake measured the RTT (RFC 6298 3), so the
// first data goes out at 2.77 * IW / 40 ms, not at the 1 ms fallback's 40
// times that (which sent Startup's first rounds unpaced into the
// bottleneck).
func TestBBR_InitialPacingRateFromHandshakeRTT(t *testing.T) {
	const rtt = 40 * time.Millisecond
	h := newEstablished(t, withConfig(func(c *tcp.Config) { c.CongestionControl = "bbr" }), handshakeRTT(rtt))
	h.write(rtt, 1000)
	h.drainOut(rtt)
	in := h.c.Info()
	iw := float64(in.Cwnd)
	if in.CongestionControl != "bbr" || in.SRTT != rtt || iw < 2*float64(in.SndMSS) {
		t.Fatalf("cc %s, SRTT %v, cwnd %v", in.CongestionControl, in.SRTT, iw)
	}
	want := 2.77 * iw / rtt.Seconds()
	if got := float64(in.PacingRate); got < want*0.99 || got > want*1.01 {
		t.Fatalf("initial pacing rate %.0f B/s, want 2.77 * %v B / %v = %.0f", got, iw, rtt, want)
	}
}
