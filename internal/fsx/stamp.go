package fsx

import "time"

// SettleMargin is how old a file's last change (its ctime) must be, when
// its content is found equal to what a caller knows, for its Stamp to be
// trusted (see Stamp.Settled): well beyond the tick of the kernel's coarse
// clock that stamps inodes (1–10 ms) and timestamp granularities of 10 ms.
const SettleMargin = 100 * time.Millisecond

// Stamp is what stat says of a file that identifies its content without
// reading it: device, inode, size, modification and change times.
//
// Why an equal stamp proves an equal content, once the stamp was taken
// (before the read that found the content equal) at least SettleMargin
// after the file's ctime: every write to the file, truncation, chmod or
// rename onto its name sets the ctime of the inode it touches to the
// kernel's (coarse) current time, which is then later than the ctime seen
// by more than the settle margin, so a changed file cannot show the same
// ctime; a file replaced under the same name (a rename, git checkout, an
// editor's save, git's lock-file update of a ref) is another inode, or a
// reused inode number whose ctime is its creation time, again later.
// utimes(2) can forge the mtime, never the ctime. The margin covers the
// coarse clock's lag; a ctime of a whole second (a file system with
// timestamps of a second or two, where two writes in the same second look
// alike) is never trusted. A file changed within the margin is simply
// read. This is git's "racily clean" rule for its index.
type Stamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds since the epoch
}

// Settled reports whether the stamp, taken after before, may be trusted:
// the file's last change is older than before by more than margin, and
// its ctime has a fraction of a second.
func (s Stamp) Settled(before time.Time, margin time.Duration) bool {
	return s.ctime%int64(time.Second) != 0 && s.ctime < before.Add(-margin).UnixNano()
}
