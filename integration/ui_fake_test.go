package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestUIPageFakeAPI drives the --ui page (served from the source tree,
// stack/ui/web) against a fake API in the shape stack/ui's Handler serves
// (ISSUE11-API.md), with what a real curl rarely shows: a retransmission,
// data runs long enough to be collapsed, a TIME-WAIT record counting down,
// sorting, filtering and a connection closing by a server-sent event. It
// needs no TUN and no stack, only Chromium.
func TestUIPageFakeAPI(t *testing.T) {
	api := newFakeAPI(t)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close) // after the browser's cleanup, which ends the event stream
	b := newBrowser(t)

	b.navigate(srv.URL + "/")
	rows := `[...document.querySelectorAll('#conns tbody tr')].map(r => r.dataset.connId).join(',')`
	b.waitFor("three connections", `document.querySelectorAll('#conns tbody tr[data-conn-id]').length === 3`, rows, 20*time.Second)
	// Semantics: a real table with column headers; the filter is labelled.
	if n := eval[int](b, `document.querySelectorAll('#conns thead th[scope=col] button').length`); n < 15 {
		t.Errorf("the table has %d sortable column headers", n)
	}
	if l := eval[string](b, `document.querySelector('label[for=filter]').textContent`); l == "" {
		t.Error("the filter input has no label")
	}

	// Newest first by default; a click on "remote" sorts by it, ascending.
	if got := eval[string](b, rows); got != "c3,c2,c1" {
		t.Errorf("default order %q, want newest first c3,c2,c1", got)
	}
	b.click(`#conns thead th[data-key=remote] button`)
	if got := eval[string](b, rows); got != "c2,c1,c3" {
		t.Errorf("sorted by remote: %q, want c2,c1,c3", got)
	}
	if s := eval[string](b, `document.querySelector('#conns thead th[data-key=remote]').getAttribute('aria-sort')`); s != "ascending" {
		t.Errorf("aria-sort %q", s)
	}

	// The TIME-WAIT record counts its 2MSL down between server updates.
	tw := `document.querySelector('tr[data-conn-id=c2] td[data-key=state]').textContent`
	first := eval[string](b, tw)
	time.Sleep(1500 * time.Millisecond)
	second := eval[string](b, tw)
	var a, c float64
	if _, err := fmt.Sscanf(first, "TIME-WAIT %f s", &a); err != nil {
		t.Fatalf("TIME-WAIT cell %q: %v", first, err)
	}
	if _, err := fmt.Sscanf(second, "TIME-WAIT %f s", &c); err != nil {
		t.Fatalf("TIME-WAIT cell %q: %v", second, err)
	}
	if a > 30 || c >= a-0.8 || c < a-5 {
		t.Errorf("TIME-WAIT countdown went from %q to %q in 1.5 s", first, second)
	}

	// Filtering by state keeps the matching rows only.
	b.typeInto(`#filter`, "establ")
	b.waitFor("the filtered rows", rows+` === 'c1,c3'`, rows, 10*time.Second)
	eval[any](b, `(() => { const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input')); })()`)

	// Select c1: the ladder, the plots, the trace and the exports.
	b.click(`tr[data-conn-id=c1] button.select`)
	b.waitFor("the ladder", `document.querySelectorAll('#ladder .seg').length > 0`, `document.getElementById('detail-note').textContent`, 20*time.Second)
	flags := eval[[]string](b, `[...document.querySelectorAll('#ladder .seg-row')].map(g => g.dataset.dir + ' ' + g.dataset.flags)`)
	if len(flags) < 6 || strings.Join(flags[:3], "|") != "in S|out S.|in ." {
		t.Errorf("ladder starts %q, want the handshake in S, out S., in .", flags)
	}
	if got := strings.Join(flags[len(flags)-4:], "|"); got != "out FP.|in .|in F.|out ." {
		t.Errorf("ladder ends %q, want out FP., in ., in F., out .", got)
	}
	for q, want := range map[string]int{".seg.retrans": 1, ".seg.dropped": 1, ".drop-x": 1, ".seg.injected": 1} {
		if n := eval[int](b, `document.querySelectorAll('#ladder `+q+`').length`); n != want {
			t.Errorf("%d of %s in the ladder, want %d", n, q, want)
		}
	}
	runs := eval[[]string](b, `[...document.querySelectorAll('#ladder .run-row')].map(g => g.textContent)`)
	if len(runs) != 2 || !strings.Contains(runs[0], "data segments") {
		t.Errorf("collapsed runs %q, want 2 (split by the drop and the retransmission)", runs)
	}
	// In event order, the RTO's 200 ms wait before the retransmission is written out.
	if idle := eval[string](b, `[...document.querySelectorAll('#ladder .idle')].map(e => e.textContent).join('|')`); idle != "⋯ 200 ms later ⋯" {
		t.Errorf("idle marks %q, want the RTO's wait", idle)
	}
	stackStates := `[...document.querySelectorAll('#ladder .state-stack')].map(e => e.dataset.state).join(' ')`
	if got, want := eval[string](b, stackStates), "LISTEN SYN-RECEIVED ESTABLISHED FIN-WAIT-1 FIN-WAIT-2 TIME-WAIT"; got != want {
		t.Errorf("stack states %q, want %q", got, want)
	}
	peerStates := `[...document.querySelectorAll('#ladder .state-peer')].map(e => e.dataset.state).join(' ')`
	if got, want := eval[string](b, peerStates), "SYN-SENT ESTABLISHED CLOSE-WAIT LAST-ACK CLOSED"; got != want {
		t.Errorf("peer states (inferred) %q, want %q", got, want)
	}
	labels := eval[string](b, `[...document.querySelectorAll('#ladder .label')].map(e => e.textContent).join('\n')`)
	for _, want := range []string{"[S] seq=0 ack=0 win=64240 len=0", "[S.] seq=0 ack=1 win=65535 len=0", "<mss 1460,sackOK,TS val 1 ecr 0,wscale 7>", "retransmission [.] seq=", "dropped [.] seq=", "duplicate [.] seq="} {
		if !strings.Contains(labels, want) {
			t.Errorf("no ladder label %q in:\n%s", want, labels)
		}
	}
	// Absolute numbers, like the trace.
	eval[any](b, `document.getElementById('relative').click()`)
	if l := eval[string](b, `document.querySelector('#ladder .seg-row .label').textContent`); l != "[S] seq=1000 ack=0 win=64240 len=0" {
		t.Errorf("absolute label %q", l)
	}
	// Expanding a run shows its segments.
	before := eval[int](b, `document.querySelectorAll('#ladder .seg-row').length`)
	b.click(`#ladder .run-row`)
	if n := eval[int](b, `document.querySelectorAll('#ladder .run-row').length`); n != 1 {
		t.Errorf("%d runs after expanding one", n)
	}
	if after := eval[int](b, `document.querySelectorAll('#ladder .seg-row').length`); after <= before+10 {
		t.Errorf("expanding a run: %d segment rows, before %d", after, before)
	}
	// Zoom to a time scale: the diagram grows.
	h0 := eval[float64](b, `document.getElementById('ladder').getBoundingClientRect().height`)
	for range 12 {
		b.click(`#zoom-in`)
	}
	if h1 := eval[float64](b, `document.getElementById('ladder').getBoundingClientRect().height`); h1 < 2*h0 {
		t.Errorf("zooming in: height %v, before %v (%s)", h1, h0, eval[string](b, `document.getElementById('zoom').value + ' ' + document.getElementById('zoom-value').textContent`))
	}
	for range 12 {
		b.click(`#zoom-out`)
	}

	if got := eval[string](b, `document.getElementById('trace').textContent`); !strings.Contains(got, fakeTraceLine) {
		t.Errorf("trace %q", got)
	}
	for _, q := range []string{`#plots path[data-series=cwnd]`, `#plots path[data-series=srttMs]`, `#plots path[data-series=rcvWnd]`, `#plots .panel .mark.retrans`, `#plots .panel .mark.recovery`, `#plots .panel .mark.dropped`, `#plots rect.bar`} {
		if n := eval[int](b, `document.querySelectorAll('`+q+`').length`); n == 0 {
			t.Errorf("plots: nothing matches %s", q)
		}
	}
	for id, want := range map[string]string{"export-pcap": "/api/conn/c1/pcap", "export-trace": "/api/conn/c1/trace"} {
		if h := eval[string](b, `document.getElementById('`+id+`').href`); !strings.HasSuffix(h, want) {
			t.Errorf("%s links to %q", id, h)
		}
	}
	b.screenshot("#ladder", "fake-ladder.png")
	b.screenshot("#plots", "fake-plots.png")

	// A server-sent update closes c1: its row greys out.
	api.closeC1()
	b.waitFor("c1 closed", `document.querySelector('tr[data-conn-id=c1]').classList.contains('closed')`,
		`document.querySelector('tr[data-conn-id=c1]').outerHTML`, 10*time.Second)

	// A link to a connection (#id) opens with it drawn.
	b.navigate(srv.URL + "/?again#c1")
	b.waitFor("c1 drawn from the link", `document.querySelectorAll('#ladder .seg').length > 0 && document.querySelector('tr[data-conn-id=c1].selected')`,
		`document.getElementById('detail-title').textContent`, 20*time.Second)
	b.checkJS()
}

