//go:build linux

package tuntest_test

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/tunstack/tunstack/tun/tuntest"
)

func TestMain(m *testing.M) { os.Exit(tuntest.RunInNetns(m)) }

func TestPrivateNamespace(t *testing.T) {
	tuntest.Require(t)
	if !tuntest.InPrivateNetns() {
		t.Fatal("Require passed but InPrivateNetns is false")
	}
	// A fresh namespace: nothing but lo, and lo is up.
	tuntest.CheckIsolated(t)
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if lo.Flags&net.FlagUp == 0 {
		t.Fatalf("lo is not up: %v", lo.Flags)
	}
	// Loopback works: a listener on 127.0.0.1 accepts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestRunAndIsolationCheck(t *testing.T) {
	tuntest.Require(t)
	// A persistent TUN device made with Run lives in this namespace only, and
	// CheckIsolated notices it unless allowed.
	tuntest.Run(t, "ip", "tuntap", "add", "dev", "tstpers0", "mode", "tun")
	defer tuntest.Run(t, "ip", "link", "del", "tstpers0")
	tuntest.CheckIsolated(t, "tstpers0")

	ft := &fakeT{TB: t}
	tuntest.CheckIsolated(ft)
	if !ft.failed {
		t.Fatal("CheckIsolated accepted an interface that was not allowed")
	}
}

// fakeT records Errorf instead of failing the real test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Errorf(format string, args ...any) { f.failed = true }
func (f *fakeT) Helper()                           {}

// TestUnprivileged runs a copy of this test binary as nobody: without CI it
// must skip the privileged test and pass, with CI=true it must fail.
func TestUnprivileged(t *testing.T) {
	tuntest.Require(t)
	for _, tc := range []struct {
		ci       string
		wantCode int
		wantOut  string
	}{
		{"", 0, "--- SKIP: TestPrivateNamespace"},
		{"true", 1, "FAIL: CI=true and the privileged tests cannot run: not root"},
	} {
		out, code := tuntest.RunUnprivileged(t, []string{"CI=" + tc.ci}, "-test.v", "-test.run=^TestPrivateNamespace$")
		if code != tc.wantCode || !strings.Contains(out, tc.wantOut) {
			t.Errorf("CI=%q: exit %d, want %d with %q; output:\n%s", tc.ci, code, tc.wantCode, tc.wantOut, out)
		}
	}
}
