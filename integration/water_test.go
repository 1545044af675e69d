package integration

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/songgao/water"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/tun"
	"github.com/tunstack/tunstack/tun/tuntest"
)

// The tests below open the TUN device with github.com/songgao/water, as a
// program that already uses water would, and hand it to the stack through
// tun.Adapt. Everything happens in the test binary's private namespace.

// openWater opens (creating if needed) the TUN device name with water.
func openWater(t *testing.T, name string, persist bool) *water.Interface {
	t.Helper()
	tuntest.Require(t)
	ifce, err := water.New(water.Config{
		DeviceType:             water.TUN,
		PlatformSpecificParams: water.PlatformSpecificParams{Name: name, Persist: persist},
	})
	if err != nil {
		t.Fatalf("water.New(%s): %v", name, err)
	}
	return ifce
}

// persistentDevice makes a persistent TUN device the way an administrator
// (or the benchmark harness) does, addressed and up, removed at the end.
func persistentDevice(t *testing.T, name string) {
	t.Helper()
	needTool(t, "ip", "iproute2")
	tuntest.Run(t, "ip", "tuntap", "add", "dev", name, "mode", "tun")
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	tuntest.Run(t, "ip", "addr", "add", hostAddr+"/24", "dev", name)
	tuntest.Run(t, "ip", "link", "set", name, "up")
}

// serveWater runs a stack on the water device through tun.Adapt with an
// HTTP server on port 80 that answers /hello and /bytes/N, and returns the
// stack.
func serveWater(t *testing.T, ifce *water.Interface) *stack.Stack {
	t.Helper()
	iface, err := net.InterfaceByName(ifce.Name())
	if err != nil {
		t.Fatal(err)
	}
	link, err := tun.Adapt(ifce, iface.MTU)
	if err != nil {
		t.Fatalf("tun.Adapt: %v", err)
	}
	s, err := stack.New(link, stack.Options{Addr: netip.MustParseAddr(stackAddr)})
	if err != nil {
		t.Fatalf("stack.New: %v", err)
	}
	ln, err := s.Listen(":80")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		if _, err := fmt.Sscanf(r.URL.Path, "/bytes/%d", &n); err == nil && n >= 0 {
			w.Header().Set("Content-Length", fmt.Sprint(n))
			w.Write(fillPattern(n))
			return
		}
		fmt.Fprintf(w, "hello over water, %s\n", r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); s.Close() })
	return s
}

// fillPattern is the /bytes/N body of `tunstack serve` (checkFill).
func fillPattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// curlWater fetches /hello and 1 MB from the stack with curl from the
// kernel side and checks both byte for byte.
func curlWater(t *testing.T) {
	t.Helper()
	curl := needTool(t, "curl", "curl")
	out, stderr, err := command(t, 20*time.Second, nil, curl, "-sS", "--max-time", "15", "http://"+stackAddr+"/hello")
	if err != nil || string(out) != "hello over water, /hello\n" {
		t.Fatalf("curl /hello: %q, %v %s", out, err, stderr)
	}
	const n = 1 << 20
	out, stderr, err = command(t, 60*time.Second, nil, curl, "-sS", "--max-time", "50", fmt.Sprintf("http://%s/bytes/%d", stackAddr, n))
	if err != nil {
		t.Fatalf("curl /bytes/%d: %v %s", n, err, stderr)
	}
	if len(out) != n {
		t.Fatalf("curl /bytes/%d: got %d bytes", n, len(out))
	}
	if err := checkFill(out, 0); err != nil {
		t.Fatal(err)
	}
}

// closeWithin closes s and fails if that takes longer than d (Close waits
// for the input goroutine, so this checks that closing the adapter
// unblocked its Read on water's descriptor).
func closeWithin(t *testing.T, s *stack.Stack, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("Stack.Close on a water device took longer than %v", d)
	}
}

// A device water creates (not persistent) serves curl through the stack
// and disappears when the stack closes it.
func TestWaterServesCurl(t *testing.T) {
	const name = "wtr0"
	needTool(t, "ip", "iproute2")
	ifce := openWater(t, name, false)
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	tuntest.Run(t, "ip", "addr", "add", hostAddr+"/24", "dev", name)
	tuntest.Run(t, "ip", "link", "set", name, "up")
	s := serveWater(t, ifce)
	curlWater(t)
	closeWithin(t, s, 10*time.Second)
	if linkExists(name) {
		t.Fatalf("%s still exists after the stack closed the device water created", name)
	}
}

