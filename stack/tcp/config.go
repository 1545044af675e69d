package tcp

import (
	"time"

	"github.com/tunstack/tunstack/timers"
)

// Defaults. Each cites where the value comes from.
const (
	// DefaultMSS is the MSS for a 1500-byte MTU: 1500 - 20 (IPv4) - 20 (TCP)
	// (RFC 9293 3.7.1). The runtime derives Config.MSS from the link MTU.
	DefaultMSS = 1460
	// MinMSS is the send MSS assumed when the peer sends no MSS option:
	// "536" (RFC 9293 3.7.1, MUST-15; RFC 1122 4.2.2.6).
	MinMSS = 536
	// DefaultSendBufferSize and DefaultRecvBufferSize bound the buffers
	// (they grow lazily up to this; see buffer.go). 256 KiB keeps a 1 Gbit/s
	// flow at 2 ms RTT busy and is in the range of Linux's tcp_wmem/tcp_rmem
	// defaults before autotuning.
	DefaultSendBufferSize = 256 << 10
	DefaultRecvBufferSize = 256 << 10
	// DefaultSendBufferMax bounds send-buffer auto-tuning: 8 MiB, twice
	// Linux's net.ipv4.tcp_wmem[2] (a deliberate deviation). Under random
	// loss nearly every round has a hole at SND.UNA, and the data behind
	// it stays buffered for RACK's detection and the repair's round trip
	// (about 2.25 RTT, RFC 8985 6.2) on top of BBR's 2 BDP in flight: at
	// rtt=40ms, loss=1% a 4 MiB buffer held BBR to 190-230 Mbit/s, 8 MiB
	// let it reach 270-430. It costs memory only where the window needs
	// it: the bound grows with 2-3x cwnd (sndLimit), the ring by doubling
	// as data is queued, and an empty ring is released.
	DefaultSendBufferMax = 8 << 20
	// DefaultMSL is the Maximum Segment Lifetime, "2 minutes" (RFC 9293
	// 3.4.2); TIME-WAIT lasts 2*MSL (RFC 9293 3.10.7.4).
	DefaultMSL = 2 * time.Minute
	// DefaultSynRetries is how many times a SYN is retransmitted before
	// connect fails with ETIMEDOUT. Linux uses 6 (net.ipv4.tcp_syn_retries)
	// with a 120 s RTO cap: 127 s in all, short of RFC 9293 3.8.3's "R2 for
	// a SYN segment MUST be set large enough to provide retransmission of
	// the segment for at least 3 minutes" (MUST-23). With our 60 s cap
	// (RFC 6298 2.5) 7 retransmissions time out after 1+2+4+8+16+32+60+60
	// = 183 s.
	DefaultSynRetries = 7
	// DefaultSynAckRetries: 5, as Linux net.ipv4.tcp_synack_retries.
	DefaultSynAckRetries = 5
	// DefaultMaxRetries is R2 of RFC 9293 3.8.3 counted in retransmissions:
	// 15, as Linux net.ipv4.tcp_retries2 (~15 minutes there, from a 200 ms
	// RTO with its 120 s cap; ~9 minutes here, where the RTO stops at
	// timers.DefaultMaxRTO, 60 s).
	DefaultMaxRetries = 15
	// DefaultDelayedAckTimeout: 40 ms, as Linux TCP_DELACK_MIN; RFC 9293
	// 3.8.6.3 (MUST-40) and RFC 5681 4.2 only require less than 500 ms, and
	// Config.DelayedAckTimeout is capped at 200 ms (Linux's TCP_DELACK_MAX).
	DefaultDelayedAckTimeout = 40 * time.Millisecond
	// Keepalive defaults as Linux: tcp_keepalive_time 7200 s (also the RFC
	// 9293 3.8.4 / RFC 1122 4.2.3.6 minimum of two hours), intvl 75 s,
	// probes 9.
	DefaultKeepaliveIdle     = 2 * time.Hour
	DefaultKeepaliveInterval = 75 * time.Second
	DefaultKeepaliveCount    = 9
	// DefaultMaxOOORanges bounds the out-of-order queue by the number of
	// disjoint byte ranges held (the bytes themselves are bounded by the
	// receive window, all of which out-of-order data may use). Linux has no
	// such count. 64: a kernel sender uploading at 40 ms RTT under 1 %
	// random loss keeps 1,000 segments in flight and 10 to 30 holes open
	// at once; with 16 ranges 12 % of its out-of-order segments were
	// dropped and sent again (Info.OOODropped, bench run.sh --path
	// 'rtt=40ms,loss=1%').
	DefaultMaxOOORanges = 64
	// DefaultChallengeACKLimit is challenge ACKs per second (RFC 5961 7).
	// Linux: net.ipv4.tcp_challenge_ack_limit = 1000 (global there; per
	// Conn here, which is stricter on nothing and cannot be used as the
	// side channel of CVE-2016-5696).
	DefaultChallengeACKLimit = 1000
	// DefaultFinWait2Timeout bounds FIN-WAIT-2 for a connection the
	// application has fully closed: 60 s, as Linux net.ipv4.tcp_fin_timeout.
	DefaultFinWait2Timeout = 60 * time.Second
)

