package stack

import (
	"crypto/sha256"
	"encoding/binary"
	mrand "math/rand/v2"
	"net/netip"

	"github.com/tunstack/tunstack/stack/tcp"
)

// The ephemeral port range: Linux's default net.ipv4.ip_local_port_range.
const (
	ephemeralLo = 32768
	ephemeralHi = 60999
	ephemeralN  = ephemeralHi - ephemeralLo + 1
)

// portPerturbSize is the number of counters in the table of RFC 6056
// Algorithm 4 (3.3.4, "table[]"). Linux grew its table from 256 to 65536
// entries (INET_TABLE_PERTURB_SIZE, 2022) so that one destination's counter
// leaks less about another's; 4096 counters (16 KiB) is a compromise for a
// stack that may be one of many in a process.
const portPerturbSize = 4096

// portPicker chooses ephemeral ports for Dial as RFC 6056 3.3.4 (Algorithm
// 4, "Double-Hash Port Selection", which Linux implements in
// __inet_hash_connect):
//
//	offset = F(local_IP, remote_IP, remote_port, secret_key1)
//	index  = G(local_IP, remote_IP, remote_port, secret_key2)
//	port   = min_ephemeral + (offset + table[index] + i) % num_ephemeral
//
// with the search stepping i until a free 4-tuple is found and table[index]
// then advanced past it. Towards one destination the ports therefore come
// in sequence, so a 4-tuple is used again only after the whole range has
// been: that is what keeps a new SYN above the sequence space of the
// previous incarnation, whose TIME-WAIT record the peer may still hold
// (the ISN clock, RFC 6528, has moved on by then). The secret keeps the
// sequence unguessable from outside (the goal of RFC 6056), and different
// destinations start at unrelated offsets.
//
// Guarded by Stack.mu. It computes one SHA-256 per Dial over a fixed array
// and draws from math/rand/v2's runtime generator: no system call and no
// allocation under the demux lock.
type portPicker struct {
	key   [16]byte
	table [portPerturbSize]uint32
}

// hash returns F and G of RFC 6056 3.3.4 for a destination: one keyed hash
// whose two halves serve as the two functions (Linux derives both from one
// siphash as well).
func (pp *portPicker) hash(local netip.Addr, remote netip.AddrPort) (offset, index uint32) {
	var b [16 + 16 + 16 + 2]byte
	copy(b[:16], pp.key[:])
	la, ra := local.As16(), remote.Addr().As16()
	copy(b[16:32], la[:])
	copy(b[32:48], ra[:])
	binary.BigEndian.PutUint16(b[48:], remote.Port())
	h := sha256.Sum256(b[:])
	return binary.BigEndian.Uint32(h[:4]), binary.BigEndian.Uint32(h[4:8]) % portPerturbSize
}

// pickPortLocked returns a free ephemeral port towards remote (see
// portPicker). The 4-tuple, not the port alone, must be unique, so one port
// may serve many destinations. Ports with a listener are skipped so that a
// SYN for the listener is never mistaken; so are 4-tuples held by a
// connection or by one of our TIME-WAIT records.
func (s *Stack) pickPortLocked(local netip.Addr, remote netip.AddrPort) (uint16, bool) {
	pp := &s.ports
	offset, index := pp.hash(local, remote)
	base := offset + pp.table[index]
	t := tcp.Tuple{LocalAddr: local, RemoteAddr: remote.Addr(), RemotePort: remote.Port()}
	for i := uint32(0); i < ephemeralN; i++ {
		p := uint16(ephemeralLo + (base+i)%ephemeralN)
		if s.listeningLocked(p, local) {
			continue
		}
		t.LocalPort = p
		if _, ok := s.conns[t]; ok {
			continue
		}
		if s.tw.has(t) {
			continue
		}
		// RFC 6056 3.3.4: "table[index] = table[index] + i + 1" (the
		// step is 1 here: ports of either parity are used). Like Linux,
		// add a small random stride (0..7) when the search was short,
		// so that an observer of our ports towards one destination
		// cannot count our connections to others through a shared
		// counter exactly; it costs nothing in reuse distance.
		pp.table[index] += max(i, mrand.Uint32N(8)) + 1
		return p, true
	}
	return 0, false
}
