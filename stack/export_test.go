package stack

// TrimMemory runs the stack's periodic memory trim now (memory.go), for
// tests that cannot wait for its timer.
func TrimMemory(s *Stack) { s.mem.trim() }
