package integration

import (
	"io"
	"testing"
	"time"
)

// TestKernelUploadSACKRecovery: the kernel sends to the stack's discard
// service while 3 % of the packets are lost each way. The handshake
// agrees on SACK (RFC 2018 2) and timestamps (RFC 7323 3.2), and the
// stack's ACKs report the holes in SACK blocks (RFC 2018 4), so the kernel
// repairs its losses by SACK-based recovery (nstat's
// TcpExtTCPSackRecovery), not by NewReno's duplicate-ACK recovery
// (TcpExtTCPRenoRecovery, what it fell back to when we offered no SACK) and
// rarely by a retransmission timeout.
func TestKernelUploadSACKRecovery(t *testing.T) {
	// The stack's own seeded loss on its link, each way, per segment
	// (without offloads every packet is one segment; nftables' numgen
	// rule sees the kernel's GSO packets before they are cut and dropped
	// too few of them to matter, TestLossNftables).
	serve(t, "--no-offload", "--loss", "3", "--seed", "7")
	before := kernelTCPStats(t)
	c := dialStack(t, 9)
	n := size(16<<20, 4<<20)
	buf := make([]byte, 64<<10)
	c.SetDeadline(time.Now().Add(150 * time.Second))
	start := time.Now()
	for sent := int64(0); sent < n; {
		k, err := c.Write(buf[:min(int64(len(buf)), n-sent)])
		if err != nil {
			t.Fatalf("write after %d bytes: %v", sent, err)
		}
		sent += int64(k)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// The discard service closes after reading our FIN: everything arrived.
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("waiting for the stack's FIN: %v", err)
	}
	elapsed := time.Since(start)
	after := kernelTCPStats(t)
	d, s := kstatDelta(before, after, "TcpExt.TCPSackRecovery", "TcpExt.TCPRenoRecovery", "TcpExt.TCPTimeouts",
		"TcpExt.TCPSACKReneging", "TcpExt.TCPDSACKRecv", "Tcp.RetransSegs", "Tcp.OutSegs", "TcpExt.TCPLossProbes", "TcpExt.TCPSackRecoveryFail", "TcpExt.TCPLostRetransmit", "TcpExt.TCPFastRetrans", "TcpExt.TCPSACKReorder")
	t.Logf("%d MB uploaded under 3%% loss in %v; kernel:%s", n>>20, elapsed.Round(time.Millisecond), s)
	if d["Tcp.RetransSegs"] == 0 {
		t.Fatalf("the kernel retransmitted nothing: the loss was not applied:%s", s)
	}
	if d["TcpExt.TCPSackRecovery"] == 0 || d["TcpExt.TCPRenoRecovery"] != 0 {
		t.Errorf("the kernel recovered by SACK %d times and by NewReno %d times; want SACK only:%s",
			d["TcpExt.TCPSackRecovery"], d["TcpExt.TCPRenoRecovery"], s)
	}
	if d["TcpExt.TCPSACKReneging"] != 0 {
		t.Errorf("the kernel saw SACK reneging:%s", s)
	}
	if d["TcpExt.TCPTimeouts"]*4 > d["TcpExt.TCPSackRecovery"] {
		t.Errorf("retransmission timeouts are more than a quarter of the SACK recoveries:%s", s)
	}
}