// maxOOORanges is the size of the fixed out-of-order range array in Conn
// (8 bytes a range).
const maxOOORanges = 64

// Config tunes the engine. Start from DefaultConfig and change fields; a
// zero numeric field takes its default, so the zero Config works too, but
// its booleans mean "off" (no window scaling). A Config is read, never
// written, by the engine and may be shared by any number of Conns; do not
// change it while Conns use it.
type Config struct {
	// MSS is the maximum segment size we advertise in our SYN and the
	// largest payload we send (RFC 9293 3.7.1: MTU minus 40 for IPv4).
	MSS uint16
	// SendBufferSize and RecvBufferSize bound the send and receive
	// buffers. Memory is allocated lazily and grows on demand up to these;
	// an empty buffer is released.
	SendBufferSize int
	RecvBufferSize int
	// SendBufferMax bounds send-buffer auto-tuning: while the application
	// has not set a send buffer size on the connection (SetSendBufferSize),
	// the send buffer grows with the congestion window, to twice it, up
	// to this (as Linux's tcp_sndbuf_expand). Below SendBufferSize it has
	// no effect.
	SendBufferMax int
	// RecvBufferMax is how far receive-buffer auto-tuning may grow the
	// receive buffer (autotune.go; DefaultRecvBufferMax when zero). The
	// window scale offered is sized for it. Negative, or not above
	// RecvBufferSize: no auto-tuning.
	RecvBufferMax int
	// MSL is the Maximum Segment Lifetime; TIME-WAIT lasts 2*MSL.
	MSL time.Duration
	// RTO bounds the retransmission timeout (RFC 6298).
	RTO timers.RTOConfig
	// SynRetries and SynAckRetries limit SYN and SYN-ACK retransmissions
	// (the connection timeout of RFC 9293 3.8.3 R2 for SYNs).
	SynRetries    int
	SynAckRetries int
	// MaxRetries is R2 of RFC 9293 3.8.3 expressed as a number of
	// consecutive retransmission timeouts of the same data; UserTimeout,
	// if non-zero, additionally bounds how long sent data may stay
	// unacknowledged (RFC 9293 3.8.3 USER TIMEOUT, RFC 5482; counted from
	// the transmission, or from the last ACK that made progress, like
	// Linux's TCP_USER_TIMEOUT). Either limit closes the connection with
	// ETIMEDOUT.
	MaxRetries  int
	UserTimeout time.Duration
	// DelayedAckTimeout is how long a lone ACK may be delayed (RFC 9293
	// 3.8.6.3), at most 200 ms; negative disables delayed ACKs.
	DelayedAckTimeout time.Duration
	// Nagle enables the Nagle algorithm (RFC 9293 3.7.4). Off by default,
	// as Go's net package sets TCP_NODELAY.
	Nagle bool
	// Keepalive enables keep-alive probes (RFC 9293 3.8.4): after
	// KeepaliveIdle without receiving anything, a probe every
	// KeepaliveInterval; KeepaliveCount unanswered probes close the
	// connection with ETIMEDOUT and a RST (as Linux).
	Keepalive         bool
	KeepaliveIdle     time.Duration
	KeepaliveInterval time.Duration
	KeepaliveCount    int
	// WindowScale offers the window scale option (RFC 7323 2); it is used
	// only when both sides offer it.
	WindowScale bool
	// SACK offers the SACK-permitted option (RFC 2018); SACK is used
	// only when both sides offer it.
	SACK bool
	// Timestamps offers the timestamps option (RFC 7323 3); used only
	// when both sides offer it.
	Timestamps bool
	// RACK selects RACK-TLP (RFC 8985) as the loss detection while SACK is
	// in use: losses are inferred from the transmission times of what the
	// peer delivered (rack.go), and a tail loss probe (tlp.go) precedes
	// the RTO. Off, or without SACK, the sender detects losses by
	// duplicate ACKs (RFC 5681/6582, RFC 6675 with SACK). On by default.
	RACK bool
	// TSOffsets keys the per-connection offset of the timestamp clock
	// (RFC 7323 5.4, 7.1; ISNGenerator.TSOffset). The runtime sets its ISN
	// generator here; nil uses an all-zero key (deterministic, for tests).
	TSOffsets *ISNGenerator
	// CongestionControl names the congestion control algorithm
	// (NewCongestionControl; "" is DefaultCongestionControl).
	CongestionControl string
	// MaxOOORanges bounds the out-of-order queue (disjoint ranges held);
	// at most 64.
	MaxOOORanges int
	// ChallengeACKLimit is the most challenge ACKs (RFC 5961) one Conn
	// sends per second.
	ChallengeACKLimit int
	// FinWait2Timeout closes a connection stuck in FIN-WAIT-2 after the
	// application called Close (not CloseWrite, which keeps reading).
	FinWait2Timeout time.Duration
	// Trace, if non-nil, is called for every state transition, under the
	// runtime's per-Conn lock (unless the Sink is a Tracer, which then
	// receives them). It must not call into the Conn.
	Trace func(Transition)
	// GSOMaxSize, when larger than the send MSS, lets new data go to the
	// Sink in segments of up to this many payload bytes (a multiple of the
	// send MSS unless it ends the queued data): the runtime's link cuts
	// them into MSS-sized segments (TCP segmentation offload). Every piece
	// then obeys the MSS. Lost data resent in order (contiguous lost
	// pieces, as after an RTO) goes the same way. 0: off.
	GSOMaxSize int
	// IPHeaderLen is the length of the IP header in front of the
	// connection's segments: 20 (IPv4, the default for 0) or 40 (IPv6).
	// A path MTU becomes an MSS by taking it off (PathMTU).
	IPHeaderLen int
}

