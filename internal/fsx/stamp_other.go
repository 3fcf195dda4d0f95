//go:build !linux

package fsx

import "io/fs"

// StampOf reports no stamp outside Linux: callers read the file each time.
func StampOf(fs.FileInfo) (Stamp, bool) { return Stamp{}, false }
