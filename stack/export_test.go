package stack

// TrimMemory runs the stack's periodic memory trim now (memory.go), for
// tests that cannot wait for its timer.
func TrimMemory(s *Stack) { s.mem.trim() }

// InputBarrier returns once the packet the input goroutine is processing,
// if any, is done (tests that count the effects of injected packets).
func InputBarrier(s *Stack) {
	s.inMu.Lock()
	s.inMu.Unlock()
}
