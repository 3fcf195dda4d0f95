// Package e2e drives the spine binary the way operators and hosts do: real
// bare repositories in temp folders, the git CLI as the client, spine
// pushing with go-git, the post-receive hook, watch, and several hosts.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/spinehq/spine/internal/testbin"
)

// spineBinPath is the spine binary, built once by TestMain.
var spineBinPath string

// spineBin returns the spine binary, and makes the test's cached result
// depend on spine's sources (testbin.Track).
func spineBin() string {
	testbin.Track()
	return spineBinPath
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spine-e2e-")
	if err != nil {
		panic(err)
	}
	spineBinPath, err = testbin.Build(dir, "../cmd/spine")
	if err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// gitEnv is a deterministic environment for git and spine: a fixed
// identity and no user or system configuration.
func gitEnv(name, email string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GIT_") || strings.HasPrefix(k, "SPINE_") || strings.HasPrefix(k, "ALLOW_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"GIT_AUTHOR_NAME="+name, "GIT_AUTHOR_EMAIL="+email,
		"GIT_COMMITTER_NAME="+name, "GIT_COMMITTER_EMAIL="+email,
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
}

// gitAs runs the git CLI in dir as name <email>.
func gitAs(t *testing.T, dir, name, email string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv(name, email)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return gitAs(t, dir, "Operator", "op@example.com", args...)
}

// bareGit runs git against a bare repository.
func bareGit(t *testing.T, bare string, args ...string) string {
	t.Helper()
	return git(t, filepath.Dir(bare), append([]string{"--git-dir", bare}, args...)...)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// commitAs writes files into the clone and commits them.
func commitAs(t *testing.T, dir, name, email, msg string, files map[string]string) {
	t.Helper()
	for rel, c := range files {
		writeFile(t, filepath.Join(dir, rel), c)
	}
	gitAs(t, dir, name, email, "add", "-A")
	gitAs(t, dir, name, email, "commit", "-q", "-m", msg)
}

func commit(t *testing.T, dir, msg string, files map[string]string) {
	t.Helper()
	commitAs(t, dir, "Operator", "op@example.com", msg, files)
}

// newBare makes a bare repository whose main holds files.
func newBare(t *testing.T, files map[string]string) string {
	t.Helper()
	tmp := t.TempDir()
	seed := filepath.Join(tmp, "seed")
	git(t, tmp, "init", "-q", "-b", "main", seed)
	commit(t, seed, "seed", files)
	bare := filepath.Join(tmp, "ops.git")
	git(t, tmp, "init", "-q", "--bare", "-b", "main", bare)
	// A force push would be refused, so a passing test cannot have forced.
	bareGit(t, bare, "config", "receive.denyNonFastForwards", "true")
	git(t, seed, "push", "-q", bare, "main")
	return bare
}

// cloneOf clones bare into a new folder.
func cloneOf(t *testing.T, bare string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	git(t, filepath.Dir(dir), "clone", "-q", bare, dir)
	return dir
}

// spine runs the binary with the deterministic environment plus env.
func spine(t *testing.T, dir string, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, spineBin(), args...)
	cmd.Dir = dir
	cmd.Env = append(gitEnv("Operator", "op@example.com"), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatalf("spine %v: %v\n%s", args, err, out)
	}
	return string(out), 0
}

// mustSpine runs spine and fails the test unless it exits with want.
func mustSpine(t *testing.T, dir string, want int, args ...string) string {
	t.Helper()
	out, code := spine(t, dir, nil, args...)
	if code != want {
		t.Fatalf("spine %v: exit %d, want %d\n%s", args, code, want, out)
	}
	return out
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, d)
}

// assertLinear fails when the branch's history has merges.
func assertLinear(t *testing.T, bare string) {
	t.Helper()
	if m := bareGit(t, bare, "rev-list", "--merges", "main"); m != "" {
		t.Fatalf("merge commits on main: %s", m)
	}
}

// spineCommits returns the Spine-Run and Spine-Host trailers of spine's
// commits on the bare repository's main, oldest first.
func spineCommits(t *testing.T, bare string) [][2]string {
	t.Helper()
	out := bareGit(t, bare, "log", "--reverse", "--format=%(trailers:key=Spine-Run,valueonly,separator=)|%(trailers:key=Spine-Host,valueonly,separator=)", "main")
	var cs [][2]string
	for _, line := range strings.Split(out, "\n") {
		run, host, _ := strings.Cut(strings.TrimSpace(line), "|")
		if run != "" {
			cs = append(cs, [2]string{run, host})
		}
	}
	return cs
}

// hasSpineCommit reports whether main's head is one of spine's commits.
func headIsSpines(t *testing.T, bare string) bool {
	return strings.Contains(bareGit(t, bare, "log", "-1", "--format=%B", "main"), "Spine-Run: ")
}

// receiptFiles lists the receipt.json paths in main's tree.
func receiptFiles(t *testing.T, bare string) []string {
	t.Helper()
	var out []string
	for _, p := range strings.Split(bareGit(t, bare, "ls-tree", "-r", "--name-only", "main"), "\n") {
		if strings.HasSuffix(p, "/receipt.json") {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// waitHookIdle waits until no hook worker holds the worker lock and no
// run is requested, so temp folders can be removed.
func waitHookIdle(t *testing.T, bare string) {
	t.Helper()
	dir := filepath.Join(bare, "spine")
	waitFor(t, 60*time.Second, "hook worker idle", func() bool {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return true // purged: no worker
		}
		if _, err := os.Stat(filepath.Join(dir, "rerun")); err == nil {
			return false
		}
		fl := flock.New(filepath.Join(dir, "worker.lock"))
		ok, err := fl.TryLock()
		if err != nil || !ok {
			return false
		}
		_ = fl.Unlock()
		return true
	})
}

// loopDoc renders an active loop document.
func loopDoc(id, body string) string {
	return "---\nloop_id: " + id + "\nstatus: active\nowner: \"@ops\"\n---\n\n# Loop Scope: " + id + "\n\n" + body
}

// step renders a fenced step.
func step(attrs, script string) string {
	return fmt.Sprintf("```sh {%s}\n%s\n```\n", attrs, script)
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
