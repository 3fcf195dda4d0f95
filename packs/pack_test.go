package packs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		in       string
		want     *Pack
		problems []Problem
	}{
		{
			name: "media fixture",
			path: "verify/media.yaml",
			in:   string(readFixture(t, "verify/media.yaml")),
			want: &Pack{
				Name: "media", Path: "verify/media.yaml",
				Description: "Checks that the media stack matches its bindings.\n",
				Checks: []Check{
					{ID: "D187", Title: "jellyfin answers", Run: "echo jellyfin ok", Blocking: true, Line: 6},
					{ID: "D188", Title: "stale feed freshness", Run: "echo \"feed is 3 days old\" >&2\nexit 1\n", Timeout: 30 * time.Second, Line: 9},
					{ID: "D189", Title: "disks mounted", Run: "test -d /", Blocking: true, Timeout: 90 * time.Second, Line: 16},
				},
			},
		},
		{
			name: "strict fixture",
			path: "verify/strict.yaml",
			in:   string(readFixture(t, "strict.yaml")),
			want: &Pack{
				Name: "other-name", Path: "verify/strict.yaml",
				Checks: []Check{
					{ID: "S1", Title: "fine", Run: "true", Line: 4},
					{ID: "S1", Title: "duplicate id", Run: "true", Blocking: true, Line: 8},
					{ID: "S3", Title: "no run", Blocking: true, Line: 11},
					{ID: "check-4", Title: "no id", Run: "true", Blocking: true, Line: 13},
					{ID: "S5", Run: "true", Blocking: true, Line: 16},
				},
			},
			problems: []Problem{
				{Path: "verify/strict.yaml", Line: 2, Level: LevelError, Message: `pack: unknown field "descripton" (want pack, description, checks)`},
				{Path: "verify/strict.yaml", Line: 1, Level: LevelWarning, Message: `pack "other-name" is in strict.yaml; the file name says "strict"`},
				{Path: "verify/strict.yaml", Line: 8, Level: LevelError, Message: "duplicate check id S1 (first at verify/strict.yaml:4)"},
				{Path: "verify/strict.yaml", Line: 11, Level: LevelError, Message: "S3: no run command"},
				{Path: "verify/strict.yaml", Line: 15, Level: LevelError, Message: `checks[3]: timeout "10": want a positive Go duration such as 30s or 5m`},
				{Path: "verify/strict.yaml", Line: 13, Level: LevelError, Message: "checks[3]: no id; called check-4"},
				{Path: "verify/strict.yaml", Line: 18, Level: LevelError, Message: `checks[4]: timeout "soon": want a positive Go duration such as 30s or 5m`},
				{Path: "verify/strict.yaml", Line: 19, Level: LevelError, Message: "checks[4]: blocking: want true or false"},
				{Path: "verify/strict.yaml", Line: 20, Level: LevelError, Message: `checks[4]: unknown field "retries" (want id, title, run, blocking, timeout)`},
				{Path: "verify/strict.yaml", Line: 21, Level: LevelError, Message: "checks[5]: want a mapping with id, title, run"},
			},
		},
		{
			name:     "empty file",
			path:     "verify/empty.yaml",
			want:     &Pack{Name: "empty", Path: "verify/empty.yaml"},
			problems: []Problem{{Path: "verify/empty.yaml", Line: 1, Level: LevelError, Message: "the pack is empty; want pack, description and checks"}},
		},
		{
			name: "no name, no checks",
			path: "verify/x.yml",
			in:   "description: d\nchecks:\n",
			want: &Pack{Name: "x", Description: "d", Path: "verify/x.yml"},
			problems: []Problem{
				{Path: "verify/x.yml", Line: 1, Level: LevelWarning, Message: `no pack: name; using the file name "x"`},
				{Path: "verify/x.yml", Line: 1, Level: LevelWarning, Message: "pack x has no checks"},
			},
		},
		{
			name: "duplicate top-level key, aliases",
			path: "p.yaml",
			in:   "pack: p\npack: q\nchecks:\n  - &c {id: A, run: &r \"true\"}\n  - {id: B, run: *r}\n",
			want: &Pack{Name: "p", Path: "p.yaml", Checks: []Check{
				{ID: "A", Run: "true", Blocking: true, Line: 4},
				{ID: "B", Run: "true", Blocking: true, Line: 5},
			}},
			problems: []Problem{{Path: "p.yaml", Line: 2, Level: LevelError, Message: "pack: pack is set twice (also line 1)"}},
		},
		{
			name: "run too long for a command line",
			path: "p.yaml",
			in:   "pack: p\nchecks:\n  - id: A\n    run: " + strings.Repeat("x", MaxRun) + "\n  - id: B\n    title: long\n    run: " + strings.Repeat("y", MaxRun+1) + "\n",
			want: &Pack{Name: "p", Path: "p.yaml", Checks: []Check{
				{ID: "A", Run: strings.Repeat("x", MaxRun), Blocking: true, Line: 3},
				{ID: "B", Title: "long", Run: strings.Repeat("y", MaxRun+1), Blocking: true, Line: 5},
			}},
			problems: []Problem{{Path: "p.yaml", Line: 7, Level: LevelError, Message: "B: run is 131072 bytes, more than the 131071 one command-line argument carries; keep the script in a file and run that"}},
		},
		{
			name:     "root is a list",
			path:     "p.yaml",
			in:       "- id: A\n",
			want:     &Pack{Name: "p", Path: "p.yaml"},
			problems: []Problem{{Path: "p.yaml", Line: 1, Level: LevelError, Message: "a pack is a mapping with pack, description and checks"}},
		},
		{
			name:     "checks is a mapping",
			path:     "p.yaml",
			in:       "pack: p\nchecks: {a: 1}\n",
			want:     &Pack{Name: "p", Path: "p.yaml"},
			problems: []Problem{{Path: "p.yaml", Line: 2, Level: LevelError, Message: "checks: want a list of checks"}, {Path: "p.yaml", Line: 1, Level: LevelWarning, Message: "pack p has no checks"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems, err := Parse(tt.path, []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("pack (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.problems, problems, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSyntaxError(t *testing.T) {
	_, _, err := Parse("verify/broken.yaml", readFixture(t, "verify/broken.yaml"))
	if err == nil || err.Error() != "verify/broken.yaml:4: invalid YAML: did not find expected ',' or ']'" {
		t.Errorf("Parse error = %v", err)
	}
}

// TestParseAliasesThatExpand: a pack whose checks all name one long
// anchored command made a page of 241 MB; it is refused, naming the file.
func TestParseAliasesThatExpand(t *testing.T) {
	src := "pack: infra\ndescription: x\nchecks:\n  - {id: C0, run: &r '" + strings.Repeat("echo x; ", 15_000) + "'}\n"
	for i := 1; i < 2000; i++ {
		src += fmt.Sprintf("  - {id: C%d, run: *r}\n", i)
	}
	_, _, err := Parse("verify/infra.yaml", []byte(src))
	if err == nil || !strings.HasPrefix(err.Error(), "verify/infra.yaml: its aliases expand it to more than") {
		t.Errorf("Parse error = %v", err)
	}
}

func TestLoadDir(t *testing.T) {
	dir := filepath.Join("testdata", "verify")
	packs, problems := LoadDir(dir)
	var names []string
	for _, p := range packs {
		names = append(names, p.Name)
	}
	if diff := cmp.Diff([]string{"core", "media"}, names); diff != "" {
		t.Errorf("packs (-want +got):\n%s", diff)
	}
	want := []Problem{{Path: filepath.Join(dir, "broken.yaml"), Line: 4, Level: LevelError, Message: "invalid YAML: did not find expected ',' or ']'"}}
	if diff := cmp.Diff(want, problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if p, ok := Lookup(packs, "media"); !ok || len(p.Checks) != 3 {
		t.Errorf("Lookup(media) = %v, %v", p, ok)
	}
	if c, ok := packs[1].Check("D188"); !ok || c.Blocking {
		t.Errorf("Check(D188) = %+v, %v", c, ok)
	}
	if _, ok := Lookup(packs, "nope"); ok {
		t.Error("Lookup(nope) found a pack")
	}
	if packs, problems := LoadDir(filepath.Join(t.TempDir(), "missing")); packs != nil || problems != nil {
		t.Errorf("LoadDir(missing) = %v, %v", packs, problems)
	}
}

func TestLoadDirDuplicateNames(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"a.yaml": "pack: same\nchecks:\n  - {id: X, run: \"true\"}\n",
		"b.yaml": "pack: same\nchecks:\n  - {id: Y, run: \"true\"}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	packs, problems := LoadDir(dir)
	if len(packs) != 2 || !HasErrors(problems) {
		t.Fatalf("LoadDir = %d packs, %v", len(packs), problems)
	}
	want := "pack same is also defined in " + filepath.Join(dir, "a.yaml")
	if problems[len(problems)-1].Message != want {
		t.Errorf("last problem = %v, want %q", problems[len(problems)-1], want)
	}
}

// TestLoadDirRefusesSymlinks: a pack file that is a symbolic link (its
// target may be outside the repository), or a verify folder that is one,
// is an error finding, and nothing behind it is read.
func TestLoadDirRefusesSymlinks(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "outside.yaml")
	if err := os.WriteFile(outside, []byte("pack: ext\nchecks:\n  - {id: E1, title: SECRET, run: \"true\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "own.yaml"), []byte("pack: own\nchecks:\n  - {id: O1, run: \"true\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "ext.yaml")); err != nil {
		t.Fatal(err)
	}
	packs, problems := LoadDir(dir)
	if len(packs) != 1 || packs[0].Name != "own" {
		t.Errorf("packs %v, want own alone", packs)
	}
	if len(problems) != 1 || problems[0].Path != filepath.Join(dir, "ext.yaml") || problems[0].Level != LevelError || !strings.Contains(problems[0].Message, "symbolic link") {
		t.Errorf("problems %+v, want ext.yaml refused as a symbolic link", problems)
	}
	link := filepath.Join(t.TempDir(), "verify")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if packs, problems := LoadDir(link); packs != nil || len(problems) != 1 || !strings.Contains(problems[0].Message, "symbolic link") {
		t.Errorf("LoadDir(a linked folder) = %v, %+v", packs, problems)
	}
}
