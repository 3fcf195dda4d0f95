package gitx

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/hugeheap"
)

// The index is updated on its bytes (index-format.txt, versions 2 and 3):
// the entries spine does not touch are copied as they are, so a commit
// costs one scan and one SHA-1 of the file instead of decoding and
// re-encoding every entry. Anything the scanner does not handle (version
// 4, conflict stages, sparse-index folders, unknown required extensions)
// goes through go-git's decoder and encoder instead (updateIndexGoGit).
// A large index is written split (split.go), so that only the entries
// changed since the shared index was written are rewritten.

const (
	indexHeaderLen  = 12
	indexHashLen    = sha1.Size
	entryFixedLen   = 62 // stat data, mode, ids, size, hash, flags
	entryFlagExt    = 0x4000
	entryStageMask  = 0x3000
	entryNameMask   = 0x0fff
	entryModeOffset = 24
	entrySizeOffset = 36
	entryHashOffset = 40
	entryFlagOffset = 60
	indexVersionNew = 2
)

// errIndexUnsupported marks an index the byte-level updater leaves to
// go-git.
var errIndexUnsupported = errors.New("index layout not handled by the fast path")

// rawIndex is a scanned version 2 or 3 index: the file's bytes and the
// offset of each entry.
type rawIndex struct {
	data    []byte
	version uint32
	offs    []int // start of each entry
	end     int   // end of the last entry (start of the extensions)
	// link is the split-index extension's payload, nil without one.
	link []byte
	// maxMtime is the latest mtime (seconds<<32 | nanoseconds) of its
	// file and symlink entries, or later, when mtimeKnown.
	maxMtime   uint64
	mtimeKnown bool
}

// scanIndex checks and scans an index file, and its checksum if verify is
// set. Entries must be at stage 0 and in strictly increasing name order
// unless the index is split (the entries of a split index's own file:
// replacements first, names may be empty). It returns an error wrapping
// errIndexUnsupported for layouts it leaves to go-git, and another error
// for a malformed file.
func scanIndex(data []byte, verify bool) (*rawIndex, error) {
	if len(data) < indexHeaderLen+indexHashLen {
		return nil, fmt.Errorf("index is %d bytes, too short", len(data))
	}
	if string(data[:4]) != "DIRC" {
		return nil, errors.New("index has no DIRC signature")
	}
	trailer := len(data) - indexHashLen
	if sum := data[trailer:]; verify && !allZero(sum) { // index.skipHash writes zeros
		if h := sha1.Sum(data[:trailer]); !bytes.Equal(h[:], sum) {
			return nil, errors.New("index checksum mismatch")
		}
	}
	ix := &rawIndex{data: data, version: binary.BigEndian.Uint32(data[4:])}
	switch ix.version {
	case 2, 3:
	case 4:
		return nil, fmt.Errorf("%w: version 4", errIndexUnsupported)
	default:
		return nil, fmt.Errorf("index version %d is not supported", ix.version)
	}
	count := binary.BigEndian.Uint32(data[8:])
	// Every entry takes at least 64 bytes: refuse counts the file cannot
	// hold before allocating for them.
	if uint64(count) > uint64(trailer-indexHeaderLen)/64 {
		return nil, fmt.Errorf("index claims %d entries in %d bytes", count, len(data))
	}
	ix.offs = make([]int, 0, count)
	off := indexHeaderLen
	var prev []byte
	var orderErr error
	for i := uint32(0); i < count; i++ {
		size, name, flags, err := entryAt(data[:trailer], off)
		if err != nil {
			return nil, fmt.Errorf("index entry %d: %w", i, err)
		}
		if flags&entryStageMask != 0 {
			return nil, fmt.Errorf("%w: conflict stages", errIndexUnsupported)
		}
		mode := binary.BigEndian.Uint32(data[off+entryModeOffset:])
		if mode&0o170000 == 0o040000 {
			return nil, fmt.Errorf("%w: sparse index folder entry", errIndexUnsupported)
		}
		// A split index's own entries may have empty names and are
		// not in one order; it is only known to be split at its end.
		if orderErr == nil && len(name) == 0 {
			orderErr = fmt.Errorf("index entry %d has an empty name", i)
		}
		if orderErr == nil && i > 0 && bytes.Compare(prev, name) >= 0 {
			orderErr = fmt.Errorf("index entries out of order at %q", name)
		}
		prev = name
		ix.offs = append(ix.offs, off)
		off += size
	}
	ix.end = off
	for off < trailer {
		if trailer-off < 8 {
			return nil, errors.New("truncated index extension header")
		}
		sig := data[off : off+4]
		n := binary.BigEndian.Uint32(data[off+4:])
		if uint64(n) > uint64(trailer-off-8) {
			return nil, fmt.Errorf("index extension %q overruns the file", sig)
		}
		body := data[off+8 : off+8+int(n)]
		switch {
		case string(sig) == "link":
			ix.link = body
		case sig[0] >= 'A' && sig[0] <= 'Z':
			// Optional: dropped when the index is written (see
			// spliceIndex).
		default:
			return nil, fmt.Errorf("%w: required extension %q", errIndexUnsupported, sig)
		}
		off += 8 + int(n)
	}
	if orderErr != nil && ix.link == nil {
		return nil, orderErr
	}
	return ix, nil
}

