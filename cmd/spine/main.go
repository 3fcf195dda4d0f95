// Command spine reads loop documents from a git repository, runs the stages
// still pending on this host under approval gates, commits receipts back to
// git and renders a static evidence site.
package main

import (
	"errors"
	"fmt"
	"github.com/spinehq/spine/internal/termtext"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	hideEnviron()
	// A reader of spine's output that goes away (spine resolve ... |
	// head) makes its writes fail, which it ignores, instead of killing
	// it between a receipt and its commit (see stopSignals).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	os.Exit(profiled(os.Getenv("SPINE_CPUPROFILE"), func() int {
		return run(os.Args[1:], os.Stdout, os.Stderr)
	}))
}

// profiled runs f under the CPU profiler when path is set (the
// SPINE_CPUPROFILE environment variable), so a slow command can be profiled
// as the operator ran it: SPINE_CPUPROFILE=cpu.prof spine site build.
func profiled(path string, f func() int) int {
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "spine: SPINE_CPUPROFILE:", err)
		return f()
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		fmt.Fprintln(os.Stderr, "spine: SPINE_CPUPROFILE:", err)
		return f()
	}
	defer pprof.StopCPUProfile()
	return f()
}

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	a := newApp(stdout, stderr)
	root := newRootCmd(a)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	a.giveBackNow()
	if err == nil {
		return a.exit
	}
	if errors.Is(err, syscall.EPIPE) {
		// The reader went away (spine gap list | head): quietly, with
		// the status of a process SIGPIPE killed, as the shell knows it.
		return exitBrokenPipe
	}
	// An error may quote a document, a receipt or a flag's value: its
	// control characters are shown, not obeyed.
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "spine:", termtext.Safe(ee.msg))
		}
		return ee.code
	}
	// Cobra's own refusals (arguments, an unknown command): say where the
	// usage is.
	if cmd != nil {
		fmt.Fprintf(stderr, "spine: %s (%s --help says what it takes)\n", termtext.Safe(err.Error()), cmd.CommandPath())
		return exitUsage
	}
	fmt.Fprintln(stderr, "spine:", termtext.Safe(err.Error()))
	return exitUsage
}
