//go:build !linux

package pipeline

import "io/fs"

// stampOf reports no stamp outside Linux: the document is read each time.
func stampOf(fs.FileInfo) (docStamp, bool) { return docStamp{}, false }
