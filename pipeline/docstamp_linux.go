package pipeline

import (
	"io/fs"
	"syscall"
)

// stampOf returns fi's docStamp; ok is false when fi carries no Stat_t.
func stampOf(fi fs.FileInfo) (docStamp, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return docStamp{}, false
	}
	return docStamp{
		dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}, true
}
