// Package fsx holds file-system calls spine needs that the os package
// does not offer.
package fsx

import "errors"

// ErrUnsupported is returned by RenameNoReplace where the system or the
// file system cannot rename without replacing: the caller falls back to
// another way (a hard link, which fails when the target exists).
var ErrUnsupported = errors.New("rename without replacing is not supported here")
