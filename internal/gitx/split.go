package gitx

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/config"

	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/mapfile"
)

// A split index (git's Documentation/technical/split-index.txt and the
// "link" extension of index-format.txt) keeps most entries in a shared
// index file, .git/sharedindex.<its SHA-1>, written once, and only the
// entries changed since in .git/index, with the link extension: the
// shared file's SHA-1 and two EWAH bitmaps over its entries, the ones
// deleted and the ones replaced (by the first entries of .git/index, in
// order, stored without their names). The other entries of .git/index are
// added ones. CommitFiles writes a large index this way so a commit costs
// the entries it changes, not the repository's size: it rewrites the
// small .git/index and, once the changed entries are more than
// splitIndex.maxPercentChange (20% by default) of the index, writes a new
// shared index of all entries, as git does.

const (
	sharedIndexPrefix = "sharedindex."
	// defaultSplitMinEntries is the size from which CommitFiles splits an
	// index that is not split yet, when core.splitIndex is unset: never.
	// A split index is opt-in (core.splitIndex true), as in git: tools
	// built on go-git or libgit2 cannot read one, and an operator's
	// repository must not change format under them by surprise. An index
	// that is already split stays split, as git keeps it.
	defaultSplitMinEntries = math.MaxInt
	// defaultMaxPercentChange is git's splitIndex.maxPercentChange default.
	defaultMaxPercentChange = 20
	// defaultSharedIndexExpire is git's splitIndex.sharedIndexExpire
	// default, 2.weeks.ago.
	defaultSharedIndexExpire = 14 * 24 * time.Hour
)

// splitMode is core.splitIndex.
type splitMode int

const (
	splitAuto   splitMode = iota // unset: keep a split index split, a plain one plain
	splitAlways                  // true
	splitNever                   // false: write one index file
)

// splitPolicy is how CommitFiles writes the index, from git's
// configuration.
type splitPolicy struct {
	mode splitMode
	// minEntries: with splitAuto, an index that is not split is split
	// from this many entries.
	minEntries int
	// maxPercent is splitIndex.maxPercentChange: a new shared index is
	// written when .git/index would hold more than this percentage of the
	// entries (0: always, 100: never).
	maxPercent int
	// expire is splitIndex.sharedIndexExpire: shared index files not used
	// (their mtime) for longer are deleted when a new one is written;
	// negative: never.
	expire time.Duration
	// logRefs is core.logAllRefUpdates, resolved (never refLogUnset).
	// Not about the index: it is read from the same files, when they
	// change, for the commit that moves the branch (see refLog).
	logRefs refLogMode
}

// splitPolicy reads core.splitIndex, splitIndex.maxPercentChange and
// splitIndex.sharedIndexExpire (and core.logAllRefUpdates, with core.bare
// for its default) as git finds them (gitConfig: the
// repository's configuration, the user's, the system's). Values git
// would reject fall back to git's defaults, except an expiry spine
// cannot parse, which keeps every shared index (never deleting one still
// in use matters more than tidiness).
// The policy is kept while the configuration files' stat data stay the
// same (reading them costs more than a small commit's index).
func (g *Repo) splitPolicy(gitDir string) (splitPolicy, error) {
	paths := append([]string{filepath.Join(commonDir(gitDir), "config")}, userConfigPaths()...)
	ids := make([]fileID, len(paths))
	for i, p := range paths {
		var st syscall.Stat_t
		if syscall.Stat(p, &st) == nil {
			ids[i] = statID(&st)
		}
	}
	c := &g.index
	if c.policyOK && slices.Equal(ids, c.policyIDs) {
		return c.policy, nil
	}
	pol, err := g.readSplitPolicy()
	if err != nil {
		return pol, err
	}
	c.policy, c.policyIDs, c.policyOK = pol, ids, true
	return pol, nil
}

// commonDir returns the repository's common git directory: gitDir, or
// the one a linked worktree's commondir file names (commonDirOf), gitDir
// when that file cannot be read.
func commonDir(gitDir string) string {
	if dir, err := commonDirOf(gitDir); err == nil {
		return dir
	}
	return gitDir
}

