package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
)

// Exit codes, documented in --help.
const (
	exitOK      = 0 // clean exit, including after SIGINT/SIGTERM
	exitRuntime = 1 // the device or stack failed at run time
	exitUsage   = 2 // bad command line
	exitPriv    = 3 // not allowed to open or configure the TUN device
)

// Defaults.
const (
	defaultCreateName = "tunstack0"
	defaultAddr       = "198.18.0.2"
	defaultHostAddr   = "198.18.0.1/24"
	defaultServices   = "echo,discard,chargen,http"
	// defaultBacklog is the accept queue per listener: the benchmark has 64
	// connection attempts in flight and the contract asks for at least that.
	defaultBacklog = 1024
	// defaultGrace bounds the graceful shutdown: the benchmark harness
	// sends SIGKILL 3 s after SIGTERM.
	defaultGrace = 1500 * time.Millisecond
)

// linkConfig is what serve and dial share: the device, the stack's options
// and the observation and fault-injection flags.
type linkConfig struct {
	tun string // --tun: attach to this device; "" = create one
	// --addr: the stack's addresses, one per family at most (addrs.go);
	// invalid = the stack has no address of that family.
	stackAddrs familyPair[netip.Addr]
	// --host-addr: the kernel side's prefixes, put only on a device we
	// create; invalid = none of that family.
	hostAddrs familyPair[netip.Prefix]
	mtu       int // --mtu: 0 = the device's MTU
	msl       time.Duration
	sndbuf    byteSize
	rcvbuf    byteSize
	backlog   int
	cc        string // --cc: congestion control algorithm

	loss, reorder, dup float64 // percent, each direction
	delay, jitter      time.Duration
	seed               int64

	pcap     string
	trace    bool
	ui       string // --ui (serve only): HOST:PORT of the web page; "" = off
	stats    time.Duration
	logLevel slog.Level
	grace    time.Duration

	noOffload bool          // --no-offload: plain IFF_TUN, one MTU-sized packet per syscall
	link      string        // --link: linkTun (tun.Device) or linkWater (songgao/water + tun.Adapt)
	busyPoll  time.Duration // --busy-poll: how long an empty read keeps looking before it sleeps

	// transparent: forward's destinations (stack.Options.TransparentPrefixes).
	transparent []netip.Prefix
}

type serveConfig struct {
	linkConfig
	services map[string]bool
	httpRoot string
}

type dialConfig struct {
	linkConfig
	target  string // ADDRESS:PORT, IPv6 in brackets
	network string // "tcp4" or "tcp6", the target's family
	timeout time.Duration
}

// byteSize is a flag value accepting 65536, 64k, 4M, 1G (powers of 1024).
type byteSize int

func (b *byteSize) String() string { return strconv.Itoa(int(*b)) }

func (b *byteSize) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

func parseSize(s string) (int, error) {
	s = strings.TrimSpace(s)
	mult := 1
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > (1<<31-1)/mult {
		return 0, fmt.Errorf("want a byte count such as 65536, 256k or 4M")
	}
	return n * mult, nil
}

type levelValue struct{ p *slog.Level }

func (l levelValue) String() string {
	if l.p == nil {
		return ""
	}
	return strings.ToLower(l.p.String())
}

func (l levelValue) Set(s string) error {
	switch strings.ToLower(s) {
	case "debug":
		*l.p = slog.LevelDebug
	case "info":
		*l.p = slog.LevelInfo
	case "warn", "warning":
		*l.p = slog.LevelWarn
	case "error":
		*l.p = slog.LevelError
	default:
		return fmt.Errorf("want debug, info, warn or error")
	}
	return nil
}

// percentValue is a probability in percent, 0..100.
type percentValue struct{ p *float64 }

func (v percentValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}

func (v percentValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || f < 0 || f > 100 {
		return fmt.Errorf("want a percentage between 0 and 100")
	}
	*v.p = f
	return nil
}

