package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/tunstack/tunstack/segment"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

func TestUsageErrorsAreOneLine(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"serve", "--bogus"},
		{"serve", "--mtu", "100"},
		{"serve", "--addr", "not-an-ip"},
		{"serve", "--addr", "::1"},
		{"serve", "--loss", "101"},
		{"serve", "--services", "echo,telnet"},
		{"serve", "--sndbuf", "lots"},
		{"serve", "--cc", "vegas"},
		{"serve", "extra"},
		{"dial"},
		{"dial", "198.18.0.1"},
		{"dial", "198.18.0.1:0"},
		{"dial", "a:1", "b:2"},
		{"dial", "--tun", "a/b", "198.18.0.1:80"},
	} {
		code, _, stderr := runCLI(args...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d (stderr %q)", args, code, exitUsage, stderr)
		}
		if len(args) == 0 {
			continue // the bare command prints the overview
		}
		if !strings.HasPrefix(stderr, "tunstack: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--help") {
			t.Errorf("%q: stderr %q is not one line pointing at --help", args, stderr)
		}
		if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
			t.Errorf("%q: stack trace in %q", args, stderr)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"serve", "--help"}, {"serve", "-h"}, {"dial", "--help"}, {"help", "dial"}} {
		code, stdout, stderr := runCLI(args...)
		if code != exitOK || stderr != "" {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
		for _, want := range []string{"Exit codes", "  3  missing privileges"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%q: help lacks %q", args, want)
			}
		}
	}
	_, out, _ := runCLI("serve", "--help")
	for _, flag := range []string{"--tun", "--addr", "--mtu", "--msl", "--sndbuf", "--rcvbuf", "--cc", "--services",
		"--loss", "--delay", "--reorder", "--dup", "--seed", "--pcap", "--trace", "--stats", "--log-level", "--http-root", "Examples:"} {
		if !strings.Contains(out, flag) {
			t.Errorf("serve --help lacks %s", flag)
		}
	}
}

