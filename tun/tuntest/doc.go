// Package tuntest runs privileged tests (TUN devices, addresses, routes,
// kernel sockets talking to them) inside a private network namespace that the
// test process creates for itself and that disappears when it exits.
//
// Usage, once per test package:
//
//	func TestMain(m *testing.M) { os.Exit(tuntest.RunInNetns(m)) }
//
// and at the top of every privileged test:
//
//	tuntest.Require(t)
//
// RunInNetns re-executes the test binary (os.Args, unchanged) under
// `unshare --net --` (util-linux) with TUNSTACK_NETNS=1 in its environment,
// so the whole test process — every goroutine, and every command it starts
// with Run — lives in a fresh network namespace holding only a loopback
// device, which RunInNetns brings up. When the process exits the kernel
// destroys the namespace and everything in it (TUN devices, addresses,
// routes, nftables rules). Nothing is ever created, configured or sent in the
// namespace the tests were started from: before running any test the child
// checks that its namespace differs from its parent's and refuses to run
// otherwise.
//
// When a private namespace is impossible (not root, no unshare binary,
// unshare fails, no /dev/net/tun) RunInNetns still runs the package's tests
// in the current namespace, but Require skips every privileged test with the
// reason. Under CI=true a missing namespace is a failure, never a skip:
// RunInNetns prints why and returns a non-zero exit code without running
// anything, and Require fails the test.
//
// Unprivileged tests in the same package (those that do not call Require)
// run in either case.
//
// Helpers for privileged tests (each calls Require first):
//
//   - Run(t, "ip", "tuntap", "add", ...) runs a command inside the
//     namespace (children inherit it) and fails t on a non-zero exit.
//   - CheckIsolated(t, "tsut0") asserts the process is not in the namespace
//     the tests were started from and that no interface but lo and the
//     named ones exists.
//   - RunUnprivileged(t, env, "-test.run=^TestHelperX$") runs a copy of the
//     test binary as nobody, to check what an unprivileged user is told.
//
// Concurrency: Require, Run, CheckIsolated and InPrivateNetns may be called
// from parallel tests. Nothing here panics; failures are reported through
// testing.TB.
package tuntest
