package integration

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/tun/tuntest"
)

// nftLoss installs random drops of pct percent of the packets in both
// directions of dev, in the test's own namespace (a table created here and
// deleted at the end). This kernel has no netem qdisc; nftables' numgen
// does the job. It returns a function reading the two drop counters.
func nftLoss(t *testing.T, dev string, pct int) (dropped func() (in, out int)) {
	t.Helper()
	nft := needTool(t, "nft", "nftables")
	tuntest.Require(t)
	const table = "tunstack_loss"
	rules := fmt.Sprintf(`table ip %[1]s {
	chain in {
		type filter hook prerouting priority -300; policy accept;
		iifname "%[2]s" numgen random mod 100 < %[3]d counter drop
	}
	chain out {
		type filter hook postrouting priority 300; policy accept;
		oifname "%[2]s" numgen random mod 100 < %[3]d counter drop
	}
}
`, table, dev, pct)
	cmd := exec.Command(nft, "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v\n%s\n%s", err, out, rules)
	}
	t.Cleanup(func() { exec.Command(nft, "delete", "table", "ip", table).Run() })
	return func() (int, int) {
		out := tuntest.Run(t, nft, "list", "table", "ip", table)
		m := regexp.MustCompile(`counter packets (\d+)`).FindAllStringSubmatch(out, -1)
		if len(m) != 2 {
			t.Fatalf("nft counters not found in:\n%s", out)
		}
		a, _ := strconv.Atoi(m[0][1])
		b, _ := strconv.Atoi(m[1][1])
		return a, b
	}
}

// TestLossNftables: byte-exact transfers both ways while the kernel drops
// 3% of the packets in each direction between itself and the stack.
func TestLossNftables(t *testing.T) {
	dropped := nftLoss(t, devName, 3)
	p := serve(t)
	n := size(8<<20, 2<<20)
	start := time.Now()
	exchange(t, dialStack(t, 7), n, 2, 180*time.Second)
	t.Logf("echo %d MB both ways under 3%% loss in %v", n>>20, time.Since(start).Round(time.Millisecond))
	getBytes(t, 1000003)
	in, out := dropped()
	if in == 0 || out == 0 {
		t.Fatalf("nftables dropped %d packets from the stack and %d to it: the loss was not applied", in, out)
	}
	t.Logf("nftables dropped %d packets from the stack, %d to it", in, out)
	p.signal(syscall.SIGTERM)
	p.wait(5 * time.Second)
	re := regexp.MustCompile(`^\s+retransmissions\s+(\d+)$`)
	l, ok := p.findLine(re, 0, time.Second)
	if !ok {
		t.Fatal("no retransmissions counter in the exit statistics")
	}
	if n, _ := strconv.Atoi(re.FindStringSubmatch(l)[1]); n == 0 {
		t.Fatalf("the stack reports no retransmissions under loss: %q", l)
	}
}

// TestFaultInjection: the stack's own seeded delay, reordering,
// duplication and loss, with the kernel as the peer; transfers stay byte
// exact, and the fault counters prove the faults happened.
func TestFaultInjection(t *testing.T) {
	p := serve(t, "--delay", "2ms", "--jitter", "1ms", "--reorder", "5", "--dup", "3", "--loss", "1", "--seed", "42")
	n := size(8<<20, 2<<20)
	start := time.Now()
	exchange(t, dialStack(t, 7), n, 3, 180*time.Second)
	t.Logf("echo %d MB both ways with delay/reorder/dup/loss in %v", n>>20, time.Since(start).Round(time.Millisecond))
	getBytes(t, 1000003)
	p.signal(syscall.SIGTERM)
	if code := p.wait(5 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	re := regexp.MustCompile(`faults_(in|out)\s+sent=(\d+) delivered=(\d+) dropped=(\d+) duplicated=(\d+) reordered=(\d+)`)
	for _, dir := range []string{"in", "out"} {
		l, ok := p.findLine(regexp.MustCompile(`faults_`+dir+`\s`), 0, time.Second)
		if !ok {
			t.Fatalf("no fault statistics for direction %s", dir)
		}
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("unparsable fault statistics %q", l)
		}
		for i, what := range []string{"dropped", "duplicated", "reordered"} {
			if m[4+i] == "0" {
				t.Errorf("direction %s: nothing %s: %q", dir, what, l)
			}
		}
	}
}

// getBytes fetches /bytes/n with Go's client and checks length and content.
func getBytes(t *testing.T, n int) {
	t.Helper()
	cl := &http.Client{Timeout: 120 * time.Second}
	resp, err := cl.Get(fmt.Sprintf("http://%s/bytes/%d", stackAddr, n))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("/bytes/%d: %v after %d bytes", n, err, len(body))
	}
	if resp.StatusCode != 200 || len(body) != n {
		t.Fatalf("/bytes/%d: %s, %d bytes", n, resp.Status, len(body))
	}
	if err := checkFill(body, 0); err != nil {
		t.Fatal(err)
	}
}
