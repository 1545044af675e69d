package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
)

func main() {
	startHeapProfiles()
	// TUNSTACK_CPUPROFILE=file (undocumented, for performance work): write
	// a CPU profile of the whole run; serve stops on SIGTERM/SIGINT, so
	// the profile is complete when the process exits normally.
	if p := os.Getenv("TUNSTACK_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil {
			code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(code)
		}
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// usageError marks errors that exit with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitError carries an exit code and a one-line message that already says
// what to do.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// run is main without os.Exit, for tests. Errors are printed as one line on
// stderr; there is never a stack trace.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		io.WriteString(stderr, topHelp)
		return exitUsage
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "-h", "-help", "--help", "help":
		switch {
		case len(rest) > 0 && rest[0] == "serve":
			_, err = parseServe([]string{"--help"}, stdout)
		case len(rest) > 0 && rest[0] == "dial":
			_, err = parseDial([]string{"--help"}, stdout)
		case len(rest) > 0 && rest[0] == "forward":
			_, err = parseForward([]string{"--help"}, stdout)
		default:
			io.WriteString(stdout, topHelp)
			return exitOK
		}
	case "serve":
		var c *serveConfig
		if c, err = parseServe(rest, stdout); err == nil {
			err = runServe(c, stdout, newLogger(stderr, c.logLevel))
		} else if !errors.Is(err, errHelp) {
			err = usageError{err}
		}
	case "forward":
		var c *forwardConfig
		if c, err = parseForward(rest, stdout); err == nil {
			err = runForward(c, stdout, newLogger(stderr, c.logLevel))
		} else if !errors.Is(err, errHelp) {
			err = usageError{err}
		}
	case "dial":
		var c *dialConfig
		if c, err = parseDial(rest, stdout); err == nil {
			err = runDial(c, stdin, stdout, stderr, newLogger(stderr, c.logLevel))
		} else if !errors.Is(err, errHelp) {
			err = usageError{err}
		}
	default:
		err = usageError{fmt.Errorf("unknown command %q", cmd)}
		args = []string{""}
	}
	return report(err, args[0], stderr)
}

func report(err error, cmd string, stderr io.Writer) int {
	var ue usageError
	var ee *exitError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		hint := "tunstack --help"
		if cmd == "serve" || cmd == "dial" || cmd == "forward" {
			hint = "tunstack " + cmd + " --help"
		}
		fmt.Fprintf(stderr, "tunstack: %v (see %s)\n", ue.err, hint)
		return exitUsage
	case errors.As(err, &ee):
		fmt.Fprintf(stderr, "tunstack: %s\n", ee.msg)
		return ee.code
	default:
		fmt.Fprintf(stderr, "tunstack: %v\n", err)
		return exitRuntime
	}
}

// newLogger writes diagnostics to stderr as "LEVEL message key=value".
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.String(slog.TimeKey, a.Value.Time().Format("15:04:05.000"))
			}
			return a
		},
	}))
}