// registerLink declares the flags shared by serve and dial.
func registerLink(fs *flag.FlagSet, c *linkConfig) {
	c.setAddrDefaults()
	c.backlog = defaultBacklog
	c.grace = defaultGrace
	c.logLevel = slog.LevelInfo
	fs.StringVar(&c.tun, "tun", "", "attach to the existing TUN device `NAME` and leave its configuration alone\n(a NAME that does not exist is created and configured as below)\n(default: create "+defaultCreateName+", give the host side --host-addr, remove it on exit)")
	fs.Var(addrFlag{&c.stackAddrs}, "addr", "the userspace stack's `address`; repeat for one IPv4 and one IPv6 address\n(default "+
		defaultAddr+" and "+defaultAddr6+"; any --addr replaces both)")
	fs.Var(hostFlag{&c.hostAddrs}, "host-addr", "`prefix` put on the kernel side of a TUN device tunstack creates; repeat for one\nper family (default "+
		defaultHostAddr+" and "+defaultHostAddr6+", for the families the stack has)")
	fs.IntVar(&c.mtu, "mtu", 0, "MTU in `bytes`, set on a device tunstack creates; on an existing device only the stack's\nlargest packet, at most the device's MTU (default: the device's, 1500 for a new one)")
	fs.DurationVar(&c.msl, "msl", 0, "maximum segment `lifetime`; TIME-WAIT lasts 2*MSL (default 2m, RFC 9293 3.4.2)")
	fs.Var(&c.sndbuf, "sndbuf", "fix each connection's send buffer at `size`, e.g. 256k, 4M (default: auto-tuned up to 8M)")
	fs.Var(&c.rcvbuf, "rcvbuf", "fix each connection's receive buffer at `size`, e.g. 256k, 4M (default: auto-tuned up to 6M)")
	fs.IntVar(&c.backlog, "backlog", c.backlog, "accept queue `length` per listener")
	fs.StringVar(&c.cc, "cc", tcp.DefaultCongestionControl, "congestion control `algorithm`: "+strings.Join(tcp.CongestionControlNames(), ", "))
	fs.Var(percentValue{&c.loss}, "loss", "drop this `percent`age of packets in each direction (seeded, on the stack's own link)")
	fs.DurationVar(&c.delay, "delay", 0, "delay every packet in each direction by this `duration`")
	fs.DurationVar(&c.jitter, "jitter", 0, "add a uniformly random extra delay up to this `duration`")
	fs.Var(percentValue{&c.reorder}, "reorder", "hold back this `percent`age of packets so later ones overtake them")
	fs.Var(percentValue{&c.dup}, "dup", "duplicate this `percent`age of packets")
	fs.Int64Var(&c.seed, "seed", 1, "`seed` of the fault injector's random numbers")
	fs.StringVar(&c.pcap, "pcap", "", "write every packet the stack sends and receives to this pcap `file` (link type RAW: IPv4 and IPv6; Wireshark, tshark, tcpdump -r)")
	fs.BoolVar(&c.trace, "trace", false, "print one line per TCP state transition and per SYN/FIN/RST segment")
	fs.DurationVar(&c.stats, "stats", 0, "print the connection table every `interval`, e.g. 5s (always on SIGUSR1)")
	fs.Var(levelValue{&c.logLevel}, "log-level", "log `level`: debug, info, warn or error")
	fs.BoolVar(&c.noOffload, "no-offload", false, "do not use the TUN device's virtio-net offloads (IFF_VNET_HDR, TSO/checksum);\nthey are also off with --loss/--delay/... (--pcap and --trace keep them)")
	fs.DurationVar(&c.busyPoll, "busy-poll", 50*time.Microsecond, "after the last packet, keep polling the device this `duration` before sleeping\n(trades up to a core while traffic trickles for about half the echo latency; 0 turns it off)")
	fs.StringVar(&c.link, "link", linkTun, "open the device `WITH`: tun (tunstack's own, with offloads), or water: attach to an\nexisting --tun device through github.com/songgao/water and tun.Adapt, as a program\nthat already uses water would (one packet per syscall; README \"Already using water?\")")
	fs.DurationVar(&c.grace, "grace", c.grace, "at most this `duration` SIGINT/SIGTERM waits for connections to close gracefully")
}

