package tcp

import (
	"testing"
	"unsafe"
)

// maxConnSize keeps a Conn in Go's 1152-byte heap size class: the
// allocator adds an 8-byte header to objects over 512 bytes that hold
// pointers, so the struct itself may take at most 1144 bytes.
const maxConnSize = 1152 - 8

// TestConnSize guards the memory of an idle connection, one of the
// project's headline figures (TestManyConns, TestUnitIdleConnHeap): one
// byte past the size class costs a whole class step (128 bytes) per
// connection. State an idle connection does not need belongs in ccBox
// (allocated once the sender sends) or ackState (pooled while data is in
// flight), not in the Conn; a time is an instant (instant.go), not a
// time.Time.
func TestConnSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the size class is computed for 64-bit platforms")
	}
	if sz := unsafe.Sizeof(Conn{}); sz > maxConnSize {
		t.Fatalf("Conn is %d bytes (sender %d, receiver %d), want <= %d to stay in the 1152-byte size class",
			sz, unsafe.Sizeof(sender{}), unsafe.Sizeof(receiver{}), maxConnSize)
	}
}