// fakeAPI serves the page from the source tree and a recorded API.
type fakeAPI struct {
	t      testing.TB
	mux    *http.ServeMux
	update chan struct{}
	start  time.Time
}

const fakeTraceLine = "12:00:00.000000 198.18.0.1:40000 > 198.18.0.2:80 [S] seq=1000 ack=0 win=64240 len=0"

func newFakeAPI(t testing.TB) *fakeAPI {
	f := &fakeAPI{t: t, mux: http.NewServeMux(), update: make(chan struct{}, 1), start: time.Now()}
	f.mux.Handle("/", http.FileServer(http.Dir("../stack/ui/web")))
	f.mux.HandleFunc("GET /api/conns", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, f.conns(false))
	})
	f.mux.HandleFunc("GET /api/events", f.events)
	f.mux.HandleFunc("GET /api/conn/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "c1" {
			w.WriteHeader(http.StatusNotFound)
			writeJSON(w, map[string]string{"error": "no connection " + r.PathValue("id")})
			return
		}
		writeJSON(w, fakeDetail())
	})
	f.mux.HandleFunc("GET /api/conn/{id}/trace", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, fakeTraceLine)
	})
	return f
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

func (f *fakeAPI) closeC1() { f.update <- struct{}{} }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) events(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	send := func(closed bool) {
		b, _ := json.Marshal(f.conns(closed))
		fmt.Fprintf(w, "event: conns\ndata: %s\n\n", b)
		w.(http.Flusher).Flush()
	}
	send(false)
	select {
	case <-f.update:
		send(true)
	case <-r.Context().Done():
		return
	}
	<-r.Context().Done()
}

