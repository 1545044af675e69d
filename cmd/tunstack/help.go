package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

const topHelp = `tunstack - a userspace TCP/IP stack on a Linux TUN device

Usage:
  tunstack serve [flags]            run echo, discard, chargen and HTTP on the stack
  tunstack dial [flags] ADDR:PORT   netcat over the stack: stdin to the peer, the peer to stdout
                                    (ADDR:PORT is 198.18.0.1:8080 or [2001:2::1]:8080)
  tunstack forward [flags]          transparent proxy: connections and UDP flows routed into the
                                    device are re-originated from host sockets (--interface/--fwmark)
  tunstack help [serve|dial|forward] this text, or a command's flags

Quick start (as root, or with CAP_NET_ADMIN):
  tunstack serve &                  creates ` + defaultCreateName + `, host side ` + defaultHostAddr + `, stack at ` + defaultAddr + `
  curl http://` + defaultAddr + `/          the page comes from the userspace stack
  ping -c 3 ` + defaultAddr + `
  curl -6 'http://[` + defaultAddr6 + `]/'     IPv6 too: host side ` + defaultHostAddr6 + `, stack at ` + defaultAddr6 + `
  ping -6 -c 3 ` + defaultAddr6 + `           (no neighbour discovery: a TUN device has no link layer)
` + exitCodesHelp

const exitCodesHelp = `
Exit codes:
  0  success; also after SIGINT/SIGTERM (connections are closed gracefully first)
  1  runtime error (the device failed or was deleted; a second SIGINT/SIGTERM during
     the graceful shutdown; for dial: connection refused, reset or timed out)
  2  usage error (bad flag or argument)
  3  missing privileges: opening or configuring the TUN device needs root or CAP_NET_ADMIN
`

const serveHelpHead = `Usage: tunstack serve [flags]

Runs the userspace stack on a TUN device and serves, on every --addr (IPv4 and IPv6):
  TCP 7   echo (RFC 862)          TCP 9   discard (RFC 863), closes after the client's FIN
  UDP 7   echo (RFC 862): each datagram sent back to its sender (with the echo service)
  TCP 19  chargen (RFC 864 pattern, as fast as the peer reads)
  TCP 80  HTTP/1.1: GET / (a short page), GET /bytes/N (exactly N bytes: abc...z repeated)
  ICMP    echo requests (ICMP and ICMPv6) are answered by the stack, fragmented ones too
Without --addr the stack has both families: ` + defaultAddr + ` and ` + defaultAddr6 + ` (RFC 2544 and
RFC 5180 benchmarking ranges). Without --tun it creates the device ` + defaultCreateName + `, puts
--host-addr on the kernel side (` + defaultHostAddr + ` and ` + defaultHostAddr6 + ` by default), brings it up
and removes it on exit. With --tun it attaches to an existing device and changes
nothing on it (the benchmark harness's mode): the host side is then yours to set up;
on a device whose MTU is below 1280 (IPv6's minimum) the default IPv6 address is left out.
A TUN device has no link layer, so IPv6 needs no neighbour discovery.

SIGINT/SIGTERM: stop accepting, FIN every connection, wait up to --grace, print the
statistics, remove the device if tunstack created it, exit 0; a second signal exits
at once with 1. SIGUSR1: print the connection table. If the device stops working
(e.g. it is deleted), serve prints the statistics and exits with 1.

Examples:
  tunstack serve                               then: curl http://` + defaultAddr + `/ ; curl -6 'http://[` + defaultAddr6 + `]/'
  tunstack serve --addr ` + defaultAddr + `             IPv4 only (one --addr: one family)
  tunstack serve --addr 2001:db8::2 --host-addr 2001:db8::1/64 --addr 10.0.0.2 --host-addr 10.0.0.1/24
  tunstack serve --trace                       watch handshakes and TIME-WAIT live
  tunstack serve --ui 127.0.0.1:8080 --loss 2  then open http://127.0.0.1:8080/ and curl the stack:
                                               ladder diagrams, states and plots, live
  tunstack serve --loss 2 --delay 20ms --pcap /tmp/t.pcap --stats 5s
  tunstack serve --tun tsut0 --addr 198.18.0.2 --mtu 1500     (bench/run.sh template)
  tunstack serve --services http --http-root ./public
  tunstack serve --tun tun0 --link water       attach through songgao/water + tun.Adapt

Flags:
`

