package loops

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadDocument(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	doc := write("doc.md", "# LOOP-X\n\nbody\n")
	empty := write("empty.md", "")
	big := write("big.md", "0123456789")
	link := filepath.Join(dir, "link.md")
	if err := os.Symlink("doc.md", link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		limit      int64
		want       string
		wantNil    bool
		wantSize   int64
		wantErr    bool
	}{
		{name: "file", path: doc, limit: 100, want: "# LOOP-X\n\nbody\n", wantSize: 15},
		{name: "empty", path: empty, limit: 100, want: "", wantSize: 0},
		{name: "at the limit", path: big, limit: 10, want: "0123456789", wantSize: 10},
		{name: "over the limit", path: big, limit: 9, wantNil: true, wantSize: 10},
		{name: "symlink followed", path: link, limit: 100, want: "# LOOP-X\n\nbody\n", wantSize: 15},
		{name: "missing", path: filepath.Join(dir, "none.md"), limit: 100, wantNil: true, wantErr: true},
		{name: "directory", path: dir, limit: 1 << 20, wantNil: true, wantErr: true},
	}
	for _, tc := range tests {
		allocs := 0
		src, size, err := readDocument(tc.path, tc.limit, func(n int) []byte {
			allocs++
			return make([]byte, n)
		})
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, want error %v", tc.name, err, tc.wantErr)
			continue
		}
		if tc.wantErr {
			continue
		}
		if (src == nil) != tc.wantNil || size != tc.wantSize {
			t.Errorf("%s: src nil %v, size %d; want nil %v, size %d", tc.name, src == nil, size, tc.wantNil, tc.wantSize)
		}
		if tc.wantNil && allocs != 0 {
			t.Errorf("%s: a file over the limit was given a buffer", tc.name)
		}
		if !tc.wantNil {
			if diff := cmp.Diff(tc.want, string(src)); diff != "" {
				t.Errorf("%s: content (-want +got):\n%s", tc.name, diff)
			}
		}
	}
}
