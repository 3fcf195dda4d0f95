//go:build !linux

package gitx

import (
	"io/fs"
	"os"
)

// takeSpare never takes a spare here: without a way to tell that no
// other process reads it (see the Linux version), the lock is a new file.
func takeSpare(spare, lockPath string, mode fs.FileMode, place func(*os.File, string) error) (*os.File, int64, bool, error) {
	return nil, 0, false, nil
}

// spareMode: no file is a spare here.
func spareMode() fs.FileMode { return 0 }

// recycleIndex: the index file a commit replaces is not kept.
const recycleIndex = false
