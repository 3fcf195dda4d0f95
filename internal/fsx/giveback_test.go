//go:build unix

package fsx

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGiveBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to make root's files and give them away")
	}
	dir, outside := t.TempDir(), t.TempDir()
	target := filepath.Join(outside, "target")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	type owner struct{ Uid, Gid uint32 }
	// path (relative to dir) -> owner before; the walk must end with want.
	before := map[string]owner{
		"root-file":           {0, 0},
		"root-dir":            {0, 0},
		"root-dir/inner":      {0, 0},
		"shared-group":        {0, 5},    // a set-group-ID folder's group stays
		"users":               {4242, 0}, // not root's: left alone
		"somebody-else":       {77, 77},
		"root-dir/link":       {0, 0}, // changed itself, not its target
		"root-dir/deep/a/b/c": {0, 0},
	}
	want := map[string]owner{
		"":                    {4242, 4243},
		"root-file":           {4242, 4243},
		"root-dir":            {4242, 4243},
		"root-dir/inner":      {4242, 4243},
		"shared-group":        {4242, 5},
		"users":               {4242, 0},
		"somebody-else":       {77, 77},
		"root-dir/link":       {4242, 4243},
		"root-dir/deep":       {4242, 4243},
		"root-dir/deep/a":     {4242, 4243},
		"root-dir/deep/a/b":   {4242, 4243},
		"root-dir/deep/a/b/c": {4242, 4243},
	}
	for p := range before {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch filepath.Base(p) {
		case "root-dir", "deep":
			err = os.MkdirAll(full, 0o755)
		case "link":
			err = os.Symlink(target, full)
		default:
			err = os.WriteFile(full, nil, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for p, o := range before {
		if err := os.Lchown(filepath.Join(dir, p), int(o.Uid), int(o.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := GiveBack(dir, 4242, 4243)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]owner{}
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			rel = ""
		}
		st := fi.Sys().(*syscall.Stat_t)
		got[rel] = owner{st.Uid, st.Gid}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("owners after GiveBack (-want +got):\n%s", d)
	}
	if n != 10 {
		t.Errorf("GiveBack changed %d entries, want 10", n)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(target, &st); err != nil || st.Uid != 0 {
		t.Errorf("the link's target was changed too (uid %d, %v)", st.Uid, err)
	}
}
