package artifacts

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/internal/modetest"
)

// mkTree creates files (content "x") and directories (names ending in
// "/") and symlinks ("name -> target") under root.
func mkTree(t *testing.T, root string, spec ...string) {
	t.Helper()
	for _, s := range spec {
		if name, target, ok := strings.Cut(s, " -> "); ok {
			p := filepath.Join(root, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, p); err != nil {
				t.Skipf("symlinks not supported: %v", err)
			}
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(s))
		if strings.HasSuffix(s, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSafeJoin(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	mkTree(t, root,
		"receipts/2026/",
		"artifacts/loop-a/10-list.txt",
		"file.txt",
		"escape -> "+outside,
		"artifacts/loop-b -> ../receipts",
		"artifacts/loop-a/link.txt -> 10-list.txt",
	)
	tests := []struct {
		rel     string
		want    string // slash form relative to root; "" means error
		wantErr error
	}{
		{rel: "receipts/2026/03/01/KEY/receipt.json", want: "receipts/2026/03/01/KEY/receipt.json"},
		{rel: "artifacts/loop-a/10-list.txt", want: "artifacts/loop-a/10-list.txt"},
		{rel: "./artifacts//loop-a/./new.txt", want: "artifacts/loop-a/new.txt"},
		{rel: "new/dir/file", want: "new/dir/file"},
		{rel: "", wantErr: ErrUnsafePath},
		{rel: ".", wantErr: ErrUnsafePath},
		{rel: "/etc/passwd", wantErr: ErrUnsafePath},
		{rel: "../outside", wantErr: ErrUnsafePath},
		{rel: "receipts/../../x", wantErr: ErrUnsafePath},
		{rel: "receipts/2026/..", wantErr: ErrUnsafePath},
		{rel: "a\x00b", wantErr: ErrUnsafePath},
		{rel: `receipts\..\..\x`, wantErr: ErrUnsafePath},
		{rel: "escape/file", wantErr: ErrUnsafePath},
		{rel: "escape", wantErr: ErrUnsafePath},
		{rel: "artifacts/loop-b/2026", wantErr: ErrUnsafePath},
		{rel: "artifacts/loop-a/link.txt", wantErr: ErrUnsafePath},
		{rel: "file.txt/below", wantErr: ErrUnsafePath},
	}
	for _, tt := range tests {
		t.Run(tt.rel, func(t *testing.T) {
			got, err := SafeJoin(root, tt.rel)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("SafeJoin(%q) = %q, %v; want error %v", tt.rel, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("SafeJoin(%q): %v", tt.rel, err)
			}
			if want := filepath.Join(root, filepath.FromSlash(tt.want)); got != want {
				t.Errorf("SafeJoin(%q) = %q, want %q", tt.rel, got, want)
			}
		})
	}
}

func TestArtifactPath(t *testing.T) {
	root := t.TempDir()
	mkTree(t, root, "artifacts/loop-a/", "artifacts/evil -> /etc")
	tests := []struct {
		dir, slug, name string
		wantRel         string
	}{
		{"artifacts", "loop-a", "10-post-zpool-list.txt", "artifacts/loop-a/10-post-zpool-list.txt"},
		{"out/artifacts/", "LOOP-1", "a b.txt", "out/artifacts/LOOP-1/a b.txt"},
		{"artifacts", "loop-a", "", ""},
		{"artifacts", "loop-a", "a/b.txt", ""},
		{"artifacts", "loop-a", `a\b.txt`, ""},
		{"artifacts", "loop-a", "..", ""},
		{"artifacts", "loop-a", "x..y", ""},
		{"artifacts", "loop-a", ".hidden", ""},
		{"artifacts", "loop-a", "a\x00", ""},
		{"artifacts", "loop-a", "a\nb", ""},
		{"artifacts", "loop-a", "a\rb", ""},
		{"artifacts", "", "a.txt", ""},
		{"artifacts", "..", "a.txt", ""},
		{"artifacts", "a/b", "a.txt", ""},
		{"../artifacts", "loop-a", "a.txt", ""},
		{"/abs", "loop-a", "a.txt", ""},
		{"artifacts", "evil", "passwd", ""},
	}
	for _, tt := range tests {
		got, err := ArtifactPath(root, tt.dir, tt.slug, tt.name)
		if tt.wantRel == "" {
			if err == nil || !errors.Is(err, ErrUnsafePath) {
				t.Errorf("ArtifactPath(%q, %q, %q) = %q, %v; want ErrUnsafePath", tt.dir, tt.slug, tt.name, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ArtifactPath(%q, %q, %q): %v", tt.dir, tt.slug, tt.name, err)
			continue
		}
		if want := filepath.Join(root, filepath.FromSlash(tt.wantRel)); got != want {
			t.Errorf("ArtifactPath = %q, want %q", got, want)
		}
		rel, err := ArtifactRelPath(tt.dir, tt.slug, tt.name)
		if err != nil || rel != tt.wantRel {
			t.Errorf("ArtifactRelPath = %q, %v; want %q", rel, err, tt.wantRel)
		}
	}
}

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "journal.json")
	if err := WriteFileAtomic(p, []byte("one"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "two" {
		t.Fatalf("content = %q, %v; want two", got, err)
	}
	if runtime.GOOS != "windows" {
		// The mode the file was made with stays (see TestAtomicFileModes).
		fi, _ := os.Stat(p)
		if want := 0o640 &^ modetest.Umask(t); fi.Mode().Perm() != want {
			t.Errorf("perm = %v, want %v", fi.Mode().Perm(), want)
		}
	}
	if diff := cmp.Diff([]string{"journal.json"}, dirNames(t, dir)); diff != "" {
		t.Errorf("temporary files left (-want +got):\n%s", diff)
	}

	// A symlink at the path is replaced, never written through.
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Skip(err)
	}
	if err := WriteFileAtomic(link, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("write followed the symlink: target = %q", b)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&fs.ModeSymlink != 0 {
		t.Error("symlink not replaced")
	}

	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x"), nil, 0o644); err == nil {
		t.Error("write into a missing directory: want error")
	}
}

func TestAtomicFileCommitNoReplace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "receipt.json")
	a, err := CreateAtomic(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := a.CommitNoReplace(); err != nil {
		t.Fatal(err)
	}
	if err := a.Abort(); err != nil {
		t.Errorf("Abort after commit: %v", err)
	}
	if _, err := a.Write([]byte("x")); err == nil {
		t.Error("Write after commit: want error")
	}

	b, err := CreateAtomic(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	b.Write([]byte("second"))
	if err := b.CommitNoReplace(); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second CommitNoReplace = %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "first" {
		t.Errorf("content = %q, want first", got)
	}
	c, err := CreateAtomic(filepath.Join(dir, "aborted"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("zzz"))
	if err := c.Abort(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"receipt.json"}, dirNames(t, dir)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}
}
