package integration

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/tunstack/tunstack/segment"
)

// TestPcapOnOffloadPath: --pcap keeps the default path (offloads on: the
// stack writes super-segments and reads the kernel's, GSO_TCPV4 and
// GSO_TCPV6), and the capture holds what the wire carries, in both
// families: every packet at most the MTU, with valid IP and TCP checksums
// (the IPv6 pseudo-header for IPv6, RFC 8200 8.1), and the segments of each
// direction of an IPv4 and an IPv6 echo reassemble the echoed bytes
// exactly.
func TestPcapOnOffloadPath(t *testing.T) {
	const mtu = 1500
	path := filepath.Join(t.TempDir(), "echo.pcap")
	p := serve(t, "--pcap", path)
	if l := p.waitLine(regexp.MustCompile(`msg=serving`), time.Second); !regexp.MustCompile(`\boffload=true\b`).MatchString(l) {
		t.Fatalf("--pcap turned the offloads off: %q", l)
	}
	// One stream per direction and family, keyed by the sender's address
	// and port.
	streams := map[netip.AddrPort]*pcapStream{}
	for i, fam := range families {
		msg := make([]byte, size(4<<20, 1<<20))
		rand.NewChaCha8([32]byte{8, byte(i)}).Read(msg)
		c := dialFamily(t, fam, portEcho)
		peer := c.LocalAddr().(*net.TCPAddr).AddrPort()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		go func() {
			c.Write(msg)
			c.CloseWrite()
		}()
		back, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(back, msg) {
			t.Fatalf("%s echo: %d of %d bytes back, %v", fam.name, len(back), len(msg), err)
		}
		c.Close()
		streams[netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())] = &pcapStream{want: msg}
		streams[netip.AddrPortFrom(netip.MustParseAddr(fam.stack), portEcho)] = &pcapStream{want: msg}
	}
	p.stop(10 * time.Second)
	for _, name := range []string{"gso_writes", "super_segments_in"} {
		l, ok := p.findLine(regexp.MustCompile(`^\s*`+name+`\s+\d+`), 0, time.Second)
		if !ok {
			t.Fatalf("no %s in the exit statistics", name)
		}
		if v, _ := strconv.Atoi(regexp.MustCompile(`\d+$`).FindString(l)); v == 0 {
			t.Fatalf("%s is 0 with --pcap: the offload path was not used", name)
		}
	}

	packets, tcp6 := 0, 0
	for _, d := range readPcap(t, path) {
		packets++
		if len(d) > mtu {
			t.Fatalf("packet %d is %d bytes, more than the MTU %d: a super-segment was not cut", packets, len(d), mtu)
		}
		var s segment.Segment
		switch {
		case segment.IPVersion(d) == 4 && d[9] == segment.ProtocolTCP:
			// Both checksums, verified twice: by this package's own
			// RFC 1071 code and by the stack's parser.
			for _, check := range []func([]byte) error{checkIPv4Checksum, checkTCPChecksum} {
				if err := check(d); err != nil {
					t.Fatalf("packet %d: %v\n% x", packets, err, d[:min(len(d), 64)])
				}
			}
			if err := segment.ParseIPv4TCP(d, &s); err != nil {
				t.Fatalf("packet %d: %v\n% x", packets, err, d[:min(len(d), 64)])
			}
		case segment.IPVersion(d) == 6 && len(d) >= 40 && d[6] == segment.ProtocolTCP:
			tcp6++
			if err := checkTCP6Checksum(d); err != nil {
				t.Fatalf("packet %d: %v\n% x", packets, err, d[:min(len(d), 80)])
			}
			if err := segment.ParseIPv6TCP(d, &s); err != nil {
				t.Fatalf("packet %d: %v\n% x", packets, err, d[:min(len(d), 80)])
			}
		default:
			continue
		}
		if st := streams[netip.AddrPortFrom(s.Src, s.SrcPort)]; st != nil {
			st.add(t, &s)
		}
	}
	for from, st := range streams {
		if err := st.check(); err != nil {
			t.Errorf("the capture's segments from %v: %v", from, err)
		}
	}
	if tcp6 == 0 {
		t.Fatal("no IPv6 TCP segment in the capture")
	}
	t.Logf("%d packets in the capture, %d of them IPv6 TCP", packets, tcp6)
}

// checkTCP6Checksum verifies the TCP checksum of an IPv6 packet without
// extension headers with this package's own RFC 1071 code, over the IPv6
// pseudo-header (RFC 8200 8.1: source, destination, upper-layer length,
// next header).
func checkTCP6Checksum(pkt []byte) error {
	seg := pkt[40 : 40+int(binary.BigEndian.Uint16(pkt[4:6]))]
	var pseudo uint32
	for i := 8; i < 40; i += 2 {
		pseudo += uint32(binary.BigEndian.Uint16(pkt[i:]))
	}
	pseudo += uint32(segment.ProtocolTCP) + uint32(len(seg))
	if c := checksum(seg, pseudo); c != 0 {
		return fmt.Errorf("bad TCP checksum over the IPv6 pseudo-header (residue %#04x)", c)
	}
	return nil
}

// pcapStream reassembles one direction of a connection from captured
// segments by sequence number.
type pcapStream struct {
	want    []byte
	got     []byte
	covered []bool
	isn     segment.Seq
	synSeen bool
	bad     int // segments whose bytes differ from what was sent
}

func (st *pcapStream) add(t *testing.T, s *segment.Segment) {
	if s.Flags&segment.FlagSYN != 0 {
		st.isn, st.synSeen = s.Seq, true
		st.got = make([]byte, len(st.want))
		st.covered = make([]bool, len(st.want))
		return
	}
	if !st.synSeen || len(s.Payload) == 0 {
		return
	}
	off := int(s.Seq.Sub(st.isn.Add(1)))
	if off < 0 || off+len(s.Payload) > len(st.want) {
		t.Fatalf("segment at offset %d, %d bytes, outside the %d-byte stream", off, len(s.Payload), len(st.want))
	}
	for i, b := range s.Payload {
		st.got[off+i] = b
		st.covered[off+i] = true
	}
	if !bytes.Equal(s.Payload, st.want[off:off+len(s.Payload)]) {
		st.bad++
	}
}

func (st *pcapStream) check() error {
	if !st.synSeen {
		return errors.New("no SYN")
	}
	for i, c := range st.covered {
		if !c {
			return fmt.Errorf("byte %d missing", i)
		}
	}
	if st.bad > 0 || !bytes.Equal(st.got, st.want) {
		return fmt.Errorf("%d segments differ from the bytes sent", st.bad)
	}
	return nil
}

// readPcap returns the packets of a LINKTYPE_RAW capture file, read with
// gopacket's pcapgo.
func readPcap(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeRaw {
		t.Fatalf("link type %v, want raw IP", r.LinkType())
	}
	var pkts [][]byte
	for {
		d, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return pkts
		}
		if err != nil {
			t.Fatalf("reading packet %d of %s: %v", len(pkts)+1, path, err)
		}
		if ci.CaptureLength != len(d) || ci.Length != len(d) {
			t.Fatalf("packet %d: truncated capture %+v", len(pkts)+1, ci)
		}
		pkts = append(pkts, d)
	}
}
