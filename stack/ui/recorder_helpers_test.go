package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

var (
	stackAddr = netip.MustParseAddr("198.18.0.2")
	peerAddr  = netip.MustParseAddr("198.18.0.1")
)

// tuple is the stack's view of a test connection to port 80 from peerPort.
func tuple(peerPort uint16) tcp.Tuple {
	return tcp.Tuple{LocalAddr: stackAddr, LocalPort: 80, RemoteAddr: peerAddr, RemotePort: peerPort}
}

// pkt builds an IPv4 TCP packet of the test connection from peerPort: in
// (peer to stack) or out, with n payload bytes.
func pkt(t testing.TB, peerPort uint16, out bool, flags segment.Flags, seq, ack uint32, n int, o segment.Options) []byte {
	t.Helper()
	seg := segment.Segment{Src: peerAddr, Dst: stackAddr, SrcPort: peerPort, DstPort: 80,
		Seq: segment.Seq(seq), Ack: segment.Seq(ack), Flags: flags, Window: 502, Options: o,
		Payload: make([]byte, n)}
	if out {
		seg.Src, seg.Dst, seg.SrcPort, seg.DstPort = seg.Dst, seg.Src, seg.DstPort, seg.SrcPort
	}
	buf := make([]byte, 100+n)
	m, err := segment.BuildIPv4TCP(buf, &seg, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:m]
}

// fakeLink is a stack.Link: Read hands out the packets queued with feed,
// Write keeps nothing.
type fakeLink struct {
	mu      sync.Mutex
	queue   [][]byte
	written int
	onRead  func() // if set, called by every Read (a test's clock step)
}

var errEmpty = errors.New("fake link: nothing queued")

func (l *fakeLink) feed(p []byte) {
	l.mu.Lock()
	l.queue = append(l.queue, p)
	l.mu.Unlock()
}

func (l *fakeLink) Read(p []byte) (int, error) {
	if l.onRead != nil {
		l.onRead()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) == 0 {
		return 0, errEmpty
	}
	n := copy(p, l.queue[0])
	l.queue = l.queue[1:]
	return n, nil
}

func (l *fakeLink) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.written++
	l.mu.Unlock()
	return len(p), nil
}

func (l *fakeLink) MTU() int     { return 1500 }
func (l *fakeLink) Close() error { return nil }

// manualNow is a settable clock for Config.Now.
type manualNow struct {
	mu sync.Mutex
	t  time.Time
}

func newManualNow() *manualNow { return &manualNow{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (m *manualNow) now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.t
}

func (m *manualNow) advance(d time.Duration) {
	m.mu.Lock()
	m.t = m.t.Add(d)
	m.mu.Unlock()
}

// rig is a recorder with a fake link wrapped, on a manual clock.
type rig struct {
	t   testing.TB
	rec *Recorder
	clk *manualNow
	raw *fakeLink
	l   interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
	}
}

func newRig(t testing.TB, cfg Config) *rig {
	clk := newManualNow()
	cfg.Now = clk.now
	rec := NewRecorder(cfg)
	t.Cleanup(func() { rec.Close() })
	raw := &fakeLink{}
	return &rig{t: t, rec: rec, clk: clk, raw: raw, l: rec.Link(raw)}
}

// in passes a packet from the peer through the wrapped link's Read.
func (g *rig) in(p []byte) {
	g.t.Helper()
	g.raw.feed(p)
	buf := make([]byte, 65536)
	if _, err := g.l.Read(buf); err != nil {
		g.t.Fatal(err)
	}
}

// out passes a packet of the stack through the wrapped link's Write.
func (g *rig) out(p []byte) {
	g.t.Helper()
	if _, err := g.l.Write(p); err != nil {
		g.t.Fatal(err)
	}
}

// connJSON is api/conn/{id} as a test reads it.
type connJSON struct {
	ID        string       `json:"id"`
	Local     string       `json:"local"`
	Remote    string       `json:"remote"`
	Events    []eventJSON  `json:"events"`
	Samples   []sampleJSON `json:"samples"`
	Truncated bool         `json:"truncated"`
}

type eventJSON struct {
	T       int64   `json:"t"`
	Dir     string  `json:"dir"`
	Flags   string  `json:"flags"`
	Seq     *uint32 `json:"seq"`
	Ack     *uint32 `json:"ack"`
	Len     *uint32 `json:"len"`
	Win     *uint16 `json:"win"`
	Opts    string  `json:"opts"`
	Retrans *bool   `json:"retrans"`
	From    string  `json:"from"`
	To      string  `json:"to"`
	// Only with a WireTap, only when true.
	Dropped  bool `json:"dropped,omitempty"`
	Injected bool `json:"injected,omitempty"`
}

type sampleJSON struct {
	T          int64  `json:"t"`
	Cwnd       uint32 `json:"cwnd"`
	Ssthresh   uint32 `json:"ssthresh"`
	InFlight   uint32 `json:"inFlight"`
	SndWnd     uint32 `json:"sndWnd"`
	RcvWnd     uint32 `json:"rcvWnd"`
	SrttUs     uint32 `json:"srttUs"`
	RtoMs      uint32 `json:"rtoMs"`
	BytesAcked uint64 `json:"bytesAcked"`
}

// get fetches path from the recorder's handler; it fails the test unless
// the status is want, and decodes a JSON body into v if v is not nil.
func get(t testing.TB, h http.Handler, path string, want int, v any) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	if w.Code != want {
		t.Fatalf("GET %s: %d %s, want %d", path, w.Code, w.Body, want)
	}
	if v != nil {
		if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, w.Body)
		}
	}
	return w
}

func (g *rig) conn(id string) connJSON {
	g.t.Helper()
	var c connJSON
	get(g.t, g.rec.Handler(), "/api/conn/"+id, 200, &c)
	return c
}

// line renders an event compactly for comparisons: "in S 1000 0 0",
// "state LISTEN SYN-RECEIVED".
func (e eventJSON) line() string {
	if e.Dir == "state" {
		return "state " + e.From + " " + e.To
	}
	return e.Dir + " " + e.Flags + " " + itoa(uint64(*e.Seq)) + " " + itoa(uint64(*e.Ack)) + " " + itoa(uint64(*e.Len))
}

func itoa(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// rawEvent renders e back to JSON, with the optional fields.
func (g *rig) rawEvent(e eventJSON) string {
	b, _ := json.Marshal(e)
	return string(b)
}
