// Package stack is tunstack's runtime and public API: a userspace TCP/IP
// stack, IPv4 and IPv6 (Options.Addrs: one address of each family), that a Go program embeds on a Link (a Linux TUN device from package
// tun, or tun's in-memory pipe) and uses through the net package's
// interfaces: Listen returns a net.Listener, Dial and DialContext return a
// net.Conn; ListenUDP returns a UDP socket (a net.PacketConn) and DialUDP
// a connected one (a net.Conn too).
//
// A complete program, serving HTTP on 198.18.0.2:80 over an existing TUN
// device (see package tun for creating one and cmd/tunstack for a ready-made
// server):
//
//	package main
//
//	import (
//		"log"
//		"net/http"
//		"net/netip"
//
//		"github.com/tunstack/tunstack/stack"
//		"github.com/tunstack/tunstack/tun"
//	)
//
//	func main() {
//		// The kernel side gets 198.18.0.1/24; the stack is 198.18.0.2.
//		dev, err := tun.Open(tun.Config{Name: "tun0", Addr: netip.MustParsePrefix("198.18.0.1/24"), Up: true})
//		if err != nil {
//			log.Fatal(err)
//		}
//		s, err := stack.New(dev, stack.Options{Addr: netip.MustParseAddr("198.18.0.2")})
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer s.Close()
//		ln, err := s.Listen(":80")
//		if err != nil {
//			log.Fatal(err)
//		}
//		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
//			w.Write([]byte("hello from a userspace TCP stack\n"))
//		})
//		log.Fatal(http.Serve(ln, nil))
//	}
//
// A client dials out the same way, e.g. as an http.Transport's dialer, or
// through a Dialer where code expects net.Dial(network, address):
//
//	client := &http.Client{Transport: &http.Transport{DialContext: s.DialContext}}
//	d := &stack.Dialer{Stack: s, Timeout: 5 * time.Second}
//	c, err := d.Dial("tcp4", "198.18.0.1:8080")
//
// # Data path
//
// One input goroutine per Stack reads a packet from the link into a buffer
// it reuses, validates the IP header (IPv4, or IPv6 with its extension
// headers, RFC 8200 4) and the TCP header (malformed packets are dropped
// and counted by reason in Stats.Dropped), and demultiplexes the
// segment by its 4-tuple with one map lookup (tcp.Tuple is a comparable
// key): to a connection, to a TIME-WAIT record, to a listener, or to
// nothing, which is answered with a RST (RFC 9293 3.10.7.1; never a RST for
// a RST). Datagrams for another address or from an invalid source
// (broadcast, multicast, class E, 0/8, loopback, our own address) are
// silently discarded (RFC 1122 3.2.1.3). A SYN that finds a listener's
// half-open queue full is answered with a SYN cookie (RFC 4987 3.6). ICMP
// echo requests to the stack's address are answered. An ICMP destination
// unreachable that quotes a connection's unacknowledged data (RFC 5927 4.1's
// sequence check) is acted on: fragmentation needed lowers the connection's
// MSS to the path MTU and resends what is in flight (RFC 1191); protocol and
// port unreachable are hard errors that abort a connection still opening
// (RFC 1122 4.2.3.9); the other codes are soft errors. ICMPv6 (RFC 4443)
// is handled alike: echo requests are answered, Packet Too Big lowers the
// MSS (RFC 8201, never below the 1280-byte minimum MTU), unreachables and
// parameter problems are errors for the connection they quote; an
// unrecognised next header or option is answered with a rate-limited
// Parameter Problem. A TUN has no link layer, so there is no neighbour
// discovery; the kernel's own multicast (router solicitations, MLD) is not
// addressed to the stack and is dropped.
//
// IP fragments addressed to the stack are reassembled (package
// stack/ipfrag: bounded memory, 30 s for IPv4, 60 s for IPv6, overlaps
// discard the datagram) and processed whole; an ICMP echo reply larger
// than the MTU leaves in fragments. TCP itself never fragments: its
// segments carry DF and fit the path MTU.
//
// The TCP state machine itself is package stack/tcp, a sans-IO engine: the
// runtime hands it (now, segment), application calls, and timer expiries,
// and the engine answers through a Sink whose Output serialises the segment
// into a pooled buffer and writes it to the link at once. There is no
// goroutine per packet or per connection, no channel hop per segment, and
// no allocation per packet in steady state.
//
// # Offloads and acknowledgments in bursts
//
// On a Link that also implements OffloadLink (a *tun.Device, with or
// without offloads), the input goroutine reads with ReadPacket. With the
// device's offloads on, TCP segments whose checksum the kernel vouched for
// are not verified again, and a segment may be a super-segment of up to 64
// KiB that the engine takes as one (and acknowledges at once); the engine
// then also sends new data in segments of up to about 64 KiB, whole
// multiples of the MSS (tcp.Config.GSOMaxSize), which WriteGSO hands to
// the kernel to cut (Options.NoGSO turns just that off). With or without
// offloads, pure ACKs emitted while the input goroutine works through
// packets that were already waiting are held back and superseded, then
// sent when the link has nothing more to read or after a bounded burst;
// duplicate ACKs are never merged (see connSink.Output for the deviation
// from RFC 5681 4.2 this is, and why). On a link that can also be read
// without blocking (ReadAheadLink; a *tun.Device), the input goroutine
// moves the packets waiting in the device into a bounded arena while it
// works through a burst, so that the device's queue, which the kernel drops
// from when full, drains at the speed of reading rather than of processing
// (readahead.go). Packets are still processed one at a time, in arrival
// order, by the one input goroutine.
//
// # Concurrency model
//
// The stack uses one mutex per connection plus one demux mutex, rather than
// a single event loop. Why: application goroutines (Read, Write, Close) and
// the input goroutine then work on different connections in parallel,
// an application call runs the engine directly on the caller's goroutine
// (no hand-off latency, no wake-up of a loop goroutine per Write), and a
// blocked Read or Write holds no lock at all.
//
//   - Conn.mu guards one engine connection (tcp.Conn) and its wake-up
//     state. Whoever holds it may call the engine: the input goroutine for
//     an arriving segment, the clock's goroutine for a timer, an application
//     goroutine for Read/Write/Close. Segments the engine emits are built
//     into pooled buffers and queued under Conn.mu, and written to the link
//     after it is released, by one goroutine at a time per connection, so
//     the segments of one connection leave in order and nobody waits for
//     another goroutine's link write or trace output to get the lock
//     (output.go; the clock's goroutine writes only what its own timer
//     call emitted). Conn.mu has no Unlock: it is released with unlock,
//     which does that writing. The Link must accept concurrent Writes from different
//     goroutines (TUN devices and tun's pipe do); see Link for what the
//     stack assumes of Write.
//   - Stack.mu (the demux lock) guards the connection map, the listener
//     map, listener queue counters, the ephemeral-port search and the
//     TIME-WAIT table, and nothing else: it is held only for table
//     operations, never while calling a connection's engine or writing to
//     the link (a TIME-WAIT record decides its answer under it; the answer
//     is written after), and is always the innermost lock.
//   - Lock order: Conn.mu, then Stack.mu. The input goroutine looks a
//     connection up under Stack.mu, releases it, then takes Conn.mu; if the
//     connection left the table in between (it is marked gone under both
//     locks) the lookup is repeated.
//   - Transparent TCP (forwarder.go): the pending requests' lock,
//     forwarder.mu, is taken after Stack.mu (a SYN's lookup, an Accept
//     inserting its connection) and is innermost. Refusals are written
//     under Stack.inMu with the input goroutine's buffers: while the
//     handler runs on the input goroutine (which holds inMu), refusals
//     given by anyone are queued and written when it returns.
//   - UDP (udp.go): a socket's lock, UDPConn.mu, guards its receive ring
//     and pending ICMP error; the socket table has its own lock,
//     udpState.mu, taken for reading by the input goroutine's lookup. The
//     two are never held together, nor with Stack.mu. The transparent UDP
//     handler (SetUDPHandler) runs on the input goroutine under
//     Stack.inMu, and may send (WriteUDPFrom takes no stack lock).
//   - Each connection has one timer (timers.Clock.AfterFunc), re-armed
//     after every engine call to the engine's Deadline(). A firing takes
//     Conn.mu and runs HandleTimer only if the deadline has really passed,
//     so a stale wake-up is harmless. The TIME-WAIT table has one timer for
//     all its records.
//   - Blocked calls never hold a lock: Read and Write wait on per-connection
//     channels that engine events signal (Readable, Writable, Connected,
//     Closed), on their deadline's channel, and on the Close channel. This
//     is also why a test on a manual clock cannot deadlock: nothing waits
//     for time except through the clock the test advances.
//
// Goroutines: one per Stack (input), plus the clock's own (one dispatcher
// for timers.NewReal), none per connection nor per pending transparent
// request (SetTCPForwarder: one list, one timer); a short-lived one returns
// memory to the operating system after a load ends (memory.go), and a
// loopback goroutine once the stack dials its own address (loopback.go: the
// packets it sends itself are queued to its own input, never written to
// the link; Stack.inMu keeps input processing to one goroutine at a time).
// Close stops the input goroutine and every timer. The input goroutine also stops if the link fails under
// the stack (a read reports the link closed, e.g. a deleted TUN device, or
// 1000 read errors in a row); Done is closed either way and Err says why,
// and then every connection is dropped with that error, so blocked calls
// return it at once and new Dials and Listens fail with it (linkdown.go).
//
// # Ownership and safety
//
// A packet read from the link is owned by the input goroutine until the
// next read; the engine copies payload into its own buffers. Output
// buffers are borrowed from a pool from the moment a segment is built until
// its Link.Write (or WriteGSO) returns. All
// exported methods of Stack, Listener and Conn are safe for concurrent use.
// Nothing panics on input from the network. Options.Trace runs with no
// stack lock held, in order with the connection's output.
//
// # Deadlines and the clock
//
// Conn deadlines are read on the stack's Clock. With the default real clock
// they behave exactly as in package net; with a timers.Manual clock, a
// deadline of clock.Now().Add(d) fires when the test advances the clock.
package stack