// segmentBytes is the most new data one segment handed to the Sink
// carries: the send MSS, or with GSOMaxSize the most whole MSS-sized
// pieces that fit it.
func (c *Config) segmentBytes(mss uint32) uint32 {
	if g := uint32(max(c.GSOMaxSize, 0)); g > mss {
		return g / mss * mss
	}
	return mss
}

// DefaultConfig returns the defaults above, with window scaling on and
// Nagle and keepalive off.
func DefaultConfig() Config {
	return Config{
		MSS:               DefaultMSS,
		SendBufferSize:    DefaultSendBufferSize,
		RecvBufferSize:    DefaultRecvBufferSize,
		SendBufferMax:     DefaultSendBufferMax,
		RecvBufferMax:     DefaultRecvBufferMax,
		MSL:               DefaultMSL,
		RTO:               timers.DefaultRTOConfig(),
		SynRetries:        DefaultSynRetries,
		SynAckRetries:     DefaultSynAckRetries,
		MaxRetries:        DefaultMaxRetries,
		DelayedAckTimeout: DefaultDelayedAckTimeout,
		KeepaliveIdle:     DefaultKeepaliveIdle,
		KeepaliveInterval: DefaultKeepaliveInterval,
		KeepaliveCount:    DefaultKeepaliveCount,
		WindowScale:       true,
		SACK:              true,
		Timestamps:        true,
		RACK:              true,
		MaxOOORanges:      DefaultMaxOOORanges,
		ChallengeACKLimit: DefaultChallengeACKLimit,
		FinWait2Timeout:   DefaultFinWait2Timeout,
	}
}