// readSplitPolicy reads the configuration for splitPolicy.
func (g *Repo) readSplitPolicy() (splitPolicy, error) {
	pol := splitPolicy{mode: splitAuto, minEntries: g.splitMinEntries, maxPercent: defaultMaxPercentChange, expire: defaultSharedIndexExpire}
	cfg, err := g.config()
	if err != nil {
		return pol, err
	}
	get := cfg.get
	if v, ok := get("core", "splitIndex"); ok {
		if b, ok := parseGitBool(v); ok && b {
			pol.mode = splitAlways
		} else if ok {
			pol.mode = splitNever
		}
	}
	if v, ok := get("splitIndex", "maxPercentChange"); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= 100 {
			pol.maxPercent = n
		}
	}
	if v, ok := get("splitIndex", "sharedIndexExpire"); ok {
		pol.expire = parseExpiry(v)
	}
	if v, ok := get("core", "logAllRefUpdates"); ok {
		pol.logRefs = parseRefLogMode(v)
	}
	if pol.logRefs == refLogUnset {
		pol.logRefs = refLogNormal
		if v, ok := get("core", "bare"); ok {
			if b, ok := parseGitBool(v); ok && b {
				pol.logRefs = refLogNone
			}
		}
	}
	return pol, nil
}

// parseGitBool parses a git boolean (a key without a value is true).
func parseGitBool(v string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		return n != 0, true
	}
	return false, false
}

// parseExpiry parses the forms of splitIndex.sharedIndexExpire spine
// understands: "now", "never", and "N.unit.ago" (or with spaces) for
// seconds to years. Anything else is -1, never.
func parseExpiry(v string) time.Duration {
	v = strings.ToLower(strings.TrimSpace(v))
	switch v {
	case "now":
		return 0
	case "never", "false":
		return -1
	}
	f := strings.FieldsFunc(v, func(r rune) bool { return r == '.' || r == ' ' })
	if len(f) == 3 && f[2] == "ago" {
		f = f[:2]
	}
	if len(f) != 2 {
		return -1
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 0 {
		return -1
	}
	units := map[string]time.Duration{
		"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour,
		"week": 7 * 24 * time.Hour, "month": 30 * 24 * time.Hour, "year": 365 * 24 * time.Hour,
	}
	u, ok := units[strings.TrimSuffix(f[1], "s")]
	if !ok {
		return -1
	}
	return time.Duration(n) * u
}

// sharedIndex is a shared index file, scanned (its entries in name order,
// no extensions). Its bytes are never changed: they must keep matching
// its name. Those of a file read are a read-only mapping of it (m), which
// setShared releases once another shared index replaces it.
type sharedIndex struct {
	path string
	sum  [indexHashLen]byte
	ix   *rawIndex
	m    *mapfile.Mapping
}

// sharedIndexPath returns the path of the shared index with checksum sum.
func sharedIndexPath(gitDir string, sum []byte) string {
	return filepath.Join(gitDir, sharedIndexPrefix+hex.EncodeToString(sum))
}

// sharedFreshenAfter is how old a shared index's mtime may be before a
// commit that uses it sets it to now (see loadShared).
const sharedFreshenAfter = time.Hour

// loadShared returns the shared index with checksum sum, from c when it
// is the one c holds. A missing or corrupt file is an error naming it.
//
// Its checksum (SHA-1 of its 3 MB at 20,000 entries: most of the cost of
// a process's first commit) is verified unless this is the very file
// spine verified or wrote: a shared index is named by its checksum and
// never rewritten in place, so spine records the stat data (device,
// inode, size, mtime and ctime in nanoseconds) of the one it last
// verified or wrote (see verifiedRecord); any replacement or write
// changes them, and such a file is verified again.
//
// The mtime of the file is set to now, as git does on every use, when it
// is older than freshenAfter (or sharedFreshenAfter): git's
// splitIndex.sharedIndexExpire removes shared indexes not used for that
// long (other than the one .git/index names). Setting it on every commit
// would change the file's ctime, and so the stat data recorded, each
// time.
func (c *indexCache) loadShared(gitDir string, sum []byte, freshenAfter time.Duration) (*sharedIndex, error) {
	p := sharedIndexPath(gitDir, sum)
	if s := c.shared; s != nil && s.path == p && bytes.Equal(s.sum[:], sum) {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			return nil, sharedIndexErr(p, &fs.PathError{Op: "stat", Path: p, Err: err})
		}
		freshenIfOld(p, &st, freshenAfter)
		return s, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, sharedIndexErr(p, err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("split index: shared index %s: %w", p, err)
	}
	m, err := mapfile.Map(f)
	if err != nil {
		return nil, fmt.Errorf("split index: read shared index: %w", err)
	}
	s, err := c.scanShared(gitDir, p, sum, m.Bytes(), statID(&st))
	if err != nil {
		m.Close()
		return nil, err
	}
	s.m = m
	if freshenIfOld(p, &st, freshenAfter) {
		// Record the stat data the file has now (that of the file
		// opened: the path may name another one by now).
		var now syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &now) == nil && now.Size == st.Size {
			writeVerified(sharedVerifiedPath(gitDir), s.sum, statID(&now))
		}
	}
	c.setShared(s)
	return s, nil
}

