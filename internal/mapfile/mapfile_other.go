//go:build !unix

package mapfile

// mapString never maps where mmap is not available: the file is read.
func mapString(string) (string, bool, error) { return "", false, nil }
