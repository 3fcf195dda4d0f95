package artifacts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/par"
)

// File and folder names of the receipt store.
const (
	// DefaultReceiptsDir is the receipts folder, relative to the repository
	// root, when Store.Dir is empty.
	DefaultReceiptsDir = "receipts"
	// ReceiptFile is the receipt's file name inside its run folder.
	ReceiptFile = "receipt.json"
	// OutputFile is the captured output's file name inside its run folder.
	OutputFile = "output.log"
)

// MaxReceiptSize bounds the receipt.json files List and ReadReceipt
// accept; a larger one is unreadable. Every reader of receipts (the site's
// too, whose reads the receipt history may take) applies the same bound.
const MaxReceiptSize = 16 << 20

// ErrReceiptExists is wrapped by Write errors when the run's receipt.json
// already exists: receipts are written once and never replaced.
var ErrReceiptExists = errors.New("receipt already exists")

// Store reads and writes the receipt folders of one repository:
// <Root>/<Dir>/YYYY/MM/DD/<RUN_KEY>/{receipt.json,output.log}.
// A Store holds no state besides its paths and options; it is safe for concurrent
// use, but writes of the same run key must not race (the pipeline's lock
// sees to that).
type Store struct {
	// Root is the repository root (the working tree).
	Root string
	// Dir is the receipts folder, slash-separated and relative to Root;
	// empty means DefaultReceiptsDir.
	Dir string
	// DeferSync skips the fsyncs of each write (renames stay atomic): the
	// caller makes many receipts durable at once with SyncFS before it
	// relies on them, e.g. before committing a stage.
	DeferSync bool
}

// dir returns the receipts folder relative to Root, slash-separated.
func (s *Store) dir() string {
	if s.Dir == "" {
		return DefaultReceiptsDir
	}
	return path.Clean(s.Dir)
}

// RelDir returns the repository-relative, slash-separated folder of run
// runKey, e.g. "receipts/2026/03/01/CAP-20260301-101500__zfs.pool__Rk3j9x0abcd".
func (s *Store) RelDir(runKey string) (string, error) {
	k, err := ParseRunKey(runKey)
	if err != nil {
		return "", fmt.Errorf("receipt folder: %w", err)
	}
	return s.dir() + "/" + k.datePath() + "/" + runKey, nil
}

// ReceiptPath returns the file-system path of runKey's receipt.json,
// checked with SafeJoin.
func (s *Store) ReceiptPath(runKey string) (string, error) {
	rel, err := s.RelDir(runKey)
	if err != nil {
		return "", err
	}
	p, err := SafeJoin(s.Root, rel+"/"+ReceiptFile)
	if err != nil {
		return "", fmt.Errorf("receipt path: %w", err)
	}
	return p, nil
}

// Read reads the receipt of runKey.
func (s *Store) Read(runKey string) (*Receipt, error) {
	p, err := s.ReceiptPath(runKey)
	if err != nil {
		return nil, err
	}
	return ReadReceipt(p)
}

// makeDir creates the run folder rel (and its parents), refusing symlinks
// anywhere below Root. It returns the folder and the directories to fsync.
func (s *Store) makeDir(rel string) (string, []string, error) {
	abs, dirty, err := mkdirSafe(s.Root, rel, fsx.DirMode)
	if err != nil {
		return "", nil, fmt.Errorf("receipt folder: %w", err)
	}
	return abs, dirty, nil
}

// runDir validates r and prepares its run folder.
func (s *Store) runDir(r *Receipt) (rel, abs string, dirty []string, err error) {
	if err := checkReceipt(r); err != nil {
		return "", "", nil, err
	}
	rel, err = s.RelDir(r.RunKey)
	if err != nil {
		return "", "", nil, err
	}
	abs, dirty, err = s.makeDir(rel)
	if err != nil {
		return "", "", nil, err
	}
	// A folder makeDir just created holds nothing: only an existing one
	// is checked for a receipt (the final rename refuses to replace one
	// in any case).
	if created := len(dirty) > 0 && dirty[len(dirty)-1] == filepath.Dir(abs); !created {
		if err := noReceipt(abs); err != nil {
			return "", "", nil, err
		}
	}
	return rel, abs, dirty, nil
}

// WriteResult tells what a write put in the repository.
type WriteResult struct {
	// Dir is the run folder, repository-relative with forward slashes.
	Dir string
	// Paths are the files written, repository-relative with forward
	// slashes: output.log (when present) and receipt.json, for the caller
	// to commit exactly those.
	Paths []string
	// Hash is ChainHash of the receipt.json written: the Prev of the loop's
	// next receipt.
	Hash string
}

