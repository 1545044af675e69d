package stack_test

import (
	"strings"
	"testing"

	"github.com/tunstack/tunstack/stack"
)

// Options.CongestionControl: an unknown name is refused by New with an
// error naming it and the known algorithms; a known one is accepted.
func TestOptionsCongestionControl(t *testing.T) {
	_, err := stack.New(newRawLink(), stack.Options{Addr: addrB, CongestionControl: "no-such-cc"})
	if err == nil || !strings.Contains(err.Error(), `"no-such-cc"`) || !strings.Contains(err.Error(), "newreno") {
		t.Fatalf("New with an unknown algorithm: %v, want an error naming it and the known ones", err)
	}
	s, err := stack.New(newRawLink(), stack.Options{Addr: addrB, CongestionControl: "newreno"})
	if err != nil {
		t.Fatalf("New with newreno: %v", err)
	}
	s.Close()
}
