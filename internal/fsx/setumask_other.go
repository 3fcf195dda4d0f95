//go:build !unix

package fsx

import "io/fs"

// SetUmask does nothing where there is no umask; it returns mask.
func SetUmask(mask fs.FileMode) fs.FileMode { return mask }
