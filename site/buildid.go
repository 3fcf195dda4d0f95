package site

import (
	"debug/elf"
	"os"
	"strconv"
)

// buildIdentity returns what tells this spine's build from another's, for
// the pages' key: the Go build ID of the running executable (identityOf).
func buildIdentity() string {
	exe := "/proc/self/exe" // the running image, even once replaced
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			return ""
		}
	}
	return identityOf(exe)
}

// identityOf returns the Go build ID the executable at path carries in its
// ELF note: a hash of everything built into it (every package's code, the
// modules, the Go version), so that other code gives another and the same
// code built again gives the same. Where there is none (not ELF), it is
// the file's size and modification time, which a rebuild changes too; ""
// when the file cannot be read.
func identityOf(path string) string {
	if f, err := elf.Open(path); err == nil {
		defer f.Close()
		if s := f.Section(".note.go.buildid"); s != nil {
			if data, err := s.Data(); err == nil && len(data) > 0 {
				return "buildid:" + string(data)
			}
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return "file:" + strconv.FormatInt(fi.Size(), 10) + ":" + strconv.FormatInt(fi.ModTime().UnixNano(), 10)
}
