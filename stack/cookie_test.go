package stack

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// sipRef is SipHash-2-4 over an arbitrary message, written from the paper's
// description, as the reference for the fixed-length siphash3.
func sipRef(k0, k1 uint64, m []byte) uint64 {
	v0, v1 := k0^0x736f6d6570736575, k1^0x646f72616e646f6d
	v2, v3 := k0^0x6c7967656e657261, k1^0x7465646279746573
	sround := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13) ^ v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16) ^ v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21) ^ v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17) ^ v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(m)
	for len(m) >= 8 {
		w := binary.LittleEndian.Uint64(m)
		v3 ^= w
		sround()
		sround()
		v0 ^= w
		m = m[8:]
	}
	var last [8]byte
	copy(last[:], m)
	last[7] = byte(n)
	w := binary.LittleEndian.Uint64(last[:])
	v3 ^= w
	sround()
	sround()
	v0 ^= w
	v2 ^= 0xff
	sround()
	sround()
	sround()
	sround()
	return v0 ^ v1 ^ v2 ^ v3
}

func TestSipHash(t *testing.T) {
	// Test vector from the SipHash paper (Appendix A): key 00..0f,
	// message 00..0e, result a129ca6149be45e5.
	var key [16]byte
	msg := make([]byte, 15)
	for i := range key {
		key[i] = byte(i)
	}
	for i := range msg {
		msg[i] = byte(i)
	}
	k0, k1 := binary.LittleEndian.Uint64(key[:8]), binary.LittleEndian.Uint64(key[8:])
	if got := sipRef(k0, k1, msg); got != 0xa129ca6149be45e5 {
		t.Fatalf("reference SipHash = %x", got)
	}
	for i := 0; i < 100; i++ {
		m := make([]byte, 8*(i%8))
		for j := range m {
			m[j] = byte(i*31 + j*7)
		}
		w := make([]uint64, len(m)/8)
		for j := range w {
			w[j] = binary.LittleEndian.Uint64(m[8*j:])
		}
		if a, b := siphash(k0, k1, w), sipRef(k0, k1, m); a != b {
			t.Fatalf("siphash of %d bytes %x != reference %x", len(m), a, b)
		}
	}
}

func TestCookie(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	j := newCookieJar([16]byte{1, 2, 3}, t0)
	tu := tcp.Tuple{LocalAddr: netip.MustParseAddr("198.18.0.2"), LocalPort: 80, RemoteAddr: netip.MustParseAddr("198.18.0.1"), RemotePort: 40000}
	syn := &segment.Segment{Seq: 0xfffffff0, Flags: segment.FlagSYN}
	syn.Options.HasMSS, syn.Options.MSS = true, 1450
	syn.Options.HasWScale, syn.Options.WScale = true, 7
	now := t0.Add(10 * time.Minute)
	iss := j.make(now, &tu, syn)
	ack := &segment.Segment{Seq: syn.Seq.Add(1), Ack: iss.Add(1), Flags: segment.FlagACK}

	p, gotISS, ok := j.check(now.Add(30*time.Second), &tu, ack)
	if !ok || gotISS != iss {
		t.Fatal("valid cookie rejected")
	}
	if p.IRS != syn.Seq || p.MSS != 1440 || p.WScale != 7 {
		t.Fatalf("params %+v; want IRS %d, MSS 1440 (rounded down), WScale 7", p, syn.Seq)
	}
	// Still valid in the next period, not after.
	if _, _, ok := j.check(now.Add(cookiePeriod+time.Second), &tu, ack); !ok {
		t.Fatal("cookie rejected one period later")
	}
	if _, _, ok := j.check(now.Add(3*cookiePeriod), &tu, ack); ok {
		t.Fatal("stale cookie accepted")
	}
	// Any change of tuple, IRS or cookie bits is rejected.
	tu2 := tu
	tu2.RemotePort++
	if _, _, ok := j.check(now, &tu2, ack); ok {
		t.Fatal("cookie accepted for another tuple")
	}
	bad := *ack
	bad.Seq++
	if _, _, ok := j.check(now, &tu, &bad); ok {
		t.Fatal("cookie accepted for another IRS")
	}
	for bit := 0; bit < 32; bit++ {
		b := *ack
		b.Ack ^= segment.Seq(1) << bit
		if _, _, ok := j.check(now, &tu, &b); ok {
			t.Fatalf("cookie with bit %d flipped accepted", bit)
		}
	}
	// No options: MSS 0 (536 applies), no window scaling.
	plain := &segment.Segment{Seq: 77, Flags: segment.FlagSYN}
	iss = j.make(now, &tu, plain)
	p, _, ok = j.check(now, &tu, &segment.Segment{Seq: 78, Ack: iss.Add(1), Flags: segment.FlagACK})
	if !ok || p.MSS != 0 || p.WScale != -1 || p.SACK || p.TS {
		t.Fatalf("plain SYN cookie: ok %v params %+v", ok, p)
	}
	// SACK-permitted (RFC 2018) and timestamps (RFC 7323) ride in the
	// cookie, each on its own.
	for _, o := range []segment.Options{{SACKPermitted: true}, {HasTimestamp: true, TSVal: 9}, {SACKPermitted: true, HasTimestamp: true}} {
		syn := &segment.Segment{Seq: 500, Flags: segment.FlagSYN, Options: o}
		iss = j.make(now, &tu, syn)
		p, _, ok = j.check(now, &tu, &segment.Segment{Seq: 501, Ack: iss.Add(1), Flags: segment.FlagACK})
		if !ok || p.SACK != o.SACKPermitted || p.TS != o.HasTimestamp {
			t.Fatalf("cookie for SYN options %+v: ok %v params %+v", o, ok, p)
		}
	}
}