// conns is a /api/conns snapshot: c1 (the detailed one, ESTABLISHED, or
// CLOSED after closeC1), c2 a TIME-WAIT record, c3 another live one.
func (f *fakeAPI) conns(c1closed bool) map[string]any {
	ts := func(d time.Duration) string { return f.start.Add(d).Format(time.RFC3339Nano) }
	row := func(id, remote, state string, started time.Duration) map[string]any {
		return map[string]any{"id": id, "local": "198.18.0.2:80", "remote": remote, "state": state,
			"closed": false, "srttUs": 1200, "rttvarUs": 400, "rtoMs": 201, "cwnd": 14480,
			"ssthresh": 2147483647, "inFlight": 2896, "sndWnd": 64240, "rcvWnd": 65535,
			"bytesSent": 57920, "bytesRecv": 78, "retransmits": 1, "fastRecoveries": 0,
			"rtoExpiries": 0, "cc": "reno", "started": ts(started)}
	}
	c1 := row("c1", "198.18.0.1:40000", "ESTABLISHED", 0)
	if c1closed {
		c1["state"], c1["closed"] = "CLOSED", true
	}
	c2 := row("c2", "198.18.0.1:39999", "TIME-WAIT", time.Second)
	c2["closed"], c2["timeWaitLeftMs"] = true, 20000
	c3 := row("c3", "198.18.0.1:40001", "ESTABLISHED", 2*time.Second)
	return map[string]any{"now": ts(3 * time.Second), "conns": []any{c1, c2, c3}}
}