// sharedIndexErr is the error for the shared index p that cannot be
// opened or is missing.
func sharedIndexErr(p string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("split index: its shared index %s is missing (restore it, or remove .git/index and run `git reset` to rebuild the index): %w", p, err)
	}
	return fmt.Errorf("split index: shared index: %w", err)
}

// scanShared scans data, the content of the shared index p whose stat
// data are id and name checksum sum, verifying its checksum unless spine
// recorded id as verified, and recording it when it verified it.
func (c *indexCache) scanShared(gitDir, p string, sum, data []byte, id fileID) (*sharedIndex, error) {
	s := &sharedIndex{path: p}
	copy(s.sum[:], sum)
	rec, ok := readVerified(sharedVerifiedPath(gitDir))
	trusted := ok && rec.sum == s.sum && rec.id == id
	if !trusted {
		c.sharedVerified++
	}
	ix, err := scanIndex(data, !trusted)
	if err != nil {
		return nil, fmt.Errorf("split index: shared index %s: %w", p, err)
	}
	if !bytes.Equal(data[len(data)-indexHashLen:], sum) {
		return nil, fmt.Errorf("split index: shared index %s has checksum %x", p, data[len(data)-indexHashLen:])
	}
	if ix.link != nil {
		return nil, fmt.Errorf("split index: shared index %s is itself split", p)
	}
	if !trusted {
		writeVerified(sharedVerifiedPath(gitDir), s.sum, id)
	}
	s.ix = ix
	return s, nil
}

// setShared makes s c's shared index, releasing the mapping of the one
// it replaces (no view of it is in use: views live within one update).
func (c *indexCache) setShared(s *sharedIndex) {
	if old := c.shared; old != nil && old != s && old.m != nil {
		old.m.Close()
	}
	c.shared = s
	if c.mapped != nil {
		c.mapped.m = s.m
	}
}

// freshenIfOld sets the mtime of the file p, whose stat data are st, to
// now when it is older than after (sharedFreshenAfter when that is
// shorter or after is not positive), and reports whether it did. Like
// git, a file that cannot be freshened (not spine's, on a read-only file
// system) is still used.
func freshenIfOld(p string, st *syscall.Stat_t, after time.Duration) bool {
	if after <= 0 || after > sharedFreshenAfter {
		after = sharedFreshenAfter
	}
	if time.Since(timespecTime(statMtime(st))) < after {
		return false
	}
	return freshen(p) == nil
}

// racy returns the file and symlink entries whose mtime is not before t
// (mtimeStamp of the index's mtime): the racily clean ones. They are the latest entries of a
// shared index written moments ago; later, when the index is newer than
// every entry, finding none costs nothing.
func (s *sharedIndex) racy(t uint64) []int {
	ix := s.ix
	if !ix.mtimeKnown {
		ix.maxMtime = 0
		for _, o := range ix.offs {
			if e := ix.data[o:]; isFileEntry(e) {
				ix.maxMtime = max(ix.maxMtime, entryMtime(e))
			}
		}
		ix.mtimeKnown = true
	}
	if t > ix.maxMtime {
		return nil
	}
	var out []int
	for i, o := range ix.offs {
		if e := s.ix.data[o:]; isFileEntry(e) && entryMtime(e) >= t {
			out = append(out, i)
		}
	}
	return out
}

// ownEntry is an entry of .git/index in a split index.
type ownEntry struct {
	name []byte
	e    []byte // on-disk bytes; a replacement's carry no name
	// staged: written by this commit (not checked for raciness).
	staged bool
}

// splitView is a split index as the entries it stands for: the shared
// index's, less the deleted ones, with the replacements, and the added
// ones. CommitFiles changes it at the cost of the entries it touches.
type splitView struct {
	version uint32
	shared  *sharedIndex
	del     map[int]bool
	repl    map[int]*ownEntry
	added   []*ownEntry // in name order, no name twice, none a live shared one
}

