//go:build !linux

package hugeheap

func reserve(int) error { return nil }

func makeBytes(n, c int) []byte { return make([]byte, n, c) }
