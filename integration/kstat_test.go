package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// kernelTCPStats reads the kernel's TCP counters of the test's network
// namespace (what nstat shows): the "Tcp:" table of /proc/net/snmp and the
// "TcpExt:" table of /proc/net/netstat, keyed "Tcp.RetransSegs",
// "TcpExt.TCPTimeouts" and so on.
func kernelTCPStats(t testing.TB) map[string]int64 {
	t.Helper()
	m := make(map[string]int64)
	for _, f := range []string{"/proc/net/snmp", "/proc/net/netstat"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("kernel counters: %v", err)
		}
		// Each table is two lines: "Name: key key ..." then "Name: v v ...".
		sc := bufio.NewScanner(bytes.NewReader(b))
		var keys []string
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 0 {
				continue
			}
			prefix := strings.TrimSuffix(fields[0], ":")
			if prefix != "Tcp" && prefix != "TcpExt" {
				keys = nil
				continue
			}
			if keys == nil {
				keys = fields[1:]
				continue
			}
			for i, v := range fields[1:] {
				if i < len(keys) {
					n, _ := strconv.ParseInt(v, 10, 64)
					m[prefix+"."+keys[i]] = n
				}
			}
			keys = nil
		}
	}
	if _, ok := m["Tcp.RetransSegs"]; !ok {
		t.Fatalf("kernel counters: no Tcp.RetransSegs in /proc/net/snmp")
	}
	return m
}

// kstatDelta returns after[k] - before[k] for each key, formatted for a
// failure message.
func kstatDelta(before, after map[string]int64, keys ...string) (map[string]int64, string) {
	d := make(map[string]int64, len(keys))
	var b strings.Builder
	for _, k := range keys {
		d[k] = after[k] - before[k]
		fmt.Fprintf(&b, " %s=%d", k, d[k])
	}
	return d, b.String()
}

// tcpSocketState returns the state of the kernel's TCP socket with local
// port lport towards the stack (/proc/net/tcp, hex state: 01 ESTABLISHED
// ... 09 LAST_ACK), or "" when there is none.
func tcpSocketState(t testing.TB, lport int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatalf("/proc/net/tcp: %v", err)
	}
	want := fmt.Sprintf(":%04X", lport)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		// sl local_address rem_address st ...
		if len(f) > 3 && strings.HasSuffix(f[1], want) && strings.HasPrefix(f[2], "020012C6:") {
			return f[3] // 198.18.0.2 is 0x0200_12C6 in the kernel's byte order
		}
	}
	return ""
}
