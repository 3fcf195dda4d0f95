//go:build !linux

package fsx

import "io/fs"

// Umask returns the process's umask where it can be read without setting
// it; ok is false here.
func Umask() (mask fs.FileMode, ok bool) { return 0, false }
