package integration

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// TestUIPageTimeWait: an HTTP/1.0 request from nc, which sends no FIN of
// its own (no -N), so that the stack closes first and keeps a TIME-WAIT
// record (`--msl 3s`: 2*MSL is 6 s). (curl -0 may close first.) The page must show
// the row in TIME-WAIT with its 2*MSL counting down, then CLOSED, and the
// ladder the stack's active close: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT.
func TestUIPageTimeWait(t *testing.T) {
	nc := needTool(t, "nc", "netcat-openbsd")
	b := openUI(t, "--msl", "3s")
	out, stderr, err := command(t, 30*time.Second, []byte("GET / HTTP/1.0\r\n\r\n"), nc, "-w", "20", stackAddr, "80")
	if err != nil || !bytes.Contains(out, []byte("userspace TCP/IP stack")) {
		t.Fatalf("nc: %v %s %q", err, stderr, out)
	}
	b.waitFor("the connection in TIME-WAIT", row("")+` && `+row("")+`.dataset.state === 'TIME-WAIT'`, ids, 20*time.Second)
	cell := row("") + `.querySelector('td[data-key=state]').textContent`
	var first, second float64
	if _, err := fmt.Sscanf(eval[string](b, cell), "TIME-WAIT %f s", &first); err != nil {
		t.Fatalf("TIME-WAIT cell %q: %v", eval[string](b, cell), err)
	}
	time.Sleep(1500 * time.Millisecond)
	if _, err := fmt.Sscanf(eval[string](b, cell), "TIME-WAIT %f s", &second); err != nil {
		t.Fatalf("TIME-WAIT cell %q: %v", eval[string](b, cell), err)
	}
	if first > 6 || second > first-0.5 || second < first-4 {
		t.Errorf("2*MSL countdown of 6 s: %.1f s, then %.1f s 1.5 s later", first, second)
	}
	b.waitFor("the record expired", row("")+`.dataset.state === 'CLOSED'`, ids, 20*time.Second)
	id := eval[string](b, row("")+`.dataset.connId`)
	b.click(fmt.Sprintf(`tr[data-conn-id=%q] button.select`, id))
	b.waitFor("the ladder", `document.querySelectorAll('#ladder .seg').length >= 6`,
		`document.getElementById('detail-note').textContent`, 20*time.Second)
	states := eval[[]string](b, `[...document.querySelectorAll('#ladder .state-stack')].map(e => e.dataset.state)`)
	if err := inOrder(states, []func(string) bool{is("ESTABLISHED"), is("FIN-WAIT-1"), is("FIN-WAIT-2"), is("TIME-WAIT")}); err != nil {
		t.Errorf("the stack's states %q: want ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT (%v)", states, err)
	}
	segs := eval[[]string](b, `[...document.querySelectorAll('#ladder .seg-row')].map(g => g.dataset.dir + ' ' + g.dataset.flags)`)
	if err := inOrder(segs, []func(string) bool{seg("in", "S", "."), seg("out", "S.", ""), seg("out", "F.", ""), seg("in", "F.", "")}); err != nil {
		t.Errorf("ladder %q: %v", segs, err)
	}
	b.screenshot("#ladder", "ui-timewait-ladder.png")
	b.checkJS()
}
