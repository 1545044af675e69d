package stack

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/timers"
)

// Defaults for the zero fields of Options.
const (
	// DefaultMSL is the maximum segment lifetime, RFC 9293 3.4.2 ("arbitrarily
	// defined to be 2 minutes"); TIME-WAIT lasts 2*MSL.
	DefaultMSL = 2 * time.Minute
	// DefaultBacklog is the accept-queue bound of a listener. Linux caps
	// listen(2) backlogs at net.core.somaxconn, 4096 since 5.4; we keep a
	// smaller queue because a userspace stack's Accept is cheap to keep up.
	DefaultBacklog = 1024
	// DefaultSynBacklog bounds the half-open (SYN-RECEIVED) connections of a
	// listener; beyond it the listener answers with SYN cookies (RFC 4987
	// 3.6). Linux's tcp_max_syn_backlog defaults to 128..1024 with memory.
	DefaultSynBacklog = 1024
	// DefaultMaxTimeWait bounds the TIME-WAIT records of a stack (Linux's
	// tcp_max_tw_buckets plays the same role). When full, the oldest record
	// is dropped and counted (Stats.TimeWaitDropped).
	DefaultMaxTimeWait = 32768
	// GSOSendBufferSize is the send buffer bound when the link segments
	// for the stack (OffloadLink.GSOMaxSize) and Options.SendBufferSize is
	// zero: 1 MiB, the largest block the engine's buffer pool recycles,
	// and well within Linux's autotuned tcp_wmem (4 MiB by default).
	GSOSendBufferSize = 1 << 20
)

