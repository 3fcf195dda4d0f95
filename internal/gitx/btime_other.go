//go:build !linux

package gitx

// birthTime returns 0: birth times are not read on this system.
func birthTime(string) int64 { return 0 }