// CreateOutput creates runKey's run folder and starts its output.log: write
// the step's output to the returned file (for example as the sink of
// NewOutput), then pass it to WriteRun, which commits both files. It
// fails with ErrReceiptExists if the run already has a receipt. Abort the
// file if the receipt is never written; a crash leaves at most a hidden
// temporary file in the run folder.
func (s *Store) CreateOutput(runKey string) (*AtomicFile, error) {
	rel, err := s.RelDir(runKey)
	if err != nil {
		return nil, err
	}
	abs, dirty, err := s.makeDir(rel)
	if err != nil {
		return nil, err
	}
	if err := noReceipt(abs); err != nil {
		return nil, err
	}
	a, err := CreateAtomic(filepath.Join(abs, OutputFile), fsx.FileMode)
	if err != nil {
		return nil, err
	}
	a.dirSync = dirty
	a.noSync = s.DeferSync
	return a, nil
}

// noReceipt fails with ErrReceiptExists when dir holds a receipt.json.
func noReceipt(dir string) error {
	p := filepath.Join(dir, ReceiptFile)
	if _, err := os.Lstat(p); err == nil {
		return fmt.Errorf("write receipt %s: %w", p, ErrReceiptExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write receipt %s: %w", p, err)
	}
	return nil
}

// Write stores one run: output.log from output (none when output is nil)
// and receipt.json, each atomically and durably, output.log first, so a
// present receipt.json means a complete output.log (see WriteRun). It
// sets r.OutputSHA256 from output when output is non-nil, and
// r.CommandSHA256 when empty. It refuses to replace an existing
// receipt.json (ErrReceiptExists); a leftover output.log without a receipt
// (a crash between the two renames) is replaced.
func (s *Store) Write(r *Receipt, output io.Reader) (*WriteResult, error) {
	if output == nil {
		return s.WriteRun(r, nil)
	}
	if err := checkReceipt(r); err != nil {
		return nil, err
	}
	a, err := s.CreateOutput(r.RunKey)
	if err != nil {
		return nil, err
	}
	defer a.Abort()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(a, h), output); err != nil {
		return nil, fmt.Errorf("write %s: %w", a.Name(), err)
	}
	r.OutputSHA256 = hex.EncodeToString(h.Sum(nil))
	return s.WriteRun(r, a)
}

// WriteReceipt writes r's receipt.json only: WriteRun(r, nil). An
// output.log already in the run folder (committed earlier, e.g. before a
// crash) is kept and included in the returned paths.
func (s *Store) WriteReceipt(r *Receipt) (*WriteResult, error) {
	return s.WriteRun(r, nil)
}

// WriteRun writes r's receipt.json and, when output is the uncommitted
// file CreateOutput returned for r.RunKey, commits it as output.log first
// (r.OutputSHA256 is the caller's, e.g. OutputWriter.SHA256). The steps: the
// data of both temporary files (and any new folders) are fsynced together;
// output.log is renamed into place and the folder fsynced; only then is
// receipt.json linked into place, refusing to replace one, and the folder
// fsynced again. A crash at any point leaves no receipt.json, or a complete
// receipt.json beside a complete output.log.
//
// WriteRun sets r.CommandSHA256 when empty and refuses one that does not
// match r.Command; it requires a valid run key, a loop id and a known
// status. An already committed output, or an output.log left in the run
// folder, is included in the returned paths.
func (s *Store) WriteRun(r *Receipt, output *AtomicFile) (*WriteResult, error) {
	rel, abs, dirty, err := s.runDir(r)
	if err != nil {
		return nil, err
	}
	return s.writeRunIn(r, output, rel, abs, dirty, false)
}

