package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// This file drives the --ui page (stack/ui/web) in a headless Chromium with
// chromedp, for TestUIPage*: finding the browser, running JavaScript on the
// page, waiting for a condition, and keeping screenshots as artifacts.

// chromiumPath finds a Chromium: $TUNSTACK_CHROMIUM, else Debian's chromium
// or another common name on PATH. Without one the browser tests skip,
// except under CI=true, where they fail (CI installs it: .ci/run).
func chromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TUNSTACK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH (apt-get install chromium, or set TUNSTACK_CHROMIUM)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; under CI=true the browser test must run")
	}
	t.Skip(msg + "; under CI=true this fails")
	return ""
}

// browser is one headless Chromium tab.
type browser struct {
	t   testing.TB
	ctx context.Context
	mu  sync.Mutex
	js  []string // exceptions thrown and console errors on the page
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		// Chromium's sandbox needs user namespaces it cannot create as
		// root, nor inside most containers: --no-sandbox. The page it
		// loads is our own, from 127.0.0.1.
		chromedp.NoSandbox,
		// A container's /dev/shm is often 64 MB, too small for Chromium.
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	b := &browser{t: t, ctx: ctx}
	// The first Run starts the browser; it must not have a timeout (that
	// would stop the browser), so the start is bounded from outside.
	started := make(chan error, 1)
	go func() {
		started <- chromedp.Listen(ctx, b.onEvent)
	}()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting chromium: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not start within 60s")
	}
	return b
}

func (b *browser) onEvent(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		var parts []string
		for _, a := range e.Args {
			parts = append(parts, string(a.Value))
		}
		msg = "console.error: " + strings.Join(parts, " ")
	default:
		return
	}
	b.mu.Lock()
	b.js = append(b.js, msg)
	b.mu.Unlock()
}

// checkJS fails the test if the page threw or logged an error.
func (b *browser) checkJS() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.js {
		b.t.Errorf("page: %s", m)
	}
	b.js = nil
}

// do runs actions with a time limit.
func (b *browser) do(timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression on the page into T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript boolean expression until it is true; after
// timeout it fails the test, showing what describe (another expression)
// gives at that moment.
func (b *browser) waitFor(what, expr, describe string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			got := "?"
			if describe != "" {
				got = fmt.Sprint(eval[any](b, describe))
			}
			b.t.Fatalf("the page did not show %s within %v (%v); the page has: %s", what, timeout, err, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var (
	artifactsOnce sync.Once
	artifacts     string
	artifactsErr  error
)

// artifactsDir is where the browser tests keep their screenshots:
// $TUNSTACK_ARTIFACTS, else a new temporary directory. The path is logged
// so a person (or CI) can pick the files up; integration/artifacts/ is
// gitignored for those who point it there.
func artifactsDir(t testing.TB) string {
	t.Helper()
	artifactsOnce.Do(func() {
		if d := os.Getenv("TUNSTACK_ARTIFACTS"); d != "" {
			artifacts, artifactsErr = filepath.Abs(d)
			if artifactsErr == nil {
				artifactsErr = os.MkdirAll(artifacts, 0o755)
			}
			return
		}
		artifacts, artifactsErr = os.MkdirTemp("", "tunstack-ui-artifacts")
	})
	if artifactsErr != nil {
		t.Fatalf("artifacts directory: %v", artifactsErr)
	}
	return artifacts
}

// screenshot saves a PNG of the element matching the CSS selector sel as
// name in the artifacts directory and returns its path. It fails the test
// if the element has no size (the page drew nothing there).
func (b *browser) screenshot(sel, name string) string {
	b.t.Helper()
	// The whole diagram, not the part its scrolling box shows.
	eval[any](b, `document.querySelectorAll('.scroll').forEach(e => e.style.maxHeight = 'none')`)
	if !eval[bool](b, fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return r.width > 50 && r.height > 50; })()`, sel)) {
		b.t.Fatalf("%s is (nearly) empty: nothing to take a screenshot of", sel)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("screenshot of %s: %v", sel, err)
	}
	if len(png) < 1000 {
		b.t.Fatalf("screenshot of %s: only %d bytes", sel, len(png))
	}
	p := filepath.Join(artifactsDir(b.t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", p)
	return p
}

// fullPage saves a PNG (quality 100 means PNG to chromedp) of the whole page as name in the artifacts directory.
func (b *browser) fullPage(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot of the page: %v", err)
	}
	p := filepath.Join(artifactsDir(b.t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", p)
}

// navigate, click and typeInto are the user's actions (CSS selectors).
func (b *browser) navigate(u string) { b.t.Helper(); b.do(30*time.Second, chromedp.Navigate(u)) }
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do(10*time.Second, chromedp.Click(chromedp.CSS(sel)))
}
func (b *browser) typeInto(sel, keys string) {
	b.t.Helper()
	b.do(10*time.Second, chromedp.SendKeys(chromedp.CSS(sel), keys))
}
