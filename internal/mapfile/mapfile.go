// Package mapfile reads a file as a string backed by a read-only memory
// mapping of it instead of by freshly allocated memory.
//
// On the virtual machines spine runs on, touching newly allocated memory
// costs more than reading the file: the guest's memory is backed lazily by
// the host, so each fresh 4 KB page can cost tens of microseconds, while
// mapping a file that is already in the page cache costs a small fraction
// of that. The caches spine reads whole on every command (the receipt
// index, the document cache: 10–20 MB at 5,000 loops) are read this way by
// the commands that exit when done.
package mapfile

import (
	"os"
	"unsafe"
)

// ReadString returns the content of the file at path. With mapped set, and
// where the platform allows it, the string is backed by a private read-only
// mapping of the file that is never unmapped: it stays valid, and occupies
// address space, until the process exits. Use mapped only in a process
// that reads the file a bounded number of times (a command that exits
// after one load), never in a loop of a long-running one. Files written by
// replacing them (a new file renamed into place) are safe to map: the
// mapping keeps the old file's content. A file truncated in place while it
// is mapped makes later reads of the lost part fault (SIGBUS); spine never
// rewrites these files in place.
func ReadString(path string, mapped bool) (string, error) {
	if mapped {
		if s, ok, err := mapString(path); ok || err != nil {
			return s, err
		}
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return "", err
	}
	// b is not reachable elsewhere, so the string may own it: no copy.
	return unsafe.String(&b[0], len(b)), nil
}
