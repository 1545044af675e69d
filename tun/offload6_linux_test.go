//go:build linux

package tun_test

import (
	"crypto/sha256"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/tun"
	"github.com/tunstack/tunstack/tun/tuntest"
)

// TestDeviceOffloadIPv6KernelSends: over a TUN opened with offloads (TSO6
// on), the kernel's TCP sends 8 MiB over IPv6 to a minimal TCP endpoint
// on the device side. The kernel hands over GSO_TCPV6 super-segments
// longer than the MTU, with gso_size the MSS it was given (1440 = 1500 -
// 60), and partial checksums: ReadPacketGSO vouches for them (csumOK),
// Read completes them with the IPv6 pseudo-header (every packet it returns
// verifies). The stream arrives byte-exact either way.
func TestDeviceOffloadIPv6KernelSends(t *testing.T) {
	tuntest.Require(t)
	for _, plain := range []bool{false, true} {
		name := "ReadPacketGSO"
		if plain {
			name = "Read"
		}
		t.Run(name, func(t *testing.T) {
			d := openTest(t, tun.Config{Name: "tv6o0", MTU: 1500, Addrs: dualHost, Up: true, Offload: true})
			if !d.GSOIPv6() {
				t.Fatal("TSO6 refused")
			}
			data := randomBytes(8<<20, 3)
			errc := make(chan error, 1)
			go func() {
				c, err := net.DialTimeout("tcp6", "[2001:2::2]:9", 5*time.Second)
				if err != nil {
					errc <- err
					return
				}
				c.SetDeadline(time.Now().Add(60 * time.Second))
				_, err = c.Write(data)
				c.Close()
				errc <- err
			}()
			r := newRawTCP6(t, d, stack6, host6, 9, 0)
			r.plainRead = plain
			deadline := time.Now().Add(60 * time.Second)
			syn := r.read(deadline)
			if syn.Flags != segment.FlagSYN {
				t.Fatalf("first segment %v, want a SYN", syn.Flags)
			}
			r.rport = syn.SrcPort
			iss, rcvNxt := segment.Seq(1000), syn.Seq.Add(1)
			r.send(segment.FlagSYN|segment.FlagACK, iss, rcvNxt, segment.Options{HasMSS: true, MSS: 1440, HasWScale: true, WScale: 7}, nil)
			h := sha256.New()
			got := 0
			for {
				seg := r.read(deadline)
				if len(seg.Payload) > 0 && seg.Seq == rcvNxt {
					h.Write(seg.Payload)
					got += len(seg.Payload)
					rcvNxt = rcvNxt.Add(uint32(len(seg.Payload)))
				}
				if seg.Flags.Has(segment.FlagFIN) && seg.Seq.Add(uint32(len(seg.Payload))) == rcvNxt {
					rcvNxt = rcvNxt.Add(1)
					r.send(segment.FlagFIN|segment.FlagACK, iss.Add(1), rcvNxt, segment.Options{}, nil)
					break
				}
				if len(seg.Payload) > 0 {
					r.send(segment.FlagACK, iss.Add(1), rcvNxt, segment.Options{}, nil)
				}
			}
			if err := <-errc; err != nil {
				t.Fatalf("kernel side: %v", err)
			}
			var sum [32]byte
			if got != len(data) || [32]byte(h.Sum(sum[:0])) != sha256.Sum256(data) {
				t.Fatalf("received %d bytes that differ from the %d the kernel sent", got, len(data))
			}
			t.Logf("largest packet %d, super-segments %d (gso_size %v), trusted %d, verified %d",
				r.maxLen, r.superSegs, r.gsoSizes, r.trusted, r.verified)
			if r.maxLen <= 1500 {
				t.Errorf("no packet longer than the MTU (largest %d)", r.maxLen)
			}
			if plain {
				if r.trusted != 0 || r.verified == 0 {
					t.Errorf("Read: %d trusted, %d verified; want every packet verified", r.trusted, r.verified)
				}
				return
			}
			if r.superSegs == 0 || r.trusted == 0 {
				t.Errorf("ReadPacketGSO: %d super-segments, %d trusted checksums", r.superSegs, r.trusted)
			}
			for g := range r.gsoSizes {
				if g != 1440 {
					t.Errorf("gso_size %d, want the MSS 1440", g)
				}
			}
		})
	}
}

