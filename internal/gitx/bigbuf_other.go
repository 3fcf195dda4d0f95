//go:build !linux

package gitx

// makeLarge returns a zeroed slice of length n and capacity at least c
// for a large buffer (see the Linux version, which asks for huge pages).
func makeLarge(n, c int) []byte { return make([]byte, n, max(c, n)) }