func (c *linkConfig) validate() error {
	if c.mtu != 0 && (c.mtu < 576 || c.mtu > 65535) {
		return fmt.Errorf("--mtu %d: want 576..65535 (RFC 791 requires every host to accept 576-byte datagrams)", c.mtu)
	}
	if c.link != linkTun && c.link != linkWater {
		return fmt.Errorf("--link %q: want tun or water", c.link)
	}
	if c.link == linkWater && c.tun == "" {
		return fmt.Errorf("--link water attaches to an existing device: give it with --tun NAME")
	}
	if c.busyPoll < 0 || c.busyPoll > time.Second {
		return fmt.Errorf("--busy-poll %v: want 0 (off) up to 1s", c.busyPoll)
	}
	if c.msl < 0 {
		return fmt.Errorf("--msl must not be negative")
	}
	if _, err := tcp.NewCongestionControl(c.cc); err != nil {
		return fmt.Errorf("--cc: %v", err)
	}
	if c.backlog < 1 {
		return fmt.Errorf("--backlog must be at least 1")
	}
	if c.delay < 0 || c.jitter < 0 || c.stats < 0 || c.grace < 0 {
		return fmt.Errorf("durations must not be negative")
	}
	if err := c.settleAddrs(); err != nil {
		return err
	}
	if c.tun != "" && (len(c.tun) > 15 || strings.ContainsAny(c.tun, "/ \t")) {
		return fmt.Errorf("--tun %q: not a valid interface name (at most 15 characters, no '/' or spaces)", c.tun)
	}
	return nil
}

// errHelp is returned by the parsers when -h/--help was given; the usage
// text has then been printed.
var errHelp = errors.New("help requested")

// parseInterleaved parses flags that may appear before and after the
// positional arguments (`dial HOST:PORT --trace` as well as
// `dial --trace HOST:PORT`).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // we print our own one-line errors and help
	fs.Usage = func() {}
	return fs
}

func parseServe(args []string, stdout io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	fs := newFlagSet("serve")
	registerLink(fs, &c.linkConfig)
	services := fs.String("services", defaultServices, "comma-separated `list` of services: echo (7), discard (9), chargen (19), http (80); or all, none")
	fs.StringVar(&c.ui, "ui", "", "serve a live web page of the connections (table, ladder diagrams, state timelines,\ncwnd/RTT plots, pcap export) at `ADDR`, HOST:PORT; a bare PORT or :PORT is 127.0.0.1.\nIt shows every connection's addresses, ports and sequence numbers to whoever can\nreach ADDR: keep it on loopback unless that is what you want")
	fs.StringVar(&c.httpRoot, "http-root", "", "also serve the files of this `directory` over HTTP (GET / shows its index.html if present)")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printServeHelp(stdout, fs)
		return nil, errHelp
	}
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("serve takes no arguments, got %q", pos[0])
	}
	if c.services, err = parseServices(*services); err != nil {
		return nil, err
	}
	if c.ui, err = uiAddr(c.ui); err != nil {
		return nil, err
	}
	return c, c.validate()
}

func parseDial(args []string, stdout io.Writer) (*dialConfig, error) {
	c := &dialConfig{}
	fs := newFlagSet("dial")
	registerLink(fs, &c.linkConfig)
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "give up connecting after this `duration`")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printDialHelp(stdout, fs)
		return nil, errHelp
	}
	if err != nil {
		return nil, err
	}
	if len(pos) != 1 {
		return nil, fmt.Errorf("dial wants exactly one ADDRESS:PORT argument")
	}
	if c.timeout <= 0 {
		return nil, fmt.Errorf("--timeout must be positive")
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, c.setTarget(pos[0])
}

// setTarget parses dial's ADDRESS:PORT: an IPv4 address, or an IPv6
// address in brackets (RFC 3986 3.2.2), and a port other than 0. The stack
// needs an address of the target's family to dial from.
func (c *dialConfig) setTarget(arg string) error {
	ap, err := netip.ParseAddrPort(arg)
	if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
		return fmt.Errorf("dial %q: want ADDRESS:PORT such as 198.18.0.1:8080 or [2001:2::1]:8080", arg)
	}
	a := ap.Addr().Unmap() // ::ffff:198.18.0.1 is 198.18.0.1 (RFC 4291 2.5.5.2)
	if err := checkUnicast(a); err != nil {
		return fmt.Errorf("dial %q: %v", arg, err)
	}
	c.network, c.target = "tcp4", netip.AddrPortFrom(a, ap.Port()).String()
	src := c.stackAddrs.v4
	if a.Is6() {
		c.network, src = "tcp6", c.stackAddrs.v6
	}
	if !src.IsValid() {
		return fmt.Errorf("dial %s: the stack has no %s address to dial from: add one with --addr", c.target, familyName(a))
	}
	return nil
}
