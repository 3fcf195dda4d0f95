package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// stopSignals returns a context cancelled by the signals that ask a
// command running steps to stop cleanly (the step interrupted and
// receipted, the stage committed): SIGINT (Ctrl-C), SIGTERM, and SIGHUP
// (the terminal or the ssh session closed), unless spine was started with
// SIGHUP ignored (nohup), which it then keeps.
//
// It also takes SIGPIPE for the rest of the process (main does as well,
// for every command), so that a reader of spine's output that goes away
// (spine run | head, a closed pager) makes spine's writes fail, which it
// ignores, instead of killing it in the middle of a step with nothing
// receipted. Steps still start with SIGPIPE at its default: a handled
// signal is reset by exec, an ignored one would not be.
func stopSignals(parent context.Context) (context.Context, context.CancelFunc) {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	sigs := []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return signal.NotifyContext(parent, sigs...)
}