func TestParseServeFlags(t *testing.T) {
	c, err := parseServe(strings.Fields("--tun tsut0 --addr 198.18.0.2 --mtu 1500 --msl 1s --sndbuf 256k --rcvbuf 4M --cc bbr "+
		"--loss 1.5 --delay 5ms --reorder 2% --dup 3 --seed 7 --trace --stats 2s --log-level debug --services echo,http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.tun != "tsut0" || c.stackAddrs.v4 != netip.MustParseAddr("198.18.0.2") || c.stackAddrs.v6.IsValid() || c.mtu != 1500 || c.msl != time.Second ||
		c.sndbuf != 256<<10 || c.rcvbuf != 4<<20 || c.cc != "bbr" || c.loss != 1.5 || c.delay != 5*time.Millisecond ||
		c.reorder != 2 || c.dup != 3 || c.seed != 7 || !c.trace || c.stats != 2*time.Second ||
		!c.services["echo"] || !c.services["http"] || c.services["discard"] {
		t.Fatalf("parsed %+v", c)
	}
	d, err := parseDial([]string{"198.18.0.1:8080", "--trace", "--timeout", "3s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.target != "198.18.0.1:8080" || !d.trace || d.timeout != 3*time.Second {
		t.Fatalf("parsed %+v", d)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "65536": 65536, "64k": 65536, "4M": 4 << 20, "1g": 1 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "k", "1.5M", "3T", "99999999999G"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// tcpPacket builds an IPv4/TCP packet with gopacket, the independent
// reference for peekTCP.
func tcpPacket(t testing.TB, syn, ack, fin bool, seq, ackn uint32, payload []byte) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: []byte{198, 18, 0, 1}, DstIP: []byte{198, 18, 0, 2}}
	tcp := &layers.TCP{SrcPort: 51234, DstPort: 80, Seq: seq, Ack: ackn, SYN: syn, ACK: ack, FIN: fin, Window: 64240,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPeekTCP(t *testing.T) {
	pkt := tcpPacket(t, true, true, false, 1000, 2000, []byte("hello"))
	h, ok := peekTCP(pkt)
	if !ok {
		t.Fatal("not recognised")
	}
	if h.src.String() != "198.18.0.1" || h.dst.String() != "198.18.0.2" || h.srcPort != 51234 || h.dstPort != 80 ||
		h.seq != 1000 || h.ack != 2000 || h.flags != segment.FlagSYN|segment.FlagACK || h.win != 64240 || h.payload != 5 {
		t.Fatalf("%+v", h)
	}
	for n := range len(pkt) {
		if _, ok := peekTCP(pkt[:n]); ok && n < len(pkt) {
			// A truncated total length is caught by the length check.
			t.Fatalf("truncated packet of %d bytes accepted", n)
		}
	}
	udp := append([]byte(nil), pkt...)
	udp[9] = 17
	if _, ok := peekTCP(udp); ok {
		t.Fatal("UDP accepted as TCP")
	}
}

func FuzzPeekTCP(f *testing.F) {
	f.Add(tcpPacket(f, true, false, false, 1, 0, nil))
	f.Add([]byte{0x45, 0, 0, 20})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		peekTCP(pkt) // must not panic
	})
}

func TestPeekTCPAllocs(t *testing.T) {
	pkt := tcpPacket(t, true, false, false, 1, 0, nil)
	if a := testing.AllocsPerRun(100, func() { peekTCP(pkt) }); a != 0 {
		t.Fatalf("%v allocs per peek", a)
	}
}

// fakeLink is an in-memory link: Read returns queued packets, Write
// records.
type fakeLink struct {
	in      [][]byte
	written [][]byte
}

func (l *fakeLink) Read(p []byte) (int, error) {
	if len(l.in) == 0 {
		return 0, os.ErrClosed
	}
	n := copy(p, l.in[0])
	l.in = l.in[1:]
	return n, nil
}
func (l *fakeLink) Write(p []byte) (int, error) {
	l.written = append(l.written, append([]byte(nil), p...))
	return len(p), nil
}
func (l *fakeLink) MTU() int     { return 1500 }
func (l *fakeLink) Close() error { return nil }

func TestObservedLinkPcapAndTrace(t *testing.T) {
	syn := tcpPacket(t, true, false, false, 1000, 0, nil)
	data := tcpPacket(t, false, true, false, 1001, 5001, []byte("payload"))
	synack := tcpPacket(t, true, true, false, 5000, 1001, nil)
	path := filepath.Join(t.TempDir(), "x.pcap")
	pf, err := createPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	var trace bytes.Buffer
	fl := &fakeLink{in: [][]byte{syn, data}}
	l := observe(fl, pf, newTracer(&trace))
	buf := make([]byte, 2000)
	for range 2 {
		if _, err := l.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Write(synack); err != nil {
		t.Fatal(err)
	}
	if err := pf.Close(); err != nil {
		t.Fatal(err)
	}

	// The trace shows the two handshake segments with the options they
	// negotiate, not the data segment.
	lines := strings.Split(strings.TrimSpace(trace.String()), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "198.18.0.1:51234 > 198.18.0.2:80 [S] seq=1000 ack=0 win=64240 len=0 <mss 1460>") ||
		!strings.Contains(lines[1], "[S.] seq=5000 ack=1001") {
		t.Fatalf("trace:\n%s", trace.String())
	}

	// The capture reads back with gopacket: three packets in order, with
	// valid IPv4 and TCP layers.
	got := readPcapFile(t, path)
	want := [][]byte{syn, data, synack}
	if len(got) != len(want) {
		t.Fatalf("%d packets in the capture, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("packet %d differs", i)
		}
		p := gopacket.NewPacket(got[i], layers.LayerTypeIPv4, gopacket.Default)
		if p.Layer(layers.LayerTypeTCP) == nil || p.ErrorLayer() != nil {
			t.Fatalf("packet %d does not decode: %v", i, p.ErrorLayer())
		}
	}
}

// TestOptionsText: handshake options render tcpdump style, nothing for none.
func TestOptionsText(t *testing.T) {
	var o segment.Options
	if got := optionsText(&o); got != "" {
		t.Fatalf("no options: %q", got)
	}
	o.HasMSS, o.MSS = true, 1460
	o.SACKPermitted = true
	o.HasTimestamp, o.TSVal, o.TSEcr = true, 7, 0
	o.HasWScale, o.WScale = true, 7
	if got, want := optionsText(&o), " <mss 1460,sackOK,TS val 7 ecr 0,wscale 7>"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
