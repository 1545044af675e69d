package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
)

// runDial is `tunstack dial`: an active open from the stack, stdin to the
// peer (then a half-close, RFC 9293 3.6: our FIN says "no more data from
// this side" while we keep receiving), the peer to stdout until its FIN.
func runDial(c *dialConfig, stdin io.Reader, stdout, stderr io.Writer, log *slog.Logger) error {
	// Trace lines go to stderr: stdout carries the peer's bytes.
	rt, err := start(&c.linkConfig, stderr, log)
	if err != nil {
		return err
	}
	defer rt.closePcap()
	defer rt.shutdown(c.grace)

	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	conn, err := rt.stack.DialContext(ctx, "tcp4", c.target)
	cancel()
	if err != nil {
		return dialError(c, err)
	}
	defer conn.Close()
	log.Debug("connected", "local", conn.LocalAddr(), "remote", conn.RemoteAddr())

	type closeWriter interface{ CloseWrite() error }
	go func() {
		if _, err := io.Copy(conn, stdin); err != nil {
			log.Debug("sending stdin", "err", err)
		}
		if cw, ok := conn.(closeWriter); ok {
			cw.CloseWrite()
		}
	}()
	if _, err := io.Copy(stdout, conn); err != nil {
		if errors.Is(err, syscall.ECONNRESET) {
			return fmt.Errorf("connection to %s reset by the peer", c.target)
		}
		return fmt.Errorf("receiving from %s: %v", c.target, err)
	}
	return nil
}

func dialError(c *dialConfig, err error) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("connection to %s refused (nothing listens there?)", c.target)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT), isTimeout(err):
		return fmt.Errorf("no answer from %s within %v (is the kernel side configured? see ip addr)", c.target, c.timeout)
	}
	return fmt.Errorf("dial %s: %v", c.target, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
