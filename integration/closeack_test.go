package integration

import (
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestServerCloseNoKernelRetransmissions runs 1,000 HTTP connections with
// "Connection: close" from kernel sockets against the default `serve`
// (offloads, ACK coalescing, busy polling): tunstack closes first, the
// kernel answers with its own FIN from LAST-ACK, and tunstack's ACK of
// that FIN must reach it at once (RFC 9293 3.10.7.4: FIN-WAIT-2 acknowledges
// the FIN and enters TIME-WAIT). When that ACK was held for coalescing and
// dropped as the connection entered TIME-WAIT, every kernel socket sat in
// LAST-ACK until its retransmission timeout (>= 200 ms) and retransmitted its
// FIN: TcpRetransSegs and TCPTimeouts grew by one per connection.
//
// Asserted: no kernel retransmission or timeout at all (the path is
// lossless), and no socket stays in LAST-ACK for 100 ms (half the kernel's
// minimum RTO; a round trip over the TUN takes well under a millisecond).
func TestServerCloseNoKernelRetransmissions(t *testing.T) {
	serve(t)
	const conns = 1000
	const lastAckBound = 100 * time.Millisecond
	req := []byte("GET /bytes/100 HTTP/1.1\r\nHost: " + stackAddr + "\r\nConnection: close\r\n\r\n")
	// One connection first, so the path is warm (the kernel may drop the
	// very first packet after the stack attaches).
	oneClose(t, req, lastAckBound)
	before := kernelTCPStats(t)
	var lastAck []time.Duration
	for range conns {
		lastAck = append(lastAck, oneClose(t, req, lastAckBound))
		if t.Failed() {
			break
		}
	}
	after := kernelTCPStats(t)
	d, text := kstatDelta(before, after, "Tcp.RetransSegs", "TcpExt.TCPTimeouts", "TcpExt.TCPLossProbes", "Tcp.OutSegs")
	slices.Sort(lastAck)
	t.Logf("%d connections; kernel counters:%s; LAST-ACK p50 %v p99 %v max %v", len(lastAck), text,
		lastAck[len(lastAck)/2], lastAck[len(lastAck)*99/100], lastAck[len(lastAck)-1])
	if d["Tcp.RetransSegs"] != 0 || d["TcpExt.TCPTimeouts"] != 0 || d["TcpExt.TCPLossProbes"] != 0 {
		t.Errorf("kernel retransmitted during %d server-closed connections:%s (want 0)", conns, text)
	}
}

// oneClose runs one request on a fresh kernel connection, reads the answer
// to EOF (the server's FIN), closes (the kernel's FIN, LAST-ACK) and
// returns how long the socket then stayed in LAST-ACK. It fails the test
// when that reaches bound.
func oneClose(t *testing.T, req []byte, bound time.Duration) time.Duration {
	t.Helper()
	c, err := net.DialTimeout("tcp4", stackAddr+":80", 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	lport := c.LocalAddr().(*net.TCPAddr).Port
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		c.Close()
		t.Fatalf("write: %v", err)
	}
	body, err := io.ReadAll(c)
	if err != nil {
		c.Close()
		t.Fatalf("read: %v after %d bytes", err, len(body))
	}
	head, payload, ok := strings.Cut(string(body), "\r\n\r\n")
	if !ok || !strings.HasPrefix(head, "HTTP/1.1 200") || len(payload) != 100 || checkFill([]byte(payload), 0) != nil {
		c.Close()
		t.Fatalf("unexpected answer (%d bytes): %.80q", len(body), body)
	}
	start := time.Now()
	c.Close()
	for {
		st := tcpSocketState(t, lport)
		waited := time.Since(start)
		switch st {
		case "09", "08": // LAST_ACK, or CLOSE_WAIT before our FIN left
		default:
			return waited
		}
		if waited >= bound {
			t.Errorf("kernel socket :%d still in state %s %v after close (want gone within %v)", lport, st, waited, bound)
			return waited
		}
		time.Sleep(100 * time.Microsecond)
	}
}
