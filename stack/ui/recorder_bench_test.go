package ui

import (
	"context"
	"io"
	"testing"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// BenchmarkStream: 4 MiB from a client stack to a server stack over tun's
// in-memory pipe, bare and with the server recorded (Link, Trace, ConnGone,
// Attach): the cost of --ui on the data path, per transfer (compare the two
// with benchstat; SetBytes gives MB/s).
func BenchmarkStream(b *testing.B) {
	for _, recorded := range []bool{false, true} {
		name := "bare"
		if recorded {
			name = "recorded"
		}
		b.Run(name, func(b *testing.B) {
			clk := timers.NewReal()
			ps, pc := tun.NewPipe(clk, 1500, tun.FaultConfig{}, tun.FaultConfig{})
			var l stack.Link = ps
			o := stack.Options{Addr: stackAddr, Clock: clk}
			rec := NewRecorder(Config{})
			defer rec.Close()
			if recorded {
				l = rec.Link(ps)
				o.Trace, o.ConnGone = rec.Trace, rec.ConnGone
			}
			server, err := stack.New(l, o)
			if err != nil {
				b.Fatal(err)
			}
			defer server.Close()
			if recorded {
				rec.Attach(server)
			}
			client, err := stack.New(pc, stack.Options{Addr: peerAddr, Clock: clk})
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			ln, err := server.Listen(":9")
			if err != nil {
				b.Fatal(err)
			}
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						io.Copy(io.Discard, c)
						c.Close()
					}()
				}
			}()
			const size = 4 << 20
			buf := make([]byte, 64<<10)
			b.SetBytes(size)
			b.ResetTimer()
			for b.Loop() {
				c, err := client.Dial(context.Background(), "198.18.0.2:9")
				if err != nil {
					b.Fatal(err)
				}
				for sent := 0; sent < size; sent += len(buf) {
					if _, err := c.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				c.(interface{ CloseWrite() error }).CloseWrite()
				io.Copy(io.Discard, c)
				c.Close()
			}
		})
	}
}
