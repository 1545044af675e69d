//go:build linux

package tun_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunstack/tunstack/tun"
)

// An *os.File the runtime poller handles is accepted, and Close unblocks
// its pending Read; a blocking descriptor wrapped by os.NewFile is refused,
// because nothing could interrupt its Read.
func TestAdaptFiles(t *testing.T) {
	r, w, err := os.Pipe() // os.Pipe's files are non-blocking and polled
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	a := mustAdapt(t, r, 1500)
	got := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1500))
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	a.Close()
	select {
	case err := <-got:
		checkClosedErr(t, "pending Read on a pipe", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock a Read on a polled file")
	}

	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil { // blocking
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	blocking := os.NewFile(uintptr(fds[0]), "blocking pipe")
	defer blocking.Close()
	if _, err := tun.Adapt(blocking, 1500); err == nil || !bytes.Contains([]byte(err.Error()), []byte("O_NONBLOCK")) {
		t.Fatalf("Adapt of a blocking descriptor: %v, want the O_NONBLOCK advice", err)
	}
}
