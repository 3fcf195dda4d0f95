package gitx

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"
)

// reflog returns git's reading of the log of ref, newest first: one
// "new-commit|name|email|message" per entry (none when it has no log).
func reflog(t *testing.T, dir, ref string) []string {
	t.Helper()
	ok, out := gitOK(t, dir, "log", "-g", "--format=%H|%gn|%ge|%gs", ref, "--")
	if !ok || strings.TrimSpace(out) == "" {
		return nil
	}
	return strings.Split(strings.TrimRight(out, "\n"), "\n")
}

// TestCommitFilesLogsLikeGit: in every shape HEAD takes, a commit adds one
// entry to the log of what it moved (the branch and HEAD; HEAD alone when
// detached), worded as `git commit` words it, which git reads back, and
// nothing to any other log.
func TestCommitFilesLogsLikeGit(t *testing.T) {
	needGit(t)
	for _, tt := range headShapes() {
		t.Run(tt.name, func(t *testing.T) {
			root, sym := tt.make(t)
			symOK := sym != ""
			logged := []string{"HEAD"}
			if symOK {
				logged = append(logged, sym)
			}
			others := []string{"refs/heads/main"}
			if !symOK || sym == "refs/heads/main" {
				others = nil
			}
			// The logs' lines as they are in the files, before and after.
			logFile := func(ref string) string {
				p := gitRun(t, root, "rev-parse", "--git-path", "logs/"+ref)
				if !filepath.IsAbs(p) {
					p = filepath.Join(root, p)
				}
				return p
			}
			lines := func(ref string) []string {
				b, err := os.ReadFile(logFile(ref))
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				return strings.SplitAfter(string(b), "\n")
			}
			before := map[string][]string{}
			for _, ref := range append(append([]string{}, logged...), others...) {
				before[ref] = lines(ref)
			}

			g, err := Open(root)
			if err != nil {
				t.Fatal(err)
			}
			write(t, root, "new.md", "new\n")
			msg := "\n spine(LOOP-1): stage 2\tCopy —  3 pass\n\nSpine-Run: r1\n"
			h, _, err := g.CommitFiles([]string{"new.md"}, msg, testSig())
			if err != nil {
				t.Fatal(err)
			}
			what := "commit"
			if tt.name == "unborn branch" {
				what = "commit (initial)"
			}
			want := h.String() + "|x|x@y|" + what + ": spine(LOOP-1): stage 2 Copy — 3 pass"
			for _, ref := range logged {
				after := lines(ref)
				if len(after) != len(before[ref])+1 || !cmp.Equal(after[:len(before[ref])-1], before[ref][:len(before[ref])-1]) {
					t.Errorf("log of %s: not one line added\nbefore %q\nafter %q", ref, before[ref], after)
				}
				if got := reflog(t, root, ref); len(got) == 0 || got[0] != want {
					t.Errorf("git reads the log of %s as %q, want %q first", ref, got, want)
				}
			}
			for _, ref := range others {
				if diff := cmp.Diff(before[ref], lines(ref)); diff != "" {
					t.Errorf("log of %s, which did not move, changed (-before +after):\n%s", ref, diff)
				}
			}
		})
	}
}