// newSplitView reads the split index own (with its link extension) whose
// shared index is shared. Unless trusted (written by writeSplit: its added
// entries are in order, distinct and none a shared entry's name), the
// added entries are put in order and those that stand for a shared entry
// found (a cost in the added entries, and in the shared ones' logarithm).
func newSplitView(own *rawIndex, shared *sharedIndex, trusted bool) (*splitView, error) {
	v := &splitView{version: max(own.version, shared.ix.version), shared: shared, del: map[int]bool{}, repl: map[int]*ownEntry{}}
	n := len(shared.ix.offs)
	rest := own.link[indexHashLen:]
	var del, repl []int
	if len(rest) > 0 {
		var err error
		if del, rest, err = readEWAH(rest, n); err != nil {
			return nil, fmt.Errorf("split index: delete bitmap: %w", err)
		}
		if repl, rest, err = readEWAH(rest, n); err != nil {
			return nil, fmt.Errorf("split index: replace bitmap: %w", err)
		}
		if len(rest) != 0 {
			return nil, errors.New("split index: garbage at the end of the link extension")
		}
	}
	for _, p := range del {
		v.del[p] = true
	}
	if len(repl) > len(own.offs) {
		return nil, fmt.Errorf("split index: %d replacements but %d entries", len(repl), len(own.offs))
	}
	for k, p := range repl {
		if v.del[p] {
			return nil, fmt.Errorf("split index: entry %d is both replaced and deleted", p)
		}
		e := own.data[own.offs[k]:own.entryEnd(k)]
		if name := own.name(k); len(name) != 0 {
			return nil, fmt.Errorf("split index: replacement entry %d has a name, %q", k, name)
		}
		v.repl[p] = &ownEntry{name: shared.ix.name(p), e: e}
	}
	for k := len(repl); k < len(own.offs); k++ {
		name := own.name(k)
		if len(name) == 0 {
			return nil, fmt.Errorf("split index: added entry %d has no name", k)
		}
		v.added = append(v.added, &ownEntry{name: name, e: own.data[own.offs[k]:own.entryEnd(k)]})
	}
	if trusted {
		return v, nil
	}
	// git adds them in turn: a later one replaces an earlier one, and
	// one replaces a shared entry of the same name.
	sort.SliceStable(v.added, func(a, b int) bool { return bytes.Compare(v.added[a].name, v.added[b].name) < 0 })
	uniq := v.added[:0]
	for _, a := range v.added {
		if l := len(uniq); l > 0 && bytes.Equal(uniq[l-1].name, a.name) {
			uniq[l-1] = a
			continue
		}
		uniq = append(uniq, a)
	}
	v.added = uniq
	for _, a := range v.added {
		if i := shared.ix.search(string(a.name)); i < n && bytes.Equal(shared.ix.name(i), a.name) {
			v.del[i] = true
			delete(v.repl, i)
		}
	}
	return v, nil
}

// sharedAt returns the position of the shared entry named name, if any
// (deleted or not).
func (v *splitView) sharedAt(name string) (int, bool) {
	i := v.shared.ix.search(name)
	return i, i < len(v.shared.ix.offs) && string(v.shared.ix.name(i)) == name
}

// addedAt returns where name is, or would go, in v.added.
func (v *splitView) addedAt(name string) (int, bool) {
	i := sort.Search(len(v.added), func(k int) bool { return string(v.added[k].name) >= name })
	return i, i < len(v.added) && string(v.added[i].name) == name
}

// remove takes the entry named name out.
func (v *splitView) remove(name string) {
	if i, ok := v.sharedAt(name); ok {
		v.del[i] = true
		delete(v.repl, i)
	}
	if i, ok := v.addedAt(name); ok {
		v.added = append(v.added[:i], v.added[i+1:]...)
	}
}

// removeUnder takes out the entries below the folder prefix (ending in /).
func (v *splitView) removeUnder(prefix string) {
	ix := v.shared.ix
	for i := ix.search(prefix); i < len(ix.offs) && bytes.HasPrefix(ix.name(i), []byte(prefix)); i++ {
		v.del[i] = true
		delete(v.repl, i)
	}
	i, _ := v.addedAt(prefix)
	j := i
	for j < len(v.added) && bytes.HasPrefix(v.added[j].name, []byte(prefix)) {
		j++
	}
	v.added = append(v.added[:i], v.added[j:]...)
}