var defaultConfig = DefaultConfig()

// The accessors below substitute defaults for zero fields so that the
// engine never mutates a shared Config.

func (c *Config) mss() int {
	if c.MSS < 64 { // absurdly small values would stall; treat as unset
		return DefaultMSS
	}
	return int(c.MSS)
}

func (c *Config) sendBufferSize() int {
	if c.SendBufferSize <= 0 {
		return DefaultSendBufferSize
	}
	return c.SendBufferSize
}

func (c *Config) sendBufferMax() int {
	if c.SendBufferMax <= 0 {
		return DefaultSendBufferMax
	}
	return c.SendBufferMax
}

func (c *Config) recvBufferSize() int {
	if c.RecvBufferSize <= 0 {
		return DefaultRecvBufferSize
	}
	if c.RecvBufferSize > 1<<30 { // RFC 7323 2.3: windows up to 2^30
		return 1 << 30
	}
	return c.RecvBufferSize
}

// recvBufferMax is the auto-tuning limit: RecvBufferMax, at least the
// initial size, at most 2^30 (RFC 7323 2.3).
func (c *Config) recvBufferMax() int {
	m := c.RecvBufferMax
	if m == 0 {
		m = DefaultRecvBufferMax
	}
	return min(max(m, c.recvBufferSize()), 1<<30)
}

func (c *Config) msl() time.Duration {
	if c.MSL <= 0 {
		return DefaultMSL
	}
	return c.MSL
}

func orInt(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

func (c *Config) synRetries() int    { return orInt(c.SynRetries, DefaultSynRetries) }
func (c *Config) synAckRetries() int { return orInt(c.SynAckRetries, DefaultSynAckRetries) }
func (c *Config) maxRetries() int    { return orInt(c.MaxRetries, DefaultMaxRetries) }

func (c *Config) delayedAck() time.Duration {
	if c.DelayedAckTimeout == 0 {
		return DefaultDelayedAckTimeout
	}
	if c.DelayedAckTimeout > 200*time.Millisecond {
		return 200 * time.Millisecond // Linux's TCP_DELACK_MAX; RFC 9293 3.8.6.3 allows < 500 ms
	}
	return c.DelayedAckTimeout // negative: disabled
}

func (c *Config) keepaliveIdle() time.Duration {
	if c.KeepaliveIdle <= 0 {
		return DefaultKeepaliveIdle
	}
	return c.KeepaliveIdle
}

func (c *Config) keepaliveInterval() time.Duration {
	if c.KeepaliveInterval <= 0 {
		return DefaultKeepaliveInterval
	}
	return c.KeepaliveInterval
}

func (c *Config) keepaliveCount() int { return orInt(c.KeepaliveCount, DefaultKeepaliveCount) }

func (c *Config) maxOOO() int {
	n := orInt(c.MaxOOORanges, DefaultMaxOOORanges)
	if n > maxOOORanges {
		n = maxOOORanges
	}
	return n
}

// tsOffset is the timestamp clock offset for a connection on t.
func (c *Config) tsOffset(t Tuple) uint32 {
	if c.TSOffsets == nil {
		return zeroKeyISN.TSOffset(t)
	}
	return c.TSOffsets.TSOffset(t)
}

var zeroKeyISN ISNGenerator

func (c *Config) challengeLimit() int { return orInt(c.ChallengeACKLimit, DefaultChallengeACKLimit) }

func (c *Config) finWait2Timeout() time.Duration {
	if c.FinWait2Timeout <= 0 {
		return DefaultFinWait2Timeout
	}
	return c.FinWait2Timeout
}

// RcvWindowShift is the window scale shift this Config offers (RFC 7323
// 2.2): the smallest shift that lets the largest receive buffer
// (auto-tuning's RecvBufferMax) be advertised in 16 bits, at most 14 (RFC
// 7323 2.3). A runtime building a SYN-ACK itself (SYN cookies) must offer
// this value.
func (c *Config) RcvWindowShift() uint8 {
	var s uint8
	for (c.recvBufferMax()>>s) > 0xffff && s < 14 {
		s++
	}
	return s
}