// Options configure a Stack. Zero values take the documented defaults; only
// an address is required (Addr or Addrs).
type Options struct {
	// Addrs are the stack's addresses: at most one IPv4 and one IPv6
	// address, e.g. 198.18.0.2 and 2001:2::2. The stack answers for
	// these only (RFC 1122 3.2.1.3, RFC 8200 4).
	Addrs []netip.Addr
	// Addr is a single address, merged into Addrs: the form a stack of
	// one family is configured with.
	Addr netip.Addr
	// TransparentPrefixes turn on transparent mode for destinations in
	// them (e.g. 0.0.0.0/0 and ::/0 for a proxy that takes everything
	// routed into the TUN): packets to such an address, not the stack's
	// own, are taken in as if addressed to the stack instead of being
	// dropped (Stats.Dropped.NotOurs). A TCP SYN to one goes to the
	// handler set with SetTCPForwarder (forwarder.go). The stack's own
	// addresses and their listeners work as before.
	TransparentPrefixes []netip.Prefix
	// Clock is the source of time for timers and deadlines (default
	// timers.NewReal()). Tests pass a *timers.Manual to run the whole stack
	// on simulated time; Conn deadlines are then read on that clock too.
	Clock timers.Clock
	// MTU is the largest IP packet sent (default, and at most, link.MTU()).
	// The MSS announced is MTU-40 over IPv4 (RFC 9293 3.7.1) and MTU-60
	// over IPv6 (RFC 8200 8.3); an IPv6 stack needs an MTU of at least
	// 1280 (RFC 8200 5).
	MTU int
	// MSL is the maximum segment lifetime (default DefaultMSL); TIME-WAIT
	// lasts 2*MSL (RFC 9293 3.4.2).
	MSL time.Duration
	// SendBufferSize and ReceiveBufferSize are per-connection maxima in
	// bytes; the engine allocates buffers lazily. Zero: the engine's
	// defaults (tcp.DefaultSendBufferSize, tcp.DefaultRecvBufferSize: 256
	// KiB; GSOSendBufferSize for the send buffer on a link that segments
	// for the stack, OffloadLink.GSOMaxSize, NoGSO unset), from which the
	// engine auto-tunes each buffer with the connection's needs up to
	// tcp.DefaultSendBufferMax and tcp.DefaultRecvBufferMax (8 and 6 MiB;
	// Linux: 4 and 6 MiB, tcp_wmem[2] and tcp_rmem[2]). A size set here is fixed:
	// no auto-tuning beyond it (as SO_SNDBUF/SO_RCVBUF on Linux).
	SendBufferSize, ReceiveBufferSize int
	// MinRTO and MaxRTO bound the retransmission timeout (RFC 6298 2.4,
	// 2.5). Zero: timers.DefaultMinRTO (200 ms, as Linux) and
	// timers.DefaultMaxRTO (60 s).
	MinRTO, MaxRTO time.Duration
	// UserTimeout aborts a connection whose data stays unacknowledged this
	// long (RFC 9293 3.8.3 R2, the "user timeout"). Zero: none; the
	// engine's retransmission limit (tcp.DefaultMaxRetries) still applies.
	UserTimeout time.Duration
	// Nagle enables Nagle's algorithm (RFC 9293 3.7.4). Default false, as
	// Go's net package sets TCP_NODELAY.
	Nagle bool
	// KeepaliveIdle, KeepaliveInterval and KeepaliveCount configure TCP
	// keepalive (RFC 9293 3.8.4); KeepaliveCount 0 turns it off (default).
	// With a count, zero Idle and Interval take tcp.DefaultKeepaliveIdle
	// (2 h) and tcp.DefaultKeepaliveInterval (75 s). A connection whose
	// probes all go unanswered fails with ETIMEDOUT and sends a RST (as
	// Linux).
	KeepaliveIdle, KeepaliveInterval time.Duration
	KeepaliveCount                   int
	// MaxTimeWait bounds the TIME-WAIT table (default DefaultMaxTimeWait).
	MaxTimeWait int
	// Backlog is the accept-queue size of each listener (default
	// DefaultBacklog).
	Backlog int
	// SynBacklog bounds the half-open connections of each listener (default
	// DefaultSynBacklog); further SYNs are answered with SYN cookies.
	SynBacklog int
	// Trace, if set, is called on every connection state transition. It
	// runs after the connection's lock is released, in order with the
	// connection's segments and one call at a time per connection, on
	// whichever goroutine writes that connection's output; calls for
	// different connections may run concurrently. tr.Seg, if not nil, is a
	// copy valid during the call.
	Trace func(tcp.Transition)
	// ConnGone, if set, is called once for every connection leaving the
	// demux table (closed, aborted, or replaced by its TIME-WAIT record)
	// with its final snapshot, valid during the call. It runs with the
	// connection's lock held: it must return promptly and must not call
	// into the stack. An observer (stack/ui) keeps the last figures of a
	// connection too short-lived for periodic sampling.
	ConnGone func(info *tcp.Info)
	// Rand supplies the ISN secret (RFC 6528), the SYN-cookie key and the
	// ephemeral-port randomisation (default crypto/rand.Reader).
	Rand io.Reader
	// NoGSO keeps segments MTU-sized on a link that could segment larger
	// ones (OffloadLink.GSOMaxSize); receive offloads stay in use.
	NoGSO bool
	// KeepFreedMemory stops the stack from returning freed memory to the
	// operating system after a load ends. By default, once a good part of
	// the connections' buffer memory has gone unused for a few seconds,
	// the stack runs runtime.GC and debug.FreeOSMemory (once per load
	// episode, on a goroutine of its own; see memory.go), which are
	// process-wide: set this when the embedding program manages its own
	// memory (GOGC, debug.SetMemoryLimit). The engine's free list of
	// buffers is trimmed either way.
	KeepFreedMemory bool
	// CongestionControl names the connections' congestion control
	// algorithm (tcp.CongestionControlNames; "" is
	// tcp.DefaultCongestionControl). New fails for an unknown name.
	CongestionControl string
	// Logf, if set, receives rare diagnostics (never one per packet).
	Logf func(format string, args ...any)
}

// errNoAddr is returned by New when Options has no address.
var errNoAddr = errors.New("stack: Options.Addrs (or Addr) must hold an IPv4 or IPv6 address")

