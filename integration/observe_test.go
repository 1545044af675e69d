package integration

import (
	"bytes"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// traceTime parses the HH:MM:SS.micro stamp that starts trace and table
// lines, as a duration since midnight.
func traceTime(t *testing.T, line string) time.Duration {
	t.Helper()
	m := regexp.MustCompile(`^(\d\d):(\d\d):(\d\d)\.(\d{6})`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no timestamp at the start of %q", line)
	}
	var v [4]int
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	return time.Duration(v[0])*time.Hour + time.Duration(v[1])*time.Minute + time.Duration(v[2])*time.Second +
		time.Duration(v[3])*time.Microsecond
}

// TestTraceHandshakesAndTimeWait: with --trace the three-way handshake, the
// stack's active close (HTTP with Connection: close: the server closes
// first) and its TIME-WAIT appear as they happen; with --msl 400ms the
// TIME-WAIT record expires after 2*MSL, which the connection table shows.
// --trace keeps the default path (offloads and ACK coalescing).
func TestTraceHandshakesAndTimeWait(t *testing.T) {
	const msl = 400 * time.Millisecond
	p := serve(t, "--trace", "--msl", msl.String(), "--stats", "20ms")
	if l := p.waitLine(regexp.MustCompile(`msg=serving`), time.Second); !regexp.MustCompile(`\boffload=true\b`).MatchString(l) {
		t.Fatalf("--trace turned the offloads off: %q", l)
	}
	c := dialStack(t, 80)
	port := strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if all, err := io.ReadAll(c); err != nil || !bytes.HasPrefix(all, []byte("HTTP/1.1 200")) {
		t.Fatalf("response %q, %v", all, err)
	}
	c.Close()

	peer := regexp.QuoteMeta(hostAddr + ":" + port)
	us := regexp.QuoteMeta(stackAddr + ":80")
	// The handshake, segment by segment, with sequence numbers.
	syn := p.waitLine(regexp.MustCompile(peer+` > `+us+` \[S\] seq=\d+ ack=0 `), 5*time.Second)
	p.waitLine(regexp.MustCompile(us+` > `+peer+` \[S\.\] seq=\d+ ack=\d+ `), 5*time.Second)
	p.waitLine(regexp.MustCompile(`SYN-RECEIVED -> ESTABLISHED`), 5*time.Second)
	// The stack closes first: FIN-WAIT-1, then TIME-WAIT once the peer's
	// FIN arrived.
	p.waitLine(regexp.MustCompile(`ESTABLISHED -> FIN-WAIT-1`), 5*time.Second)
	tw := p.waitLine(regexp.MustCompile(`-> TIME-WAIT`), 5*time.Second)
	if !strings.Contains(tw, hostAddr+":"+port) {
		t.Fatalf("TIME-WAIT line %q is not for our connection (port %s)", tw, port)
	}
	if !strings.Contains(syn, "seq=") {
		t.Fatalf("SYN line without seq: %q", syn)
	}
	entered := traceTime(t, tw)

	// The table's summary lines: time_wait=1 while it lasts, then
	// time_wait=0 with one expiry counted.
	lines := p.out.snapshot()
	from := len(lines)
	for i, l := range lines {
		if l == tw {
			from = i
		}
	}
	p.waitLine(regexp.MustCompile(`time_wait=1 `), 2*time.Second)
	gone, ok := p.findLine(regexp.MustCompile(`time_wait=0 time_wait_expired=1 `), from, 2*msl+3*time.Second)
	if !ok {
		t.Fatalf("TIME-WAIT did not expire within 2*MSL+3s")
	}
	held := traceTime(t, gone) - entered
	if held < 0 {
		held += 24 * time.Hour
	}
	// The table is printed every 20 ms: the expiry shows up at most one
	// period (plus scheduling slack) after it happened.
	if held < 2*msl-20*time.Millisecond || held > 2*msl+time.Second {
		t.Fatalf("TIME-WAIT lasted %v, want 2*MSL = %v", held, 2*msl)
	}
	t.Logf("TIME-WAIT held %v (2*MSL = %v)", held, 2*msl)
}

// TestStatsOnSIGUSR1: the connection table lists a live connection with
// its state and endpoints when asked.
func TestStatsOnSIGUSR1(t *testing.T) {
	p := serve(t)
	c := dialStack(t, 7)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := echoByte(c, 1); err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().String()
	p.signal(syscall.SIGUSR1)
	line := p.waitLine(regexp.MustCompile(`^ESTABLISHED\s+`+regexp.QuoteMeta(stackAddr+":7")+`\s+`+regexp.QuoteMeta(local)), 5*time.Second)
	p.waitLine(regexp.MustCompile(`connections=1 `), 5*time.Second)
	t.Logf("table entry: %s", line)
	// The process keeps serving after SIGUSR1.
	if err := echoByte(c, 2); err != nil {
		t.Fatalf("after SIGUSR1: %v", err)
	}
}