// entryAt returns the on-disk size, name and flags of the entry at off.
func entryAt(data []byte, off int) (int, []byte, uint16, error) {
	if off < 0 || len(data)-off < entryFixedLen+2 {
		return 0, nil, 0, errors.New("truncated")
	}
	flags := binary.BigEndian.Uint16(data[off+entryFlagOffset:])
	hdr := entryFixedLen
	if flags&entryFlagExt != 0 {
		hdr += 2
	}
	rest := data[off+hdr:]
	nameLen := int(flags & entryNameMask)
	if nameLen == entryNameMask {
		nameLen = bytes.IndexByte(rest, 0)
		if nameLen < 0 {
			return 0, nil, 0, errors.New("unterminated long name")
		}
	}
	size := (hdr + nameLen + 8) &^ 7
	if size > len(data)-off {
		return 0, nil, 0, errors.New("truncated")
	}
	name := data[off+hdr : off+hdr+nameLen]
	if bytes.IndexByte(name, 0) >= 0 {
		return 0, nil, 0, errors.New("NUL in name")
	}
	return size, name, flags, nil
}

// name returns the name of entry i.
func (ix *rawIndex) name(i int) []byte {
	_, n, _, _ := entryAt(ix.data, ix.offs[i])
	return n
}

// entryEnd returns the end offset of entry i.
func (ix *rawIndex) entryEnd(i int) int {
	if i+1 < len(ix.offs) {
		return ix.offs[i+1]
	}
	return ix.end
}

// search returns the first entry whose name is not below name.
func (ix *rawIndex) search(name string) int {
	return sort.Search(len(ix.offs), func(i int) bool { return string(ix.name(i)) >= name })
}

// stagedFile is a path CommitFiles commits: its blob and the stat data of
// the working file, or deleted.
type stagedFile struct {
	rel     string
	deleted bool
	hash    plumbing.Hash
	mode    filemode.FileMode
	stat    syscall.Stat_t
}

// appendEntry appends f's stage-0 index entry, as git add writes it.
func appendEntry(dst []byte, f *stagedFile) []byte {
	var hdr [entryFixedLen]byte
	be := binary.BigEndian
	st := &f.stat
	ctime, mtime := statCtime(st), statMtime(st)
	be.PutUint32(hdr[0:], uint32(ctime.Sec))
	be.PutUint32(hdr[4:], uint32(ctime.Nsec))
	be.PutUint32(hdr[8:], uint32(mtime.Sec))
	be.PutUint32(hdr[12:], uint32(mtime.Nsec))
	be.PutUint32(hdr[16:], uint32(st.Dev))
	be.PutUint32(hdr[20:], uint32(st.Ino))
	be.PutUint32(hdr[entryModeOffset:], uint32(f.mode))
	be.PutUint32(hdr[28:], st.Uid)
	be.PutUint32(hdr[32:], st.Gid)
	be.PutUint32(hdr[entrySizeOffset:], uint32(st.Size))
	copy(hdr[entryHashOffset:], f.hash[:])
	be.PutUint16(hdr[entryFlagOffset:], uint16(min(len(f.rel), entryNameMask)))
	dst = append(dst, hdr[:]...)
	dst = append(dst, f.rel...)
	pad := (entryFixedLen+len(f.rel)+8)&^7 - entryFixedLen - len(f.rel)
	return append(dst, make([]byte, pad)...)
}