// TestRefLogModes: core.logAllRefUpdates decides which references get a
// new log, as in git; a log that exists gets the entry whatever it says.
func TestRefLogModes(t *testing.T) {
	needGit(t)
	const (
		branch   = "refs/heads/main"
		tracking = "refs/remotes/origin/main"
		kept     = "refs/spine/abandoned/1"
	)
	for _, tt := range []struct {
		name    string
		setting string // "" leaves it unset
		// existing: refs whose logs exist before (empty)
		existing []string
		want     []string // refs with an entry for spine's moves
	}{
		{name: "unset", want: []string{"HEAD", branch, tracking}},
		{name: "true", setting: "true", want: []string{"HEAD", branch, tracking}},
		{name: "always", setting: "always", want: []string{"HEAD", branch, tracking, kept}},
		{name: "false", setting: "false"},
		{name: "false, logs exist", setting: "false", existing: []string{branch, kept}, want: []string{branch, kept}},
		{name: "unset, a kept ref's log exists", existing: []string{kept}, want: []string{"HEAD", branch, tracking, kept}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			gitRun(t, dir, "init", "-q", "-b", "main")
			// git init sets it true in a repository with a working tree.
			gitRun(t, dir, "config", "--unset", "core.logAllRefUpdates")
			if tt.setting != "" {
				gitRun(t, dir, "config", "core.logAllRefUpdates", tt.setting)
			}
			for _, ref := range tt.existing {
				p := filepath.Join(dir, ".git", "logs", filepath.FromSlash(ref))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			g, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			write(t, dir, "a.md", "a\n")
			h, _, err := g.CommitFiles([]string{"a.md"}, "first", testSig())
			if err != nil {
				t.Fatal(err)
			}
			for _, ref := range []string{tracking, kept} {
				if err := g.SetRef(ref, h, "why "+ref); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for _, ref := range []string{"HEAD", branch, tracking, kept} {
				data, err := os.ReadFile(filepath.Join(dir, ".git", "logs", filepath.FromSlash(ref)))
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				if len(data) > 0 {
					got = append(got, ref)
					if n := strings.Count(string(data), "\n"); n != 1 {
						t.Errorf("log of %s has %d lines:\n%s", ref, n, data)
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("refs logged (-want +got):\n%s", diff)
			}
			// What git reads of them.
			for _, ref := range got {
				msg := "commit (initial): first"
				if ref == tracking || ref == kept {
					msg = "why " + ref
				}
				l := reflog(t, dir, ref)
				if len(l) != 1 || !strings.HasPrefix(l[0], h.String()+"|") || !strings.HasSuffix(l[0], "|"+msg) {
					t.Errorf("git reads the log of %s as %q, want %s ... %s", ref, l, h, msg)
				}
			}
		})
	}
}

// TestRefLogModeOfABareRepository: unset, core.logAllRefUpdates creates no
// log in a bare repository (git's default there).
func TestRefLogModeOfABareRepository(t *testing.T) {
	needGit(t)
	for _, tt := range []struct {
		bare, setting string
		want          refLogMode
	}{
		{"true", "", refLogNone},
		{"false", "", refLogNormal},
		{"true", "true", refLogNormal},
		{"true", "always", refLogAlways},
	} {
		dir := t.TempDir()
		gitRun(t, dir, "init", "-q", "-b", "main")
		g, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		gitRun(t, dir, "config", "core.bare", tt.bare)
		gitRun(t, dir, "config", "--unset", "core.logAllRefUpdates")
		if tt.setting != "" {
			gitRun(t, dir, "config", "core.logAllRefUpdates", tt.setting)
		}
		if got, err := g.refLogMode(); err != nil || got != tt.want {
			t.Errorf("core.bare %s, core.logAllRefUpdates %q: mode %v (%v), want %v", tt.bare, tt.setting, got, err, tt.want)
		}
	}
}

// TestRefLogThatCannotBeWrittenStopsTheMove: as in git, a branch whose log
// cannot be appended to does not move; the error names the log, and no
// lock is left.
func TestRefLogThatCannotBeWrittenStopsTheMove(t *testing.T) {
	needGit(t)
	dir := t.TempDir()
	cliBase(t, dir)
	before := gitRun(t, dir, "rev-parse", "HEAD")
	log := filepath.Join(dir, ".git", "logs", "refs", "heads", "main")
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(log, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "new.md", "new\n")
	_, _, err = g.CommitFiles([]string{"new.md"}, "m", testSig())
	if err == nil || !strings.Contains(err.Error(), log) {
		t.Fatalf("CommitFiles = %v, want an error naming %s", err, log)
	}
	if got := gitRun(t, dir, "rev-parse", "HEAD"); got != before {
		t.Errorf("HEAD moved to %s", got)
	}
	for _, p := range []string{filepath.Join(dir, ".git", "refs", "heads", "main.lock"), filepath.Join(dir, ".git", "index.lock")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", p, err)
		}
	}
	if got := gitRun(t, dir, "status", "--porcelain"); got != "?? new.md" {
		t.Errorf("git status after the refused commit:\n%s", got)
	}
}

// TestSwitchToAndPushLog: moving the branch to another commit and a push's
// update of the remote-tracking branch are logged too, as spine's.
func TestSwitchToAndPushLog(t *testing.T) {
	_, a, _ := remoteSetup(t)
	ga, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GIT_COMMITTER_NAME", "Committer")
	t.Setenv("GIT_COMMITTER_EMAIL", "c@example.com")
	first, _ := ga.Head()
	write(t, a, "x.md", "x\n")
	h, _, err := ga.CommitFiles([]string{"x.md"}, "x", testSig())
	if err != nil {
		t.Fatal(err)
	}
	if moved, err := ga.Push(context.Background(), "origin", "main"); err != nil || !moved {
		t.Fatalf("push: %v %v", moved, err)
	}
	if l := reflog(t, a, "refs/remotes/origin/main"); len(l) == 0 || l[0] != h.String()+"|Committer|c@example.com|update by push" {
		t.Errorf("log of origin/main: %q", l)
	}
	if _, err := ga.SwitchTo(first, false); err != nil {
		t.Fatal(err)
	}
	want := first.String() + "|Committer|c@example.com|spine: moving to " + first.String()
	for _, ref := range []string{"HEAD", "refs/heads/main"} {
		if l := reflog(t, a, ref); len(l) < 2 || l[0] != want || !strings.HasPrefix(l[1], h.String()+"|x|x@y|commit: x") {
			t.Errorf("log of %s: %q", ref, l)
		}
	}
}

// TestFormatRefLog: the line git writes, message made one line.
func TestFormatRefLog(t *testing.T) {
	when := time.Date(2026, 11, 27, 10, 0, 0, 0, time.FixedZone("", -(5*3600+30*60)))
	ts := fmt.Sprint(when.Unix()) // 10:00 at -05:30
	old, new := plumbing.NewHash("1111111111111111111111111111111111111111"), plumbing.NewHash("2222222222222222222222222222222222222222")
	for _, tt := range []struct {
		l    refLog
		want string
	}{
		{refLog{who: object.Signature{Name: "Dana Lead", Email: "dana@example.com", When: when}, msg: "commit: x"},
			"1111111111111111111111111111111111111111 2222222222222222222222222222222222222222 Dana Lead <dana@example.com> " + ts + " -0530\tcommit: x\n"},
		{refLog{who: object.Signature{Name: " <Odd>\nName ", Email: "<e@x>", When: when.UTC()}, msg: "  a\n\tb  \r\n"},
			"1111111111111111111111111111111111111111 2222222222222222222222222222222222222222 OddName <e@x> " + ts + " +0000\ta b\n"},
		{refLog{who: object.Signature{Name: "n", Email: "e", When: when.UTC()}},
			"1111111111111111111111111111111111111111 2222222222222222222222222222222222222222 n <e> " + ts + " +0000\n"},
	} {
		if got := formatRefLog(old, new, tt.l); got != tt.want {
			t.Errorf("formatRefLog(%+v)\n got %q\nwant %q", tt.l, got, tt.want)
		}
	}
	for _, tt := range []struct {
		msg     string
		initial bool
		want    string
	}{
		{"subject\n\nbody\n", false, "commit: subject"},
		{"\n\n  subject line\nmore", true, "commit (initial): subject line"},
		{"", false, "commit: "},
	} {
		if got := commitLog(object.Signature{}, tt.msg, tt.initial).msg; got != tt.want {
			t.Errorf("commitLog(%q, %v) = %q, want %q", tt.msg, tt.initial, got, tt.want)
		}
	}
}