// addrs returns o's addresses as the IPv4 and the IPv6 one (either may be
// the zero Addr), or an error that says what to fix.
func (o *Options) addrs() (v4, v6 netip.Addr, err error) {
	all := o.Addrs
	if o.Addr.IsValid() {
		all = append(all[:len(all):len(all)], o.Addr)
	}
	for _, a := range all {
		a = a.Unmap()
		switch {
		case !a.IsValid() || a.IsUnspecified() || a.IsMulticast():
			return v4, v6, fmt.Errorf("stack: %v is not a unicast address for Options.Addrs", a)
		case a.Zone() != "":
			return v4, v6, fmt.Errorf("stack: address %v: zones are not supported", a)
		case a.Is4() && v4.IsValid() && a != v4, a.Is6() && v6.IsValid() && a != v6:
			return v4, v6, fmt.Errorf("stack: Options.Addrs holds two addresses of one family (%v); give at most one IPv4 and one IPv6 address", a)
		case a.Is4():
			v4 = a
		default:
			v6 = a
		}
	}
	if !v4.IsValid() && !v6.IsValid() {
		return v4, v6, errNoAddr
	}
	return v4, v6, nil
}

// withDefaults fills in the zero fields of o.
func (o Options) withDefaults(link Link) (Options, error) {
	v4, v6, err := o.addrs()
	if err != nil {
		return o, err
	}
	o.Addrs, o.Addr = nil, v4
	for _, a := range [...]netip.Addr{v4, v6} {
		if a.IsValid() {
			o.Addrs = append(o.Addrs, a)
		}
	}
	if !v4.IsValid() {
		o.Addr = v6
	}
	if o.Clock == nil {
		o.Clock = timers.NewReal()
	}
	if _, err := tcp.NewCongestionControl(o.CongestionControl); err != nil {
		return o, fmt.Errorf("stack: Options.CongestionControl: %w", err)
	}
	if lm := link.MTU(); o.MTU <= 0 || (lm > 0 && o.MTU > lm) {
		o.MTU = lm // never build packets the link would refuse
	}
	if o.MTU < 68 { // RFC 791: every host must accept 68-byte datagrams
		o.MTU = 68
	}
	if o.MTU > 65535 {
		o.MTU = 65535
	}
	if v6.IsValid() && o.MTU < segment.IPv6MinMTU {
		return o, fmt.Errorf("stack: IPv6 needs an MTU of at least %d (RFC 8200 5), the link's is %d", segment.IPv6MinMTU, o.MTU)
	}
	if err := o.checkTransparent(); err != nil {
		return o, err
	}
	if o.MSL <= 0 {
		o.MSL = DefaultMSL
	}
	if o.MaxTimeWait <= 0 {
		o.MaxTimeWait = DefaultMaxTimeWait
	}
	if o.Backlog <= 0 {
		o.Backlog = DefaultBacklog
	}
	if o.SynBacklog <= 0 {
		o.SynBacklog = DefaultSynBacklog
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	return o, nil
}

// checkTransparent validates and masks TransparentPrefixes (a copy: the
// caller's slice is not modified).
func (o *Options) checkTransparent() error {
	ps := make([]netip.Prefix, 0, len(o.TransparentPrefixes))
	for _, p := range o.TransparentPrefixes {
		switch {
		case !p.IsValid():
			return fmt.Errorf("stack: Options.TransparentPrefixes: %v is not a valid prefix", p)
		case p.Addr().Zone() != "" || p.Addr().Is4In6():
			return fmt.Errorf("stack: Options.TransparentPrefixes: %v: give IPv4 prefixes in IPv4 form, without zones", p)
		case p.Addr().Is6() && o.MTU < segment.IPv6MinMTU:
			return fmt.Errorf("stack: Options.TransparentPrefixes: IPv6 prefix %v needs an MTU of at least %d (RFC 8200 5), the link's is %d", p, segment.IPv6MinMTU, o.MTU)
		}
		ps = append(ps, p.Masked())
	}
	if len(ps) == 0 {
		ps = nil
	}
	o.TransparentPrefixes = ps
	return nil
}
