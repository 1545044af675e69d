package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/stack/ui"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// runtime is what serve and dial share once the device is open: the device,
// the link the stack runs on (device, faults, observation), the stack.
type runtime struct {
	dev    device
	faults *tun.FaultyDevice // nil without fault flags
	pcap   *pcapFile         // nil without --pcap
	trace  *tracer           // nil without --trace
	rec    *ui.Recorder      // nil without --ui
	stack  *stack.Stack
	mtu    int       // the stack's MTU
	out    io.Writer // trace, statistics and the connection table
	log    *slog.Logger
}

// openDevice creates or attaches the TUN device as the flags say. A device
// that exists is attached to and left exactly as it is (the benchmark
// contract: "must not create, configure or delete the device"); a device
// that does not exist is created, given --host-addr and brought up, and
// disappears when tunstack closes it. --link water attaches through
// songgao/water instead (water.go).
func openDevice(c *linkConfig, log *slog.Logger) (device, error) {
	name := c.tun
	if name == "" {
		name = defaultCreateName
	}
	if c.link == linkWater {
		return openWater(name)
	}
	// Offloads (64 KiB segments, partial checksums) unless the fault
	// injector sits between the stack and the device: it impairs
	// MTU-sized, fully checksummed packets one by one, so it keeps the
	// plain path (no offloads, no ACK coalescing). --pcap and --trace keep
	// them: the observer passes them through (observelink.go).
	cfg := tun.Config{Name: name, Offload: !c.noOffload && !c.hasFaults()}
	// Busy polling (tun doc.go): a read that finds the device empty looks
	// again for --busy-poll (default 50 us) before parking. Halves the echo
	// latency on a host whose idle vCPUs halt (measured 52 -> 26 us p50),
	// throughput unchanged.
	cfg.BusyPoll = c.busyPoll
	if _, err := net.InterfaceByName(name); err != nil {
		cfg.MTU, cfg.Up = c.mtu, true
		setHostPrefixes(&cfg, c.hostPrefixes())
	} else if c.tun == "" {
		log.Warn("device exists already; attaching and leaving its configuration alone", "device", name)
	}
	dev, err := tun.Open(cfg)
	if err != nil {
		return nil, deviceError(err, name, cfg.Up)
	}
	if dev.Created() {
		log.Debug("created device", "device", dev.Name(), "host", c.hostText(), "mtu", dev.MTU())
	}
	return dev, nil
}

// deviceError turns tun.Open's one-line errors into exit codes: permission
// problems exit with exitPriv.
func deviceError(err error, name string, create bool) error {
	verb := "attaching to"
	if create {
		verb = "creating"
	}
	if errors.Is(err, os.ErrPermission) {
		exe, _ := os.Executable()
		if exe == "" {
			exe = "tunstack"
		}
		return &exitError{code: exitPriv, msg: fmt.Sprintf("%s the TUN device %s needs root or CAP_NET_ADMIN: run with sudo, or sudo setcap cap_net_admin+ep %s",
			verb, name, exe)}
	}
	msg := strings.TrimPrefix(err.Error(), "tunstack: ")
	return &exitError{code: exitRuntime, msg: msg}
}

// faultConfig maps the percentage flags onto one direction's FaultConfig.
func (c *linkConfig) faultConfig(seed int64) tun.FaultConfig {
	return tun.FaultConfig{
		Seed:      seed,
		Loss:      c.loss / 100,
		Duplicate: c.dup / 100,
		Reorder:   c.reorder / 100,
		Delay:     c.delay,
		Jitter:    c.jitter,
	}
}

func (c *linkConfig) hasFaults() bool {
	return c.loss > 0 || c.dup > 0 || c.reorder > 0 || c.delay > 0 || c.jitter > 0
}

// start opens the device and starts the stack on it.
func start(c *linkConfig, out io.Writer, log *slog.Logger) (*runtime, error) {
	rt := &runtime{out: out, log: log}
	dev, err := openDevice(c, log)
	if err != nil {
		return nil, err
	}
	rt.dev = dev
	if !dev.Created() && c.mtu > dev.MTU() {
		log.Warn("--mtu is larger than the attached device's MTU; using the device's",
			"mtu", c.mtu, "device", dev.Name(), "device_mtu", dev.MTU())
	}
	// The stack never builds packets larger than the link's MTU
	// (stack.Options.MTU), so what is logged is what is used.
	rt.mtu = dev.MTU()
	if c.mtu > 0 {
		rt.mtu = min(c.mtu, dev.MTU())
	}
	if err := c.fitIPv6(rt.mtu, dev.Name(), log); err != nil {
		dev.Close()
		return nil, err
	}
	clock := timers.NewReal()
	var l link = dev
	if c.ui != "" {
		rt.rec = ui.NewRecorder(ui.Config{})
	}
	if c.hasFaults() {
		// Separate random streams per direction, both derived from --seed.
		rt.faults = tun.WithFaults(rt.wireTap(dev, c), clock, c.faultConfig(c.seed), c.faultConfig(c.seed+1))
		l = rt.faults
	}
	if c.pcap != "" {
		if rt.pcap, err = createPcap(c.pcap); err != nil {
			l.Close()
			return nil, &exitError{code: exitRuntime, msg: fmt.Sprintf("--pcap: %v", err)}
		}
	}
	if c.trace {
		rt.trace = newTracer(out)
	}
	l = rt.wrapLink(l)
	opts := stack.Options{
		Addrs:               c.addrs(),
		Clock:               clock,
		MTU:                 c.mtu,
		MSL:                 c.msl,
		SendBufferSize:      int(c.sndbuf),
		CongestionControl:   c.cc,
		ReceiveBufferSize:   int(c.rcvbuf),
		Backlog:             c.backlog,
		TransparentPrefixes: transparentFor(c.transparent, rt.mtu, log),
		Logf: func(format string, args ...any) {
			log.Debug(fmt.Sprintf(format, args...))
		},
	}
	rt.hooks(&opts)
	st, err := stack.New(l, opts)
	if err != nil {
		l.Close()
		rt.closePcap()
		return nil, &exitError{code: exitRuntime, msg: fmt.Sprintf("starting the stack: %v", err)}
	}
	rt.stack = st
	return rt, nil
}

