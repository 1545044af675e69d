package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/stack/ui"
	"github.com/tunstack/tunstack/tun"
)

// serve --ui: the live web page of the connections (package stack/ui). The
// recorder wraps the link and hooks the stack only when --ui is given;
// without it nothing here runs and the data path pays nothing.

// uiHost is where --ui listens when the flag names only a port: loopback,
// because the page exposes connection metadata.
const uiHost = "127.0.0.1"

// uiAddr settles the --ui value: HOST:PORT as given, or loopback for a bare
// PORT or :PORT. An empty value is --ui off.
func uiAddr(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if p, err := strconv.ParseUint(v, 10, 16); err == nil {
		return net.JoinHostPort(uiHost, strconv.FormatUint(p, 10)), nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("--ui %q: want HOST:PORT such as 127.0.0.1:8080 (or just a port)", v)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("--ui %q: bad port %q", v, port)
	}
	if host == "" {
		host = uiHost
	}
	return net.JoinHostPort(host, port), nil
}

// loopbackOnly reports whether the host part of addr is a loopback
// address (or localhost).
func loopbackOnly(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// wrapLink puts the recorder and then the pcap/trace observer around l, as
// the flags ask; with neither it returns l itself.
func (rt *runtime) wrapLink(l link) link {
	if rt.rec != nil {
		// Inside the observer, so that --pcap still learns the device's
		// segment sizes (the recorder's link passes ReadPacketGSO on).
		l = rt.rec.Link(l)
	}
	if rt.pcap != nil || rt.trace != nil {
		// The observer offers the stack exactly the OffloadLink the link
		// below offers, so observing changes nothing the stack does.
		l = observe(l, rt.pcap, rt.trace)
	}
	return l
}

// wireTap puts the recorder's second tap between the device and the fault
// injector (--loss, --delay, ...), so that the page marks the segments the
// injector dropped or duplicated; without --ui it returns dev itself.
func (rt *runtime) wireTap(dev link, c *linkConfig) link {
	if rt.rec == nil {
		return dev
	}
	// The longest the injector holds a packet: its delay and jitter, the
	// reordering hold, and a margin for the scheduler.
	grace := c.delay + c.jitter + tun.ReorderHold + 200*time.Millisecond
	return rt.rec.WireTap(dev, grace)
}

// hooks sets the stack's trace hooks for --trace and --ui (left nil
// without them).
func (rt *runtime) hooks(o *stack.Options) {
	switch {
	case rt.trace != nil && rt.rec != nil:
		tr, rec := rt.trace, rt.rec
		o.Trace = func(t tcp.Transition) {
			rec.Trace(t)
			tr.transition(t)
		}
	case rt.trace != nil:
		o.Trace = rt.trace.transition
	case rt.rec != nil:
		o.Trace = rt.rec.Trace
	}
	if rt.rec != nil {
		o.ConnGone = rt.rec.ConnGone
	}
}

// startUI listens on addr and serves the recorder's page and API until
// the returned function is called; bound is the address it listens on.
func startUI(rec *ui.Recorder, st *stack.Stack, addr string, log *slog.Logger) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, &exitError{code: exitRuntime, msg: fmt.Sprintf("--ui: %v", err)}
	}
	rec.Attach(st)
	h := rec.Handler()
	if loopbackOnly(ln.Addr().String()) {
		h = loopbackHosts(h)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("--ui server", "err", err)
		}
	}()
	url := "http://" + ln.Addr().String() + "/"
	log.Info("ui: connections page", "url", url)
	if !loopbackOnly(ln.Addr().String()) {
		log.Warn("ui: the page is reachable beyond this host and shows every connection's addresses, ports and sequence numbers", "addr", ln.Addr().String())
	}
	return ln.Addr().String(), func() {
		srv.Close() // ends the event streams too
		rec.Close()
	}, nil
}

// loopbackHosts refuses requests whose Host header names anything but a
// loopback address or localhost: a page served on loopback is then out of
// reach of DNS rebinding (a web site whose name resolves to 127.0.0.1
// reading the connections through the user's browser).
func loopbackHosts(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		host := req.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		host = strings.Trim(host, "[]")
		if a, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !a.IsLoopback()) {
			http.Error(w, "tunstack --ui on loopback answers to localhost and loopback addresses only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, req)
	})
}
