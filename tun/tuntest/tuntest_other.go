//go:build !linux

package tuntest

import (
	"fmt"
	"os"
	"testing"
)

// EnvNetns is set to "1" in a test process running in its own namespace.
const EnvNetns = "TUNSTACK_NETNS"

const reason = "network namespaces and TUN devices need Linux"

// RunInNetns runs m in the current process; privileged tests skip (fail
// under CI=true).
func RunInNetns(m *testing.M) int {
	if os.Getenv("CI") == "true" {
		fmt.Fprintln(os.Stderr, "tuntest: FAIL: CI=true and the privileged tests cannot run:", reason)
		return 1
	}
	return m.Run()
}

// Require skips t (fails it under CI=true).
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(reason)
	}
	t.Skip(reason)
}

// InPrivateNetns is always false off Linux.
func InPrivateNetns() bool { return false }

// Run skips t: there is no private namespace.
func Run(t testing.TB, name string, args ...string) string { Require(t); return "" }

// CheckIsolated skips t: there is no private namespace.
func CheckIsolated(t testing.TB, allowed ...string) { Require(t) }

// RunUnprivileged skips t: there is no private namespace.
func RunUnprivileged(t testing.TB, env []string, args ...string) (string, int) {
	Require(t)
	return "", 0
}
