package timers

import "time"

// RTOConfig bounds the retransmission timeout computed by RTOEstimator.
type RTOConfig struct {
	Initial     time.Duration // RTO before any RTT sample: 1 s (RFC 6298 2.1)
	Min         time.Duration // lower bound; RFC 6298 2.4 says 1 s, Linux uses 200 ms, and so do we
	Max         time.Duration // upper bound, at least 60 s (RFC 6298 2.5)
	Granularity time.Duration // clock granularity G (RFC 6298 2)
}

// Defaults for RTOConfig.
const (
	DefaultInitialRTO  = time.Second            // RFC 6298 2.1
	DefaultMinRTO      = 200 * time.Millisecond // Linux's TCP_RTO_MIN, not RFC 6298 2.4's 1 s
	DefaultMaxRTO      = 60 * time.Second       // RFC 6298 2.5: "a maximum value MAY be placed on RTO provided it is at least 60 seconds"
	DefaultGranularity = time.Millisecond
)

// DefaultRTOConfig returns the defaults above.
func DefaultRTOConfig() RTOConfig {
	return RTOConfig{Initial: DefaultInitialRTO, Min: DefaultMinRTO, Max: DefaultMaxRTO, Granularity: DefaultGranularity}
}

// RTOEstimator implements RFC 6298's smoothed RTT, RTT variance and
// retransmission timeout, with exponential backoff (RFC 6298 5.5).
//
// Karn's rule (RFC 6298 3) is the caller's job: never call Sample with an RTT
// measured on a segment that was retransmitted (unless timestamps
// disambiguate it), and call ResetBackoff only when a new, unambiguous
// sample arrives or new data is acknowledged after backoff.
//
// The zero value is not usable; use NewRTOEstimator. It is a plain value
// (no pointers) so it can be embedded in a connection without allocation.
type RTOEstimator struct {
	cfg     RTOConfig
	srtt    time.Duration
	rttvar  time.Duration
	rto     time.Duration // base RTO from the last sample, clamped
	backoff uint          // number of doublings applied on top of rto
	sampled bool
}

// NewRTOEstimator returns an estimator with no samples: RTO() is cfg.Initial.
// Zero fields of cfg take the defaults.
func NewRTOEstimator(cfg RTOConfig) RTOEstimator {
	d := DefaultRTOConfig()
	if cfg.Initial <= 0 {
		cfg.Initial = d.Initial
	}
	if cfg.Min <= 0 {
		cfg.Min = d.Min
	}
	if cfg.Max <= 0 {
		cfg.Max = d.Max
	}
	if cfg.Max < cfg.Min {
		cfg.Max = cfg.Min
	}
	if cfg.Granularity <= 0 {
		cfg.Granularity = d.Granularity
	}
	e := RTOEstimator{cfg: cfg}
	e.rto = e.clamp(cfg.Initial)
	return e
}

func (e *RTOEstimator) clamp(d time.Duration) time.Duration {
	if d < e.cfg.Min {
		return e.cfg.Min
	}
	if d > e.cfg.Max {
		return e.cfg.Max
	}
	return d
}

// MaxRTTSample caps an RTT measurement fed to Sample. RFC 6298 sets no
// bound, but a sample can come from the network (a bogus timestamp echo,
// RFC 7323 4.3) and 7*SRTT must not overflow; an hour is far above any
// usable RTT and above MaxRTO, so the cap never changes a sane estimate.
const MaxRTTSample = time.Hour

// Sample feeds one RTT measurement R. Negative samples count as 0; samples
// above MaxRTTSample count as MaxRTTSample.
func (e *RTOEstimator) Sample(r time.Duration) {
	if r < 0 {
		r = 0
	}
	if r > MaxRTTSample {
		r = MaxRTTSample
	}
	if !e.sampled {
		// RFC 6298 2.2: SRTT <- R, RTTVAR <- R/2.
		e.srtt = r
		e.rttvar = r / 2
		e.sampled = true
	} else {
		// RFC 6298 2.3: RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|,
		// SRTT <- (1 - alpha) * SRTT + alpha * R', alpha = 1/8, beta = 1/4,
		// RTTVAR updated first with the old SRTT.
		diff := e.srtt - r
		if diff < 0 {
			diff = -diff
		}
		e.rttvar = (3*e.rttvar + diff) / 4
		e.srtt = (7*e.srtt + r) / 8
	}
	// RTO <- SRTT + max(G, K*RTTVAR), K = 4; then 2.4/2.5 bounds.
	k := 4 * e.rttvar
	if k < e.cfg.Granularity {
		k = e.cfg.Granularity
	}
	e.rto = e.clamp(e.srtt + k)
}

// RTO returns the current retransmission timeout, including backoff.
func (e *RTOEstimator) RTO() time.Duration {
	// RFC 6298 5.5: RTO <- RTO * 2 per expiry, bounded by 2.5's maximum.
	// Ends within log2(Max/Min) iterations; d >= Max-d tests 2d >= Max
	// without overflowing.
	d := e.rto
	for i := uint(0); i < e.backoff; i++ {
		if d >= e.cfg.Max-d {
			return e.cfg.Max
		}
		d *= 2
	}
	return d
}

// Backoff doubles the timeout after a retransmission timer expiry
// (RFC 6298 5.5), up to Max.
func (e *RTOEstimator) Backoff() {
	// Keep counting once RTO has reached Max: Backoffs is the number of
	// consecutive timeouts, which callers compare with their give-up
	// thresholds (RFC 9293 3.8.3 R1/R2). RTO stops doubling at Max anyway.
	if e.backoff < maxBackoffs {
		e.backoff++
	}
}

// maxBackoffs bounds the counter so it cannot wrap.
const maxBackoffs = 1 << 30

// Backoffs returns how many times Backoff has been called since the last
// ResetBackoff (the number of consecutive retransmission timeouts), even
// after the timeout stopped doubling at Max.
func (e *RTOEstimator) Backoffs() int { return int(e.backoff) }

// ResetBackoff drops the backoff, returning RTO to the estimate.
func (e *RTOEstimator) ResetBackoff() { e.backoff = 0 }

// LimitBackoff lowers the backoff to at most n doublings (n >= 0).
func (e *RTOEstimator) LimitBackoff(n int) {
	if n >= 0 && e.backoff > uint(n) {
		e.backoff = uint(n)
	}
}

// Fallback raises the base RTO of an estimator that has no RTT sample yet
// to at least d (bounded by Max): RFC 6298 5.7 re-initialises the RTO to
// 3 s when data transmission begins after the SYN timed out. The next
// sample then initialises the estimate as the first one does (2.2). It
// does nothing once a sample was taken.
func (e *RTOEstimator) Fallback(d time.Duration) {
	if !e.sampled && d > e.rto {
		e.rto = e.clamp(d)
	}
}

// HasSample reports whether at least one RTT sample has been taken.
func (e *RTOEstimator) HasSample() bool { return e.sampled }

// SRTT returns the smoothed RTT (zero before the first sample).
func (e *RTOEstimator) SRTT() time.Duration { return e.srtt }

// RTTVar returns the RTT variance (zero before the first sample).
func (e *RTOEstimator) RTTVar() time.Duration { return e.rttvar }

// Config returns the bounds in force.
func (e *RTOEstimator) Config() RTOConfig { return e.cfg }
