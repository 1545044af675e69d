package integration

import (
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tapPkt is one packet crossing the TUN device, seen from the kernel side.
type tapPkt struct {
	at time.Time
	// toStack: the kernel wrote it into the TUN (PACKET_OUTGOING), i.e.
	// it goes to the stack; otherwise the stack wrote it.
	toStack bool
	vnet    []byte // its virtio-net header (vnetHdrLen bytes)
	pkt     []byte // the IP packet; valid only during the callback
}

// tapTUN reads every packet crossing the device dev, both directions, from
// an AF_PACKET socket with PACKET_VNET_HDR (so a super-segment comes with
// its gso_size), and hands each to see on the tap's own goroutine, in
// order. The tap stops, and see is no longer called, when the test ends.
// Unlike the conformance tests' rawNet it sends nothing and takes no side:
// tests that talk through the kernel's own sockets watch the wire with it.
func tapTUN(t *testing.T, dev string, see func(p *tapPkt)) {
	t.Helper()
	fd := openTapSocket(t, dev, 8<<20)
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1<<17)
		for !stop.Load() {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil || n < vnetHdrLen {
				continue // the receive timeout, EINTR
			}
			ll, _ := from.(*unix.SockaddrLinklayer)
			see(&tapPkt{at: time.Now(), toStack: ll != nil && ll.Pkttype == unix.PACKET_OUTGOING,
				vnet: buf[:vnetHdrLen], pkt: buf[vnetHdrLen:n]})
		}
	}()
	t.Cleanup(func() {
		stop.Store(true)
		<-done
		unix.Close(fd)
	})
}

// openTapSocket opens a packet socket on the TUN device dev for every
// protocol, with PACKET_VNET_HDR (every packet comes after its virtio-net
// header, which says whether it is a super-segment or carries a partial
// checksum: wireSegments turns those into what the wire would carry), a
// 20 ms receive timeout (so a reader can look at a stop flag) and a receive
// buffer of rcvbuf bytes if the kernel allows. The TUN has no link header,
// so what follows the virtio-net header is the IP packet (SOCK_RAW, which
// PACKET_VNET_HDR needs, is the same as SOCK_DGRAM here).
func openTapSocket(t *testing.T, dev string, rcvbuf int) int {
	t.Helper()
	ifi, err := netInterfaceIndex(dev)
	if err != nil {
		t.Fatalf("TUN %s: %v", dev, err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		t.Fatalf("AF_PACKET socket: %v", err)
	}
	fail := func(what string, err error) {
		unix.Close(fd)
		t.Fatalf("%s: %v", what, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi}); err != nil {
		fail("bind AF_PACKET to "+dev, err)
	}
	tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		fail("SO_RCVTIMEO", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		fail("PACKET_VNET_HDR", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
		t.Logf("SO_RCVBUF: %v (continuing)", err)
	}
	return fd
}
