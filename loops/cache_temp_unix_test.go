//go:build unix

package loops

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A process killed while it saved the cache leaves its temporary file; the
// next save removes it, and leaves those of live processes alone.
func TestCacheSaveRemovesStaleTemps(t *testing.T) {
	docs := cacheTestDocs(t)[:3]
	root, paths := writeDocs(t, docs)
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cachePath := filepath.Join(dir, "docs.cache")

	// A process that has exited (and been reaped): its pid is free.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{ // name: kept after the save
		"docs.cache.tmp-" + strconv.Itoa(dead.Process.Pid): false,
		"docs.cache.tmp-" + strconv.Itoa(os.Getppid()):     true, // alive
		"docs.cache.tmp-notapid":                           true,
		"other.tmp-" + strconv.Itoa(dead.Process.Pid):      true, // not the cache's
	}
	for name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := OpenCache(cachePath, "v1")
	LoadWith(root, paths, LoadOptions{Cache: c})
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for name := range names {
		_, err := os.Stat(filepath.Join(dir, name))
		got[name] = err == nil
	}
	if diff := cmp.Diff(names, got); diff != "" {
		t.Errorf("files kept after the save (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(cachePath); err != nil {
		t.Errorf("the cache was not written: %v", err)
	}
}