// fakeDetail is c1's history: a passive open, a GET, 40 data segments with
// the peer's ACKs (one dropped by the fault injector and retransmitted after
// an RTO, one ACK duplicated by it), then the stack closes first
// (FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT).
func fakeDetail() map[string]any {
	var evs []map[string]any
	t := 0
	seg := func(dir, flags string, seq, ack, n, win int, extra ...any) {
		e := map[string]any{"t": t, "dir": dir, "flags": flags, "seq": seq, "ack": ack, "len": n, "win": win}
		for i := 0; i+1 < len(extra); i += 2 {
			e[extra[i].(string)] = extra[i+1]
		}
		evs = append(evs, e)
		t += 150
	}
	state := func(from, to string) {
		evs = append(evs, map[string]any{"t": t, "dir": "state", "from": from, "to": to})
	}
	const isnIn, isnOut = 1000, 5000
	opts := "mss 1460,sackOK,TS val 1 ecr 0,wscale 7"
	seg("in", "S", isnIn, 0, 0, 64240, "opts", opts)
	state("LISTEN", "SYN-RECEIVED")
	seg("out", "S.", isnOut, isnIn+1, 0, 65535, "opts", opts)
	seg("in", ".", isnIn+1, isnOut+1, 0, 502)
	state("SYN-RECEIVED", "ESTABLISHED")
	seg("in", "P.", isnIn+1, isnOut+1, 78, 502)
	seg("out", ".", isnOut+1, isnIn+79, 0, 65535)
	snd := isnOut + 1
	for i := range 40 {
		if i == 20 {
			// The fault injector drops a segment; the RTO resends it.
			seg("out", ".", snd, isnIn+79, 1448, 65535, "dropped", true)
			t += 200000
			seg("out", ".", snd, isnIn+79, 1448, 65535, "retrans", true)
		} else {
			seg("out", ".", snd, isnIn+79, 1448, 65535)
		}
		snd += 1448
		if i%2 == 1 {
			seg("in", ".", isnIn+79, snd, 0, 502)
			if i == 35 { // and duplicates an ACK
				seg("in", ".", isnIn+79, snd, 0, 502, "injected", true)
			}
		}
	}
	seg("out", "FP.", snd, isnIn+79, 0, 65535)
	state("ESTABLISHED", "FIN-WAIT-1")
	seg("in", ".", isnIn+79, snd+1, 0, 502)
	state("FIN-WAIT-1", "FIN-WAIT-2")
	seg("in", "F.", isnIn+79, snd+1, 0, 502)
	state("FIN-WAIT-2", "TIME-WAIT")
	seg("out", ".", snd+1, isnIn+80, 0, 65535)

	var samples []map[string]any
	for i := range 150 {
		cwnd, ssthresh := 14480+i*1448, 2147483647
		if i >= 70 {
			cwnd, ssthresh = 50000+(i-70)*200, 50000
		}
		samples = append(samples, map[string]any{"t": i * 10000, "cwnd": cwnd, "ssthresh": ssthresh,
			"inFlight": min(cwnd, 2896*(i%5)), "sndWnd": 64128, "rcvWnd": 65535 - 200*(i%10),
			"srttUs": 1000 + 10*i, "rtoMs": 200 + i/10, "bytesAcked": i * 700})
	}
	return map[string]any{"id": "c1", "local": "198.18.0.2:80", "remote": "198.18.0.1:40000",
		"events": evs, "samples": samples, "truncated": false}
}