func (rt *runtime) closePcap() {
	if rt.pcap != nil {
		if err := rt.pcap.Close(); err != nil {
			rt.log.Error("writing the pcap file", "err", err)
		}
		rt.pcap = nil
	}
}

// shutdown closes the stack gracefully within grace (FINs to every peer,
// waiting for their answers), which also closes the link and with it the
// device; a device tunstack created disappears with its last descriptor.
func (rt *runtime) shutdown(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := rt.stack.Shutdown(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			rt.log.Warn("connections still closing when --grace ran out; the rest were reset", "grace", grace)
		} else {
			rt.log.Debug("stack close", "err", err)
		}
	}
}

// deviceGone is the error for a device that failed underneath the stack
// (deleted, or reads failing): exit code 1 with one line saying so.
func deviceGone(rt *runtime) error {
	return fmt.Errorf("the TUN device %s stopped working: %v", rt.dev.Name(), rt.stack.Err())
}

func runServe(c *serveConfig, stdout io.Writer, log *slog.Logger) error {
	rt, err := start(&c.linkConfig, stdout, log)
	if err != nil {
		return err
	}
	defer rt.closePcap()

	// Subscribe before the services start, so a signal sent as soon as
	// the "serving" line appears is never missed.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	if rt.rec != nil {
		_, stopUI, err := startUI(rt.rec, rt.stack, c.ui, log)
		if err != nil {
			rt.stack.Close()
			return err
		}
		defer stopUI()
	}

	stopServices, err := runServices(c.services, c.httpRoot, func(port uint16) (net.Listener, error) {
		return rt.stack.Listen(fmt.Sprintf(":%d", port))
	}, log)
	if err != nil {
		rt.stack.Close()
		return err
	}
	if c.services["echo"] {
		stopUDP, err := serveUDPEcho(rt.stack, log)
		if err != nil {
			stopServices()
			rt.stack.Close()
			return err
		}
		stopTCP := stopServices
		stopServices = func() { stopTCP(); stopUDP() }
	}
	var names []string
	for _, n := range serviceNames {
		if c.services[n] {
			names = append(names, n)
		}
	}
	log.Info("serving", "addr", c.addrText(), "device", rt.dev.Name(), "created", rt.dev.Created(),
		"mtu", rt.mtu, "offload", rt.dev.Offload(), "services", strings.Join(names, ","))
	if rt.dev.Created() {
		log.Info(c.tryLine())
	}

	if rt.loop(c.stats, sigs, rt.printTable) {
		// The device went away underneath us (deleted, or failing
		// reads): nothing more can be served.
		stopServices()
		rt.stack.Close()
		rt.printStats()
		return deviceGone(rt)
	}
	stopServices()
	rt.shutdown(c.grace)
	rt.printStats()
	return nil
}

// loop runs until SIGINT/SIGTERM (false) or until the device fails (true),
// printing the table every stats interval and on SIGUSR1, and flushing
// the pcap file. Past a stop signal, a second one ends the process.
func (rt *runtime) loop(stats time.Duration, sigs chan os.Signal, table func()) (deviceFailed bool) {
	var tick <-chan time.Time
	if stats > 0 {
		t := time.NewTicker(stats)
		defer t.Stop()
		tick = t.C
	}
	var flush <-chan time.Time
	if rt.pcap != nil {
		// Keep the capture file readable while tunstack runs.
		t := time.NewTicker(time.Second)
		defer t.Stop()
		flush = t.C
	}
	for {
		select {
		case <-tick:
			table()
		case <-flush:
			rt.pcap.Flush()
		case s := <-sigs:
			if s == syscall.SIGUSR1 {
				table()
				continue
			}
			rt.log.Info("shutting down", "signal", s.String())
			// A second SIGINT/SIGTERM during the graceful phase ends
			// the process.
			go func() {
				for s := range sigs {
					if s != syscall.SIGUSR1 {
						rt.log.Error("second signal: exiting without waiting", "signal", s.String())
						rt.closePcap()
						os.Exit(exitRuntime)
					}
				}
			}()
			return false
		case <-rt.stack.Done():
			return true
		}
	}
}
