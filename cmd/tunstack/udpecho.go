package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/tunstack/tunstack/stack"
)

// serveUDPEcho is RFC 862's UDP half: "When a datagram is received, the
// data from it is sent back in an answering datagram", on port 7 of every
// address of the stack. It runs with the echo service and returns a
// function that closes the socket and waits for the loop.
func serveUDPEcho(s *stack.Stack, log *slog.Logger) (stop func(), err error) {
	c, err := s.ListenUDP("udp", fmt.Sprintf(":%d", portEcho))
	if err != nil {
		return nil, fmt.Errorf("listen on UDP port %d (echo): %w", portEcho, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					log.Debug("udp echo stopped", "err", err)
				}
				return
			}
			if _, err := c.WriteToUDPAddrPort(buf[:n], from); err != nil {
				log.Debug("udp echo reply", "to", from, "err", err)
			}
		}
	}()
	return func() {
		c.Close()
		<-done
	}, nil
}
