// Package cmd wires command-line flags to the sources → analyze → report
// pipeline. Commands are thin: each has an options struct, a constructor
// that binds flags to it and a run function that tests call directly.
package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Exit codes, documented in the README.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
	ExitGate  = 3 // a latency gate failed
)

// IO is where a command reads and writes; tests pass buffers.
type IO struct {
	In            io.Reader
	Out, Err      io.Writer
	OutIsTerminal bool
	ErrIsTerminal bool
	TerminalWidth int
	Getenv        func(string) string
}

// StdIO is the process's standard streams.
func StdIO() IO {
	w := 0
	if term.IsTerminal(int(os.Stdout.Fd())) {
		w, _, _ = term.GetSize(int(os.Stdout.Fd()))
	}
	return IO{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		OutIsTerminal: term.IsTerminal(int(os.Stdout.Fd())),
		ErrIsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
		TerminalWidth: w,
		Getenv:        os.Getenv,
	}
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitError carries an exit code other than 1 with its message, if any.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// Version is set at build time with -ldflags "-X …/cmd.Version=v1.2.3";
// otherwise the module version from the build info is shown.
var Version = ""

// NewRoot builds the command tree.
func NewRoot(io IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "trace-forensics",
		Short: "Latency forensics on distributed traces: where did the latency go?",
		Long: `trace-forensics reads traces (OTLP JSON and the Collector's JSON Lines, Jaeger,
Tempo and Zipkin exports, or live from Jaeger and Tempo) and answers "where did
the latency go?": the critical path of every request broken down by stage and
operation, p50/p95/p99 of critical-path, self and inclusive time, the tail's
anatomy, A/B groups side by side, with the trace IDs of the slowest requests
behind the numbers. Attribute values never appear in its output.

Exit codes: 0 ok, 1 error, 2 usage error, 3 a latency gate failed.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// A CPU profile of a run, for performance work; not part of the interface.
	var cpuProfile string
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	var stopProfile func()
	root.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
		return nil
	}
	root.PersistentPostRun = func(c *cobra.Command, args []string) {
		if stopProfile != nil {
			stopProfile()
		}
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	root.AddCommand(NewCmdBreakdown(io, nil), NewCmdServices(io, nil), NewCmdStages(io, nil), NewCmdCoverage(io, nil), NewCmdExplain(io, nil), newCmdVersion(io), NewCmdReport(io, nil), NewCmdSnapshot(io, nil), NewCmdMerge(io, nil), NewCmdCompare(io, nil), NewCmdGate(io, nil))
	return root
}

// Main runs the command line and returns the exit code.
func Main(args []string, io IO) int {
	if io.Getenv == nil {
		io.Getenv = func(string) string { return "" }
	}
	root := NewRoot(io)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(io.Err, "trace-forensics: %s\n", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(io.Err, "trace-forensics: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintln(io.Err, "Run 'trace-forensics --help' for usage.")
		return ExitUsage
	}
	return ExitError
}

// isCobraUsage recognises the errors cobra returns for unknown commands and
// wrong argument counts, which are usage errors too.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "unknown shorthand"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func newCmdVersion(io IO) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			goVersion := "unknown"
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				goVersion = bi.GoVersion
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = " " + s.Value
					}
				}
			}
			fmt.Fprintf(io.Out, "trace-forensics %s%s (%s)\n", version(), rev, goVersion)
			return nil
		},
	}
}
