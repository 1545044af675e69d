package tun_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/tun"
	"github.com/tunstack/tunstack/tun/tuntest"
)

// TestDeviceTryReadPacket: TryReadPacket returns at once with ok false on
// an empty device (a blocking read would hang the test), without allocating, and otherwise hands out the waiting
// packets in the order the kernel queued them, with or without offloads.
func TestDeviceTryReadPacket(t *testing.T) {
	tuntest.Require(t)
	for i, offload := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "offload"}[offload], func(t *testing.T) { tryReadPackets(t, i, offload) })
	}
}

func tryReadPackets(t *testing.T, i int, offload bool) {
	{
		d := openTest(t, tun.Config{Name: "tra" + string(rune('0'+i)), MTU: 1500, Addr: netip.PrefixFrom(hostAddr, 24), Up: true, Offload: offload})
		buf := make([]byte, 65536)
		drain := func() {
			for {
				if _, _, ok, err := d.TryReadPacket(buf); err != nil || !ok {
					return
				}
			}
		}
		drain() // router solicitations and the like
		empty := 0
		allocs := testing.AllocsPerRun(100, func() {
			if _, _, ok, err := d.TryReadPacket(buf); !ok && err == nil {
				empty++
			}
		})
		if empty == 0 {
			t.Errorf("offload %v: TryReadPacket never found the device empty", offload)
		}
		if allocs != 0 {
			t.Errorf("offload %v: %v allocs per empty TryReadPacket", offload, allocs)
		}
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(stackAddr, 9)))
		if err != nil {
			t.Fatal(err)
		}
		const n = 50
		for k := range n {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], uint32(k))
			if _, err := c.Write(b[:]); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
		// The datagrams were queued on the device during Write; read
		// them back without ever blocking.
		next := 0
		deadline := time.Now().Add(5 * time.Second)
		for next < n && time.Now().Before(deadline) {
			m, _, ok, err := d.TryReadPacket(buf)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				time.Sleep(time.Millisecond)
				continue
			}
			p := buf[:m]
			if m != 20+8+4 || p[0]>>4 != 4 || p[9] != segment.ProtocolUDP {
				continue
			}
			if got := binary.BigEndian.Uint32(p[28:]); got != uint32(next) {
				t.Fatalf("offload %v: datagram %d read as number %d", offload, next, got)
			}
			next++
		}
		if next != n {
			t.Fatalf("offload %v: %d of %d datagrams read", offload, next, n)
		}
	}
}
