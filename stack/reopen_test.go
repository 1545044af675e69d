package stack_test

import (
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
)

// TestTimeWaitRecord drives a scripted peer against a stack that closes
// first, and checks the TIME-WAIT record's behaviour: a retransmitted FIN
// is re-acknowledged, a RST is ignored (RFC 1337), and a new SYN with a
// higher sequence number reopens the tuple (RFC 9293 3.10.7.4, RFC 6191)
// with an ISS beyond the old connection's.
func TestTimeWaitRecord(t *testing.T) {
	l, s, ln := rawListener(t, stack.Options{})

	peer := func(seq, ack segment.Seq, f segment.Flags) {
		l.inject(tcpPacket(t, &segment.Segment{Src: addrA, Dst: addrB, SrcPort: 40000, DstPort: 80, Seq: seq, Ack: ack, Flags: f, Window: 65535}))
	}
	expect := func(what string, want segment.Flags) *segment.Segment {
		t.Helper()
		p := l.next(t, 2*time.Second)
		if p == nil {
			t.Fatalf("%s: nothing sent", what)
		}
		var seg segment.Segment
		if err := segment.ParseIPv4TCP(p, &seg); err != nil || seg.Flags&^segment.FlagPSH != want {
			t.Fatalf("%s: got %v (%v), want flags %v", what, &seg, err, want)
		}
		return &seg
	}
	nothing := func(what string) {
		t.Helper()
		if p := l.next(t, 100*time.Millisecond); p != nil {
			var seg segment.Segment
			segment.ParseIPv4TCP(p, &seg)
			t.Fatalf("%s: unexpected %v", what, &seg)
		}
	}

	peer(1000, 0, segment.FlagSYN)
	synack := expect("SYN-ACK", segment.FlagSYN|segment.FlagACK)
	iss := synack.Seq
	peer(1001, iss.Add(1), segment.FlagACK)
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close() // we close first: FIN
	expect("FIN", segment.FlagFIN|segment.FlagACK)
	peer(1001, iss.Add(2), segment.FlagFIN|segment.FlagACK)
	expect("ACK of the peer's FIN", segment.FlagACK)
	if !waitFor(2*time.Second, func() bool { return s.Stats().TimeWait == 1 }) {
		t.Fatalf("no TIME-WAIT record: %+v", s.Stats())
	}
	if st := s.Stats(); st.Conns != 0 {
		t.Fatalf("the Conn was kept in TIME-WAIT (%d conns)", st.Conns)
	}

	// Retransmitted FIN: re-acknowledged.
	peer(1001, iss.Add(2), segment.FlagFIN|segment.FlagACK)
	ack := expect("ACK of the retransmitted FIN", segment.FlagACK)
	if ack.Ack != 1002 || ack.Seq != iss.Add(2) {
		t.Fatalf("TIME-WAIT ACK %v", ack)
	}
	// RST: ignored (RFC 1337), the record stays.
	peer(1002, 0, segment.FlagRST)
	nothing("RST in TIME-WAIT")
	if st := s.Stats(); st.TimeWait != 1 {
		t.Fatalf("RST removed the TIME-WAIT record")
	}
	// A new SYN above RCV.NXT reopens.
	peer(900000, 0, segment.FlagSYN)
	synack2 := expect("SYN-ACK of the new incarnation", segment.FlagSYN|segment.FlagACK)
	if synack2.Ack != 900001 || !synack2.Seq.GreaterThan(iss.Add(2)) {
		t.Fatalf("reopened SYN-ACK %v; want ack 900001 and ISS beyond %d", synack2, iss.Add(2))
	}
	st := s.Stats()
	if st.TimeWait != 0 || st.TimeWaitReused != 1 || st.Conns != 1 {
		t.Fatalf("after reopen: TIME-WAIT %d reused %d conns %d", st.TimeWait, st.TimeWaitReused, st.Conns)
	}
}
