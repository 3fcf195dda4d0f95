// Package exeid tells builds of spine apart, for the caches and the site
// pages an older build wrote: a spine built from other code must not take
// them as its own, and the same code built again may.
package exeid

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"io"
	"os"
)

// Identity returns the identity (Of) of the running executable: the
// image this process runs, which /proc/self/exe names even once the file
// at its path has been replaced (an upgrade while a spine site serve
// runs), else the file os.Executable names; "" when neither can be read.
func Identity() string {
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			return ""
		}
	}
	return Of(exe)
}

// Of returns the identity of the executable at path: the Go build ID its
// ELF note carries (a hash of everything built into it: every package's
// code, the modules, the Go version), else the SHA-256 of the file (a
// binary built without a build ID, or not ELF); "" when it cannot be
// read. Other code gives another identity, whatever the file's size and
// times; the same code built again gives the same.
func Of(path string) string {
	if f, err := elf.Open(path); err == nil {
		defer f.Close()
		if s := f.Section(".note.go.buildid"); s != nil {
			if data, err := s.Data(); err == nil && len(data) > 0 {
				return "buildid:" + string(data)
			}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
