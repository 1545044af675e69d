package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/tunstack/tunstack/stack"
)

// startUDPForward forwards UDP; the stack's any-destination UDP is not
// there yet, so UDP routed into the device is dropped (and counted as not
// ours).
func startUDPForward(ctx context.Context, s *stack.Stack, up *upstream, flows *flowTable, idle time.Duration, log *slog.Logger) (stop func(), err error) {
	log.Warn("UDP is not forwarded by this build")
	return func() {}, nil
}
