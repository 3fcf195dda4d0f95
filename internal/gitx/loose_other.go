//go:build !unix

package gitx

import (
	"errors"
	"io/fs"
	"os"
)

// readSmall reads a file of at most 4 KiB (a ref).
func readSmall(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) > 4096 {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("larger than 4 KiB")}
	}
	return b, err
}
