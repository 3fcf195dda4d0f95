package site

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/loops"
)

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func removeAll(p string) error { return os.RemoveAll(p) }

// prepareRepo reads the repository at root (its spine.yaml, else the
// defaults) into a build state, as a build does before writing pages.
func prepareRepo(t *testing.T, root string) *buildState {
	t.Helper()
	root, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(root)
	if err != nil {
		cfg = config.Default()
	}
	paths, err := loops.Discover(root, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBuilder()
	if err != nil {
		t.Fatal(err)
	}
	b.receipts = newReceiptCache()
	st, err := b.prepare(context.Background(), Options{Root: root, Config: cfg, Set: loops.Load(root, paths)}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}