// stage puts the staged files in as spliceIndex does: each replaces an
// entry of its name, the entries below it as a folder and those of its
// folders as files; a deleted one only takes entries out.
func (v *splitView) stage(files []*stagedFile) {
	for _, f := range files {
		v.remove(f.rel)
		v.removeUnder(f.rel + "/")
		if f.deleted {
			continue
		}
		for d := f.rel; strings.Contains(d, "/"); {
			d = d[:strings.LastIndexByte(d, '/')]
			v.remove(d)
		}
		e := &ownEntry{name: []byte(f.rel), staged: true}
		if i, ok := v.sharedAt(f.rel); ok {
			delete(v.del, i)
			e.e = appendEntry(nil, &stagedFile{rel: "", hash: f.hash, mode: f.mode, stat: f.stat})
			v.repl[i] = e
			continue
		}
		e.e = appendEntry(nil, f)
		i, _ := v.addedAt(f.rel)
		v.added = append(v.added, nil)
		copy(v.added[i+1:], v.added[i:])
		v.added[i] = e
	}
}

// smudgeRacy zeroes the size of the racily clean entries (see
// spliceIndex) the commit did not stage: a shared one gets a replacement
// carrying the zero size, so the shared file is never changed.
func (v *splitView) smudgeRacy(modTime time.Time) {
	t := mtimeStamp(modTime)
	for _, e := range v.repl {
		if !e.staged {
			smudgeRacy(e.e, t)
		}
	}
	for _, e := range v.added {
		if !e.staged {
			smudgeRacy(e.e, t)
		}
	}
	ix := v.shared.ix
	for _, i := range v.shared.racy(t) {
		if v.del[i] || v.repl[i] != nil {
			continue
		}
		src := ix.data[ix.offs[i]:ix.entryEnd(i)]
		if binary.BigEndian.Uint32(src[entrySizeOffset:]) == 0 {
			continue // smudged already
		}
		e := withName(src, nil)
		binary.BigEndian.PutUint32(e[entrySizeOffset:], 0)
		v.repl[i] = &ownEntry{name: ix.name(i), e: e}
	}
}

// count returns the number of entries v stands for.
func (v *splitView) count() int { return len(v.shared.ix.offs) - len(v.del) + len(v.added) }

// tooManyOwn reports whether .git/index would hold more than maxPercent
// of the entries (git's too_many_not_shared_entries, counting the
// replacements too: they are in .git/index as well).
func (v *splitView) tooManyOwn(maxPercent int) bool {
	switch maxPercent {
	case 0:
		return true
	case 100:
		return false
	}
	return int64(v.count())*int64(maxPercent) < int64(len(v.repl)+len(v.added))*100
}

// indexWriter writes an index file through a buffer, hashing what it
// writes, and ends it with the checksum.
type indexWriter struct {
	*bufio.Writer
	w io.Writer
	h hash.Hash
}

// newIndexWriter starts an index file of count entries in version.
func newIndexWriter(w io.Writer, version uint32, count int) *indexWriter {
	h := sha1.New()
	iw := &indexWriter{Writer: bufio.NewWriterSize(io.MultiWriter(w, h), 64<<10), w: w, h: h}
	var hdr [indexHeaderLen]byte
	copy(hdr[:], "DIRC")
	binary.BigEndian.PutUint32(hdr[4:], version)
	binary.BigEndian.PutUint32(hdr[8:], uint32(count))
	iw.Write(hdr[:])
	return iw
}

// finish writes what is buffered and the checksum, and returns the
// checksum.
func (iw *indexWriter) finish() ([indexHashLen]byte, error) {
	var sum [indexHashLen]byte
	if err := iw.Flush(); err != nil {
		return sum, err
	}
	iw.h.Sum(sum[:0])
	_, err := iw.w.Write(sum[:])
	return sum, err
}

// writePlain writes the entries v stands for as one index file without
// extensions and returns its checksum.
func (v *splitView) writePlain(w io.Writer) ([indexHashLen]byte, error) {
	bw := newIndexWriter(w, v.version, v.count())
	ix := v.shared.ix
	a := 0
	for i := range ix.offs {
		if v.del[i] {
			continue
		}
		name := ix.name(i)
		for ; a < len(v.added) && bytes.Compare(v.added[a].name, name) < 0; a++ {
			bw.Write(v.added[a].e)
		}
		if r := v.repl[i]; r != nil {
			bw.Write(withName(r.e, name))
			continue
		}
		bw.Write(ix.data[ix.offs[i]:ix.entryEnd(i)])
	}
	for ; a < len(v.added); a++ {
		bw.Write(v.added[a].e)
	}
	return bw.finish()
}

