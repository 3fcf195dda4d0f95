package gitx

import (
	"errors"
	"sync"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"
)

// objectStore is the repository's storage: go-git's, made to notice the
// packs another git process changed. go-git lists the packs once, on its
// first read from one, and trusts that list from then on: once git gc or
// git maintenance has repacked (a new pack, the old ones deleted, loose
// objects packed and deleted), every read fails with "packfile not found"
// or does not find an object that is there, for as long as the Repo lives
// (a run whose stage takes an hour, a watch cycle, a site server). git
// itself looks again in that case (reprepare_packed_git); so does this: a
// read that fails because a pack is gone, or does not find the object
// while the pack folder changed since the packs were listed, lists them
// again and tries once more.
type objectStore struct {
	*filesystem.Storage
	// packDir is objects/pack.
	packDir string
	// commonDir is the common git folder, where refs/ and packed-refs
	// are ("" when unknown: references are listed by go-git alone).
	commonDir string

	mu sync.Mutex
	// listed is the pack folder's fileID when go-git's list of packs was
	// last dropped (zero: unknown).
	listed fileID
	// relisted counts the times the packs were listed again (read by the
	// tests).
	relisted int
}

// newObjectStore wraps fs, whose pack folder is packDir.
func newObjectStore(fs *filesystem.Storage, packDir string) *objectStore {
	s := &objectStore{Storage: fs, packDir: packDir}
	s.listed, _ = s.packDirID()
	return s
}

// packDirID returns the pack folder's fileID (false when it cannot be
// read: no folder yet).
func (s *objectStore) packDirID() (fileID, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(s.packDir, &st); err != nil {
		return fileID{}, false
	}
	return statID(&st), true
}

// relist reports whether a read that failed with err should be tried
// again, after dropping go-git's list of packs: when a pack it listed is
// gone, or the object was not found and the pack folder changed since.
func (s *objectStore) relist(err error) bool {
	switch {
	case errors.Is(err, dotgit.ErrPackfileNotFound):
	case errors.Is(err, plumbing.ErrObjectNotFound):
		id, _ := s.packDirID()
		s.mu.Lock()
		same := id == s.listed
		s.mu.Unlock()
		if same {
			return false
		}
	default:
		return false
	}
	id, _ := s.packDirID()
	s.mu.Lock()
	s.listed = id
	s.relisted++
	s.mu.Unlock()
	s.Storage.Reindex()
	return true
}

// EncodedObject is go-git's, tried again after a repack (see objectStore).
func (s *objectStore) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o, err := s.Storage.EncodedObject(t, h)
	if err != nil && s.relist(err) {
		o, err = s.Storage.EncodedObject(t, h)
	}
	return o, err
}

// EncodedObjectSize is go-git's, tried again after a repack.
func (s *objectStore) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	n, err := s.Storage.EncodedObjectSize(h)
	if err != nil && s.relist(err) {
		n, err = s.Storage.EncodedObjectSize(h)
	}
	return n, err
}

// HasEncodedObject is go-git's, tried again after a repack.
func (s *objectStore) HasEncodedObject(h plumbing.Hash) error {
	err := s.Storage.HasEncodedObject(h)
	if err != nil && s.relist(err) {
		err = s.Storage.HasEncodedObject(h)
	}
	return err
}

// DeltaObject is go-git's, tried again after a repack.
func (s *objectStore) DeltaObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o, err := s.Storage.DeltaObject(t, h)
	if err != nil && s.relist(err) {
		o, err = s.Storage.DeltaObject(t, h)
	}
	return o, err
}
