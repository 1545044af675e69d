// Package integration holds end-to-end tests of tunstack on a real TUN
// device with the Linux kernel's TCP as the peer. It has no non-test code.
//
// TestMain calls tuntest.RunInNetns: the test binary re-executes itself
// under `unshare --net`, so every test, every `tunstack serve` it starts and
// every curl, nc, ping and nft it runs live in a private network namespace
// that disappears with the process. Nothing is configured in the namespace
// the tests were started from. Without root (or without unshare) the
// privileged tests skip with the reason, except under CI=true, where they
// fail.
//
// The tests build bin/tunstack once (go build into a temporary directory,
// with -race when the test binary has it) and run it as a subprocess, the
// way a user and the benchmark harness do. TUNSTACK_BIN=/path/to/tunstack
// uses a prebuilt binary instead (the container image has no Go
// toolchain). External tools: curl, nc (netcat-openbsd), ip (iproute2),
// nft (nftables), ping (iputils-ping); a test whose tool is missing fails
// and says which package to install. The browser tests of the --ui page
// (TestUIPage*, ui_*_test.go) drive a headless chromium (Debian's package, or
// $TUNSTACK_CHROMIUM) with chromedp; without it they skip, except under
// CI=true, where they fail. Their screenshots go to $TUNSTACK_ARTIFACTS (a
// new temporary directory when unset; the test logs the path).
//
// Sizes: -short shrinks transfers (100 MB becomes 8 MB, 1,000 connections
// stay 1,000); nothing is skipped. Every loop is bounded in count and in
// time.
//
// Conformance (conformance_*_test.go, `go test -run TestConformance`): the
// test itself plays the TCP peer, segment by segment, in the spirit of
// gVisor's packetimpact. It sends crafted packets through a raw IPv4 socket
// and reads what the stack emits from an AF_PACKET socket on the TUN; an
// nftables rule in the namespace drops the RSTs the kernel would send for
// ports it has no socket on (the test's own RSTs pass by their socket
// mark). Each scenario is named after the RFC clause it judges (RFC 9293,
// 5961, 1122, 7323, 6298, 5681, 6582, 1191, 4987, 6528, 3168). Every
// conformance test runs in each link mode a user can get, as subtests named
// by mode (TestConformance/no-offload/..., conformance_modes_test.go):
// "default" (virtio-net offloads, ACK coalescing, busy polling),
// "no-offload" (plain device, still coalescing) and "faults" (the fault
// injector's plain wrapper: no offloads, no coalescing), so a behaviour only
// one mode has cannot hide. --trace, which the tests read states from,
// changes no mode. The packet socket reads each packet with its virtio-net
// header, so the stack's offloaded output (super-segments, partial
// checksums) is judged as the wire segments the kernel makes of it.
// Scenarios without extra flags share one `tunstack serve` per mode as
// subtests of TestConformance; the rest start their own.
//
// IPv6: `tunstack serve` without --addr is dual-stack (198.18.0.2 and
// 2001:2::2; the device it creates gets 198.18.0.1/24 and 2001:2::1/64).
// The kernel-peer tests run curl -6, nc -6, ping -6, a 100 MB echo and
// `tunstack dial [2001:2::1]:PORT` over IPv6 (ipv6_test.go); ping -s 4000
// in both families checks reassembly and fragmented replies on the wire
// (ipfrag_test.go, watched with tapTUN); a Packet Too Big or fragmentation
// needed lowers the segment size mid-connection (pmtu_kernel_test.go).
// The raw peer speaks both families (a raw IPv6 socket next to the IPv4
// one), and TestConformanceIPv6 runs every family-neutral shared scenario
// over IPv6 in every link mode (conformance_family_test.go lists the
// IPv4-only ones and why). No neighbour discovery is involved: a TUN device
// has no link layer.
package integration
