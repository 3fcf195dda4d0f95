//go:build !unix

package mapfile

import "os"

// mapString never maps where mmap is not available: the file is read.
func mapString(string) (string, bool, error) { return "", false, nil }

// mapFile never maps where mmap is not available: the file is read.
func mapFile(*os.File, int) ([]byte, func([]byte) error, bool) { return nil, nil, false }

// releasePages is never called where nothing is mapped.
func releasePages([]byte) error { return nil }
