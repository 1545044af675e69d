package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
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

	// SIGINT/SIGTERM end the connection gracefully (the deferred Close
	// and shutdown send our FIN), or abandon the connection attempt;
	// SIGUSR1 and --stats print the table.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	type dialed struct {
		conn net.Conn
		err  error
	}
	dc := make(chan dialed, 1)
	go func() {
		conn, err := rt.stack.DialContext(ctx, c.network, c.target)
		dc <- dialed{conn, err}
	}()
	var conn net.Conn
	for conn == nil {
		select {
		case d := <-dc:
			cancel()
			if d.err != nil {
				return dialError(c, d.err)
			}
			conn = d.conn
		case s := <-sigs:
			if s != syscall.SIGUSR1 {
				cancel()
				if d := <-dc; d.conn != nil {
					d.conn.Close()
				}
				return nil
			}
			rt.printTable()
		case <-rt.stack.Done():
			cancel()
			return deviceGone(rt)
		}
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
	var tick <-chan time.Time
	if c.stats > 0 {
		t := time.NewTicker(c.stats)
		defer t.Stop()
		tick = t.C
	}
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(stdout, conn)
		copied <- err
	}()
	for {
		select {
		case <-tick:
			rt.printTable()
		case s := <-sigs:
			if s == syscall.SIGUSR1 {
				rt.printTable()
				continue
			}
			log.Debug("closing on signal", "signal", s.String())
			return nil
		case <-rt.stack.Done():
			return deviceGone(rt)
		case err := <-copied:
			if err == nil {
				return nil
			}
			if errors.Is(err, syscall.ECONNRESET) {
				return fmt.Errorf("connection to %s reset by the peer", c.target)
			}
			return fmt.Errorf("receiving from %s: %v", c.target, err)
		}
	}
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