// Attaching to a persistent device (created with `ip tuntap add`) with
// Persist: true, serving and closing leaves the device in place with its
// address; without Persist, water clears the persist flag and the kernel
// deletes the device on close (why the README says to pass it).
func TestWaterPersistentDevice(t *testing.T) {
	const name = "wtp0"
	persistentDevice(t, name)
	s := serveWater(t, openWater(t, name, true))
	curlWater(t)
	closeWithin(t, s, 10*time.Second)
	if !linkExists(name) {
		t.Fatalf("%s was deleted although water was asked to keep it persistent", name)
	}
	if out := tuntest.Run(t, "ip", "-4", "-o", "addr", "show", "dev", name); !strings.Contains(out, hostAddr+"/24") {
		t.Fatalf("%s lost its address: %q", name, out)
	}
	// The same device, served again: it still works after our close.
	s = serveWater(t, openWater(t, name, true))
	curlWater(t)
	closeWithin(t, s, 10*time.Second)

	t.Run("without Persist water deletes it", func(t *testing.T) {
		ifce := openWater(t, name, false)
		if err := ifce.Close(); err != nil {
			t.Fatal(err)
		}
		if linkExists(name) {
			t.Fatalf("%s survived water.New without Persist: the README's advice rests on the opposite", name)
		}
	})
}

// Close on the adapter unblocks a Read pending on water's descriptor
// (water opens /dev/net/tun O_NONBLOCK and wraps it with os.NewFile, so the
// Go poller handles it), and the error matches net.ErrClosed.
func TestWaterCloseUnblocksRead(t *testing.T) {
	const name = "wtc0"
	needTool(t, "ip", "iproute2")
	// Down, so that no packet (IPv6 router solicitations...) can end the
	// Read before Close does.
	tuntest.Run(t, "ip", "tuntap", "add", "dev", name, "mode", "tun")
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	link, err := tun.Adapt(openWater(t, name, true), 1500)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		for {
			if _, err := link.Read(make([]byte, 1500)); err != nil {
				got <- err
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // let the Read park (the test holds either way)
	if err := link.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-got:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("pending Read returned %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock a Read pending on water's descriptor")
	}
	if !linkExists(name) {
		t.Fatalf("%s was deleted by closing a Persist: true interface", name)
	}
}

// A packet longer than Read's buffer: Linux's TUN truncates it silently
// (read returns the buffer's length); the adapter says ErrShortBuffer.
func TestWaterShortBuffer(t *testing.T) {
	const name = "wts0"
	ping := needTool(t, "ping", "iputils-ping")
	persistentDevice(t, name)
	link, err := tun.Adapt(openWater(t, name, true), 1500)
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	// 1000 bytes of ICMP data: a 1028-byte IPv4 packet towards the stack's
	// address, which nobody answers.
	cmd := exec.Command(ping, "-c", "20", "-i", "0.2", "-W", "1", "-s", "1000", stackAddr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	buf := make([]byte, 100)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		n, err := link.Read(buf)
		if n < 20 || buf[0]>>4 != 4 || buf[9] != 1 {
			continue // not the ICMP echo (IPv6 router solicitations and the like)
		}
		if !errors.Is(err, tun.ErrShortBuffer) || n != len(buf) {
			t.Fatalf("Read of a 1028-byte echo request into %d bytes = %d, %v; want %d, ErrShortBuffer", len(buf), n, err, len(buf))
		}
		return
	}
	t.Fatal("no ICMP echo request read from the device within 15 s")
}

// `tunstack serve --tun NAME --link water` (the benchmark harness's
// template plus --link water) serves through water and tun.Adapt, and
// leaves the persistent device in place when it exits.
func TestServeLinkWater(t *testing.T) {
	const name = "wtq0"
	persistentDevice(t, name)
	p := serve(t, "--tun", name, "--addr", stackAddr, "--mtu", "1500", "--link", "water")
	if line := p.waitLine(regexp.MustCompile(`msg=serving`), time.Second); !strings.Contains(line, "offload=false") {
		t.Errorf("serving line %q: want offload=false on the water link", line)
	}
	curl := needTool(t, "curl", "curl")
	out, stderr, err := command(t, 20*time.Second, nil, curl, "-sS", "--max-time", "15", "http://"+stackAddr+"/")
	if err != nil || !strings.Contains(string(out), "userspace TCP/IP stack") {
		t.Fatalf("curl /: %q, %v %s", out, err, stderr)
	}
	const n = 4 << 20
	out, stderr, err = command(t, 60*time.Second, nil, curl, "-sS", "--max-time", "50", fmt.Sprintf("http://%s/bytes/%d", stackAddr, n))
	if err != nil || len(out) != n {
		t.Fatalf("curl /bytes/%d: %d bytes, %v %s", n, len(out), err, stderr)
	}
	if err := checkFill(out, 0); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("serve --link water exited with %d after SIGTERM, want 0", code)
	}
	if !linkExists(name) {
		t.Fatalf("serve --link water deleted the persistent device %s", name)
	}
}

// A device deleted under the stack (ip link del) ends the stack's input
// with an error matching net.ErrClosed: water's Read fails with EBADFD,
// which the adapter reports as a closed device.
func TestWaterDeviceDeleted(t *testing.T) {
	const name = "wtd0"
	persistentDevice(t, name)
	s := serveWater(t, openWater(t, name, true))
	curlWater(t)
	tuntest.Run(t, "ip", "link", "del", name)
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the stack kept running for 10 s after its water device was deleted")
	}
	if err := s.Err(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("stack error after the device was deleted: %v, want net.ErrClosed", err)
	}
	closeWithin(t, s, 10*time.Second)
}
