//go:build !linux

package gitx

import "os"

// takeSpare never takes a spare here: without a way to tell that no
// other process reads it (see the Linux version), the lock is a new file.
func takeSpare(spare, lockPath string) (*os.File, int64, bool) { return nil, 0, false }

// recycleIndex: the index file a commit replaces is not kept.
const recycleIndex = false
