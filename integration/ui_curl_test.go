package integration

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestUIPageCurl is the --ui page end to end: `tunstack serve --ui` in the
// test's namespace, the page open in a headless Chromium before anything
// happens, then a real curl. The connection must appear in the table by
// itself (server-sent events, no reload) and reach CLOSED; its ladder
// must show the three-way handshake and both FINs in order, with the
// stack's states along its line. A second curl, rate-limited so that it
// lasts, must be seen ESTABLISHED while it runs and then closed, with its
// data collapsed in the ladder and its plots drawn. Screenshots of both go
// to the artifacts directory; with TUNSTACK_README_SCREENSHOT=1 the first
// ladder also replaces docs/ui-ladder.png (the README's picture).
func TestUIPageCurl(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	b := openUI(t)

	out, stderr, err := command(t, 30*time.Second, nil, curl, "-sS", "--max-time", "20", "http://"+stackAddr+"/")
	if err != nil || !bytes.Contains(out, []byte("userspace TCP/IP stack")) {
		t.Fatalf("curl /: %v %s %q", err, stderr, out)
	}
	b.waitFor("curl's connection", row(""), ids, 20*time.Second)
	b.waitFor("curl's connection closed", row("")+`.dataset.state === 'CLOSED' && `+row("")+`.classList.contains('closed')`, ids, 20*time.Second)
	id := eval[string](b, row("")+`.dataset.connId`)

	b.click(fmt.Sprintf(`tr[data-conn-id=%q] button.select`, id))
	b.waitFor("the ladder", `document.querySelectorAll('#ladder .seg').length >= 6 && document.getElementById('trace').textContent.length > 0`,
		`document.getElementById('detail-note').textContent`, 20*time.Second)
	segs := eval[[]string](b, `[...document.querySelectorAll('#ladder .seg-row')].map(g => g.dataset.dir + ' ' + g.dataset.flags)`)
	// The peer's SYN, the stack's SYN-ACK, the peer's ACK, then a FIN
	// with ACK from each side (curl closes first), in this order.
	if err := inOrder(segs, []func(string) bool{
		seg("in", "S", "."), seg("out", "S.", ""), seg("in", ".", "SF"),
		seg("in", "F.", ""), seg("out", "F.", ""),
	}); err != nil {
		t.Errorf("ladder %q: %v", segs, err)
	}
	states := eval[[]string](b, `[...document.querySelectorAll('#ladder .state-stack')].map(e => e.dataset.state)`)
	if err := inOrder(states, []func(string) bool{is("SYN-RECEIVED"), is("ESTABLISHED"), is("CLOSED")}); err != nil || states[len(states)-1] != "CLOSED" {
		t.Errorf("the stack's states along the ladder %q: want SYN-RECEIVED, ESTABLISHED ... CLOSED (%v)", states, err)
	}
	peer := eval[[]string](b, `[...document.querySelectorAll('#ladder .state-peer')].map(e => e.dataset.state)`)
	if err := inOrder(peer, []func(string) bool{is("SYN-SENT"), is("ESTABLISHED"), is("FIN-WAIT-1")}); err != nil {
		t.Errorf("the peer's inferred states %q: %v", peer, err)
	}
	if tr := eval[string](b, `document.getElementById('trace').textContent`); !strings.Contains(tr, "[S]") || !strings.Contains(tr, "ESTABLISHED") {
		t.Errorf("the trace (text alternative) lacks the SYN or ESTABLISHED:\n%s", tr)
	}
	for _, q := range []string{"export-pcap", "export-trace"} {
		href := eval[string](b, `document.getElementById('`+q+`').href`)
		resp, err := http.Get(href)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s %s: %v %v", q, href, err, resp)
		} else {
			resp.Body.Close()
		}
	}
	ladder := b.screenshot("#ladder", "ui-curl-ladder.png")
	if os.Getenv("TUNSTACK_README_SCREENSHOT") == "1" {
		png, err := os.ReadFile(ladder)
		if err == nil {
			err = os.WriteFile(filepath.Join("..", "docs", "ui-ladder.png"), png, 0o644)
		}
		if err != nil {
			t.Fatalf("docs/ui-ladder.png: %v", err)
		}
	}

	// A transfer that lasts: seen ESTABLISHED while curl runs. curl's
	// --limit-rate only slows its reads, so the kernel's receive buffer
	// (tcp_rmem allows up to 32 MB here) could take all 3 MB from the stack
	// within a second and leave one throughput bar: cap the namespace's
	// receive buffers for this test so that the stack's sending follows
	// curl's reading.
	setKnob(t, "/proc/sys/net/ipv4/tcp_rmem", "4096 65536 131072")
	done := make(chan error, 1)
	go func() {
		_, stderr, err := command(t, 90*time.Second, nil, curl, "-sS", "--max-time", "80", "--limit-rate", "1M",
			"-o", "/dev/null", fmt.Sprintf("http://%s/bytes/%d", stackAddr, 3<<20))
		if err != nil {
			err = fmt.Errorf("%v %s", err, stderr)
		}
		done <- err
	}()
	b.waitFor("the transfer ESTABLISHED", row(id)+` && `+row(id)+`.dataset.state === 'ESTABLISHED'`, ids, 20*time.Second)
	id2 := eval[string](b, row(id)+`.dataset.connId`)
	b.click(fmt.Sprintf(`tr[data-conn-id=%q] button.select`, id2))
	if err := <-done; err != nil {
		t.Fatalf("curl --limit-rate: %v", err)
	}
	b.waitFor("the transfer closed, its ladder and plots redrawn",
		`document.getElementById('detail-title').textContent.includes('(CLOSED)') && document.querySelectorAll('#plots path[data-series=cwnd]').length > 0`,
		`document.getElementById('detail-title').textContent + ' / ' + document.getElementById('detail-note').textContent`, 30*time.Second)
	if n := eval[int](b, `document.querySelectorAll('#ladder .run-row').length`); n == 0 {
		t.Errorf("3 MB of data and no collapsed run in the ladder")
	}
	if n := eval[int](b, `document.querySelectorAll('#plots rect.bar').length`); n < 2 {
		t.Errorf("throughput: %d one-second bars for a transfer of about 3 s", n)
	}
	b.screenshot("#ladder", "ui-curl-transfer-ladder.png")
	b.screenshot("#plots", "ui-curl-plots.png")
	b.fullPage("ui-curl-page.png")
	b.checkJS()
}