// WriteLinked stores one run like Write, its output being the complete,
// closed file at logPath, of size bytes whose SHA-256 is sum (hex): the
// file is hard-linked into the run folder as output.log instead of copied
// (no new file is written, no byte read again), then receipt.json is
// written as WriteRun does. The caller must not write to logPath again,
// and may remove that name once WriteLinked returns. The link is made
// only for a Store with DeferSync (the caller syncs the file system
// before relying on the run) and a regular file of the expected size;
// otherwise, or when the link cannot be made (another file system, a
// leftover output.log of a crashed run), the file is copied as Write does.
func (s *Store) WriteLinked(r *Receipt, logPath string, size int64, sum string) (*WriteResult, error) {
	if err := checkReceipt(r); err != nil {
		return nil, err
	}
	copyLog := func() (*WriteResult, error) {
		f, err := os.Open(logPath)
		if err != nil {
			return nil, fmt.Errorf("write receipt %s: %w", r.RunKey, err)
		}
		defer f.Close()
		return s.Write(r, f)
	}
	fi, err := os.Lstat(logPath)
	if !s.DeferSync || err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return copyLog()
	}
	rel, abs, dirty, err := s.runDir(r)
	if err != nil {
		return nil, err
	}
	if err := os.Link(logPath, filepath.Join(abs, OutputFile)); err != nil {
		// The output.log there may be this very file, linked by a write
		// that stopped before its receipt.json (a full disk): it is kept.
		if prev, lerr := os.Lstat(filepath.Join(abs, OutputFile)); lerr != nil || !os.SameFile(prev, fi) {
			return copyLog()
		}
	}
	r.OutputSHA256 = sum
	return s.writeRunIn(r, nil, rel, abs, dirty, true)
}

// writeRunIn is WriteRun once the run folder rel (abs on disk) is made,
// dirty being the folders that gained an entry; linked is set when the
// caller has just linked output.log into it.
func (s *Store) writeRunIn(r *Receipt, output *AtomicFile, rel, abs string, dirty []string, linked bool) (*WriteResult, error) {
	outPath := filepath.Join(abs, OutputFile)
	if output != nil {
		if output.Name() != outPath {
			return nil, fmt.Errorf("write receipt %s: output file %s is not the run's output.log", r.RunKey, output.Name())
		}
		if output.done && !output.committed {
			return nil, fmt.Errorf("write receipt %s: output file %s was aborted", r.RunKey, output.Name())
		}
	}
	if r.CommandSHA256 == "" {
		r.CommandSHA256 = CommandSHA256(r.Command)
	}
	data, err := MarshalReceipt(r)
	if err != nil {
		return nil, err
	}
	rec, err := CreateAtomic(filepath.Join(abs, ReceiptFile), fsx.FileMode)
	if err != nil {
		return nil, err
	}
	defer rec.Abort()
	rec.noSync = s.DeferSync
	if _, err := rec.Write(data); err != nil {
		return nil, err
	}
	if s.DeferSync {
		dirty = nil
	}
	syncs := append(dirSyncs(dirty), rec.syncData)
	if output != nil && !output.done {
		syncs = append(syncs, output.syncData, output.syncDirs)
	}
	if err := syncConcurrently(syncs...); err != nil {
		return nil, err
	}
	if output != nil && !output.done {
		if err := output.Commit(); err != nil {
			return nil, err
		}
	}
	res := &WriteResult{Dir: rel, Hash: ChainHash(data)}
	if linked {
		res.Paths = append(res.Paths, rel+"/"+OutputFile)
	} else if fi, err := os.Lstat(outPath); err == nil && fi.Mode().IsRegular() {
		res.Paths = append(res.Paths, rel+"/"+OutputFile)
	}
	if err := rec.CommitNoReplace(); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("write receipt %s: %w", rec.Name(), ErrReceiptExists)
		}
		return nil, err
	}
	res.Paths = append(res.Paths, rel+"/"+ReceiptFile)
	return res, nil
}

// knownStatus reports whether s is one of the Status constants.
func knownStatus(s string) bool {
	switch s {
	case StatusPass, StatusFail, StatusBlocked, StatusInterrupted, StatusSkipped:
		return true
	}
	return false
}

// checkReceipt validates what Write needs of a receipt.
func checkReceipt(r *Receipt) error {
	switch {
	case r == nil:
		return errors.New("write receipt: nil receipt")
	case !ValidRunKey(r.RunKey):
		_, err := ParseRunKey(r.RunKey)
		return fmt.Errorf("write receipt: %w", err)
	case r.LoopID == "":
		return fmt.Errorf("write receipt %s: empty loop_id", r.RunKey)
	case !knownStatus(r.Status):
		return fmt.Errorf("write receipt %s: unknown status %q", r.RunKey, r.Status)
	case r.CommandSHA256 != "" && r.CommandSHA256 != CommandSHA256(r.Command):
		return fmt.Errorf("write receipt %s: command_sha256 %s does not match the command (%s)", r.RunKey, r.CommandSHA256, CommandSHA256(r.Command))
	}
	return nil
}

