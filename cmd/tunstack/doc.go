// Command tunstack runs the tunstack userspace TCP/IP stack on a Linux TUN
// device.
//
//	tunstack serve [flags]            echo (7, TCP and UDP), discard (9), chargen (19), HTTP (80)
//	tunstack dial [flags] ADDR:PORT   netcat over the stack (active open)
//	tunstack forward [flags]          transparent proxy: what is routed into the device is
//	                                  re-originated from host sockets (forward*.go)
//
// `tunstack --help` and `tunstack serve --help` list the flags, examples and
// exit codes. `serve` satisfies the benchmark contract
// (shared/bench/CONTRACT.md): with --tun it attaches to an existing device
// and configures nothing; without it, it creates a device, gives the kernel
// side its addresses, and removes the device on exit.
//
// The stack is dual-stack by default: --addr, repeatable once per family,
// defaults to 198.18.0.2 and 2001:2::2, and a device tunstack creates gets
// 198.18.0.1/24 and 2001:2::1/64 on the kernel side (--host-addr), from the
// benchmarking ranges of RFC 2544 and RFC 5180. The services listen on
// both families; dial takes 198.18.0.1:PORT or [2001:2::1]:PORT and leaves
// from the stack's address of that family. A TUN device has no link layer,
// so IPv6 needs no neighbour discovery (RFC 4861 applies to links with
// link-layer addresses).
//
// Layout: main.go dispatches and maps errors to exit codes (never a stack
// trace); flags.go and help.go parse and document the command line, and
// addrs.go the address flags, their defaults and checks;
// services.go holds the four services, written against net.Listener so the
// unit tests run them on the kernel's loopback; observe.go holds the pcap
// writer and the tracer, and observelink.go the Link wrapper behind --pcap
// and --trace (offloads passed through; super-segments recorded as the
// wire segments they become); serve.go and dial.go wire tun, fault
// injection and stack together; stats.go prints the connection table;
// forward.go, forward_tcp.go, forward_udp.go and forward_dial.go are the
// transparent proxy (stack.SetTCPForwarder and SetUDPHandler, upstream
// sockets bound to --interface or marked with --fwmark, or via --socks5).
//
// Ownership and concurrency: packets passed to the observing Link wrapper
// are only read during the call (copied into the pcap buffer, or parsed for
// a trace line) and never retained; a super-segment is cut into the wrapper's
// own scratch buffer, under its mutex. The pcap writer and the tracer are safe
// for concurrent use (one mutex each); the stack calls the tracer under a
// connection's lock, so it only formats and writes, never calls back into
// the stack. Nothing here panics on packet contents: peekTCP bounds-checks
// every access (fuzzed by FuzzPeekTCP and FuzzPeekTCP6). Both families are
// observed alike: IPv6 super-segments are cut with segment.CutIPv6TCP, the
// trace prints IPv6 endpoints as [addr]:port, and the pcap file's link
// type RAW carries IPv4 and IPv6 packets side by side.
package main
