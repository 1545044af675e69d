package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tunstack/tunstack/stack"
)

// tunstack forward: a transparent direct proxy. Everything routed into the
// TUN device (e.g. a namespace whose default route is the device) is
// terminated by the stack and re-originated from the host's own sockets to
// the original destination (forward_tcp.go, forward_udp.go), which are
// bound to --interface or marked with --fwmark so that they leave by the
// real uplink instead of looping into the device.

// Defaults of forward's own flags.
const (
	defaultDialTimeout = 10 * time.Second
	defaultUDPTimeout  = time.Minute // RFC 4787 REQ-5: at least 2 min for any port, but 1 min is the
	// common NAT practice for short-lived flows (DNS); a flow's timer restarts on traffic both ways.
	defaultMaxPending = 4096
)

type forwardConfig struct {
	linkConfig
	iface       string
	fwmark      uint
	socks5      string
	dialTimeout time.Duration
	udpTimeout  time.Duration
	maxPending  int
}

// prefixFlag is the repeatable --prefix flag.
type prefixFlag struct {
	p   *[]netip.Prefix
	set bool
}

func (l *prefixFlag) String() string {
	if l.p == nil {
		return ""
	}
	var s []string
	for _, p := range *l.p {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}

func (l *prefixFlag) Set(v string) error {
	if !l.set {
		*l.p, l.set = nil, true
	}
	for _, f := range strings.Split(v, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(f))
		if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			return fmt.Errorf("want a prefix such as 0.0.0.0/0, 10.0.0.0/8 or ::/0")
		}
		*l.p = append(*l.p, p.Masked())
	}
	return nil
}

func parseForward(args []string, stdout io.Writer) (*forwardConfig, error) {
	c := &forwardConfig{}
	fs := newFlagSet("forward")
	registerLink(fs, &c.linkConfig)
	c.transparent = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	fs.Var(&prefixFlag{p: &c.transparent}, "prefix", "forward connections to destinations in this `prefix` (repeatable, or comma-separated)")
	fs.StringVar(&c.iface, "interface", "", "bind the upstream sockets to this `device` (SO_BINDTODEVICE), e.g. the uplink")
	fs.UintVar(&c.fwmark, "fwmark", 0, "mark the upstream sockets with this `mark` (SO_MARK) for policy routing")
	fs.StringVar(&c.socks5, "socks5", "", "connect to the destinations through the SOCKS5 proxy at `HOST:PORT` (TCP only)")
	fs.DurationVar(&c.dialTimeout, "dial-timeout", defaultDialTimeout, "give up connecting to a destination after this `duration`; the client then\ngets an ICMP host unreachable")
	fs.DurationVar(&c.udpTimeout, "udp-timeout", defaultUDPTimeout, "forget a UDP flow idle for this `duration`")
	fs.IntVar(&c.maxPending, "max-pending", defaultMaxPending, "at most this `many` connections may wait for their upstream connect; further SYNs\nare dropped (the client retransmits) and counted (forward.limited)")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printForwardHelp(stdout, fs)
		return nil, errHelp
	}
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("forward takes no arguments, got %q", pos[0])
	}
	if c.dialTimeout <= 0 || c.udpTimeout <= 0 {
		return nil, fmt.Errorf("--dial-timeout and --udp-timeout must be positive")
	}
	if c.maxPending < 1 {
		return nil, fmt.Errorf("--max-pending must be at least 1")
	}
	if c.fwmark > 1<<32-1 {
		return nil, fmt.Errorf("--fwmark %d: want a 32-bit mark", c.fwmark)
	}
	if c.iface != "" && (len(c.iface) > 15 || strings.ContainsAny(c.iface, "/ \t")) {
		return nil, fmt.Errorf("--interface %q: not a valid interface name", c.iface)
	}
	if c.socks5 != "" {
		host, port, err := net.SplitHostPort(c.socks5)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("--socks5 %q: want HOST:PORT", c.socks5)
		}
	}
	if len(c.transparent) == 0 {
		return nil, fmt.Errorf("--prefix: give at least one prefix")
	}
	return c, c.validate()
}

// transparentFor returns the prefixes the stack can take on a link of
// mtu: IPv6 ones need 1280 (RFC 8200 5).
func transparentFor(ps []netip.Prefix, mtu int, log *slog.Logger) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if p.Addr().Is6() && mtu < ipv6MinMTU {
			log.Warn("the device's MTU is below IPv6's minimum (RFC 8200 5); not forwarding IPv6", "prefix", p, "mtu", mtu)
			continue
		}
		out = append(out, p)
	}
	return out
}

func runForward(c *forwardConfig, stdout io.Writer, log *slog.Logger) error {
	up, err := newUpstream(c.iface, uint32(c.fwmark), c.socks5, c.dialTimeout)
	if err != nil {
		return usageError{err}
	}
	if c.iface != "" {
		if _, err := net.InterfaceByName(c.iface); err != nil {
			return &exitError{code: exitRuntime, msg: fmt.Sprintf("--interface %s: %v", c.iface, err)}
		}
	}
	rt, err := start(&c.linkConfig, stdout, log)
	if err != nil {
		return err
	}
	defer rt.closePcap()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	flows := newFlowTable()
	tf := &tcpForwarder{ctx: ctx, dial: up.dialTCP, flows: flows, log: log}
	err = rt.stack.SetTCPForwarder(tf.handle, stack.TCPForwarderConfig{
		// Longer than the upstream connect may take: the dial's own
		// failure answers the client, not the stack's expiry.
		PendingTimeout: c.dialTimeout + 5*time.Second,
		TimeoutRefusal: stack.RefuseHostUnreachable,
		// The clients are typically the few addresses of one host or
		// namespace: one bound for all.
		MaxPending:          c.maxPending,
		MaxPendingPerSource: c.maxPending,
	})
	if err != nil {
		rt.stack.Close()
		return &exitError{code: exitRuntime, msg: err.Error()}
	}
	stopUDP, err := startUDPForward(ctx, rt.stack, up, flows, c.udpTimeout, log)
	if err != nil {
		rt.stack.Close()
		return &exitError{code: exitRuntime, msg: err.Error()}
	}
	via := "direct"
	if c.socks5 != "" {
		via = "socks5 " + c.socks5
	}
	log.Info("forwarding", "device", rt.dev.Name(), "created", rt.dev.Created(), "mtu", rt.mtu,
		"prefixes", (&prefixFlag{p: &c.transparent}).String(), "via", via, "interface", c.iface, "fwmark", c.fwmark)
	table := func() {
		rt.printTable()
		w := bufio.NewWriter(rt.out)
		flows.print(w, time.Now(), rt.stack.Stats().Forward)
		w.Flush()
	}
	failed := rt.loop(c.stats, sigs, table)
	// No new connections; pending upstream connects give up.
	rt.stack.SetTCPForwarder(nil, stack.TCPForwarderConfig{})
	cancel()
	stopUDP()
	if failed {
		rt.stack.Close()
		rt.printStats()
		return deviceGone(rt)
	}
	rt.shutdown(c.grace)
	tf.wg.Wait()
	rt.printStats()
	return nil
}