// openUI starts `tunstack serve --ui` on a free loopback port with extra
// flags, opens the page in a new browser and waits until it shows the empty
// table and a live event stream.
func openUI(t *testing.T, flags ...string) *browser {
	t.Helper()
	b := newBrowser(t)
	addr := freeLoopbackAddr(t)
	serve(t, append([]string{"--ui", addr}, flags...)...)
	page := "http://" + addr + "/"
	waitHTTP(t, page+"api/conns", 20*time.Second)
	b.navigate(page)
	b.waitFor("the empty table", `document.querySelector('#conns thead th') && !document.getElementById('conns-empty').hidden`,
		`document.body.innerText.slice(0, 500)`, 20*time.Second)
	b.waitFor("the live status", `document.getElementById('status').textContent.startsWith('live')`,
		`document.getElementById('status').textContent`, 20*time.Second)
	return b
}

// ids lists the table's rows: id, state, local and remote address.
const ids = `[...document.querySelectorAll('#conns tbody tr')].map(r => r.dataset.connId + ' ' + r.dataset.state + ' ' + r.querySelector('td[data-key=local]').textContent + ' ' + r.querySelector('td[data-key=remote]').textContent).join('; ')`

// row is the first table row of a connection from the kernel to the
// stack's port 80 whose id is not skip.
func row(skip string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#conns tbody tr')].filter(r => r.querySelector('td[data-key=local]').textContent === '%s:80' && r.querySelector('td[data-key=remote]').textContent.startsWith('%s:') && r.dataset.connId !== '%s')[0]`, stackAddr, hostAddr, skip)
}

// seg matches a ladder row "dir flags" whose flags contain every one of
// want's characters and none of not's.
func seg(dir, want, not string) func(string) bool {
	return func(s string) bool {
		d, f, _ := strings.Cut(s, " ")
		if d != dir {
			return false
		}
		for _, c := range want {
			if !strings.ContainsRune(f, c) {
				return false
			}
		}
		return !strings.ContainsAny(f, not)
	}
}

func is(want string) func(string) bool { return func(s string) bool { return s == want } }

// inOrder checks that list has elements matching each of want, in order.
func inOrder(list []string, want []func(string) bool) error {
	i := 0
	for k, w := range want {
		j := slices.IndexFunc(list[i:], w)
		if j < 0 {
			return fmt.Errorf("expectation %d not met after position %d", k, i)
		}
		i += j + 1
	}
	return nil
}

// freeLoopbackAddr returns 127.0.0.1:PORT with a port free right now.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitHTTP polls url until it answers 200.
func waitHTTP(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v after %v", url, err, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
