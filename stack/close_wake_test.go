package stack_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/tunstack/tunstack/tun"
)

// TestCloseReleasesEveryBlockedReader: Close wakes blocked calls through
// the Conn's token channels (no channel is closed), so each reader that
// finds the Conn closed must pass the token on; with several readers
// blocked at once, every one returns net.ErrClosed.
func TestCloseReleasesEveryBlockedReader(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, nil)
	c1, _ := p.connect(t, 5)
	const readers = 4
	errs := make(chan error, readers)
	for range readers {
		go func() {
			_, err := c1.Read(make([]byte, 10))
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	c1.Close()
	for range readers {
		select {
		case err := <-errs:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("blocked Read returned %v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a blocked Read was not released by Close")
		}
	}
}