// spliceIndex returns the new index file (its entries scanned): ix's
// entries with the staged files put in (replacing an entry of the same
// name, and any entry a file and a folder of the same name would conflict
// with, as git add does) and deleted files and the folders they were
// taken out, in name order, and its checksum. The optional extensions are
// dropped: each would be stale (TREE, UNTR, FSMN, EOIE, IEOT: paths or
// entry positions changed) or is cleared by git's own commit (REUC); git
// rebuilds what it needs. Entries whose mtime is not before modTime, the
// old index's mtime, are "racily clean" and have their size zeroed so git
// re-hashes them rather than trusting their stat data, as git does when
// it rewrites an index.
//
// The file is built in ix.data's array when its capacity holds it, moving
// the runs of entries that stay in place (only those after the first
// change move; ix is not usable afterwards), else in a new array with
// room to grow. The entries are not decoded.
func spliceIndex(ix *rawIndex, files []*stagedFile, modTime time.Time) (*rawIndex, [indexHashLen]byte) {
	n := len(ix.offs)
	drop := map[int]bool{}
	type insert struct {
		at int
		f  *stagedFile
	}
	var ins []insert
	for _, f := range files {
		i := ix.search(f.rel)
		if i < n && string(ix.name(i)) == f.rel {
			drop[i] = true
		}
		// Entries below the path, as a folder.
		for j := ix.search(f.rel + "/"); j < n && strings.HasPrefix(string(ix.name(j)), f.rel+"/"); j++ {
			drop[j] = true
		}
		if f.deleted {
			continue
		}
		// Entries for the path's folders, as files.
		for d := f.rel; ; {
			k := strings.LastIndexByte(d, '/')
			if k < 0 {
				break
			}
			d = d[:k]
			if j := ix.search(d); j < n && string(ix.name(j)) == d {
				drop[j] = true
			}
		}
		ins = append(ins, insert{at: i, f: f})
	}
	dropped := make([]int, 0, len(drop))
	for i := range drop {
		dropped = append(dropped, i)
	}
	sort.Ints(dropped)
	// files are in name order, so ins is in position order.

	// Racily clean entries, and the latest mtime of the new file's
	// entries (known without a pass when ix's is and it is before
	// modTime: none can be racy).
	t := mtimeStamp(modTime)
	maxMtime := ix.maxMtime
	if !ix.mtimeKnown || (!modTime.IsZero() && ix.maxMtime >= t) {
		maxMtime = 0
		for _, o := range ix.offs {
			if e := ix.data[o:]; isFileEntry(e) {
				maxMtime = max(maxMtime, entryMtime(e))
				if !modTime.IsZero() {
					smudgeRacy(e, t)
				}
			}
		}
	}

	// The new file: the header, then runs of ix's entries [from, to)
	// and inserted entries, in order.
	type piece struct {
		from, to int // ix entries; from == to: ins[k]
		k        int
		src, dst int // byte offsets of a run
	}
	var pieces []piece
	var ents [][]byte
	size := indexHeaderLen
	for i, d, k := 0, 0, 0; ; {
		for k < len(ins) && ins[k].at == i {
			e := appendEntry(nil, ins[k].f)
			ents = append(ents, e)
			pieces = append(pieces, piece{from: i, to: i, k: k, dst: size})
			size += len(e)
			maxMtime = max(maxMtime, entryMtime(e))
			k++
		}
		if i == n {
			break
		}
		if d < len(dropped) && dropped[d] == i {
			d++
			i++
			continue
		}
		j := n
		if d < len(dropped) {
			j = dropped[d]
		}
		if k < len(ins) && ins[k].at < j {
			j = ins[k].at
		}
		src := ix.offs[i]
		pieces = append(pieces, piece{from: i, to: j, src: src, dst: size})
		size += ix.entryEnd(j-1) - src
		i = j
	}
	count := n - len(dropped) + len(ins)
	total := size + indexHashLen
	out := &rawIndex{version: ix.version, end: size, maxMtime: maxMtime, mtimeKnown: true, offs: make([]int, 0, count)}
	for _, p := range pieces {
		if p.from == p.to {
			out.offs = append(out.offs, p.dst)
			continue
		}
		for _, o := range ix.offs[p.from:p.to] {
			out.offs = append(out.offs, o-p.src+p.dst)
		}
	}
	if cap(ix.data) >= total {
		// In place: the runs that move towards the start, first to
		// last, then those that move towards the end, last to first,
		// so no run is overwritten before it moved; then the new
		// entries, where nothing is left to move.
		out.data = ix.data[:total]
		for _, p := range pieces {
			if p.from < p.to && p.dst < p.src {
				copy(out.data[p.dst:], ix.data[p.src:ix.entryEnd(p.to-1)])
			}
		}
		for k := len(pieces) - 1; k >= 0; k-- {
			if p := pieces[k]; p.from < p.to && p.dst > p.src {
				copy(out.data[p.dst:], ix.data[p.src:ix.entryEnd(p.to-1)])
			}
		}
	} else {
		out.data = hugeheap.Bytes(total, total+total/8)
		for _, p := range pieces {
			if p.from < p.to {
				copy(out.data[p.dst:], ix.data[p.src:ix.entryEnd(p.to-1)])
			}
		}
		copy(out.data, ix.data[:indexHeaderLen])
	}
	for _, p := range pieces {
		if p.from == p.to {
			copy(out.data[p.dst:], ents[p.k])
		}
	}
	binary.BigEndian.PutUint32(out.data[8:], uint32(count))
	sum := sha1.Sum(out.data[:size])
	copy(out.data[size:], sum[:])
	return out, sum
}

