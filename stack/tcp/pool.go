package tcp

import (
	"math/bits"
	"sync"
)

// Buffer memory.
//
// An idle connection should cost little: a Conn holds no buffer memory while
// its send and receive buffers are empty. Memory is taken from a small,
// bounded, package-wide free list of power-of-two blocks (4 KiB .. 8 MiB)
// when data arrives or is written, grows by doubling up to the configured
// bound, and goes back to the free list as soon as the buffer is empty
// again. The free list makes the empty/non-empty cycle of a streaming
// connection allocation-free; it is guarded by a mutex (taken only on those
// transitions, never per byte) rather than sync.Pool so that reuse is
// deterministic (sync.Pool drops items at random under the race detector).
//
// Memory comes back after load: TrimBuffers, which the runtime calls
// periodically, frees the parked blocks that no connection asked for since
// the previous call, so a free list that filled up under load is empty two
// calls after the load ended. It also reports the bytes connections held at
// most meanwhile, from which the runtime decides to hand freed memory back
// to the operating system (stack/memory.go).

const (
	minBufShift = 12 // 4 KiB
	// 8 MiB: a receive buffer auto-tuned to its 6 MiB limit (autotune.go)
	// cycles through one block of this size without allocating (it used to
	// be 1 MiB, and each cycle of a bulk receiver allocated its ring anew).
	maxBufShift = 23
	numClasses  = maxBufShift - minBufShift + 1
	// poolBytesPerClass bounds the memory parked in each class; a class
	// whose blocks are larger parks one.
	poolBytesPerClass = 2 << 20
)

type bufPool struct {
	mu   sync.Mutex
	free [numClasses][][]byte
	// low is the fewest blocks parked in each class since the last trim:
	// the blocks at the bottom of the free list below it were not needed
	// for a whole trim interval.
	low [numClasses]int
	// held counts the bytes of the blocks getBuf handed out and putBuf has
	// not taken back; peak is the most held since the last trim.
	held, peak int
}

var pool bufPool

// classOf returns the class of a block of exactly size bytes, or -1.
func classOf(size int) int {
	if size < 1<<minBufShift || size > 1<<maxBufShift || size&(size-1) != 0 {
		return -1
	}
	return bits.TrailingZeros(uint(size)) - minBufShift
}

func getBuf(size int) []byte {
	c := classOf(size)
	pool.mu.Lock()
	pool.held += size
	pool.peak = max(pool.peak, pool.held)
	if c >= 0 {
		l := pool.free[c]
		if n := len(l); n > 0 {
			b := l[n-1]
			l[n-1] = nil
			pool.free[c] = l[:n-1]
			pool.low[c] = min(pool.low[c], n-1)
			pool.mu.Unlock()
			return b
		}
	}
	pool.mu.Unlock()
	return make([]byte, size)
}

// putBuf takes back a block from getBuf: parked for reuse if its class has
// room, else left to the GC.
func putBuf(b []byte) {
	b = b[:cap(b)]
	c := classOf(len(b))
	pool.mu.Lock()
	pool.held -= len(b)
	limit := poolBytesPerClass
	if len(b) == rcvChunk {
		// The receive buffers' blocks: room for one auto-tuned buffer at
		// its limit, which a bulk receiver fills and drains over and over.
		limit = DefaultRecvBufferMax + rcvChunk
	}
	if c >= 0 && (len(pool.free[c]) == 0 || (len(pool.free[c])+1)*len(b) <= limit) {
		pool.free[c] = append(pool.free[c], b)
	}
	pool.mu.Unlock()
}

// BufferUsage describes the engine's buffer memory, shared by every Conn
// in the process (TrimBuffers).
type BufferUsage struct {
	// Held is the bytes connections hold in send and receive buffers now
	// (a Conn the application drops without closing it keeps counting);
	// Peak is the most they held since the previous TrimBuffers call.
	Held, Peak int
	// Parked is the bytes kept on the free list for reuse after the trim;
	// Freed is the bytes this trim dropped from it (garbage now).
	Parked, Freed int
}

// TrimBuffers frees the blocks on the buffer free list that no connection
// took since the previous call (they sat at the bottom of the list for the
// whole interval), reports the buffer memory and starts a new interval.
// The runtime calls it periodically; any caller may, from any goroutine.
// It never affects a connection's data: only unused blocks are dropped.
func TrimBuffers() BufferUsage {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	u := BufferUsage{Held: pool.held, Peak: pool.peak}
	for c := range pool.free {
		l := pool.free[c]
		size := 1 << (minBufShift + c)
		if k := pool.low[c]; k > 0 {
			n := copy(l, l[k:])
			clear(l[n:])
			l = l[:n]
			u.Freed += k * size
		}
		if len(l) == 0 {
			l = nil // the list's own backing array goes too
		}
		pool.free[c] = l
		pool.low[c] = len(l)
		u.Parked += len(l) * size
	}
	pool.peak = pool.held
	return u
}
