package integration

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/tun"
	"github.com/tunstack/tunstack/tun/tuntest"
)

// UDP (RFC 768) with the kernel as peer: netcat against `tunstack serve`'s
// UDP echo, and a stack in the test process on a TUN of its own for the
// rest (datagrams beyond the MTU both ways, ICMP port unreachable in both
// directions, any-destination UDP answered from the original destination).

// TestUDPNetcatEcho: `nc -u` to port 7/udp of `tunstack serve`, both
// families: the datagram comes back.
func TestUDPNetcatEcho(t *testing.T) {
	nc := needTool(t, "nc", "netcat-openbsd")
	serve(t)
	inEveryFamily(t, func(t *testing.T, fam family) {
		msg := []byte("hello over udp " + fam.name + "\n")
		out, stderr, err := command(t, 30*time.Second, msg, nc, "-u", fam.flag, "-w", "2", fam.stack, "7")
		if err != nil {
			t.Fatalf("nc -u: %v %s", err, stderr)
		}
		if !bytes.Equal(out, msg) {
			t.Fatalf("nc -u got %q back, want %q", out, msg)
		}
	})
}

// udpStack starts a dual-stack stack in the test process on a TUN of its
// own (offloads on, so the kernel hands over partial checksums), the
// kernel side 198.18.0.1/15 and 2001:2::1/64: the kernel routes the whole
// /15 and /64 into the device, which the transparent test uses.
func udpStack(t testing.TB, name string, transparent ...netip.Prefix) *stack.Stack {
	t.Helper()
	tuntest.Require(t)
	dev, err := tun.Open(tun.Config{
		Name: name, Addrs: []netip.Prefix{netip.MustParsePrefix(hostAddr + "/15"), netip.MustParsePrefix(hostAddr6 + "/64")},
		Up: true, Offload: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := stack.New(dev, stack.Options{
		Addrs:               []netip.Addr{netip.MustParseAddr(stackAddr), netip.MustParseAddr(stackAddr6)},
		TransparentPrefixes: transparent,
	})
	if err != nil {
		dev.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// udpEchoOnStack serves a UDP echo on port 7 of s (both families) until
// the test ends.
func udpEchoOnStack(t testing.TB, s *stack.Stack) {
	t.Helper()
	srv, err := s.ListenUDP("udp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			srv.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
}

// TestUDPKernelPeer: datagrams of 1 to 30,000 bytes echo between kernel
// sockets and stack sockets in both directions (the large ones in
// fragments, reassembled by the kernel and by the stack); a datagram to a
// closed port gets ICMP port unreachable from either side, which the
// other reports as ECONNREFUSED on its connected socket.
func TestUDPKernelPeer(t *testing.T) {
	s := udpStack(t, "udp0")
	udpEchoOnStack(t, s)
	sizes := []int{1, 1400, 4000, 30000}
	inEveryFamily(t, func(t *testing.T, fam family) {
		udpNet := "udp" + fam.network[3:]
		// Kernel to stack.
		c, err := net.Dial(udpNet, fam.addrPort(7))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		echoSizes(t, c, sizes)
		// Kernel to a closed stack port: the stack's port unreachable
		// makes the kernel's connected socket fail.
		closed, err := net.Dial(udpNet, fam.addrPort(9))
		if err != nil {
			t.Fatal(err)
		}
		defer closed.Close()
		closed.Write([]byte("anyone?"))
		closed.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := closed.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("kernel socket to a closed stack port: %v, want ECONNREFUSED", err)
		}
		// Stack to kernel: a kernel echo socket.
		k, err := net.ListenPacket(udpNet, net.JoinHostPort(fam.host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		go func() {
			buf := make([]byte, 65536)
			for {
				n, from, err := k.ReadFrom(buf)
				if err != nil {
					return
				}
				k.WriteTo(buf[:n], from)
			}
		}()
		sc, err := s.DialUDP(context.Background(), "udp", k.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		echoSizes(t, sc, sizes)
		// Stack to a closed kernel port: the kernel's port unreachable
		// reaches the stack's connected socket.
		kport := k.LocalAddr().(*net.UDPAddr).Port
		k.Close()
		sc2, err := s.DialUDP(context.Background(), "udp", net.JoinHostPort(fam.host, strconv.Itoa(kport)))
		if err != nil {
			t.Fatal(err)
		}
		defer sc2.Close()
		sc2.Write([]byte("anyone?"))
		sc2.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := sc2.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("stack socket to a closed kernel port: %v, want ECONNREFUSED", err)
		}
	})
	st := s.Stats()
	t.Logf("stack UDP stats %+v, fragments %+v, drops %+v", st.UDP, st.Fragments, st.Dropped)
	if st.Dropped.UDPChecksum != 0 || st.Dropped.UDPHeader != 0 || st.UDP.NoPorts != 2 {
		t.Fatalf("UDP checksum drops %d, header drops %d, no-port %d; want 0, 0, 2", st.Dropped.UDPChecksum, st.Dropped.UDPHeader, st.UDP.NoPorts)
	}
}

// echoSizes sends one datagram of each size on c and checks it comes back.
func echoSizes(t *testing.T, c net.Conn, sizes []int) {
	t.Helper()
	buf := make([]byte, 65536)
	for _, n := range sizes {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(i*7 + n)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("%v -> %v: write %d: %v", c.LocalAddr(), c.RemoteAddr(), n, err)
		}
		m, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:m], msg) {
			t.Fatalf("%v -> %v: echo of %d bytes: %d back, %v", c.LocalAddr(), c.RemoteAddr(), n, m, err)
		}
	}
}

// TestUDPTransparentKernel: the kernel sends to addresses that are not the
// stack's but are routed into its TUN (198.19.0.53, 2001:2::53); the
// stack's handler answers from those addresses with WriteUDPFrom, and the
// kernel's connected sockets accept the replies as from the original
// destinations.
func TestUDPTransparentKernel(t *testing.T) {
	s := udpStack(t, "udpt0", netip.MustParsePrefix("198.19.0.0/16"), netip.MustParsePrefix("2001:2::/64"))
	err := s.SetUDPHandler(func(src, dst netip.AddrPort, payload []byte) {
		reply := append([]byte("from "+dst.String()+": "), payload...)
		if err := s.WriteUDPFrom(dst, src, reply); err != nil {
			t.Errorf("WriteUDPFrom: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{"198.19.0.53:53", "[2001:2::53]:53", "198.19.200.1:4000"} {
		c, err := net.Dial("udp", dst)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("query")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 200)
		n, err := c.Read(buf)
		if want := "from " + dst + ": query"; err != nil || string(buf[:n]) != want {
			t.Fatalf("%s: %q, %v; want %q", dst, buf[:n], err, want)
		}
		c.Close()
	}
	if st := s.Stats(); st.UDP.Transparent != 3 {
		t.Fatalf("handler got %d datagrams, want 3", st.UDP.Transparent)
	}
}

// BenchmarkUDPEchoKernel: round trips of a 1200-byte datagram between a
// kernel socket and an echo on the stack over a TUN (offloads on), one at
// a time; ns/op is the round trip.
func BenchmarkUDPEchoKernel(b *testing.B) {
	for _, fam := range families {
		b.Run(fam.name, func(b *testing.B) {
			s := udpStack(b, "udpb0")
			udpEchoOnStack(b, s)
			c, err := net.Dial("udp"+fam.network[3:], fam.addrPort(7))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			msg := make([]byte, 1200)
			buf := make([]byte, 2000)
			c.SetDeadline(time.Now().Add(time.Minute))
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			s.Close()
		})
	}
}
