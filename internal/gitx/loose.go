package gitx

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/spinehq/spine/internal/fsx"
)

// looseWriter writes loose objects straight into the repository's object
// folder, the way git does (hash-object, commit): the zlib stream goes to
// a new temporary file in the object's fan-out folder, which is then
// renamed to its name unless that exists (renameat2 RENAME_NOREPLACE;
// where unsupported, hard-linked and removed, as git does). An object that
// already exists is never replaced (git would find the same bytes there).
// Objects are not fsynced one by one: like go-git's writer before it, the
// caller flushes the file system (see pipeline's syncFS) before relying on
// a commit. Its cost is two file-system entries and a few system calls per
// object, against go-git's temporary file through its billy layers (a stat
// per path component, a folder creation attempt and a rename).
type looseWriter struct {
	mu sync.Mutex
	// dir is the objects folder, found on first use.
	dir string
	// fanout holds the objects/xx folders known to exist.
	fanout map[string]bool
	// known holds the objects this writer wrote or found (and freshened):
	// writing one again only checks that it is still there.
	known map[plumbing.Hash]bool
	zw    *zlib.Writer
	buf   bytes.Buffer
	// batch, while CommitFiles has one open, holds its new objects for
	// one pack (pack.go); packed holds the objects of the packs written.
	batch  *objectBatch
	packed map[plumbing.Hash]bool
	pid    string
	seq    uint64
}

// looseCheckSize is the content size above which writeObject looks for
// an existing loose object before compressing.
const looseCheckSize = 64 << 10

// objectsDir returns the repository's objects folder: <gitdir>/objects,
// or that of the common folder of a linked worktree (gitdir/commondir).
func (g *Repo) objectsDir() (string, error) {
	_, common, err := g.dirs()
	if err != nil {
		return "", err
	}
	return filepath.Join(common, "objects"), nil
}

// writeObject stores an object of type typ with content data as a loose
// object (unless one with its hash exists) and returns its hash.
func (g *Repo) writeObject(typ plumbing.ObjectType, data []byte) (plumbing.Hash, error) {
	h := plumbing.ComputeHash(typ, data)
	w := &g.loose
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.packed[h] && g.R.Storer.HasEncodedObject(h) == nil {
		return h, nil // in a pack this writer wrote, and still there
	}
	if !w.known[h] && w.hold(typ, h, data) {
		return h, nil
	}
	return h, g.writeLoose(typ, h, data)
}

// writeLoose stores the object of type typ with content data and hash h
// as a loose object unless one with its hash exists. The caller holds
// g.loose.mu.
func (g *Repo) writeLoose(typ plumbing.ObjectType, h plumbing.Hash, data []byte) error {
	w := &g.loose
	if w.dir == "" {
		dir, err := g.objectsDir()
		if err != nil {
			return err
		}
		w.dir, w.fanout, w.known = dir, map[string]bool{}, map[plumbing.Hash]bool{}
		w.pid = strconv.Itoa(os.Getpid())
	}
	hex := h.String()
	fan := filepath.Join(w.dir, hex[:2])
	final := filepath.Join(fan, hex[2:])
	if w.known[h] || len(data) > looseCheckSize {
		// Present already (loose): keep it, and freshen it as git does so
		// that a prune does not take it as old and unreachable (once: this
		// writer's own objects are fresh). Small new objects skip the
		// check: the link below refuses to replace one.
		if fi, err := os.Lstat(final); err == nil && fi.Mode().IsRegular() {
			if !w.known[h] {
				// An existing object is freshened as git does; a failure does not
				// matter (the object is there).
				_ = freshen(final)
				w.known[h] = true
			}
			return nil
		}
	}
	w.buf.Reset()
	if w.zw == nil {
		w.zw = zlib.NewWriter(&w.buf)
	} else {
		w.zw.Reset(&w.buf)
	}
	w.zw.Write([]byte(typ.String() + " " + strconv.Itoa(len(data)) + "\x00"))
	w.zw.Write(data)
	if err := w.zw.Close(); err != nil {
		return fmt.Errorf("write object %s: %w", hex, err)
	}
	tmp, err := w.writeTemp(fan, w.buf.Bytes())
	if err != nil {
		return fmt.Errorf("write object %s: %w", hex, err)
	}
	err = fsx.RenameNoReplace(tmp, final)
	if err != nil {
		// Not renamed: the temporary name goes, linked or not.
		defer os.Remove(tmp)
	}
	if errors.Is(err, fsx.ErrUnsupported) {
		err = os.Link(tmp, final)
	}
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		// An existing object is freshened as git does; a failure does not
		// matter (the object is there).
		_ = freshen(final)
	default:
		// No hard links here: rename, unless the object appeared.
		if _, lerr := os.Lstat(final); lerr == nil {
			// An existing object is freshened as git does; a failure does not
			// matter (the object is there).
			_ = freshen(final)
			break
		}
		if err := os.Rename(tmp, final); err != nil {
			return fmt.Errorf("write object %s: %w", hex, err)
		}
	}
	w.known[h] = true
	return nil
}

// writeTemp writes data to a new file tmp_obj_* in the fan-out folder fan,
// creating the folder if needed, and returns its path.
func (w *looseWriter) writeTemp(fan string, data []byte) (string, error) {
	for attempt := 0; ; attempt++ {
		w.seq++
		tmp := filepath.Join(fan, "tmp_obj_"+w.pid+"_"+strconv.FormatUint(w.seq, 36))
		err := fsx.WriteFile(tmp, data, os.O_EXCL, 0o444)
		switch {
		case err == nil:
			w.fanout[fan] = true
			return tmp, nil
		case errors.Is(err, fs.ErrNotExist) && attempt == 0:
			if err := os.Mkdir(fan, fsx.DirMode); err != nil && !errors.Is(err, fs.ErrExist) {
				return "", err
			}
		case errors.Is(err, fs.ErrExist) && attempt < 10:
			// A leftover of a crashed process with the same pid.
		default:
			return "", err
		}
	}
}
