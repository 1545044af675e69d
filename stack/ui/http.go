package ui

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
)

// Handler serves the web page (embedded, at the root) and the JSON API
// below api/ (see ISSUE11-API.md and the README):
//
//	GET api/conns            {"now", "conns": [row...]}
//	GET api/events           server-sent events "conns", same JSON, at most every Config.EventsInterval, only on change
//	GET api/conn/{id}        {"id", "local", "remote", "events": [...], "samples": [...], "truncated"}
//	GET api/conn/{id}/pcap   the recorded segments, pcap (LINKTYPE_RAW), headers only
//	GET api/conn/{id}/trace  text, one line per event as tunstack --trace prints them
//
// An unknown connection or API path answers 404 with {"error": "..."}.
// The page uses relative URLs, so the handler may be mounted below a
// prefix with http.StripPrefix. It exposes connection metadata (addresses,
// ports, sequence numbers) to whoever can reach it: serve it on loopback
// unless that is intended.
func (r *Recorder) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/conns", r.serveConns)
	mux.HandleFunc("GET /api/events", r.serveEvents)
	mux.HandleFunc("GET /api/conn/{id}", r.withConn(r.serveConn))
	mux.HandleFunc("GET /api/conn/{id}/pcap", r.withConn(r.servePcap))
	mux.HandleFunc("GET /api/conn/{id}/trace", r.withConn(r.serveTrace))
	page, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	files := http.FileServerFS(page)
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		switch {
		case req.Method != http.MethodGet && req.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, HEAD")
			httpError(w, http.StatusMethodNotAllowed, "the page and the API are read-only")
		case strings.HasPrefix(req.URL.Path, "/api/"):
			httpError(w, http.StatusNotFound, "no such API endpoint: "+req.URL.Path)
		default:
			files.ServeHTTP(w, req)
		}
	})
	return mux
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}

func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}

// withConn resolves the {id} of the path, answering 404 when it names no
// recorded connection (never recorded, or evicted).
func (r *Recorder) withConn(h func(http.ResponseWriter, *http.Request, *connRec)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		id := req.PathValue("id")
		c := r.conn(id)
		if c == nil {
			httpError(w, http.StatusNotFound, fmt.Sprintf("no connection %q (never recorded, or evicted)", id))
			return
		}
		h(w, req, c)
	}
}

// connsJSON is the body of api/conns and of each api/events event.
type connsJSON struct {
	Now   time.Time `json:"now"`
	Conns []rowJSON `json:"conns"`
}

// rowJSON is one row of the connections table.
type rowJSON struct {
	ID             string    `json:"id"`
	Local          string    `json:"local"`
	Remote         string    `json:"remote"`
	State          string    `json:"state"`
	Closed         bool      `json:"closed"`
	TimeWaitLeftMs *int64    `json:"timeWaitLeftMs,omitempty"`
	SrttUs         int64     `json:"srttUs"`
	RttvarUs       int64     `json:"rttvarUs"`
	RtoMs          int64     `json:"rtoMs"`
	Cwnd           uint32    `json:"cwnd"`
	Ssthresh       uint32    `json:"ssthresh"`
	InFlight       uint32    `json:"inFlight"`
	SndWnd         uint32    `json:"sndWnd"`
	RcvWnd         uint32    `json:"rcvWnd"`
	BytesSent      uint64    `json:"bytesSent"`
	BytesRecv      uint64    `json:"bytesRecv"`
	Retransmits    uint64    `json:"retransmits"`
	FastRecoveries uint64    `json:"fastRecoveries"`
	RtoExpiries    uint64    `json:"rtoExpiries"`
	CC             string    `json:"cc"`
	Started        time.Time `json:"started"`
}

// connsBody renders the table of every recorded connection.
func (r *Recorder) connsBody() []byte {
	at := r.clock()
	cs := r.conns()
	body := connsJSON{Now: r.wall(at), Conns: make([]rowJSON, 0, len(cs))}
	for _, c := range cs {
		body.Conns = append(body.Conns, r.row(c, at))
	}
	b, _ := json.Marshal(&body) // cannot fail: plain values
	return b
}

func (r *Recorder) row(c *connRec, at int64) rowJSON {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := &c.info
	row := rowJSON{
		ID: c.idText, Local: addrPort(c.key.LocalAddr, c.key.LocalPort),
		Remote: addrPort(c.key.RemoteAddr, c.key.RemotePort),
		// No state reported: a segment for a connection that does not
		// exist, which is the CLOSED state (RFC 9293 3.10.7.1).
		State:  c.state.String(),
		Closed: c.closed,
		SrttUs: i.srtt.Microseconds(), RttvarUs: i.rttvar.Microseconds(), RtoMs: i.rto.Milliseconds(),
		Cwnd: i.cwnd, Ssthresh: i.ssthresh, InFlight: i.inFlight, SndWnd: i.sndWnd, RcvWnd: i.rcvWnd,
		BytesSent: i.bytesSent, BytesRecv: i.bytesRecv, Retransmits: i.retransmits,
		FastRecoveries: i.fastRecov, RtoExpiries: i.rtoExpired, CC: i.cc,
		Started: r.wall(c.startAt),
	}
	if c.stateKnown && c.state == tcp.StateTimeWait && !c.closed && c.hasTW {
		left := max(c.twLeft-time.Duration(at-c.twAt), 0).Milliseconds()
		row.TimeWaitLeftMs = &left
	}
	return row
}

func (r *Recorder) serveConns(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, r.connsBody())
}

// sseKeepalive is the period of the comment line that keeps an idle event
// stream (and the proxies on its way) alive.
const sseKeepalive = 15 * time.Second

// serveEvents streams the table as server-sent events (WHATWG HTML,
// "Server-sent events"): one "conns" event at once, then one whenever
// something changed, at most every Config.EventsInterval, and a comment
// every 15 s. It ends when the client goes away or the recorder closes.
func (r *Recorder) serveEvents(w http.ResponseWriter, req *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		httpError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func() bool {
		_, err := fmt.Fprintf(w, "event: conns\ndata: %s\n\n", r.connsBody())
		fl.Flush()
		return err == nil
	}
	seen := r.version.Load()
	if !send() {
		return
	}
	tick := time.NewTicker(r.cfg.EventsInterval)
	defer tick.Stop()
	keep := time.NewTicker(sseKeepalive)
	defer keep.Stop()
	for {
		select {
		case <-req.Context().Done():
			return
		case <-r.stop:
			return
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
			fl.Flush()
		case <-tick.C:
			v := r.version.Load()
			if v == seen {
				continue
			}
			seen = v
			if !send() {
				return
			}
		}
	}
}
