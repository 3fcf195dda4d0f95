//go:build !unix

package fsx

import (
	"io/fs"
	"testing"
)

// currentUmask returns 0: there is no umask here.
func currentUmask(t *testing.T) fs.FileMode { return 0 }
