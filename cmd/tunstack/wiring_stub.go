package main

import (
	"errors"
	"io"
	"log/slog"
)

func runServe(c *serveConfig, stdout io.Writer, log *slog.Logger) error {
	return errors.New("not wired yet")
}

func runDial(c *dialConfig, stdin io.Reader, stdout io.Writer, log *slog.Logger) error {
	return errors.New("not wired yet")
}
