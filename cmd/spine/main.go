// Command spine reads loop documents from a git repository, runs the stages
// still pending on this host under approval gates, commits receipts back to
// git and renders a static evidence site.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the process exit code.
func run(args []string) int {
	a := newApp(os.Stdout, os.Stderr)
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return a.exit
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, "spine:", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "spine:", err)
	return exitUsage
}
