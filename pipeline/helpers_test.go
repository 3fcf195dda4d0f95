package pipeline

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/internal/testbin"
	"github.com/spinehq/spine/loops"
)

// spineBinPath is the spine binary built once by TestMain, for tests that kill
// or race whole processes.
var spineBinPath string

// spineBin returns the spine binary, and makes the test's cached result
// depend on spine's sources (testbin.Track): this package's tests do not
// import all the code the binary runs.
func spineBin() string {
	testbin.Track()
	return spineBinPath
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spine-bin-")
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

// testRepo is a real git repository in a temp folder.
type testRepo struct {
	t    *testing.T
	root string
}

// gitEnv makes the git CLI deterministic and independent of the machine.
func gitEnv(name, email string) []string {
	return append(os.Environ(),
		"GIT_AUTHOR_NAME="+name, "GIT_AUTHOR_EMAIL="+email,
		"GIT_COMMITTER_NAME="+name, "GIT_COMMITTER_EMAIL="+email,
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
}

func newRepo(t *testing.T) *testRepo {
	t.Helper()
	r := &testRepo{t: t, root: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *testRepo) git(args ...string) string {
	r.t.Helper()
	return r.gitAs("Operator", "op@example.com", args...)
}

func (r *testRepo) gitAs(name, email string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.root
	cmd.Env = gitEnv(name, email)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (r *testRepo) write(rel, content string) {
	r.t.Helper()
	p := filepath.Join(r.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *testRepo) read(rel string) string {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.root, rel))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

// commit writes files and commits them all as the operator.
func (r *testRepo) commit(msg string, files map[string]string) {
	r.t.Helper()
	r.commitAs("Operator", "op@example.com", msg, files)
}

func (r *testRepo) commitAs(name, email, msg string, files map[string]string) {
	r.t.Helper()
	for rel, c := range files {
		r.write(rel, c)
	}
	r.gitAs(name, email, "add", "-A")
	r.gitAs(name, email, "commit", "-q", "-m", msg)
}

// clean asserts the working tree has nothing uncommitted.
func (r *testRepo) clean() {
	r.t.Helper()
	if s := r.git("status", "--porcelain"); strings.TrimSpace(s) != "" {
		r.t.Fatalf("working tree not clean:\n%s", s)
	}
}

// runOpts returns runner options for the repository with env as the
// environment gates and secrets see.
func (r *testRepo) runOpts(env map[string]string) Options {
	r.t.Helper()
	cfg, err := config.Load(r.root)
	if err != nil {
		r.t.Fatal(err)
	}
	paths, err := loops.Discover(r.root, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts})
	if err != nil {
		r.t.Fatal(err)
	}
	g, err := gitx.Open(r.root)
	if err != nil {
		r.t.Fatal(err)
	}
	stepEnv := append(gitEnv("Operator", "op@example.com"), "PATH="+os.Getenv("PATH"))
	for k, v := range env {
		stepEnv = append(stepEnv, k+"="+v)
	}
	return Options{
		Root: r.root, Config: cfg, Set: loops.Load(r.root, paths), Git: g,
		StateDir: filepath.Join(r.root, ".git", "spine"), Host: "testhost", User: "tester",
		Env: stepEnv,
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		Version: "test",
	}
}

// run runs spine in-process once.
func (r *testRepo) run(env map[string]string, mod ...func(*Options)) *Outcome {
	r.t.Helper()
	opts := r.runOpts(env)
	for _, m := range mod {
		m(&opts)
	}
	out, err := NewRunner(opts).Run(context.Background())
	if err != nil {
		r.t.Fatalf("run: %v", err)
	}
	return out
}

// plan returns the plan item of loopID/step.
func (r *testRepo) plan(env map[string]string, loopID, step string) Item {
	r.t.Helper()
	p, err := Plan(r.runOpts(env))
	if err != nil {
		r.t.Fatal(err)
	}
	opts := r.runOpts(env)
	for _, it := range p.PlanLoop(opts.Set.ByID(loopID)) {
		if it.Name == step {
			return it
		}
	}
	r.t.Fatalf("no step %s in plan of %s", step, loopID)
	return Item{}
}

// receipts reads every receipt of the repository.
func (r *testRepo) receipts() []*artifacts.Receipt {
	r.t.Helper()
	entries, err := (&artifacts.Store{Root: r.root}).List()
	if err != nil {
		r.t.Fatal(err)
	}
	var out []*artifacts.Receipt
	for _, e := range entries {
		if e.Err != nil {
			r.t.Fatalf("receipt %s: %v", e.RunKey, e.Err)
		}
		out = append(out, e.Receipt)
	}
	return out
}

// stepReceipts returns the statuses of a step's receipts, in order.
func (r *testRepo) stepReceipts(step string) []string {
	var st []string
	for _, rc := range r.receipts() {
		if rc.Step == step {
			st = append(st, rc.Status)
		}
	}
	return st
}

// counter is a file outside the repository that steps append to, so tests
// count executions independently of receipts.
func counter(t *testing.T) string {
	return filepath.Join(t.TempDir(), "count")
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// loopDoc renders a loop document with the given stages body.
func loopDoc(id, body string) string {
	return "---\nloop_id: " + id + "\nstatus: active\nowner: \"@ops\"\n---\n\n# Loop Scope: " + id + "\n\n" + body
}

// spine runs the built binary in the repository and returns its output
// and exit code.
func (r *testRepo) spine(ctx context.Context, env []string, args ...string) (string, int) {
	r.t.Helper()
	cmd := exec.CommandContext(ctx, spineBin(), append([]string{"--repo", r.root}, args...)...)
	cmd.Env = append(gitEnv("Operator", "op@example.com"), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("spine %v: %v", args, err)
	}
	return string(out), code
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("condition not met within %s", d)
}

// killRunOnce starts `spine run`, waits until its step has written its
// first line to the counter file count, and SIGKILLs spine alone (the
// step's process group lives on, as after a crash).
func (r *testRepo) killRunOnce(count string) {
	r.t.Helper()
	cmd := exec.Command(spineBin(), "--repo", r.root, "run")
	cmd.Env = gitEnv("Operator", "op@example.com")
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	waitFor(r.t, 20*time.Second, func() bool { return countLines(r.t, count) == 1 })
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}