// TestCookieIPv6: the cookie MAC takes addresses of either family (it
// called As4, which panics on an IPv6 address): a cookie made for an IPv6
// tuple validates for that tuple only, and not for an IPv4 tuple.
func TestCookieIPv6(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	j := newCookieJar([16]byte{4, 5, 6}, t0)
	tu := tcp.Tuple{LocalAddr: netip.MustParseAddr("2001:db8::2"), LocalPort: 80, RemoteAddr: netip.MustParseAddr("2001:db8::1"), RemotePort: 40000}
	syn := &segment.Segment{Seq: 4242, Flags: segment.FlagSYN}
	now := t0.Add(time.Minute)
	iss := j.make(now, &tu, syn)
	ack := &segment.Segment{Seq: syn.Seq.Add(1), Ack: iss.Add(1), Flags: segment.FlagACK}
	if _, got, ok := j.check(now, &tu, ack); !ok || got != iss {
		t.Fatal("valid IPv6 cookie rejected")
	}
	other := tu
	other.RemoteAddr = netip.MustParseAddr("2001:db8::3")
	if _, _, ok := j.check(now, &other, ack); ok {
		t.Fatal("IPv6 cookie accepted for another remote address")
	}
	v4 := tu
	v4.LocalAddr, v4.RemoteAddr = netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.1")
	if _, _, ok := j.check(now, &v4, ack); ok {
		t.Fatal("IPv6 cookie accepted for an IPv4 tuple")
	}
}

func TestCookieAllocs(t *testing.T) {
	j := newCookieJar([16]byte{9}, time.Unix(0, 0))
	tu := tcp.Tuple{LocalAddr: netip.MustParseAddr("198.18.0.2"), LocalPort: 80, RemoteAddr: netip.MustParseAddr("198.18.0.1"), RemotePort: 1}
	syn := &segment.Segment{Seq: 5, Flags: segment.FlagSYN}
	now := time.Unix(100, 0)
	if n := testing.AllocsPerRun(100, func() {
		iss := j.make(now, &tu, syn)
		j.check(now, &tu, &segment.Segment{Seq: 6, Ack: iss.Add(1)})
	}); n != 0 {
		t.Fatalf("%v allocs per cookie make+check", n)
	}
}

// TestCookieOnlyAfterOverflow: an ACK is only taken as a cookie while a
// cookie of its age can exist (Linux's tcp_synq_no_recent_overflow), so a
// blind attacker cannot try MACs while no SYN queue has overflowed. The
// MAC is computed here as the jar would, i.e. a correct guess.
func TestCookieOnlyAfterOverflow(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	key := [16]byte{9, 8, 7}
	tu := tcp.Tuple{LocalAddr: netip.MustParseAddr("198.18.0.2"), LocalPort: 80, RemoteAddr: netip.MustParseAddr("198.18.0.1"), RemotePort: 40001}
	syn := &segment.Segment{Seq: 1000, Flags: segment.FlagSYN}
	now := t0.Add(10 * time.Minute)
	// A twin jar with the same key makes the right cookie; the jar under
	// test has sent none.
	iss := newCookieJar(key, t0).make(now, &tu, syn)
	ack := &segment.Segment{Seq: syn.Seq.Add(1), Ack: iss.Add(1), Flags: segment.FlagACK}
	j := newCookieJar(key, t0)
	if _, _, ok := j.check(now, &tu, ack); ok {
		t.Fatal("cookie accepted by a jar that never sent one")
	}
	// Once it has sent a cookie (to anyone), cookies of that age validate...
	other := tu
	other.RemotePort = 50000
	j.make(now, &other, syn)
	if _, _, ok := j.check(now, &tu, ack); !ok {
		t.Fatal("valid cookie rejected after the jar sent cookies")
	}
	// ...until no cookie that young can exist any more.
	if _, _, ok := j.check(now.Add(3*cookiePeriod), &tu, ack); ok {
		t.Fatal("cookie accepted long after the last overflow")
	}
}