// isFileEntry reports whether the index entry e is a file or a symlink,
// whose stat data git checks (submodule entries carry none).
func isFileEntry(e []byte) bool {
	t := binary.BigEndian.Uint32(e[entryModeOffset:]) & 0o170000
	return t == 0o100000 || t == 0o120000
}

// mtimeStamp returns t as entryMtime gives an entry's mtime.
func mtimeStamp(t time.Time) uint64 {
	return uint64(uint32(t.Unix()))<<32 | uint64(uint32(t.Nanosecond()))
}

// entryMtime returns the mtime of the index entry e: its seconds and
// nanoseconds as one number that orders them.
func entryMtime(e []byte) uint64 {
	return uint64(binary.BigEndian.Uint32(e[8:]))<<32 | uint64(binary.BigEndian.Uint32(e[12:]))
}

// smudgeRacy zeroes the size of the index entry e when it is a file or
// symlink whose mtime is not before the index's, t (mtimeStamp).
// (Submodule entries carry no stat data git checks.)
func smudgeRacy(e []byte, t uint64) {
	if isFileEntry(e) && entryMtime(e) >= t {
		binary.BigEndian.PutUint32(e[entrySizeOffset:], 0)
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// updateIndexGoGit is the fallback for indexes the byte-level updater
// does not handle: go-git decodes the whole index, the staged files are
// put in and it encodes the result (without extensions).
func updateIndexGoGit(data []byte, files []*stagedFile) ([]byte, error) {
	idx := &index.Index{Version: indexVersionNew}
	if data != nil {
		if err := index.NewDecoder(bytes.NewReader(data)).Decode(idx); err != nil {
			return nil, err
		}
	}
	gone := map[string]bool{}
	var prefixes []string
	added := map[string]*stagedFile{}
	for _, f := range files {
		gone[f.rel] = true
		prefixes = append(prefixes, f.rel+"/")
		if f.deleted {
			continue
		}
		added[f.rel] = f
		for d := f.rel; strings.Contains(d, "/"); {
			d = d[:strings.LastIndexByte(d, '/')]
			gone[d] = true
		}
	}
	kept := idx.Entries[:0]
	for _, e := range idx.Entries {
		drop := gone[e.Name]
		for _, p := range prefixes {
			drop = drop || strings.HasPrefix(e.Name, p)
		}
		if !drop {
			kept = append(kept, e)
		}
	}
	idx.Entries = kept
	for _, f := range files {
		if f.deleted {
			continue
		}
		st := &f.stat
		idx.Entries = append(idx.Entries, &index.Entry{
			Name: f.rel, Hash: f.hash, Mode: f.mode, Size: uint32(st.Size),
			CreatedAt:  timespecTime(statCtime(st)),
			ModifiedAt: timespecTime(statMtime(st)),
			Dev:        uint32(st.Dev), Inode: uint32(st.Ino), UID: st.Uid, GID: st.Gid,
		})
	}
	sort.Slice(idx.Entries, func(i, j int) bool {
		a, b := idx.Entries[i], idx.Entries[j]
		return a.Name < b.Name || a.Name == b.Name && a.Stage < b.Stage
	})
	idx.Cache, idx.ResolveUndo, idx.EndOfIndexEntry = nil, nil, nil
	var buf bytes.Buffer
	if err := index.NewEncoder(&buf).Encode(idx); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// indexDir returns the git directory holding the working tree's index:
// .git, or the directory a .git file points at (a linked worktree).
func (g *Repo) indexDir() (string, error) { return gitDirAt(g.Root) }

// gitDirAt returns the git directory of the working tree at root: root/.git,
// or the directory a .git file there points at (a linked worktree, a
// submodule).
// GitDirOf returns the git folder of the working tree at root: root/.git,
// or the folder its .git file names (a linked working tree, a separate git
// folder).
func GitDirOf(root string) (string, error) { return gitDirAt(root) }

// CommonDirOf returns the git directory shared by every working tree of
// the repository whose git directory is gitDir (GitDirOf): gitDir itself,
// except for a linked working tree (git worktree add), whose commondir
// file names the main one's.
func CommonDirOf(gitDir string) (string, error) { return commonDirOf(gitDir) }

func gitDirAt(root string) (string, error) {
	dotGit := filepath.Join(root, ".git")
	fi, err := os.Stat(dotGit)
	if err != nil {
		return "", fmt.Errorf("find git directory: %w", err)
	}
	if fi.IsDir() {
		return dotGit, nil
	}
	b, err := os.ReadFile(dotGit)
	if err != nil {
		return "", fmt.Errorf("find git directory: %w", err)
	}
	dir, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir: ")
	if !ok {
		return "", fmt.Errorf("find git directory: %s is not a gitdir file", dotGit)
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	return dir, nil
}

// indexCache remembers the index file CommitFiles last wrote, so the next
// commit neither re-verifies the checksum of its own file nor allocates
// (and zeroes) a new buffer to read it into; a plain index it does not
// even read or scan again: its bytes and entry offsets are kept. An index
// written by anyone else (git replaces the file, so its inode changes; any
// write changes its mtime, ctime or size) or whose checksum is not the one
// written is read and verified in full. (Git itself verifies the index
// checksum only in fsck.) The stat data and checksum of a large plain
// index it wrote are also recorded on disk (indexRecordMin), so that the
// first commit of the next process does not verify that file again, and
// so are those of the shared index last verified or written (loadShared).
type indexCache struct {
	mu  sync.Mutex
	id  fileID
	sum [indexHashLen]byte
	// buf is the array index files are read into and plain ones built
	// in (see spliceIndex).
	buf []byte
	// plain is the plain index file c.id names, scanned (its bytes in
	// buf), when CommitFiles wrote it; next is the one being written,
	// which becomes plain once it is in place (wrote).
	plain, next *rawIndex
	// shared is the shared index of the split index last read or
	// written, and mapped holds its mapping (if any) for the cleanup
	// that releases it once the Repo is gone (see Open).
	shared *sharedIndex
	mapped *mappedShared
	// freshenAfter is how old the mtime of the shared index used may be
	// before it is set to now (see loadShared), from the split policy.
	freshenAfter time.Duration
	// sharedVerified and indexVerified count the shared index files and
	// .git/index files whose checksum was verified (read by the tests).
	sharedVerified, indexVerified int
	// expireAfter is the shared index update just wrote, and expire
	// splitIndex.sharedIndexExpire: once the index naming it is in
	// place, the unused ones are removed.
	expireAfter string
	expire      time.Duration
	// policy is the split index configuration read when the
	// configuration files had the stat data policyIDs.
	policy    splitPolicy
	policyIDs []fileID
	policyOK  bool
}

// indexRecordMin is the size from which a plain index file CommitFiles
// writes is recorded as verified (see verifiedRecord), so that the first
// commit of the next process does not verify its checksum again: from
// there, hashing it costs more than writing the record.
const indexRecordMin = 256 << 10

// indexVerifiedPath returns the file holding the verifiedRecord of the
// plain .git/index in gitDir CommitFiles last wrote.
func indexVerifiedPath(gitDir string) string {
	return filepath.Join(gitDir, "spine", "index.verified")
}

// fileID is the stat data that identifies a version of a file.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
}

// timespecTime converts ts to a time.Time.
func timespecTime(ts syscall.Timespec) time.Time { return time.Unix(ts.Sec, ts.Nsec) }

// statID returns the fileID of the file whose stat data are st.
func statID(st *syscall.Stat_t) fileID {
	return fileID{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: statMtime(st), ctime: statCtime(st)}
}

// wrote records the index file at p, just renamed into place with the
// checksum sum.
func (c *indexCache) wrote(p string, sum [indexHashLen]byte) {
	next := c.next
	c.next = nil
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		c.id, c.plain = fileID{}, nil
		return
	}
	c.id, c.sum, c.plain = statID(&st), sum, next
	if next != nil && st.Size >= indexRecordMin {
		// For the next process's first commit (see update).
		writeVerified(indexVerifiedPath(filepath.Dir(p)), sum, c.id)
	}
	if c.expireAfter != "" {
		expireShared(filepath.Dir(c.expireAfter), c.expireAfter, c.expire)
		c.expireAfter = ""
	}
}

// update reads gitDir's index and writes the new index file, with files
// staged, to w, split or not as pol says (see split.go). It returns the
// new file's checksum.
func (c *indexCache) update(w io.Writer, gitDir string, files []*stagedFile, pol splitPolicy) ([indexHashLen]byte, error) {
	var sum [indexHashLen]byte
	c.expireAfter, c.next = "", nil
	p := filepath.Join(gitDir, "index")
	data, st, cached, err := c.read(p)
	if err != nil {
		return sum, err
	}
	ix := &rawIndex{data: emptyIndex(), version: indexVersionNew, end: indexHeaderLen, mtimeKnown: true}
	var modTime time.Time
	known := false
	if data != nil {
		modTime = timespecTime(statMtime(st))
		if cached {
			ix, known = c.plain, true
		} else {
			tail := data[len(data)-min(len(data), indexHashLen):]
			known = statID(st) == c.id && bytes.Equal(tail, c.sum[:])
			if !known && st.Size >= indexRecordMin {
				rec, ok := readVerified(indexVerifiedPath(gitDir))
				known = ok && rec.id == statID(st) && bytes.Equal(tail, rec.sum[:])
			}
			if !known {
				c.indexVerified++
			}
			ix, err = scanIndex(data, !known)
		}
		c.id, c.plain = fileID{}, nil // data will be changed in place
		switch {
		case errors.Is(err, errIndexUnsupported):
			out, err := updateIndexGoGit(data, files)
			if err != nil {
				return sum, fmt.Errorf("update index %s: %w", p, err)
			}
			copy(sum[:], out[len(out)-indexHashLen:])
			_, err = w.Write(out)
			return sum, err
		case err != nil:
			return sum, fmt.Errorf("read index %s: %w", p, err)
		}
	}
	if ix.link != nil {
		c.freshenAfter = pol.expire / 2
		v, err := c.splitView(ix, gitDir, known)
		if err != nil {
			return sum, fmt.Errorf("read index %s: %w", p, err)
		}
		if pol.mode != splitNever && v.shared.path != "" {
			v.stage(files)
			v.smudgeRacy(modTime)
			if !v.tooManyOwn(pol.maxPercent) {
				return v.writeSplit(w)
			}
			var buf bytes.Buffer
			shared, err := v.writePlain(&buf)
			if err != nil {
				return sum, err
			}
			whole, err := scanIndex(buf.Bytes(), false)
			if err != nil {
				return sum, fmt.Errorf("split index: %w", err)
			}
			return c.resplit(w, gitDir, whole, shared, pol)
		}
		// Unsplit it (core.splitIndex is false, or it names no shared
		// index: all its entries are its own).
		var buf bytes.Buffer
		if _, err := v.writePlain(&buf); err != nil {
			return sum, err
		}
		if ix, err = scanIndex(buf.Bytes(), false); err != nil {
			return sum, fmt.Errorf("read index %s: %w", p, err)
		}
	}
	plain := pol.mode == splitNever || pol.mode == splitAuto && len(ix.offs)+len(files) < pol.minEntries
	out, sum := spliceIndex(ix, files, modTime)
	if plain {
		c.buf, c.next = out.data, out
		_, err := w.Write(out.data)
		return sum, err
	}
	// The shared index keeps the bytes: they must not change.
	c.buf = nil
	return c.resplit(w, gitDir, out, sum, pol)
}

// resplit writes whole, a scanned index file without extensions whose
// checksum is sum, as the shared index, and to w the .git/index that
// links to it with no entries of its own. The shared index files unused
// for longer than pol.expire go once the new index is in place (wrote).
func (c *indexCache) resplit(w io.Writer, gitDir string, whole *rawIndex, sum [indexHashLen]byte, pol splitPolicy) ([indexHashLen]byte, error) {
	s, err := c.writeShared(gitDir, whole, sum)
	if err != nil {
		return [indexHashLen]byte{}, err
	}
	c.expireAfter, c.expire = s.path, pol.expire
	v := &splitView{version: s.ix.version, shared: s, del: map[int]bool{}, repl: map[int]*ownEntry{}}
	return v.writeSplit(w)
}

// emptyIndex returns the header of an index without entries.
func emptyIndex() []byte {
	b := []byte("DIRC\x00\x00\x00\x00\x00\x00\x00\x00")
	binary.BigEndian.PutUint32(b[4:], indexVersionNew)
	return b
}

// read returns the index file's bytes and stat data, nil when there is
// none. When the file is c.plain's (its stat data and the checksum at its
// end are the ones wrote recorded), they are c.plain's bytes, not read
// again, and cached is true; otherwise they are read into c.buf.
func (c *indexCache) read(p string) (data []byte, st *syscall.Stat_t, cached bool, err error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("read index: %w", err)
	}
	defer f.Close()
	st = new(syscall.Stat_t)
	if err := syscall.Fstat(int(f.Fd()), st); err != nil {
		return nil, nil, false, fmt.Errorf("read index %s: %w", p, err)
	}
	if pl := c.plain; pl != nil && statID(st) == c.id && int64(len(pl.data)) == st.Size && st.Size >= indexHashLen {
		var tail [indexHashLen]byte
		if _, err := f.ReadAt(tail[:], st.Size-indexHashLen); err == nil && tail == c.sum {
			return pl.data, st, true, nil
		}
	}
	c.plain = nil // its bytes are about to be overwritten
	if int64(cap(c.buf)) < st.Size {
		c.buf = hugeheap.Bytes(int(st.Size), int(st.Size+st.Size/8))
	}
	data = c.buf[:st.Size]
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, false, fmt.Errorf("read index %s: %w", p, err)
	}
	return data, st, false, nil
}

