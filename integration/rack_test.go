package integration

import (
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestStackDownloadRACKRecovery: the stack sends (HTTP /bytes and echo) to
// the kernel while 3 % of the packets are lost each way (the stack's own
// seeded per-segment loss, as TestKernelUploadSACKRecovery). SACK is
// negotiated, so the stack's sender detects losses with RACK-TLP (RFC
// 8985) and repairs them by SACK-based fast recovery (RFC 6675): its exit
// statistics must show RACK at work and fast recoveries outnumbering
// retransmission timeouts by at least 10 to 1 (issue 9).
func TestStackDownloadRACKRecovery(t *testing.T) {
	p := serve(t, "--no-offload", "--loss", "3", "--seed", "11")
	start := time.Now()
	for range 4 {
		getBytes(t, int(size(8<<20, 2<<20)))
	}
	exchange(t, dialStack(t, 7), size(4<<20, 1<<20), 5, 180*time.Second)
	t.Logf("downloads under 3%% loss in %v", time.Since(start).Round(time.Millisecond))
	p.signal(syscall.SIGTERM)
	p.wait(5 * time.Second)
	stat := func(name string) int {
		re := regexp.MustCompile(`^\s+recovery\.` + name + `\s+(\d+)$`)
		l, ok := p.findLine(re, 0, time.Second)
		if !ok {
			t.Fatalf("no recovery.%s in the exit statistics", name)
		}
		n, _ := strconv.Atoi(re.FindStringSubmatch(l)[1])
		return n
	}
	fast, rto, rack, tlp, spurious := stat("fast_recoveries"), stat("rto_expiries"), stat("rack_losses"), stat("tlp_probes"), stat("spurious_retrans")
	t.Logf("fast recoveries %d, RTO expiries %d, RACK losses %d, TLP probes %d, D-SACKed retransmissions %d", fast, rto, rack, tlp, spurious)
	if rack == 0 || fast == 0 {
		t.Fatalf("no RACK losses (%d) or fast recoveries (%d) under 3%% loss", rack, fast)
	}
	if fast < 10*rto {
		t.Errorf("fast recoveries %d, RTO expiries %d: want at least 10 to 1", fast, rto)
	}
}
