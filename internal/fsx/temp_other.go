//go:build !unix

package fsx

import "os"

// CreateTemp creates a new file, mode 0600, named prefix followed by a
// random number in dir: os.CreateTemp(dir, prefix+"*").
func CreateTemp(dir, prefix string) (*os.File, error) {
	return os.CreateTemp(dir, prefix+"*")
}
