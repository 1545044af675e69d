package integration

import (
	"io"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestOffloadModes runs the same transfers with the TUN device's
// virtio-net offloads on (serve's default) and off (--no-offload): echo
// both ways with SHA-256 checks, an upload to discard that waits for the
// stack's close, and a chargen download checked against the RFC 864
// pattern. With offloads the kernel must have handed the stack
// super-segments and the stack must have handed the kernel segments to
// cut; without, neither.
func TestOffloadModes(t *testing.T) {
	for _, mode := range []struct {
		name    string
		flags   []string
		offload bool
	}{
		{"offload", nil, true},
		{"no-offload", []string{"--no-offload"}, false},
	} {
		t.Run(mode.name, func(t *testing.T) {
			p := serve(t, mode.flags...)
			want := "offload=" + strconv.FormatBool(mode.offload)
			if l := p.waitLine(regexp.MustCompile(`msg=serving`), time.Second); !regexp.MustCompile(`\b` + want + `\b`).MatchString(l) {
				t.Fatalf("serving line %q does not say %s", l, want)
			}
			n := size(64<<20, 8<<20)
			exchange(t, dialStack(t, 7), n, 7, 120*time.Second)

			c := dialStack(t, 9)
			c.SetDeadline(time.Now().Add(120 * time.Second))
			buf := make([]byte, 128<<10)
			for left := n; left > 0; left -= int64(len(buf)) {
				if _, err := c.Write(buf[:min(left, int64(len(buf)))]); err != nil {
					t.Fatalf("upload to discard: %v", err)
				}
			}
			c.CloseWrite()
			if k, err := io.Copy(io.Discard, c); err != nil || k != 0 {
				t.Fatalf("waiting for discard's close: %d bytes, %v", k, err)
			}
			c.Close()

			c = dialStack(t, 19)
			c.SetDeadline(time.Now().Add(120 * time.Second))
			var off int64
			for off < n {
				k, err := c.Read(buf)
				if err := checkChargen(buf[:k], off); err != nil {
					t.Fatal(err)
				}
				off += int64(k)
				if err != nil {
					t.Fatalf("chargen after %d bytes: %v", off, err)
				}
			}
			c.Close()

			p.stop(10 * time.Second)
			counter := func(name string) int64 {
				l, ok := p.findLine(regexp.MustCompile(`^\s*`+name+`\s+\d+`), 0, time.Second)
				if !ok {
					t.Fatalf("no %s in the exit statistics", name)
				}
				v, _ := strconv.ParseInt(regexp.MustCompile(`\d+$`).FindString(l), 10, 64)
				return v
			}
			gso, super := counter("gso_writes"), counter("super_segments_in")
			t.Logf("%s: gso_writes %d super_segments_in %d", mode.name, gso, super)
			if mode.offload && (gso == 0 || super == 0) {
				t.Errorf("offloads on but gso_writes %d, super_segments_in %d", gso, super)
			}
			if !mode.offload && (gso != 0 || super != 0) {
				t.Errorf("offloads off but gso_writes %d, super_segments_in %d", gso, super)
			}
			if tcs := p.out.snapshot(); len(tcs) > 0 {
				for _, l := range tcs {
					if regexp.MustCompile(`dropped\.tcp_checksum`).MatchString(l) {
						t.Errorf("checksum drops: %s", l)
					}
				}
			}
		})
	}
}
