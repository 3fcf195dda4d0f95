package fsx

import (
	"bytes"
	"io/fs"
	"os"
	"strconv"
)

// Umask returns the process's umask, read from /proc/self/status (Linux
// 4.7 and later) rather than by setting it, which would change it for
// every goroutine creating a file meanwhile. ok is false where it cannot
// be read.
func Umask() (mask fs.FileMode, ok bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range bytes.Lines(data) {
		v, found := bytes.CutPrefix(line, []byte("Umask:"))
		if !found {
			continue
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 8, 32)
		if err != nil || n > 0o777 {
			return 0, false
		}
		return fs.FileMode(n), true
	}
	return 0, false
}
