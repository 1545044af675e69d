//go:build linux

package tun_test

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/tun"
	"github.com/tunstack/tunstack/tun/tuntest"
)

var (
	_ stack.OffloadLink     = (*tun.Device)(nil)
	_ stack.IPv6OffloadLink = (*tun.Device)(nil)
)

// recLink records what an offload Device hands the stack and takes from it.
type recLink struct {
	*tun.Device
	maxIn, trusted, gso, maxOut atomic.Int64
}

func (r *recLink) ReadPacket(p []byte, idle func()) (int, bool, error) {
	n, ok, err := r.Device.ReadPacket(p, idle)
	if int64(n) > r.maxIn.Load() {
		r.maxIn.Store(int64(n))
	}
	if ok {
		r.trusted.Add(1)
	}
	return n, ok, err
}

func (r *recLink) WriteGSO(hdr, payload []byte, mss int) (int, error) {
	n := len(hdr) + len(payload)
	if len(payload) > mss {
		r.gso.Add(1)
	}
	if int64(n) > r.maxOut.Load() {
		r.maxOut.Store(int64(n))
	}
	return r.Device.WriteGSO(hdr, payload, mss)
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestDeviceOffloadKernelStream: over a TUN device opened with offloads,
// the kernel's TCP sends 16 MiB to the stack in super-segments longer than
// the MTU with partial checksums (which ReadPacket reports as trusted), and
// the stack sends 16 MiB back in segments it hands to WriteGSO for the
// kernel to cut; both streams arrive byte-exact.
func TestDeviceOffloadKernelStream(t *testing.T) {
	offloadKernelStream(t, tun.Config{Name: "toff0", MTU: 1500, Addr: netip.PrefixFrom(hostAddr, 24), Up: true, Offload: true},
		stack.Options{Addr: stackAddr}, "198.18.0.2:9")
}

// TestDeviceOffloadKernelStreamIPv6 is TestDeviceOffloadKernelStream over
// IPv6, with TSO6: the kernel's GSO_TCPV6 super-segments in, the stack's
// IPv6 WriteGSO out.
func TestDeviceOffloadKernelStreamIPv6(t *testing.T) {
	offloadKernelStream(t, tun.Config{Name: "toff6", MTU: 1500, Addrs: dualHost, Up: true, Offload: true},
		stack.Options{Addrs: []netip.Addr{stackAddr, stack6}}, "[2001:2::2]:9")
}

func offloadKernelStream(t *testing.T, cfg tun.Config, opts stack.Options, dial string) {
	tuntest.Require(t)
	d := openTest(t, cfg)
	if !d.Offload() || d.GSOMaxSize() != 65535 || !d.GSOIPv6() {
		t.Fatalf("Offload() %v GSOMaxSize() %d GSOIPv6() %v: the kernel refused IFF_VNET_HDR/TUNSETOFFLOAD", d.Offload(), d.GSOMaxSize(), d.GSOIPv6())
	}
	rl := &recLink{Device: d}
	s, err := stack.New(rl, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 16 << 20
	up, down := randomBytes(n, 1), randomBytes(n, 2)

	ln, err := s.Listen(":9")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan [32]byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(got)
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		h := sha256.New()
		io.Copy(h, c)
		var sum [32]byte
		h.Sum(sum[:0])
		got <- sum
		c.Write(down)
	}()
	c, err := net.DialTimeout("tcp", dial, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(up); err != nil {
		t.Fatalf("kernel write: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	if sum, ok := <-got; !ok || sum != sha256.Sum256(up) {
		t.Fatal("the stack received a different stream than the kernel sent")
	}
	back, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("kernel read: %v after %d bytes", err, len(back))
	}
	if len(back) != n || sha256.Sum256(back) != sha256.Sum256(down) {
		t.Fatalf("the kernel received %d bytes, not the %d the stack sent", len(back), n)
	}
	st := s.Stats()
	t.Logf("largest packet read %d, trusted checksums %d, super-segments %d; WriteGSO calls %d (largest %d), segments out %d",
		rl.maxIn.Load(), rl.trusted.Load(), st.SuperSegmentsIn, rl.gso.Load(), rl.maxOut.Load(), st.SegmentsOut)
	if rl.maxIn.Load() <= 1500 || st.SuperSegmentsIn == 0 {
		t.Errorf("no super-segment received (largest packet %d bytes)", rl.maxIn.Load())
	}
	if rl.trusted.Load() == 0 {
		t.Error("no packet came with a partial (trusted) checksum")
	}
	if rl.gso.Load() == 0 || rl.maxOut.Load() <= 1500 || st.GSOWrites == 0 {
		t.Errorf("the stack never handed the kernel a large segment (WriteGSO %d, largest %d)", rl.gso.Load(), rl.maxOut.Load())
	}
	if st.Dropped.TCPChecksum != 0 || st.LinkWriteErrors != 0 {
		t.Errorf("checksum drops %d, link write errors %d", st.Dropped.TCPChecksum, st.LinkWriteErrors)
	}
}

// TestDeviceOffloadPlainRead: Read on an offload device completes partial
// checksums, so a plain reader sees valid packets.
func TestDeviceOffloadPlainRead(t *testing.T) {
	tuntest.Require(t)
	d := openTest(t, tun.Config{Name: "toff1", MTU: 1500, Addr: netip.PrefixFrom(hostAddr, 24), Up: true, Offload: true})
	if !d.Offload() {
		t.Fatal("offloads refused")
	}
	// A kernel TCP SYN to the stack's address: sent with a partial
	// checksum on an offload device.
	go func() {
		c, err := net.DialTimeout("tcp", "198.18.0.2:9", 2*time.Second)
		if err == nil {
			c.Close()
		}
	}()
	pkt := readUntil(t, d, 5*time.Second, func(p []byte) bool { return len(p) >= 40 && p[0]>>4 == 4 && p[9] == 6 })
	var seg segment.Segment
	if err := segment.ParseIPv4TCP(pkt, &seg); err != nil {
		t.Fatalf("Read returned a TCP packet that does not verify: %v", err)
	}
}

// TestDeviceOffloadZeroAllocs: with the virtio-net header, Write, Read,
// ReadPacket (with an idle callback) and WriteGSO allocate nothing.
func TestDeviceOffloadZeroAllocs(t *testing.T) {
	tuntest.Require(t)
	d := openTest(t, tun.Config{Name: "toff2", MTU: 1500, Addr: netip.PrefixFrom(hostAddr, 24), Up: true, Offload: true})
	if !d.Offload() {
		t.Fatal("offloads refused")
	}
	req, buf := echoRequest(1, 1, 56), make([]byte, 65535)
	d.SetReadDeadline(time.Now().Add(10 * time.Second))
	idles := 0
	idle := func() { idles++ }
	seg := segment.Segment{Src: stackAddr, Dst: hostAddr, SrcPort: 9, DstPort: 9, Seq: 1, Ack: 1,
		Flags: segment.FlagACK, Window: 100, Payload: make([]byte, 3000)}
	hdr := make([]byte, 100)
	k, err := segment.BuildIPv4TCPHeadersOnly(hdr, &seg, len(seg.Payload), 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	hdr = hdr[:k]
	allocs := testing.AllocsPerRun(200, func() {
		if e := echoRoundTrip(d, req, buf); e != nil {
			err = e
		}
		if _, e := d.WriteGSO(hdr, seg.Payload, 1448); e != nil {
			err = e
		}
		if _, e := d.Write(req); e != nil {
			err = e
		}
		for {
			n, _, e := d.ReadPacket(buf, idle)
			if e != nil {
				err = e
				return
			}
			if n == len(req) && buf[9] == segment.ProtocolICMP && buf[20] == segment.ICMPv4TypeEchoReply {
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Fatalf("%v allocs per round", allocs)
	}
	t.Logf("idle called %d times", idles)
}
