package ui

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// stackPair is a server stack (198.18.0.2) whose link, trace hook and
// sampling feed rec, and a client stack (198.18.0.1), on tun's in-memory
// pipe and the real clock.
func stackPair(t *testing.T, rec *Recorder, msl time.Duration) (server, client *stack.Stack) {
	t.Helper()
	clk := timers.NewReal()
	ps, pc := tun.NewPipe(clk, 1500, tun.FaultConfig{}, tun.FaultConfig{})
	server, err := stack.New(rec.Link(ps), stack.Options{Addr: stackAddr, Clock: clk, MSL: msl,
		Trace: rec.Trace, ConnGone: rec.ConnGone})
	if err != nil {
		t.Fatal(err)
	}
	client, err = stack.New(pc, stack.Options{Addr: peerAddr, Clock: clk, MSL: msl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
		rec.Close()
	})
	rec.Attach(server)
	return server, client
}

// exchange dials the server's port 80 from the client, sends hello, reads
// the echo and closes: the client first when clientCloses, else the server.
func exchange(t *testing.T, server, client *stack.Stack, clientCloses bool) {
	t.Helper()
	ln, err := server.Listen(":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		buf := make([]byte, 5)
		if _, err = io.ReadFull(c, buf); err == nil {
			_, err = c.Write(buf)
		}
		if clientCloses {
			io.ReadAll(c)
		}
		c.Close()
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "198.18.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if !clientCloses {
		io.ReadAll(c)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRecorderOnAStack: a real exchange on a stack recorded through Link,
// Trace and Attach: the ladder has SYN, SYN-ACK, ACK, the data, FIN/ACKs
// in order with the server's states; the row has the samples' figures; a
// server that closes first shows its TIME-WAIT record counting down, then
// CLOSED when 2*MSL ran out.
func TestRecorderOnAStack(t *testing.T) {
	rec := NewRecorder(Config{SampleInterval: 10 * time.Millisecond})
	server, client := stackPair(t, rec, 500*time.Millisecond)
	h := rec.Handler()
	exchange(t, server, client, true)
	var rows struct {
		Conns []rowJSON `json:"conns"`
	}
	waitFor(t, "c1 closed", func() bool {
		get(t, h, "/api/conns", 200, &rows)
		return len(rows.Conns) == 1 && rows.Conns[0].Closed
	})
	r := rows.Conns[0]
	if r.Local != "198.18.0.2:80" || !strings.HasPrefix(r.Remote, "198.18.0.1:") || r.State != "CLOSED" ||
		r.BytesRecv != 5 || r.BytesSent != 5 || r.CC == "" || r.RtoMs == 0 {
		t.Fatalf("row %+v", r)
	}
	c := (&rig{t: t, rec: rec}).conn("c1")
	var ladder []string
	for _, e := range c.Events {
		switch {
		case e.Dir == "state":
			ladder = append(ladder, e.To)
		case e.Flags != ".":
			ladder = append(ladder, e.Dir+" "+e.Flags)
		}
	}
	want := []string{"in S", "SYN-RECEIVED", "out S.", "ESTABLISHED", "in P.", "out P.", "in F.", "CLOSE-WAIT",
		"LAST-ACK", "out F.", "CLOSED"} // the state changes as the FIN is queued, before it is written
	if !isSubsequence(want, ladder) {
		t.Fatalf("ladder %q lacks %q in order", ladder, want)
	}
	if len(c.Samples) == 0 || c.Samples[0].Cwnd == 0 {
		t.Fatalf("samples %+v", c.Samples)
	}

	// The server closes first: TIME-WAIT, counted down, then CLOSED.
	exchange(t, server, client, false)
	var tw rowJSON
	waitFor(t, "c2 in TIME-WAIT with time left", func() bool {
		get(t, h, "/api/conns", 200, &rows)
		for _, r := range rows.Conns {
			if r.ID == "c2" {
				tw = r
			}
		}
		return tw.State == "TIME-WAIT" && tw.TimeWaitLeftMs != nil
	})
	if left := *tw.TimeWaitLeftMs; left <= 0 || left > 1000 || tw.Closed {
		t.Fatalf("TIME-WAIT row %+v left %d ms, want (0, 1000]", tw, left)
	}
	waitFor(t, "c2 closed after 2*MSL", func() bool {
		get(t, h, "/api/conns", 200, &rows)
		return len(rows.Conns) == 2 && rows.Conns[1].Closed && rows.Conns[1].State == "CLOSED"
	})
	if u := rec.Untracked(); u != 0 {
		t.Fatalf("%d untracked", u)
	}
}

func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestAttachAdoptsAndExpires: Attach records a connection the recorder
// never saw a segment of, with the stack's state (no Trace hook), and
// closes a record the stack does not have once it has been quiet for a
// while.
func TestAttachAdoptsAndExpires(t *testing.T) {
	clk := newManualNow()
	rec := NewRecorder(Config{Now: clk.now})
	tu := tcp.Tuple{LocalAddr: stackAddr, LocalPort: 80, RemoteAddr: peerAddr, RemotePort: 1}
	ci := stack.ConnInfo{Info: tcp.Info{State: tcp.StateEstablished, Tuple: tu, Cwnd: 14600, SRTT: time.Millisecond,
		RTO: 201 * time.Millisecond, CongestionControl: "cubic", SndNxt: 1100, SndUna: 1000}}
	rec.sample(1, []stack.ConnInfo{ci}, nil)
	clk.advance(100 * time.Millisecond)
	ci.Cwnd = 20000
	rec.sample(2, []stack.ConnInfo{ci}, nil)
	rec.sample(3, []stack.ConnInfo{ci}, nil) // unchanged: no new sample
	var rows struct {
		Conns []rowJSON `json:"conns"`
	}
	h := rec.Handler()
	get(t, h, "/api/conns", 200, &rows)
	if len(rows.Conns) != 1 || rows.Conns[0].State != "ESTABLISHED" || rows.Conns[0].Cwnd != 20000 ||
		rows.Conns[0].InFlight != 100 || rows.Conns[0].SrttUs != 1000 || rows.Conns[0].RtoMs != 201 || rows.Conns[0].CC != "cubic" {
		t.Fatalf("%+v", rows.Conns)
	}
	c := (&rig{t: t, rec: rec}).conn("c1")
	if len(c.Samples) != 2 || c.Samples[0].T != 0 || c.Samples[1].T != 100000 || c.Samples[1].Cwnd != 20000 {
		t.Fatalf("samples %+v", c.Samples)
	}
	// Gone from the stack: closed once quiet for staleAfter.
	clk.advance(staleAfter / 2)
	rec.sample(4, nil, nil)
	if get(t, h, "/api/conns", 200, &rows); rows.Conns[0].Closed {
		t.Fatal("closed before staleAfter")
	}
	clk.advance(staleAfter)
	rec.sample(5, nil, nil)
	if get(t, h, "/api/conns", 200, &rows); !rows.Conns[0].Closed {
		t.Fatal("a record the stack no longer has stayed live")
	}
}