// writeSplit writes v's .git/index: the replacements in the shared
// index's order, the added entries, and the link extension.
func (v *splitView) writeSplit(w io.Writer) ([indexHashLen]byte, error) {
	bw := newIndexWriter(w, v.version, len(v.repl)+len(v.added))
	repl := make([]int, 0, len(v.repl))
	for i := range v.repl {
		repl = append(repl, i)
	}
	sort.Ints(repl)
	for _, i := range repl {
		bw.Write(v.repl[i].e)
	}
	for _, a := range v.added {
		bw.Write(a.e)
	}
	del := make([]int, 0, len(v.del))
	for i := range v.del {
		del = append(del, i)
	}
	sort.Ints(del)
	link := append([]byte{}, v.shared.sum[:]...)
	link = appendEWAH(link, del)
	link = appendEWAH(link, repl)
	var ext [8]byte
	copy(ext[:], "link")
	binary.BigEndian.PutUint32(ext[4:], uint32(len(link)))
	bw.Write(ext[:])
	bw.Write(link)
	return bw.finish()
}

// unsplit merges a split index (its own file ix with a link extension)
// and its shared index into one ordinary index file.
func (c *indexCache) unsplit(ix *rawIndex, gitDir string) ([]byte, error) {
	v, err := c.splitView(ix, gitDir, false)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := v.writePlain(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// splitView returns the view of the split index ix (with a link
// extension; trusted: see newSplitView). A null shared index SHA-1 means
// every entry is in ix.
func (c *indexCache) splitView(ix *rawIndex, gitDir string, trusted bool) (*splitView, error) {
	if len(ix.link) < indexHashLen {
		return nil, errors.New("split index: truncated link extension")
	}
	var shared *sharedIndex
	if sum := ix.link[:indexHashLen]; !allZero(sum) {
		var err error
		if shared, err = c.loadShared(gitDir, sum, c.freshenAfter); err != nil {
			return nil, err
		}
	} else {
		shared = &sharedIndex{ix: &rawIndex{data: emptyIndex(), version: indexVersionNew, end: indexHeaderLen}}
	}
	return newSplitView(ix, shared, trusted)
}

// writeShared writes whole, a scanned index file without extensions whose
// checksum is sum, as gitDir's shared index sum, durably (written to a
// temporary file, synced, renamed, and the folder synced) before any
// .git/index names it, and makes it c's shared index.
func (c *indexCache) writeShared(gitDir string, whole *rawIndex, sum [indexHashLen]byte) (*sharedIndex, error) {
	p := sharedIndexPath(gitDir, sum[:])
	var f *os.File
	var err error
	for range 10 {
		var rnd [6]byte
		if _, err = rand.Read(rnd[:]); err != nil {
			return nil, fmt.Errorf("write shared index: %w", err)
		}
		// git's own temporary name for it (sharedindex_XXXXXX).
		f, err = os.OpenFile(filepath.Join(gitDir, "sharedindex_"+hex.EncodeToString(rnd[:])), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("write shared index: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(whole.data)
	if err == nil {
		err = f.Sync()
	}
	var written syscall.Stat_t
	if err == nil {
		err = syscall.Fstat(int(f.Fd()), &written)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("write shared index %s: %w", p, err)
	}
	if err := fsx.SyncDir(gitDir); err != nil {
		return nil, fmt.Errorf("write shared index %s: %w", p, err)
	}
	s := &sharedIndex{path: p, sum: sum, ix: whole}
	// Record it as verified (its checksum is the one just computed over
	// these bytes) with the stat data it has after the rename, if p is
	// still the file written.
	var st syscall.Stat_t
	if syscall.Stat(p, &st) == nil && st.Dev == written.Dev && st.Ino == written.Ino && st.Size == int64(len(whole.data)) {
		writeVerified(sharedVerifiedPath(gitDir), sum, statID(&st))
	}
	c.setShared(s)
	return s, nil
}

// expireShared removes gitDir's shared index files other than keep whose
// mtime is more than expire ago, as git does after writing a new shared
// index (clean_shared_index_files). Git freshens the mtime of the shared
// index it uses on every read and write, as CommitFiles does, so only
// files no index has used for that long go. Failures are ignored: a
// file left behind is only untidy.
func expireShared(gitDir, keep string, expire time.Duration) {
	if expire < 0 {
		return
	}
	ents, err := os.ReadDir(gitDir)
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-expire)
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, sharedIndexPrefix) || name == filepath.Base(keep) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.ModTime().Before(cutoff) {
			os.Remove(filepath.Join(gitDir, name))
		}
	}
}

// readEWAH decodes an EWAH bitmap (git's ewah/ewah_io.c) whose set bits
// must be below n, and returns the positions of the set bits, in order,
// and the bytes after it.
func readEWAH(b []byte, n int) ([]int, []byte, error) {
	if len(b) < 8 {
		return nil, nil, errors.New("truncated")
	}
	bitSize := binary.BigEndian.Uint32(b)
	words := binary.BigEndian.Uint32(b[4:])
	if uint64(words) > uint64(len(b)-8)/8 || len(b)-8-int(words)*8 < 4 {
		return nil, nil, errors.New("truncated")
	}
	if uint64(bitSize) > uint64(n) {
		return nil, nil, fmt.Errorf("%d bits for %d entries", bitSize, n)
	}
	buf := b[8 : 8+int(words)*8]
	rest := b[8+int(words)*8+4:]
	var set []int
	limit := uint64(bitSize)
	pos := uint64(0)
	for w := 0; w < len(buf)/8; {
		rlw := binary.BigEndian.Uint64(buf[w*8:])
		w++
		run := ((rlw >> 1) & 0xffffffff) * 64
		lits := int(rlw >> 33)
		if rlw&1 != 0 && run > 0 {
			if pos+run > limit {
				return nil, nil, fmt.Errorf("bit %d beyond %d", pos+run-1, limit)
			}
			for p := pos; p < pos+run; p++ {
				set = append(set, int(p))
			}
		}
		pos += run
		for range lits {
			if w >= len(buf)/8 {
				return nil, nil, errors.New("literal words overrun the bitmap")
			}
			lit := binary.BigEndian.Uint64(buf[w*8:])
			w++
			for lit != 0 {
				bit := uint64(bits.TrailingZeros64(lit))
				if pos+bit >= limit {
					return nil, nil, fmt.Errorf("bit %d beyond %d", pos+bit, limit)
				}
				set = append(set, int(pos+bit))
				lit &= lit - 1
			}
			pos += 64
		}
	}
	return set, rest, nil
}

// appendEWAH appends the EWAH encoding (git's ewah_serialize) of the
// bitmap whose set bits are at pos (ascending, distinct): running-length
// words each counting the empty 64-bit words before the literal words
// that follow them. Its bit size is one past the last set bit, as git's
// ewah_set leaves it.
func appendEWAH(dst []byte, pos []int) []byte {
	words := []uint64{0}
	rlw, next := 0, 0 // the current running-length word; the next word's number
	for k := 0; k < len(pos); {
		wi := pos[k] / 64
		var lit uint64
		for ; k < len(pos) && pos[k]/64 == wi; k++ {
			lit |= 1 << (pos[k] % 64)
		}
		if gap := wi - next; gap > 0 {
			if words[rlw]>>33 != 0 { // it has literal words: the run goes in a new one
				words = append(words, 0)
				rlw = len(words) - 1
			}
			words[rlw] += uint64(gap) << 1
		}
		words[rlw] += 1 << 33
		words = append(words, lit)
		next = wi + 1
	}
	bitSize := 0
	if len(pos) > 0 {
		bitSize = pos[len(pos)-1] + 1
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(bitSize))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(words)))
	for _, w := range words {
		dst = binary.BigEndian.AppendUint64(dst, w)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(rlw))
}

