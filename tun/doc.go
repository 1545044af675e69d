// Package tun is tunstack's link layer: whole IP packets in and out of a
// Linux TUN device (Device), of an in-memory point-to-point link (NewPipe),
// or of either with impairments (WithFaults), or of any packet
// io.ReadWriteCloser opened by other code (Adapt). All of them satisfy the
// stack.Link interface: Read one packet, Write one packet, MTU, Close.
// Package tun imports only the standard library, golang.org/x/sys,
// tunstack's timers (for the pipe's clock) and segment (to find the TCP
// header behind IPv6 extension headers, and the IPv6 pseudo-header sum);
// stack does not import tun.
//
// # Device (Linux)
//
// Open creates the named TUN device or attaches to an existing (persistent)
// one, with IFF_TUN|IFF_NO_PI: no packet-information header, every Read and
// Write is one bare IPv4 or IPv6 packet. It then applies Config: MTU
// (SIOCSIFMTU), host-side addresses and prefixes of either family (Addr
// and Addrs, e.g. 198.18.0.1/24 and 2001:2::1/64; rtnetlink RTM_NEWADDR,
// which also installs the prefix route; an address already present is
// fine) and link up (SIOCSIFFLAGS; already up is fine). Every
// field of Config left at its zero value leaves that property alone, so
// Open(Config{Name: "tsut0"}) attaches to a device prepared by somebody
// else (the benchmark harness) without touching it. Open never changes the
// persist flag: a device it created (Created() == true) is removed by the
// kernel when closed, an existing persistent one outlives us unchanged.
//
// The descriptor is opened O_RDWR|O_CLOEXEC|O_NONBLOCK and wrapped with
// os.NewFile, which registers it with the Go runtime poller: a blocked Read
// parks only its goroutine, SetReadDeadline works, and Close unblocks a
// pending Read. Read and Write return ErrClosed (which matches both
// net.ErrClosed and os.ErrClosed) after Close and when the device was
// deleted under us (EBADFD).
//
// When the kernel refuses, Open returns an *OpenError whose message is one
// line saying what to do, wrapping the errno:
//
//	tunstack needs root or CAP_NET_ADMIN to open /dev/net/tun: run with sudo
//	tunstack: /dev/net/tun is not available: load the tun module: modprobe tun
//	TUN device tsut0 is in use by another process: stop it or choose another name
//	tunstack: tsut0 exists but is not a single-queue TUN device: delete it or choose another name
//
// # IPv6 on a TUN: no link layer, no neighbour discovery
//
// A TUN carries bare IP packets point to point: there are no link-layer
// addresses, so neighbour discovery (RFC 4861: address resolution,
// neighbour unreachability detection, redirects) has nothing to do, and
// the only other node on the link is whoever holds the descriptor, so
// duplicate address detection (RFC 4862 5.4) has nothing to find. Open
// adds IPv6 host-side addresses with IFA_F_NODAD (Linux also skips DAD on
// an IFF_NOARP device such as a TUN): the address is never "tentative"
// and the kernel can use it as a source at once, with a route to its
// prefix through the device. The kernel still completes the address from
// a work queue (its local route, without which packets to it are dropped,
// goes in there), so on a link that is up Open waits for that (polling
// RTM_GETROUTE, normally well under a millisecond): once Open returns, the
// address is usable both ways. IPv6 needs an MTU of at least
// 1280 (RFC 8200 5); a link where IPv6 is off (MTU, the disable_ipv6
// sysctl, a kernel without IPv6) gives an error wrapping
// ErrIPv6Unavailable.
//
// What the kernel sends on its own on a fresh IPv6-enabled TUN: it gives
// the device a random link-local address (fe80::/64, addr_gen_mode random
// for a device without a hardware address) and sends router solicitations
// (ICMPv6 type 133, RFC 4861 6.3.7) from it to ff02::2, the first within a
// second of the link going up, then with back-off (4 s, 8 s, ...; Linux's
// router_solicitations -1 never stops). Some kernels also send MLD
// reports (ICMPv6 type 143 to ff02::16, behind a hop-by-hop header) for
// the solicited-node groups; Linux 6.18 in a network namespace sent none
// (TestDeviceIPv6KernelChatter logs what arrives). None of it is for the
// stack: it drops and counts it.
//
// # Why not github.com/songgao/water
//
// The project card names water for opening the device. Its Linux code
// (v0.0.0-20200317203138) does open /dev/net/tun O_NONBLOCK and wrap it in
// os.NewFile, so it cooperates with the poller, but it gets in the way
// elsewhere: it always issues TUNSETPERSIST, clearing the persist flag
// unless asked to set it, so merely attaching to the harness's persistent
// tsut0 makes the kernel delete that device when we exit (verified here:
// `ip tuntap add dev tp0 mode tun`, open and close with water, tp0 is
// gone); it opens without O_CLOEXEC, leaking the descriptor into every
// command we start (which then keeps the device busy); it cannot say
// whether it created the device; and its flag set has no IFF_VNET_HDR and
// it exposes no TUNSETOFFLOAD, which the offloads below need. Device
// therefore uses golang.org/x/sys/unix directly (about 40 lines), behind
// the same small API.
//
// Programs that already open their TUN with water keep doing so and hand
// the *water.Interface to Adapt with the device's MTU (an example in
// adapt_example_test.go; `tunstack serve --link water` does this too).
// Adapt works for any packet io.ReadWriteCloser: it maps the errors of a
// closed or vanished device to ErrClosed, reports a packet cut short by a
// small Read buffer as ErrShortBuffer (from the IP length field: the kernel
// truncates silently) and refuses a blocking descriptor whose Read Close
// could not interrupt. water's Linux descriptor is non-blocking and
// registered with the poller, so Close does unblock a pending Read. Pass
// Persist: true when attaching to a persistent device. What the adapter
// cannot add is the offload path: one packet per system call.
//
// # Offloads (Config.Offload)
//
// With Config.Offload, Open adds IFF_VNET_HDR, sets TUNSETVNETHDRSZ to the
// 10-byte struct virtio_net_hdr and asks for TUNSETOFFLOAD
// TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6 (without TSO6 if only that is refused,
// which GSOIPv6() reports); if the kernel refuses the rest, the device is
// opened without (Offload() says which). Every packet then travels behind
// a virtio-net header (read with readv, written with writev, through the
// runtime poller). Inbound, the kernel may hand over TCP super-segments of
// up to 64 KiB (GSO_TCPV4, and GSO_TCPV6 with TSO6: one packet standing for
// many MSS-sized ones) and packets whose TCP checksum is partial
// (NEEDS_CSUM: only the pseudo-header sum, IPv4's or IPv6's of RFC 8200
// 8.1, is filled in; the kernel trusts its own packets). Outbound,
// WriteGSO hands the kernel one large TCP segment over IPv4 or IPv6 with
// gso_size = MSS and a partial checksum, and the kernel cuts it. For IPv6
// the TCP header is found behind any extension headers (csum_start and
// hdr_len count them); a fragment header is refused, since the kernel's
// GSO cannot cut past one and TCP never needs to fragment. Close turns the
// offload features off again, since on a persistent device they would
// outlive us.
//
// Read and Write keep their meaning in this mode (Read completes partial
// checksums; a packet may be longer than the MTU). Device also satisfies
// the stack's optional OffloadLink interface: ReadPacket (reports
// checksums the kernel vouched for, and calls an idle function before it
// would block, where the stack flushes ACKs it held during a burst),
// WriteGSO and GSOMaxSize, and the IPv6 extension GSOIPv6 (the stack looks
// for interface{ GSOIPv6() bool } before handing WriteGSO IPv6 headers).
// ReadPacket works without offloads too, as does TryReadPacket (the
// stack's ReadAheadLink): a read of a packet that is already waiting, which
// never blocks, so that a stack working through a burst can move the
// device's queue (txqueuelen packets, then the kernel drops) into its own
// memory faster than it processes the packets. Nothing in package tun cuts
// super-segments in software: the pipe, the fault wrapper and Adapt carry
// MTU-sized packets only (they have no WriteGSO); a program that records
// super-segments as wire segments cuts them with segment.CutIPv4TCP or
// segment.CutIPv6TCP (by the version nibble).
//
// # Busy polling (Config.BusyPoll)
//
// A read that finds the device empty normally parks its goroutine in the
// runtime poller, and the next packet costs a wake-up: epoll_wait returns
// on some thread, which may first have to be woken itself, and on a
// virtual machine whose idle vCPUs halt (cpuidle without halt polling, as
// on the benchmark host) that is a VM exit and an IPI per packet. With
// BusyPoll > 0, ReadPacket (and Read) keep trying the read for up to that
// long after the device runs dry, calling runtime.Gosched between attempts
// so that the goroutines the last packet woke (an application answering
// it) run first on the same processor. A ping-pong exchange then finds
// its next packet while still polling. Measured on the 2-vCPU benchmark
// host (1-byte echo p50, quiet machine): 52 us without, 26 us with 50 us
// of polling; bulk throughput and connection rate unchanged. The cost is
// CPU time: up to one core while packets trickle in at intervals shorter
// than BusyPoll; none once traffic stops for longer. It is the userspace
// counterpart of Linux's SO_BUSY_POLL, and off by default here.
// SetPollGate lets the user of the device veto further polling: package
// stack parks the read while a bulk sender keeps another goroutine writing,
// where spinning would only take the writer's CPU.
//
// Not done: multi-queue devices and several packets per system call
// (IFF_MULTI_QUEUE, or coalescing in the manner of wireguard-go's GRO
// tables); TUN_F_USO and TUN_F_TSO_ECN (the stack sends no UDP; without
// TSO_ECN the kernel cuts a segment carrying CWR itself).
//
// # Pipe and fault injection
//
// NewPipe makes two connected PipeEnds; WithFaults wraps any PacketDevice.
// Both route each direction through the same fault engine (FaultConfig:
// seeded loss, duplication, reordering, delay with jitter, a rate limit
// and bounded queues), timed by a timers.Clock. With a timers.Manual clock
// and a fixed Seed the outcome is a pure function of the packets written
// and the clock schedule: two stacks can be run against each other
// deterministically, and an engine test can drive both from one goroutine
// with TryRead and SetNotify. Packets due at once are delivered inside
// Write; delayed ones inside the clock's timer callback.
//
// # Ownership, panics, concurrency
//
// Write never retains p: the Device hands it to the kernel, the pipe and
// the wrapper copy it into a recycled buffer. Read copies one packet into
// p; on the Device the kernel truncates a packet longer than p (give Read
// MTU() bytes), the pipe returns ErrShortBuffer. On the per-packet path
// nothing allocates once buffers are warm, and errors are preallocated
// sentinels (ErrClosed, ErrTooBig, ErrShortBuffer), except the
// *os.PathError of an unexpected Device I/O failure.
//
// Nothing panics on packet contents. NewPipe and WithFaults panic on a nil
// clock or a non-positive MTU, which are programming errors.
//
// Every method of Device, PipeEnd and FaultyDevice is safe for concurrent
// use; concurrent Reads each receive whole, distinct packets. A PipeEnd's
// notify callback runs with no lock held and may call any method.
package tun
