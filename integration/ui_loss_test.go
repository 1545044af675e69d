package integration

import (
	"fmt"
	"testing"
	"time"
)

// TestUIPageLoss watches loss recovery on the --ui page: `serve --ui
// --loss 3 --delay 5ms`, a 1 MB download with curl, then the connection's
// ladder must show segments the fault injector dropped (stopped half way)
// and the stack's retransmissions, and its plots must mark them.
func TestUIPageLoss(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	b := openUI(t, "--loss", "3", "--delay", "5ms", "--seed", "3")
	out, stderr, err := command(t, 120*time.Second, nil, curl, "-sS", "--max-time", "110", "--retry", "3",
		"-o", "/dev/null", "-w", "%{http_code} %{size_download}", fmt.Sprintf("http://%s/bytes/%d", stackAddr, 1<<20))
	if err != nil || string(out) != fmt.Sprintf("200 %d", 1<<20) {
		t.Fatalf("curl: %v %s %q", err, stderr, out)
	}
	// The download's row: the one that sent the megabyte. (Not simply the
	// newest: the fault injector's drops of late ACKs, recorded after the
	// connection closed, can appear as a second record of the same tuple.)
	dl := `[...document.querySelectorAll('#conns tbody tr')].filter(r => r.querySelector('td[data-key=bytesSent]').textContent.endsWith(' MB'))[0]`
	b.waitFor("the download closed", dl+` && `+dl+`.dataset.state === 'CLOSED'`, ids, 30*time.Second)
	id := eval[string](b, dl+`.dataset.connId`)
	if n := eval[string](b, dl+`.querySelector('td[data-key=retransmits]').textContent`); n == "0" || n == "–" {
		t.Errorf("the table shows %q retransmissions after 3%% loss: %s", n, eval[string](b, `document.querySelector('#conns tbody').innerText`))
	}
	b.click(fmt.Sprintf(`tr[data-conn-id=%q] button.select`, id))
	b.waitFor("the ladder with drops and retransmissions",
		`document.querySelectorAll('#ladder .seg.dropped').length > 0 && document.querySelectorAll('#ladder .seg.retrans').length > 0`,
		`document.getElementById('detail-note').textContent + ' / ' + [...document.querySelectorAll('#ladder .seg-row .label')].map(e => e.textContent).filter(s => !s.startsWith('[')).join(' | ')`,
		20*time.Second)
	if n := eval[int](b, `document.querySelectorAll('#plots .panel .mark.retrans').length`); n == 0 {
		t.Error("no retransmission marked on the plots")
	}
	b.screenshot("#ladder", "ui-loss-ladder.png")
	b.screenshot("#plots", "ui-loss-plots.png")
	b.checkJS()
}
