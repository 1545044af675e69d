package stack_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/tunstack/tunstack/tun"
)

// TestDoneWhenLinkDies: a link closed underneath the stack (a deleted TUN
// device) closes Done and Err says why; a stack closed by its owner closes
// Done with Err nil.
func TestDoneWhenLinkDies(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, nil)
	select {
	case <-p.a.Done():
		t.Fatal("Done closed while the link is alive")
	default:
	}
	if err := p.a.Err(); err != nil {
		t.Fatalf("Err before Done: %v", err)
	}
	p.pa.Close() // the link dies under stack A
	select {
	case <-p.a.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after the link was closed underneath the stack")
	}
	if err := p.a.Err(); err == nil || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Err after the link died = %v, want one wrapping net.ErrClosed", err)
	}

	p.b.Close()
	select {
	case <-p.b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after Close")
	}
	if err := p.b.Err(); err != nil {
		t.Fatalf("Err after Close = %v, want nil", err)
	}
}