// MarshalReceipt returns the exact bytes of a receipt.json: fields in
// struct order, indented by two spaces, HTML characters (<, >, &) left
// as they are, and a trailing newline. A nil Artifacts list is written as
// [] rather than null. r is not modified.
func MarshalReceipt(r *Receipt) ([]byte, error) {
	c := *r
	if c.Artifacts == nil {
		c.Artifacts = []ArtifactRef{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("marshal receipt %s: %w", r.RunKey, err)
	}
	return buf.Bytes(), nil
}

// DecodeReceipt parses receipt.json bytes. Unknown fields are ignored (a
// newer spine may add some); anything but a single JSON object, or a field
// of the wrong type, is an error giving the line and column.
func DecodeReceipt(data []byte) (*Receipt, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	var r Receipt
	if err := json.Unmarshal(data, &r); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			off := se.Offset
			if !strings.Contains(se.Error(), "unexpected end") {
				off-- // Offset is just past the offending byte
			}
			line, col := lineCol(data, off)
			return nil, fmt.Errorf("line %d column %d: %w", line, col, err)
		case errors.As(err, &te):
			line, col := lineCol(data, te.Offset)
			return nil, fmt.Errorf("line %d column %d: %w", line, col, err)
		}
		return nil, err
	}
	return &r, nil
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, newline) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// ReadReceipt reads and parses the receipt.json at path; errors name the
// file.
func ReadReceipt(path string) (*Receipt, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read receipt: %w", err)
	}
	r, err := DecodeReceipt(data)
	if err != nil {
		return nil, fmt.Errorf("parse receipt %s: %w", path, err)
	}
	return r, nil
}

// ReadReceiptFile returns the bytes of the receipt.json at path, as List
// reads them: a regular file, not a symbolic link, of at most 16 MiB,
// read with plain system calls where the platform allows (a planner
// reads thousands).
func ReadReceiptFile(path string) ([]byte, error) { return readNoFollow(path, MaxReceiptSize) }

// Entry is one run folder found by List.
type Entry struct {
	// RunKey is the folder's name (Verify checks it against the receipt).
	RunKey string
	// Dir is the folder, repository-relative with forward slashes.
	Dir string
	// Receipt is the parsed receipt.json; nil when Err is set.
	Receipt *Receipt
	// Hash is ChainHash of receipt.json; set whenever the file was read,
	// even if it did not parse.
	Hash string
	// Err tells why the receipt could not be read: errors.Is(Err,
	// fs.ErrNotExist) for a folder without receipt.json (a run interrupted
	// before its receipt was written), else unreadable or corrupt JSON.
	Err error
}

// dayDir is one YYYY/MM/DD folder found by List.
type dayDir struct {
	abs, rel string
}

// List returns every run folder under the receipts folder
// (<Dir>/YYYY/MM/DD/<RUN_KEY>/), in run order (see SortEntries). Year,
// month and day folders are recognised by their all-digit names; other
// names are ignored, as are symlinks, which are never followed (a symlink
// or file where a run folder would be, named like a run key, is listed with
// an Err). Receipts are read and decoded by runtime.GOMAXPROCS workers. A
// missing receipts folder gives an empty list.
func (s *Store) List() ([]Entry, error) {
	dir := s.dir()
	root, err := SafeJoin(s.Root, dir)
	if err != nil {
		return nil, fmt.Errorf("list receipts: %w", err)
	}
	fi, err := os.Lstat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list receipts: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("list receipts: %s is not a directory", root)
	}

	var days []dayDir
	years, err := subdirs(root, 4)
	if err != nil {
		return nil, err
	}
	for _, y := range years {
		months, err := subdirs(filepath.Join(root, y), 2)
		if err != nil {
			return nil, err
		}
		for _, m := range months {
			ds, err := subdirs(filepath.Join(root, y, m), 2)
			if err != nil {
				return nil, err
			}
			for _, d := range ds {
				days = append(days, dayDir{
					abs: filepath.Join(root, y, m, d),
					rel: dir + "/" + y + "/" + m + "/" + d,
				})
			}
		}
	}

	// List the day folders in parallel.
	perDay := make([][]Entry, len(days))
	dayErrs := make([]error, len(days))
	par.Do(len(days), 0, func(i int) {
		perDay[i], dayErrs[i] = listDay(days[i])
	})
	if err := errors.Join(dayErrs...); err != nil {
		return nil, fmt.Errorf("list receipts: %w", err)
	}
	var entries []Entry
	for _, es := range perDay {
		entries = append(entries, es...)
	}

	// Read and decode the receipts in parallel.
	par.Do(len(entries), 0, func(i int) {
		e := &entries[i]
		if e.Err != nil {
			return
		}
		p := filepath.Join(s.Root, filepath.FromSlash(e.Dir), ReceiptFile)
		data, err := readNoFollow(p, MaxReceiptSize)
		if err != nil {
			e.Err = fmt.Errorf("read receipt: %w", err)
			return
		}
		e.Hash = ChainHash(data)
		r, err := DecodeReceipt(data)
		if err != nil {
			e.Err = fmt.Errorf("parse receipt %s: %w", p, err)
			return
		}
		e.Receipt = r
	})
	SortEntries(entries)
	return entries, nil
}

