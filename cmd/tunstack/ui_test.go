package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/stack/ui"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

func TestUIAddr(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "8080": "127.0.0.1:8080", ":8080": "127.0.0.1:8080", "127.0.0.1:0": "127.0.0.1:0",
		"0.0.0.0:80": "0.0.0.0:80", "[::1]:8080": "[::1]:8080", "localhost:9": "localhost:9",
	} {
		if got, err := uiAddr(in); err != nil || got != want {
			t.Errorf("uiAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"foo", "1.2.3.4", "127.0.0.1:x", ":99999", "[::1"} {
		if got, err := uiAddr(bad); err == nil || !strings.HasPrefix(err.Error(), "--ui") {
			t.Errorf("uiAddr(%q) = %q, %v; want a --ui error", bad, got, err)
		}
	}
	c, err := parseServe([]string{"--ui", ":8080", "--loss", "1", "--trace"}, nil)
	if err != nil || c.ui != "127.0.0.1:8080" {
		t.Fatalf("parseServe: %+v %v", c, err)
	}
	if c, err = parseServe(nil, nil); err != nil || c.ui != "" {
		t.Fatalf("--ui is on by default: %q %v", c.ui, err)
	}
	if !loopbackOnly("127.0.0.1:80") || !loopbackOnly("[::1]:80") || loopbackOnly("0.0.0.0:80") || loopbackOnly("[::]:80") {
		t.Fatal("loopbackOnly")
	}
}

// TestUIOffCostsNothing: without --ui (and without --pcap/--trace) the
// stack runs on the device itself, with no hooks; with --ui the link is
// wrapped (keeping its type) and both hooks feed the recorder, chained
// with --trace's.
func TestUIOffCostsNothing(t *testing.T) {
	a, _ := tun.NewPipe(timers.NewReal(), 1500, tun.FaultConfig{}, tun.FaultConfig{})
	rt := &runtime{}
	if l := rt.wrapLink(a); l != link(a) {
		t.Fatalf("no flags: the link is wrapped in %T", l)
	}
	var o stack.Options
	rt.hooks(&o)
	if o.Trace != nil || o.ConnGone != nil {
		t.Fatal("no flags: the stack has hooks")
	}
	out := &syncBuffer{}
	rt = &runtime{rec: ui.NewRecorder(ui.Config{}), trace: newTracer(out)}
	l := rt.wrapLink(a)
	if l == link(a) {
		t.Fatal("--ui: the link is not wrapped")
	}
	if _, ok := l.(stack.OffloadLink); ok {
		t.Fatal("--ui made a plain link an OffloadLink")
	}
	rt.hooks(&o)
	if o.Trace == nil || o.ConnGone == nil {
		t.Fatal("--ui: hooks missing")
	}
	tu := tcp.Tuple{LocalAddr: netip.MustParseAddr("198.18.0.2"), LocalPort: 80,
		RemoteAddr: netip.MustParseAddr("198.18.0.1"), RemotePort: 5}
	o.Trace(tcp.Transition{Tuple: tu, From: tcp.StateListen, To: tcp.StateSynReceived})
	if !strings.Contains(out.String(), "LISTEN -> SYN-RECEIVED") {
		t.Fatalf("--trace lost its line: %q", out.String())
	}
	var rows struct {
		Conns []struct{ State string } `json:"conns"`
	}
	getJSON(t, rt.rec.Handler(), "/api/conns", &rows)
	if len(rows.Conns) != 1 || rows.Conns[0].State != "SYN-RECEIVED" {
		t.Fatalf("recorder: %+v", rows)
	}
}

func getJSON(t *testing.T, h http.Handler, path string, v any) {
	t.Helper()
	srv := &http.Server{Handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	httpGetJSON(t, "http://"+ln.Addr().String()+path, v)
}

func httpGetJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v %s", url, err, b)
	}
}

// TestServeUI: serve's wiring end to end on the in-memory pipe: an HTTP
// GET from the client stack to the HTTP service shows up on the --ui
// page's API as a connection with its states and segments; the page is
// served; stopping ends it.
func TestServeUI(t *testing.T) {
	clock := timers.NewReal()
	a, b := tun.NewPipe(clock, 1500, tun.FaultConfig{}, tun.FaultConfig{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt := &runtime{rec: ui.NewRecorder(ui.Config{}), log: log}
	o := stack.Options{Addr: netip.MustParseAddr("198.18.0.2"), Clock: clock, MSL: 100 * time.Millisecond}
	rt.hooks(&o)
	srv, err := stack.New(rt.wrapLink(a), o)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := stack.New(b, stack.Options{Addr: netip.MustParseAddr("198.18.0.1"), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	defer srv.Close()
	stopServices, err := runServices(map[string]bool{"http": true}, "", func(port uint16) (net.Listener, error) {
		return srv.Listen(":" + strconv.Itoa(int(port)))
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stopServices()
	addr, stop, err := startUI(rt.rec, srv, "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr
	cl := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: cli.DialContext, DisableKeepAlives: true}}
	resp, err := cl.Get("http://198.18.0.2/")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	var rows struct {
		Conns []struct {
			ID, Local, State string
			BytesSent        uint64
			Closed           bool
		} `json:"conns"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		httpGetJSON(t, base+"/api/conns", &rows)
		if len(rows.Conns) == 1 && rows.Conns[0].Closed || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(rows.Conns) != 1 || rows.Conns[0].Local != "198.18.0.2:80" || rows.Conns[0].BytesSent == 0 || !rows.Conns[0].Closed {
		t.Fatalf("conns %+v", rows.Conns)
	}
	var c struct {
		Events []struct{ Dir, Flags, To string } `json:"events"`
	}
	httpGetJSON(t, base+"/api/conn/"+rows.Conns[0].ID, &c)
	var seen []string
	for _, e := range c.Events {
		if e.Dir == "state" {
			seen = append(seen, e.To)
		} else if strings.ContainsAny(e.Flags, "SF") {
			seen = append(seen, e.Dir+" "+e.Flags)
		}
	}
	if len(seen) < 6 || seen[0] != "in S" || seen[1] != "SYN-RECEIVED" || seen[2] != "out S." || seen[3] != "ESTABLISHED" {
		t.Fatalf("ladder %q", seen)
	}
	page, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != 200 || !strings.Contains(string(html), "<html") {
		t.Fatalf("page: %s %q", page.Status, html)
	}
	stop()
	if _, err := http.Get(base + "/api/conns"); err == nil {
		t.Fatal("the page is still served after stop")
	}
}

// TestUILoopbackHosts: on loopback the page answers to loopback names only
// (DNS rebinding).
func TestUILoopbackHosts(t *testing.T) {
	h := loopbackHosts(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	for host, want := range map[string]int{
		"127.0.0.1:8080": 200, "localhost:8080": 200, "[::1]:8080": 200, "127.0.0.1": 200, "localhost": 200,
		"evil.example:8080": 403, "192.0.2.1:8080": 403, "": 403,
	} {
		req := httptest.NewRequest("GET", "/api/conns", nil)
		req.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
}