// IndexLock identifies one lock file a commit took: the index's
// (index.lock), or, with Ref set, that of the reference the commit moves
// (<ref>.lock, see updateRef). It holds the lock's path, and the device,
// inode and birth time it was created with (where the file system records
// birth times; else its change time then). Another file at the same path
// (a lock a later git process took) has another inode or birth time.
type IndexLock struct {
	Path string `json:"path"`
	// Ref names the reference of a reference's lock; empty for index.lock.
	Ref string `json:"ref,omitempty"`
	// LogOnly marks HEAD's lock taken while the branch HEAD names moves
	// (HEAD's log gets the line; HEAD is not written), as git takes it;
	// the branch's own lock follows.
	LogOnly bool   `json:"log_only,omitempty"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Ctime   int64  `json:"ctime_ns"`
	// Btime is the birth time, 0 where there is none. Unlike the
	// change time, which every write moves, it tells a lock its process
	// was writing when it died as that lock.
	Btime int64 `json:"btime_ns,omitempty"`
}

// indexLockID returns the IndexLock of the lock at path, a file with stat
// data st whose birth time is read at statPath (where it is now).
func indexLockID(path, statPath string, st *syscall.Stat_t) IndexLock {
	id := statID(st)
	return IndexLock{Path: path, Dev: id.dev, Ino: id.ino, Ctime: id.ctime.Nano(), Btime: birthTime(statPath)}
}

// reportLock passes the lock file f, open at statPath and about to become
// the lock at path (see placeLock), to OnIndexLock when it is set, with
// ref naming the reference it locks ("" for index.lock) and logOnly set
// for HEAD's lock taken for its log alone.
//
// It returns whether the record names the file by its birth time, which
// the rename to path keeps (where the file system keeps none, the record
// names its change time, which the rename moves: placeLock then reports
// the lock again once it is in place).
func (g *Repo) reportLock(f *os.File, path, statPath, ref string, logOnly bool) (born bool, err error) {
	if g.OnIndexLock == nil {
		return true, nil
	}
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false, fmt.Errorf("no stat data for %s", path)
	}
	lk := indexLockID(path, statPath, st)
	lk.Ref, lk.LogOnly = ref, logOnly
	return lk.Btime != 0, g.OnIndexLock(lk)
}

// same reports whether lk and cur, the IndexLock of the file at lk.Path
// now, are the same file: the same inode, born at the same time (or, for
// a record without a birth time, changed last at the same time).
func (lk IndexLock) same(cur IndexLock) bool {
	if lk.Dev != cur.Dev || lk.Ino != cur.Ino {
		return false
	}
	if lk.Btime != 0 {
		return cur.Btime == lk.Btime
	}
	return cur.Ctime == lk.Ctime
}

// RemoveStaleIndexLock removes the lock file lk identifies (see
// Repo.OnIndexLock), the repository's index.lock or the lock of the
// reference lk.Ref, when it is still that file: the lock a process that
// recorded it left when it died. Any other file there, or none, is left
// alone, and so is a path that is not where that lock belongs. It reports
// whether it removed the lock.
func (g *Repo) RemoveStaleIndexLock(lk IndexLock) (bool, error) {
	want := ""
	if lk.Ref != "" {
		file, err := g.refFile(plumbing.ReferenceName(lk.Ref))
		if err != nil {
			return false, nil
		}
		want = file + ".lock"
	} else {
		gitDir, err := g.indexDir()
		if err != nil {
			return false, err
		}
		want = filepath.Join(gitDir, "index.lock")
	}
	if filepath.Clean(lk.Path) != want {
		return false, nil
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(lk.Path, &st); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return false, nil
		}
		return false, &fs.PathError{Op: "lstat", Path: lk.Path, Err: err}
	}
	if !lk.same(indexLockID(lk.Path, lk.Path, &st)) {
		return false, nil
	}
	if err := os.Remove(lk.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}

// indexLock is a held index.lock (git's lockfile protocol).
//
// Git writes each index to a new file and renames it over the old one,
// which is then deleted. For a large index that costs more than writing
// it: the new file's pages are allocated, and the old one's freed in the
// rename (2.9 MB: 1.3 ms on ext4 on this project's build machine, against
// 0.1 ms to write over a file of that size and 1.7 ms to hash the index).
// So where the platform can tell that nobody reads it (takeSpare),
// the file replaced is kept as gitDir/spine/index.spare, and the next lock
// is that file renamed to index.lock: the new index is written over the
// old bytes in place, and nothing is allocated or freed. Readers of the
// index see what git's protocol gives them: the index before or after
// the rename, whole.
type indexLock struct {
	path string // the index
	f    *os.File
	// n is the number of bytes written, and spare the size the file
	// had when it was a spare (0 for a new file): a longer one is cut
	// to n before it takes effect.
	n, spare int64
	// mode is the mode git gives a new index (0666 less the umask),
	// the only one a spare may have (see spareMode); 0 when unknown.
	mode fs.FileMode
}

// sparePath returns the file an index replaced is kept in (see
// indexLock).
func sparePath(gitDir string) string { return filepath.Join(gitDir, "spine", "index.spare") }

// lockIndex takes gitDir/index.lock: the spare index file renamed to it
// when there is a usable one, else a new file created exclusively.
func (g *Repo) lockIndex(gitDir string) (*indexLock, error) {
	p := filepath.Join(gitDir, "index")
	lockPath := p + ".lock"
	mode := spareMode()
	place := func(f *os.File, tmp string) error { return g.placeLock(f, tmp, lockPath, "", false) }
	f, size, ok, err := takeSpare(sparePath(gitDir), lockPath, mode, place)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("lock index: %w", lockFileError(lockPath, err))
	case err != nil:
		return nil, fmt.Errorf("lock index: %w", err)
	case ok:
		return &indexLock{path: p, f: f, spare: size, mode: mode}, nil
	}
	f, tmp, err := g.newLockTemp(gitDir)
	if err != nil {
		return nil, fmt.Errorf("lock index: %w", err)
	}
	if err := place(f, tmp); err != nil {
		f.Close()
		os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("lock index: %w", lockFileError(lockPath, err))
		}
		return nil, fmt.Errorf("lock index: %w", err)
	}
	return &indexLock{path: p, f: f, mode: mode}, nil
}

// Write writes to the lock file. Like go-git and git's default
// core.fsync, the index is not fsynced: it is a cache of HEAD and the
// working tree, and callers that need durability sync the file system.
func (l *indexLock) Write(p []byte) (int, error) {
	n, err := l.f.Write(p)
	l.n += int64(n)
	if err != nil {
		err = fmt.Errorf("write %s.lock: %w", l.path, err)
	}
	return n, err
}

// commit renames the lock file over the index, keeping the index it
// replaces as the spare (see indexLock).
func (l *indexLock) commit() error {
	f := l.f
	l.f = nil
	var err error
	if l.spare > l.n {
		err = f.Truncate(l.n)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(l.path + ".lock")
		return fmt.Errorf("write %s.lock: %w", l.path, err)
	}
	if recycleIndex {
		l.keepSpare()
	}
	if err := os.Rename(l.path+".lock", l.path); err != nil {
		os.Remove(l.path + ".lock")
		return fmt.Errorf("replace %s: %w", l.path, err)
	}
	return nil
}

// keepSpare gives the index about to be replaced a second name, the
// spare's, so that the rename does not free it, unless its mode is not
// the one a new lock gets (spareMode). It is best effort: without a
// spare, the next lock is a new file.
func (l *indexLock) keepSpare() {
	if fi, err := os.Lstat(l.path); err != nil || l.mode == 0 || fi.Mode().Perm() != l.mode {
		return
	}
	spare := sparePath(filepath.Dir(l.path))
	for range 2 {
		err := os.Link(l.path, spare)
		switch {
		case err == nil:
			return
		case errors.Is(err, fs.ErrExist):
			// One takeSpare did not take (the lock existed then).
			os.Remove(spare)
		case errors.Is(err, fs.ErrNotExist):
			// No index yet, or no folder for the spare yet.
			if _, err := os.Lstat(l.path); err != nil || os.MkdirAll(filepath.Dir(spare), fsx.DirMode) != nil {
				return
			}
		default:
			return
		}
	}
}

// rollback removes the lock file unless it was committed.
func (l *indexLock) rollback() {
	if l.f != nil {
		l.f.Close()
		os.Remove(l.path + ".lock")
		l.f = nil
	}
}

// readIndex decodes gitDir's index with go-git, merging a split index
// first (go-git does not read the link extension). Without an index it
// returns an empty one.
func (g *Repo) readIndex(gitDir string) (*index.Index, error) {
	p := filepath.Join(gitDir, "index")
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return &index.Index{Version: indexVersionNew}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	if ix, err := scanIndex(data, true); err == nil && ix.link != nil {
		g.index.mu.Lock()
		pol, err := g.splitPolicy(gitDir)
		if err == nil {
			g.index.freshenAfter = pol.expire / 2
			data, err = g.index.unsplit(ix, gitDir)
		}
		g.index.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("read index %s: %w", p, err)
		}
	}
	idx := &index.Index{}
	if err := index.NewDecoder(bytes.NewReader(data)).Decode(idx); err != nil {
		return nil, fmt.Errorf("read index %s: %w", p, err)
	}
	return idx, nil
}
