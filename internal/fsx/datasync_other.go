//go:build !linux

package fsx

import "os"

// Fdatasync flushes f to the disk: fsync(2) where spine does not use
// fdatasync(2).
func Fdatasync(f *os.File) error { return f.Sync() }
