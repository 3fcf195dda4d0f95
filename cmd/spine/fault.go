package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// faultEnv names the environment variable that rehearses a crash:
// SPINE_FAULT=<point>[@N] kills spine (SIGKILL) the N-th time (default:
// the first) it reaches the fault point (see pipeline.FaultPoints).
const faultEnv = "SPINE_FAULT"

// parseFault splits "<point>[@N]" into the point and N (1 when absent or
// not a positive number).
func parseFault(spec string) (string, int) {
	point, n, ok := strings.Cut(spec, "@")
	if !ok {
		return spec, 1
	}
	if v, err := strconv.Atoi(n); err == nil && v > 0 {
		return point, v
	}
	return point, 1
}

// faultHook returns the pipeline's fault hook for $SPINE_FAULT, or nil when
// it is not set. The hook is called from the run's goroutine only.
func faultHook() func(string) {
	spec := os.Getenv(faultEnv)
	if spec == "" {
		return nil
	}
	point, nth := parseFault(spec)
	seen := 0
	return func(p string) {
		if p != point {
			return
		}
		if seen++; seen == nth {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}
