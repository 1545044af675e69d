package main

import (
	"fmt"
	"os"
	"os/signal"
	goruntime "runtime"
	"runtime/pprof"
	"syscall"
)

// startHeapProfiles is a development aid, like TUNSTACK_CPUPROFILE in
// main.go: with TUNSTACK_HEAPPROFILE=prefix in the environment, every
// SIGUSR2 writes a heap profile (after a GC, so it shows live memory) to
// prefix.1, prefix.2, ..., and a line of runtime.MemStats figures to
// stderr. It exists to see what holds memory before, during
// and after load (`go tool pprof -top -sample_index=inuse_space FILE`);
// undocumented in --help because users never need it.
func startHeapProfiles() {
	prefix := os.Getenv("TUNSTACK_HEAPPROFILE")
	if prefix == "" {
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR2)
	go func() {
		for n := 1; ; n++ {
			<-sig
			goruntime.GC()
			f, err := os.Create(fmt.Sprintf("%s.%d", prefix, n))
			if err != nil {
				fmt.Fprintf(os.Stderr, "tunstack: heap profile: %v\n", err)
				continue
			}
			if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
				fmt.Fprintf(os.Stderr, "tunstack: heap profile: %v\n", err)
			}
			f.Close()
			var m goruntime.MemStats
			goruntime.ReadMemStats(&m)
			fmt.Fprintf(os.Stderr, "tunstack: heap profile %s.%d: heap in use %d KiB, idle %d KiB (released %d), stacks %d KiB, runtime metadata %d KiB, total from the OS %d KiB\n",
				prefix, n, m.HeapInuse>>10, m.HeapIdle>>10, m.HeapReleased>>10, m.StackInuse>>10,
				(m.MSpanSys+m.MCacheSys+m.BuckHashSys+m.GCSys+m.OtherSys)>>10, m.Sys>>10)
		}
	}()
}
