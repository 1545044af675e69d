package ui

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/stack/tcp"
)

// TestHTTPNotFound: unknown ids, malformed ids, evicted connections and
// unknown API paths answer 404 with a JSON error; writes are refused.
func TestHTTPNotFound(t *testing.T) {
	g := newRig(t, Config{})
	g.handshake(40000)
	h := g.rec.Handler()
	for _, p := range []string{"/api/conn/c2", "/api/conn/x1", "/api/conn/c", "/api/conn/c99999999999999999999",
		"/api/conn/c2/pcap", "/api/conn/c2/trace", "/api/nothing", "/api/conn/c1/other"} {
		var e struct {
			Error string `json:"error"`
		}
		w := get(t, h, p, 404, &e)
		if e.Error == "" || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %q %q", p, w.Header().Get("Content-Type"), w.Body)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/api/conns", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", w.Code)
	}
}

// TestHTTPPage: the root serves the embedded page.
func TestHTTPPage(t *testing.T) {
	h := NewRecorder(Config{}).Handler()
	w := get(t, h, "/", 200, nil)
	if !strings.Contains(w.Body.String(), "<html") || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("%q %q", w.Header().Get("Content-Type"), w.Body.String()[:min(w.Body.Len(), 200)])
	}
}

// TestHTTPConns: api/conns has every contract field with the right types,
// and a TIME-WAIT row counts its 2*MSL down from the last sample.
func TestHTTPConns(t *testing.T) {
	g := newRig(t, Config{})
	g.handshake(40000)
	tu := tuple(40001)
	g.in(pkt(t, 40001, false, segment.FlagSYN, 1, 0, 0, segment.Options{}))
	g.rec.Trace(tcp.Transition{Tuple: tu, From: tcp.StateFinWait2, To: tcp.StateTimeWait})
	g.rec.sample(1, nil, []stack.TimeWaitInfo{{Tuple: tu, Left: 60 * time.Second}})
	g.clk.advance(1500 * time.Millisecond)
	w := get(t, g.rec.Handler(), "/api/conns", 200, nil)
	var raw struct {
		Now   time.Time        `json:"now"`
		Conns []map[string]any `json:"conns"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Conns) != 2 || raw.Now.IsZero() {
		t.Fatalf("%s", w.Body)
	}
	for _, k := range []string{"id", "local", "remote", "state", "closed", "srttUs", "rttvarUs", "rtoMs", "cwnd",
		"ssthresh", "inFlight", "sndWnd", "rcvWnd", "bytesSent", "bytesRecv", "retransmits", "fastRecoveries",
		"rtoExpiries", "cc", "started"} {
		if _, ok := raw.Conns[0][k]; !ok {
			t.Errorf("row has no %q: %v", k, raw.Conns[0])
		}
	}
	if _, ok := raw.Conns[0]["timeWaitLeftMs"]; ok {
		t.Errorf("a closed row has timeWaitLeftMs")
	}
	tw := raw.Conns[1]
	if tw["state"] != "TIME-WAIT" || tw["closed"] != false || tw["timeWaitLeftMs"] != 58500.0 {
		t.Fatalf("TIME-WAIT row %v, want 58500 ms left", tw)
	}
	if s, _ := tw["started"].(string); !strings.HasPrefix(s, "2026-01-02T03:04:05") {
		t.Fatalf("started %q", s)
	}
}

// TestHTTPEvents: api/events sends the table at once, then again only
// after a change, no faster than EventsInterval, and ends when the
// recorder closes.
func TestHTTPEvents(t *testing.T) {
	clk := newManualNow()
	rec := NewRecorder(Config{Now: clk.now, EventsInterval: 20 * time.Millisecond})
	l := rec.Link(&fakeLink{})
	srv := httptest.NewServer(rec.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	rd := bufio.NewReader(resp.Body)
	next := func() connsJSON {
		t.Helper()
		var ev, data string
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				ev = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				data = line[len("data: "):]
			case line == "" && data != "":
				if ev != "conns" {
					t.Fatalf("event %q", ev)
				}
				var c connsJSON
				if err := json.Unmarshal([]byte(data), &c); err != nil {
					t.Fatal(err)
				}
				return c
			}
		}
	}
	if c := next(); len(c.Conns) != 0 {
		t.Fatalf("first event %+v, want an empty table", c)
	}
	sent := time.Now()
	l.Write(pkt(t, 40000, true, segment.FlagSYN, 1, 0, 0, segment.Options{}))
	if c := next(); len(c.Conns) != 1 || c.Conns[0].ID != "c1" || c.Conns[0].State != "CLOSED" {
		t.Fatalf("after a SYN: %+v", c)
	}
	// Nothing changes: no event within several intervals.
	got := make(chan connsJSON, 1)
	go func() { got <- next() }()
	select {
	case c := <-got:
		t.Fatalf("event without a change: %+v (%v after the change)", c, time.Since(sent))
	case <-time.After(150 * time.Millisecond):
	}
	rec.Trace(tcp.Transition{Tuple: tuple(40000), From: tcp.StateClosed, To: tcp.StateSynSent})
	if c := <-got; c.Conns[0].State != "SYN-SENT" {
		t.Fatalf("after the transition: %+v", c)
	}
	rec.Close()
	if _, err := io.ReadAll(rd); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
}

// TestHTTPPcap: the pcap export parses (pcapgo, gopacket) back into the
// recorded segments: addresses, ports, seq, ack, flags, window, the SYN's
// options, original lengths.
func TestHTTPPcap(t *testing.T) {
	g := newRig(t, Config{})
	g.handshake(40000)
	w := get(t, g.rec.Handler(), "/api/conn/c1/pcap", 200, nil)
	if ct := w.Header().Get("Content-Type"); ct != "application/vnd.tcpdump.pcap" {
		t.Fatalf("Content-Type %q", ct)
	}
	r, err := pcapgo.NewReader(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeRaw {
		t.Fatalf("link type %v", r.LinkType())
	}
	var got []string
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tc, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tc == nil {
			t.Fatalf("record %d does not decode: %v", len(got), p)
		}
		flags := ""
		for _, f := range []struct {
			on bool
			c  string
		}{{tc.SYN, "S"}, {tc.FIN, "F"}, {tc.PSH, "P"}, {tc.ACK, "."}} {
			if f.on {
				flags += f.c
			}
		}
		line := ip.SrcIP.String() + ":" + itoa(uint64(tc.SrcPort)) + ">" + ip.DstIP.String() + ":" + itoa(uint64(tc.DstPort)) +
			" " + flags + " " + itoa(uint64(tc.Seq)) + " " + itoa(uint64(tc.Ack)) + " " + itoa(uint64(ci.Length-ci.CaptureLength))
		if tc.SYN {
			if len(tc.Options) != 5 || tc.Window != 502 { // MSS, SACK-permitted, TS, NOP, WS in some order
				var kinds []string
				for _, o := range tc.Options {
					kinds = append(kinds, o.OptionType.String())
				}
				t.Fatalf("SYN options %v window %d", kinds, tc.Window)
			}
		}
		got = append(got, line)
	}
	want := []string{
		"198.18.0.1:40000>198.18.0.2:80 S 1000 0 0",
		"198.18.0.2:80>198.18.0.1:40000 S. 5000 1001 0",
		"198.18.0.1:40000>198.18.0.2:80 . 1001 5001 0",
		"198.18.0.1:40000>198.18.0.2:80 P. 1001 5001 100",
		"198.18.0.2:80>198.18.0.1:40000 P. 5001 1101 100",
		"198.18.0.1:40000>198.18.0.2:80 F. 1101 5101 0",
		"198.18.0.2:80>198.18.0.1:40000 F. 5101 1102 0",
		"198.18.0.1:40000>198.18.0.2:80 . 1102 5102 0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("pcap\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHTTPTrace: the text export has one line per event, in --trace's
// format.
func TestHTTPTrace(t *testing.T) {
	g := newRig(t, Config{})
	g.handshake(40000)
	w := get(t, g.rec.Handler(), "/api/conn/c1/trace", 200, nil)
	lines := strings.Split(strings.TrimSuffix(w.Body.String(), "\n"), "\n")
	if len(lines) != 13 {
		t.Fatalf("%d lines:\n%s", len(lines), w.Body)
	}
	stamp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Local().Format("15:04:05.000000")
	for i, want := range map[int]string{
		0: stamp + " 198.18.0.1:40000 > 198.18.0.2:80 [S] seq=1000 ack=0 win=502 len=0 <mss 1460,sackOK,TS val 1 ecr 0,wscale 7>",
		1: stamp + " 198.18.0.1:40000 > 198.18.0.2:80 LISTEN -> SYN-RECEIVED [S] seq=1000 ack=0",
		4: "198.18.0.2:80 <> 198.18.0.1:40000 SYN-RECEIVED -> ESTABLISHED",
		6: "198.18.0.2:80 > 198.18.0.1:40000 [P.] seq=5001 ack=1101 win=502 len=100",
	} {
		if !strings.HasSuffix(lines[i], want) {
			t.Errorf("line %d %q, want %q", i, lines[i], want)
		}
	}
}
