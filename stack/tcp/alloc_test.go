//go:build !race

package tcp_test

// Allocation counts are not meaningful under the race detector (it
// allocates on its own), so these tests are built only without it.

import "testing"

// The zero-allocation guarantee as tests, so a regression fails go test and
// not only a benchmark reading.
func TestReceiveInOrderAllocs(t *testing.T) {
	b := newBenchConn(t)
	payload := patBytes(0, 1460)
	for i := 0; i < 1000; i++ {
		b.receiveOne(payload)
	}
	if a := testing.AllocsPerRun(1000, func() { b.receiveOne(payload) }); a != 0 {
		t.Fatalf("receiving an in-order segment allocates %.2f times", a)
	}
}

func TestSendFullSegmentAllocs(t *testing.T) {
	b := newBenchConn(t)
	payload := patBytes(0, 1460)
	for i := 0; i < 1000; i++ {
		b.sendOne(payload)
	}
	if a := testing.AllocsPerRun(1000, func() { b.sendOne(payload) }); a != 0 {
		t.Fatalf("sending a full-size segment allocates %.2f times", a)
	}
}