// withName returns a copy of entry e carrying name (none: a split index's
// replacement entry).
func withName(e, name []byte) []byte {
	flags := binary.BigEndian.Uint16(e[entryFlagOffset:])
	hdr := entryFixedLen
	if flags&entryFlagExt != 0 {
		hdr += 2
	}
	out := make([]byte, (hdr+len(name)+8)&^7)
	copy(out, e[:hdr])
	binary.BigEndian.PutUint16(out[entryFlagOffset:], flags&^entryNameMask|uint16(min(len(name), entryNameMask)))
	copy(out[hdr:], name)
	return out
}

// verifiedRecord is what spine records of the shared index it last
// verified or wrote (and of a large plain .git/index it wrote): its
// checksum and stat data. The record is a cache: a missing, unreadable or
// corrupt one only means the next commit verifies the file again.
type verifiedRecord struct {
	sum [indexHashLen]byte
	id  fileID
}

// sharedVerifiedPath returns the file holding the verifiedRecord of
// gitDir's shared index.
func sharedVerifiedPath(gitDir string) string {
	return filepath.Join(gitDir, "spine", "sharedindex.verified")
}

// verifiedMagic starts a verifiedRecord's line.
const verifiedMagic = "spine-index-verified-v1"

// appendVerifiedLine appends the record's line without its check.
func appendVerifiedLine(dst []byte, sum [indexHashLen]byte, id fileID) []byte {
	dst = fmt.Appendf(dst, "%s %x %d %d %d %d.%09d %d.%09d", verifiedMagic, sum, id.dev, id.ino, id.size,
		id.mtime.Sec, id.mtime.Nsec, id.ctime.Sec, id.ctime.Nsec)
	return dst
}

