package gitx

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSharedRepository(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    SharedRepository
		wantErr bool
	}{
		{"umask", SharedUmask, false},
		{"false", SharedUmask, false},
		{"no", SharedUmask, false},
		{"0", SharedUmask, false},
		{"group", SharedGroup, false},
		{"true", SharedGroup, false},
		{"1", SharedGroup, false},
		{"", SharedGroup, false},
		{"all", SharedEverybody, false},
		{"world", SharedEverybody, false},
		{"everybody", SharedEverybody, false},
		{"2", SharedEverybody, false},
		{"0640", -0o640, false},
		{"660", -0o660, false},
		{"0777", -0o666, false}, // nobody gets x from the setting
		{"0440", 0, true},       // the owner must read and write
		{"3", 0, true},
		{"Group", 0, true},
		{"sometimes", 0, true},
	} {
		got, err := ParseSharedRepository(tc.in)
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("ParseSharedRepository(%q) = %v, %v; want %v (error: %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestSharedRepositoryUmaskMatchesGit has git make a loose object (with its
// fan-out folder) and a ref (with a new folder) in a repository with each
// core.sharedRepository setting, under several umasks, and checks that the
// umask SharedRepository.Umask gives makes files and folders of the same
// modes.
func TestSharedRepositoryUmaskMatchesGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	for _, v := range []string{"umask", "group", "all", "0640", "0660", "0600", "0664"} {
		for _, u := range []fs.FileMode{0o022, 0o077, 0o002, 0o027} {
			t.Run(fmt.Sprintf("%s/umask-%03o", v, uint32(u)), func(t *testing.T) {
				s, err := ParseSharedRepository(v)
				if err != nil {
					t.Fatal(err)
				}
				repo := filepath.Join(t.TempDir(), "r")
				if out, err := exec.Command("git", "init", "-q", repo).CombinedOutput(); err != nil {
					t.Fatalf("git init: %v %s", err, out)
				}
				if out, err := exec.Command("git", "-C", repo, "config", "core.sharedRepository", v).CombinedOutput(); err != nil {
					t.Fatalf("git config: %v %s", err, out)
				}
				script := fmt.Sprintf(`umask %03o && h=$(printf 'spine shared %s %03o' | git -C "$0" hash-object -w --stdin) && git -C "$0" update-ref refs/spinetest/sub/x "$h" && echo "$h"`, uint32(u), v, uint32(u))
				out, err := exec.Command("sh", "-c", script, repo).CombinedOutput()
				if err != nil {
					t.Fatalf("git: %v %s", err, out)
				}
				h := strings.TrimSpace(string(out))
				mask := s.Umask(u)
				for _, c := range []struct {
					path string
					base fs.FileMode
				}{
					{filepath.Join(repo, ".git", "objects", h[:2]), 0o777},
					{filepath.Join(repo, ".git", "objects", h[:2], h[2:]), 0o444},
					{filepath.Join(repo, ".git", "refs", "spinetest", "sub"), 0o777},
					{filepath.Join(repo, ".git", "refs", "spinetest", "sub", "x"), 0o666},
				} {
					fi, err := os.Stat(c.path)
					if err != nil {
						t.Fatal(err)
					}
					if got, want := fi.Mode().Perm(), c.base&^mask; got != want {
						rel, _ := filepath.Rel(repo, c.path)
						t.Errorf("%s: git made it %v; under umask %03o spine would make it %v", rel, got, uint32(mask), want)
					}
				}
			})
		}
	}
}

func TestReadSharedRepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	tmp := t.TempDir()
	plain := filepath.Join(tmp, "plain")
	run("init", "-q", "-b", "main", plain)
	shared := filepath.Join(tmp, "shared")
	run("init", "-q", "-b", "main", "--shared=group", shared)
	bare := filepath.Join(tmp, "bare.git")
	run("init", "-q", "--bare", "-b", "main", "--shared=0640", bare)
	// A linked worktree reads its main repository's configuration.
	run("-C", shared, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x")
	linked := filepath.Join(tmp, "linked")
	run("-C", shared, "worktree", "add", "-q", linked)
	bad := filepath.Join(tmp, "bad")
	run("init", "-q", "-b", "main", bad)
	run("-C", bad, "config", "core.sharedRepository", "sometimes")
	for _, tc := range []struct {
		dir     string
		want    SharedRepository
		wantErr string
	}{
		{plain, SharedUmask, ""},
		{shared, SharedGroup, ""},
		{bare, -0o640, ""},
		{linked, SharedGroup, ""},
		{bad, 0, filepath.Join(bad, ".git", "config") + `: core.sharedRepository "sometimes"`},
	} {
		got, err := ReadSharedRepository(tc.dir)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one naming %q", tc.dir, err, tc.wantErr)
			}
		case err != nil || got != tc.want:
			t.Errorf("%s: %v, %v; want %v", tc.dir, got, err, tc.want)
		}
	}

	// SetSharedRepository writes what git reads back.
	if err := SetSharedRepository(plain, SharedEverybody); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", plain, "config", "core.sharedRepository").Output(); err != nil || strings.TrimSpace(string(out)) != "all" {
		t.Errorf("git reads core.sharedRepository %q (%v), want all", out, err)
	}
	if got, err := ReadSharedRepository(plain); err != nil || got != SharedEverybody {
		t.Errorf("read back %v, %v", got, err)
	}
}
