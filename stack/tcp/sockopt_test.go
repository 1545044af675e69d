package tcp_test

// Per-connection settings (the engine side of *net.TCPConn's SetNoDelay,
// SetKeepAlive*, SetWriteBuffer, SetReadBuffer): each changes one
// connection only, at the moment it is called.

import (
	"syscall"
	"testing"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// RFC 9293 3.7.4: Nagle switched on for one connection holds a short
// segment while data is unacknowledged; switched off again (TCP_NODELAY)
// the held data goes out at once, without waiting for the ACK.
func TestEstablished_RFC9293_3_7_4_SetNagle(t *testing.T) {
	h := newEstablished(t) // Config: Nagle off
	h.c.SetNagle(h.now, true)
	h.write(10*ms, 10)
	h.expect(10*ms, h.out("P.", seq(1), data(10)))
	h.write(11*ms, 10)
	h.expectNothing(11 * ms)
	h.advance(12 * ms)
	h.c.SetNagle(h.now, false)
	h.expect(12*ms, h.out("P.", seq(11), data(10)))
	h.write(13*ms, 10)
	h.expect(13*ms, h.out("P.", seq(21), data(10)))
}

// RFC 9293 3.8.4: keep-alive enabled on one connection whose Config has it
// off: the first probe <SEQ=SND.NXT-1> after the idle time counted from
// the call, then one per interval; the count ends it with ETIMEDOUT and a
// RST. Disabled again, no probe follows.
func TestEstablished_RFC9293_3_8_4_SetKeepalive(t *testing.T) {
	isProbe := func(o []outSeg) bool {
		if len(o) != 1 {
			return false
		}
		p := o[0].seg
		return p.Flags&^segment.FlagPSH == segment.FlagACK && p.Seq == engISS && len(p.Payload) <= 1
	}
	h := newEstablished(t)
	h.advance(1 * s)
	h.c.SetKeepalive(h.now, tcp.Keepalive{Enable: true, Idle: 5 * s, Interval: 1 * s, Count: 2})
	h.expectNothing(6*s - 1)
	if !isProbe(h.drainOut(6 * s)) {
		h.fatalf("no probe 5 s after SetKeepalive")
	}
	if !isProbe(h.drainOut(7 * s)) {
		h.fatalf("no second probe 1 s later")
	}
	h.expect(8*s, h.out("R", seq(1)))
	h.expectErr(syscall.ETIMEDOUT)

	h2 := newEstablished(t)
	h2.c.SetKeepalive(h2.now, tcp.Keepalive{Enable: true, Idle: 5 * s, Interval: 1 * s, Count: 2})
	h2.c.SetKeepalive(h2.now, tcp.Keepalive{Enable: true, Idle: 7 * s}) // zero fields keep their values
	if k := h2.c.Keepalive(); k != (tcp.Keepalive{Enable: true, Idle: 7 * s, Interval: 1 * s, Count: 2}) {
		t.Fatalf("Keepalive() = %+v after a partial SetKeepalive", k)
	}
	h2.advance(1 * s)
	h2.c.SetKeepalive(h2.now, tcp.Keepalive{Enable: false})
	h2.expectNothing(3 * 3600 * s)
	h2.expectState(tcp.StateEstablished)
}

// SetSendBufferSize bounds what Write accepts for this connection.
func TestSetSendBufferSize(t *testing.T) {
	h := newEstablished(t)
	h.c.SetSendBufferSize(3000)
	if w := h.c.Writable(); w != 3000 {
		t.Fatalf("Writable %d after SetSendBufferSize(3000)", w)
	}
	if k := h.tryWrite(10*ms, 5000); k != 3000 {
		t.Fatalf("Write took %d bytes, want the 3000 the buffer holds", k)
	}
}

// SetRecvBufferSize never takes back the window already offered (RFC 9293
// 3.8.6.2.2): a bound below buffered data plus that window is raised to it.
func TestSetRecvBufferSizeKeepsOfferedWindow(t *testing.T) {
	h := newEstablished(t)
	wnd := int(h.c.Info().RcvWnd)
	if wnd == 0 {
		t.Fatal("no receive window offered")
	}
	if got := h.c.SetRecvBufferSize(1000); got != wnd {
		t.Fatalf("SetRecvBufferSize(1000) = %d, want the offered window %d", got, wnd)
	}
	if got := h.c.SetRecvBufferSize(4 * wnd); got != 4*wnd {
		t.Fatalf("SetRecvBufferSize(%d) = %d", 4*wnd, got)
	}
}