// readVerified returns the verifiedRecord in the file p, ok false when
// there is none or it is not intact.
func readVerified(p string) (verifiedRecord, bool) {
	var r verifiedRecord
	b, err := readSmall(p)
	if err != nil {
		return r, false
	}
	line, ok := bytes.CutSuffix(b, []byte("\n"))
	if !ok {
		return r, false
	}
	line = bytes.TrimRight(line, " ") // the padding (writeVerified)
	i := bytes.LastIndexByte(line, ' ')
	if i < 0 {
		return r, false
	}
	body, check := line[:i], string(line[i+1:])
	if h := sha1.Sum(body); check != hex.EncodeToString(h[:8]) {
		return r, false
	}
	var sum string
	var msec, mnsec, csec, cnsec int64
	var magic string
	n, err := fmt.Sscanf(string(body), "%s %s %d %d %d %d.%d %d.%d", &magic, &sum, &r.id.dev, &r.id.ino, &r.id.size, &msec, &mnsec, &csec, &cnsec)
	if err != nil || n != 9 || magic != verifiedMagic {
		return r, false
	}
	h, err := hex.DecodeString(sum)
	if err != nil || len(h) != indexHashLen {
		return r, false
	}
	copy(r.sum[:], h)
	r.id.mtime = syscall.Timespec{Sec: msec, Nsec: mnsec}
	r.id.ctime = syscall.Timespec{Sec: csec, Nsec: cnsec}
	// Written the way it would be: nothing else is accepted.
	if !bytes.Equal(appendVerifiedLine(nil, r.sum, r.id), body) {
		return r, false
	}
	return r, true
}

// verifiedSize is the size of a file writeVerified writes: its line is
// padded with spaces to this length, so that each record overwrites the
// last in place.
const verifiedSize = 256

// writeVerified records in the file p that the index file with checksum
// sum and stat data id is intact. It overwrites the file in place (one
// write of verifiedSize bytes: a commit of a large index writes one every
// time, and a new file and a rename would cost it more than the rest of
// its bookkeeping): a reader that meets a record half written, or a crash
// that leaves one, finds its check wrong and takes it for none.
// Failures are ignored (the index file is verified again next time).
func writeVerified(p string, sum [indexHashLen]byte, id fileID) {
	body := appendVerifiedLine(nil, sum, id)
	h := sha1.Sum(body)
	line := fmt.Appendf(body, " %x", h[:8])
	if len(line) >= verifiedSize {
		return
	}
	rec := append(append(line, bytes.Repeat([]byte{' '}, verifiedSize-1-len(line))...), '\n')
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, fsx.FileMode)
	if errors.Is(err, fs.ErrNotExist) {
		if os.MkdirAll(filepath.Dir(p), fsx.DirMode) != nil {
			return
		}
		f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE, fsx.FileMode)
	}
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.WriteAt(rec, 0); err != nil {
		return
	}
	// A longer file (not one this writes) would keep a tail.
	if fi, err := f.Stat(); err == nil && fi.Size() > verifiedSize {
		f.Truncate(verifiedSize)
	}
}

// EnableSplitIndex sets core.splitIndex to true in the configuration of
// the repository at root, unless that configuration sets it already
// (either way). spine's hook does so in the clone it makes and alone
// works in: a commit then rewrites a small .git/index instead of one entry
// per file of the repository (2.9 MB at 20,000 files, rewritten and
// hashed on every commit), at the cost of a format that tools built on
// go-git or libgit2 cannot read, which nobody uses there.
func EnableSplitIndex(root string) error {
	return editConfig(root, func(c *config.Config) bool {
		if c.Raw.Section("core").HasOption("splitIndex") {
			return false
		}
		c.Raw.Section("core").SetOption("splitIndex", "true")
		return true
	})
}
