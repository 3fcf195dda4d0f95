// Command spine reads loop documents from a git repository, runs the stages
// still pending on this host under approval gates, commits receipts back to
// git and renders a static evidence site.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	a := newApp(stdout, stderr)
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return a.exit
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "spine:", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "spine:", err)
	return exitUsage
}