// listDay lists the run folders of one day folder.
func listDay(d dayDir) ([]Entry, error) {
	f, err := os.Open(d.abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	des, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", d.abs, err)
	}
	out := make([]Entry, 0, len(des))
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		e := Entry{RunKey: name, Dir: d.rel + "/" + name}
		switch {
		case de.IsDir():
		case !ValidRunKey(name):
			continue
		case de.Type()&fs.ModeSymlink != 0:
			e.Err = fmt.Errorf("%s: %w: symbolic link not followed", e.Dir, ErrUnsafePath)
		default:
			e.Err = fmt.Errorf("%s: not a directory", e.Dir)
		}
		out = append(out, e)
	}
	return out, nil
}

// LinkedFolders returns the repository-relative paths of the symbolic
// links under the receipts folder where a year, month or day folder would
// be (all-digit names): List never follows them, so the receipts behind
// one are neither listed nor verified, and Verify says so.
func (s *Store) LinkedFolders() ([]string, error) {
	dir := s.dir()
	root, err := SafeJoin(s.Root, dir)
	if err != nil {
		return nil, err
	}
	var out []string
	var walk func(abs, rel string, level int) error
	walk = func(abs, rel string, level int) error {
		des, err := os.ReadDir(abs)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		digits := 2
		if level == 0 {
			digits = 4
		}
		for _, de := range des {
			if !allDigits(de.Name(), digits) {
				continue
			}
			switch {
			case de.Type()&fs.ModeSymlink != 0:
				out = append(out, rel+"/"+de.Name())
			case de.IsDir() && level < 2:
				if err := walk(filepath.Join(abs, de.Name()), rel+"/"+de.Name(), level+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if fi, err := os.Lstat(root); err != nil || !fi.IsDir() {
		return nil, nil // List says what is wrong with the folder itself
	}
	return out, walk(root, dir, 0)
}

// subdirs returns the names of the real (non-symlink) subdirectories of
// dir whose names are digits-long ASCII digits.
func subdirs(dir string, digits int) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("list receipts: %w", err)
	}
	defer f.Close()
	des, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("list receipts: read %s: %w", dir, err)
	}
	var out []string
	for _, de := range des {
		if de.IsDir() && allDigits(de.Name(), digits) {
			out = append(out, de.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// allDigits reports whether s is exactly n ASCII digits.
func allDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// entryTime is the time an entry sorts by: its receipt's started_at, else
// (unparseable receipt or time) the run key's time, else the zero time.
func entryTime(e *Entry) time.Time {
	if e.Receipt != nil && e.Receipt.StartedAt != "" {
		if t, err := time.Parse(time.RFC3339Nano, e.Receipt.StartedAt); err == nil {
			return t
		}
	}
	if k, err := ParseRunKey(e.RunKey); err == nil {
		return k.Time
	}
	return time.Time{}
}

// SortEntries sorts entries in run order: by the receipt's started_at (as a
// time, so precision and zone do not matter; the run key's time when the
// receipt is unreadable), then by run key.
func SortEntries(entries []Entry) {
	type keyed struct {
		t time.Time
		i int
	}
	keys := make([]keyed, len(entries))
	for i := range entries {
		keys[i] = keyed{entryTime(&entries[i]), i}
	}
	slices.SortStableFunc(keys, func(a, b keyed) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return strings.Compare(entries[a.i].RunKey, entries[b.i].RunKey)
	})
	sorted := make([]Entry, len(entries))
	for j, k := range keys {
		sorted[j] = entries[k.i]
	}
	copy(entries, sorted)
}