const dialHelpHead = `Usage: tunstack dial [flags] ADDR:PORT

Opens a TCP connection from the userspace stack (active open) to ADDR:PORT, an IPv4
address and port or an IPv6 address in brackets and port, copies stdin to the peer
and the peer to stdout. At the end of stdin it half-closes (sends FIN) and keeps
reading; it exits when the peer has closed its side. The device is created or
attached exactly as for serve; the connection leaves from the stack's address of
the target's family.

Examples:
  ip addr show ` + defaultCreateName + `   # after tunstack created it: the kernel side is ` + defaultHostAddr + ` and ` + defaultHostAddr6 + `
  nc -l 198.18.0.1 8080 &  echo hello | tunstack dial 198.18.0.1:8080
  nc -6 -l 2001:2::1 8080 &  echo hello | tunstack dial '[2001:2::1]:8080'
  tunstack dial --trace --tun tun1 198.18.0.1:22 </dev/null

Flags:
`

const forwardHelpHead = `Usage: tunstack forward [flags]

A transparent direct proxy (as tun2socks): every TCP connection and UDP flow routed
into the TUN device, to any destination in --prefix (default: all), is terminated by
the userspace stack and re-originated from this host's own sockets to the original
destination; the client sees the destination's own answer: the handshake completes
only once the destination accepted, a refused connection is reset, an unreachable
host answered with ICMP host unreachable. Upstream sockets are bound to --interface
(SO_BINDTODEVICE) or marked with --fwmark (SO_MARK) so that the host's routing does
not send them back into the device; with --socks5 TCP goes through a SOCKS5 proxy.
UDP flows use one host socket per client address and port (endpoint-independent
mapping, RFC 4787), forgotten after --udp-timeout without traffic.

Route an application's traffic into the device, e.g. a network namespace whose default
route is the device (move it there: ip link set ` + defaultCreateName + ` netns APP), or a policy
rule for a user or cgroup. --stats and SIGUSR1 print the connections and the flow
table; SIGINT/SIGTERM stop taking new connections and close the others gracefully.

Examples:
  tunstack forward --interface eth0
  tunstack forward --fwmark 0x1 --stats 10s        (ip rule add fwmark 0x1 lookup main)
  tunstack forward --socks5 127.0.0.1:1080 --prefix 10.0.0.0/8

Flags:
`

func printForwardHelp(w io.Writer, fs *flag.FlagSet) {
	io.WriteString(w, forwardHelpHead)
	printFlags(w, fs)
	io.WriteString(w, exitCodesHelp)
}

func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		head := "  --" + f.Name
		if name != "" {
			head += " " + strings.ToUpper(name)
		}
		lines := strings.Split(usage, "\n")
		if def := f.DefValue; def != "" && def != "0" && def != "false" && def != "0s" && !strings.Contains(usage, "(default") {
			lines[len(lines)-1] += " (default " + def + ")"
		}
		if len(head) < 24 {
			fmt.Fprintf(w, "%-24s%s\n", head, lines[0])
		} else {
			fmt.Fprintf(w, "%s\n%24s%s\n", head, "", lines[0])
		}
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "%24s%s\n", "", l)
		}
	})
}

func printServeHelp(w io.Writer, fs *flag.FlagSet) {
	io.WriteString(w, serveHelpHead)
	printFlags(w, fs)
	io.WriteString(w, exitCodesHelp)
}

func printDialHelp(w io.Writer, fs *flag.FlagSet) {
	io.WriteString(w, dialHelpHead)
	printFlags(w, fs)
	io.WriteString(w, exitCodesHelp)
}
