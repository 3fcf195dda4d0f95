//go:build !linux

package fsx

// RenameNoReplace renames oldpath to newpath unless newpath exists; on
// this system it always returns ErrUnsupported (see the Linux version).
func RenameNoReplace(oldpath, newpath string) error { return ErrUnsupported }