// TestDeviceOffloadIPv6KernelReceives: super-segments over IPv6 handed to
// WriteGSO (GSO_TCPV6, partial checksum) reach a kernel socket as the
// stream they carry: a minimal TCP endpoint on the device side connects
// to a kernel listener and sends 4 MiB in segments of up to 60000 bytes
// for the kernel to cut at its MSS.
func TestDeviceOffloadIPv6KernelReceives(t *testing.T) {
	tuntest.Require(t)
	d := openTest(t, tun.Config{Name: "tv6o1", MTU: 1500, Addrs: dualHost, Up: true, Offload: true})
	if !d.GSOIPv6() {
		t.Fatal("TSO6 refused")
	}
	ln, err := net.Listen("tcp6", "[2001:2::1]:5001")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := randomBytes(4<<20, 4)
	recv := make(chan []byte, 1)
	go func() {
		defer close(recv)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		b, _ := io.ReadAll(c)
		recv <- b
	}()

	r := newRawTCP6(t, d, stack6, host6, 40000, 5001)
	deadline := time.Now().Add(60 * time.Second)
	iss := segment.Seq(0xfffff000) // wraps during the transfer
	r.send(segment.FlagSYN, iss, 0, segment.Options{HasMSS: true, MSS: 1440, HasWScale: true, WScale: 7}, nil)
	synAck := r.read(deadline)
	if synAck.Flags != segment.FlagSYN|segment.FlagACK || synAck.Ack != iss.Add(1) || !synAck.Options.HasMSS {
		t.Fatalf("answer to our SYN: %v ack %d (want %d) MSS %v", synAck.Flags, synAck.Ack, iss.Add(1), synAck.Options.HasMSS)
	}
	mss := int(synAck.Options.MSS)
	shift := uint(0)
	if synAck.Options.HasWScale {
		shift = uint(synAck.Options.WScale)
	}
	rcvNxt := synAck.Seq.Add(1)
	sndUna, sndNxt := iss.Add(1), iss.Add(1)
	wnd := int(synAck.Window) // not scaled in a SYN (RFC 7323 2.2)
	r.send(segment.FlagACK, sndNxt, rcvNxt, segment.Options{}, nil)

	sent, gsoWrites := 0, 0
	for sndUna.Sub(iss.Add(1)) != int32(len(data)) {
		if avail := wnd - int(sndNxt.Sub(sndUna)); sent < len(data) && avail >= mss {
			n := min(len(data)-sent, 60000, avail)
			if err := r.writeGSO(segment.FlagACK|segment.FlagPSH, sndNxt, rcvNxt, data[sent:sent+n], mss); err != nil {
				t.Fatalf("WriteGSO: %v", err)
			}
			if n > mss {
				gsoWrites++
			}
			sent += n
			sndNxt = sndNxt.Add(uint32(n))
			continue
		}
		seg := r.read(deadline)
		if seg.Flags.Has(segment.FlagRST) {
			t.Fatalf("the kernel reset the connection after %d bytes", sndUna.Sub(iss.Add(1)))
		}
		if seg.Flags.Has(segment.FlagACK) && seg.Ack.GreaterThan(sndUna) && seg.Ack.LessThanEq(sndNxt) {
			sndUna = seg.Ack
		}
		wnd = int(seg.Window) << shift
	}
	r.send(segment.FlagFIN|segment.FlagACK, sndNxt, rcvNxt, segment.Options{}, nil)
	b, ok := <-recv
	if !ok || len(b) != len(data) || sha256.Sum256(b) != sha256.Sum256(data) {
		t.Fatalf("the kernel received %d bytes, not the %d written (or different ones)", len(b), len(data))
	}
	t.Logf("MSS %d, %d WriteGSO calls longer than the MSS", mss, gsoWrites)
	if gsoWrites == 0 {
		t.Error("no super-segment was written")
	}
}
