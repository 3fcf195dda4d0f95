package main

// Tests of the governance commands (pack, gap, cap, loop) and the lint
// findings they add, in real git repositories in temporary folders: spine
// runs in-process (run), steps and checks run as real processes, git is
// inspected with the git CLI.

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/loops"
)

// govRepo is a git repository in a temporary folder for governance tests.
type govRepo struct {
	t    *testing.T
	root string
}

// newGovRepo makes a repository with the given files committed. It pins
// the environment spine and git see in this process (author, no global
// git configuration, no state-dir override).
func newGovRepo(t *testing.T, files map[string]string) *govRepo {
	t.Helper()
	home := t.TempDir()
	for k, v := range map[string]string{
		"HOME": home, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME": "Operator", "GIT_AUTHOR_EMAIL": "op@example.com",
		"GIT_COMMITTER_NAME": "Operator", "GIT_COMMITTER_EMAIL": "op@example.com",
		"SPINE_STATE_DIR": "",
	} {
		t.Setenv(k, v)
	}
	r := &govRepo{t: t, root: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.commit("fixture", files)
	return r
}

func (r *govRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (r *govRepo) write(rel, content string) {
	r.t.Helper()
	p := filepath.Join(r.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *govRepo) read(rel string) string {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.root, filepath.FromSlash(rel)))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

func (r *govRepo) commit(msg string, files map[string]string) {
	r.t.Helper()
	for rel, c := range files {
		r.write(rel, c)
	}
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
}

// spine runs spine in-process in the repository.
func (r *govRepo) spine(args ...string) (stdout, stderr string, code int) {
	r.t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"--repo", r.root}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

// mustSpine runs spine and fails unless it exits with want.
func (r *govRepo) mustSpine(want int, args ...string) (string, string) {
	r.t.Helper()
	out, errs, code := r.spine(args...)
	if code != want {
		r.t.Fatalf("spine %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errs)
	}
	return out, errs
}

// clean fails when the working tree has anything uncommitted.
func (r *govRepo) clean() {
	r.t.Helper()
	if s := r.git("status", "--porcelain"); strings.TrimSpace(s) != "" {
		r.t.Fatalf("working tree not clean:\n%s", s)
	}
}

// head returns HEAD's hash.
func (r *govRepo) head() string { return strings.TrimSpace(r.git("rev-parse", "HEAD")) }

// headFiles lists the files HEAD's commit changed, sorted.
func (r *govRepo) headFiles() []string {
	out := strings.Fields(r.git("show", "--name-only", "--format=", "HEAD"))
	sort.Strings(out)
	return out
}

// receipts reads every receipt, in run order, with its chain hash.
func (r *govRepo) receipts() []artifacts.Entry {
	r.t.Helper()
	entries, err := (&artifacts.Store{Root: r.root}).List()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range entries {
		if e.Err != nil {
			r.t.Fatalf("receipt %s: %v", e.RunKey, e.Err)
		}
	}
	artifacts.SortEntries(entries)
	return entries
}

// receiptOf returns the last receipt of loop/step.
func (r *govRepo) receiptOf(loop, step string) artifacts.Entry {
	r.t.Helper()
	var found *artifacts.Entry
	for _, e := range r.receipts() {
		if e.Receipt.LoopID == loop && e.Receipt.Step == step {
			found = &e
		}
	}
	if found == nil {
		r.t.Fatalf("no receipt of %s/%s", loop, step)
	}
	return *found
}

func govLoop(id, body string) string {
	return "---\nloop_id: " + id + "\nstatus: active\nowner: \"@ops\"\n---\n\n# Loop Scope: " + id + "\n\n" + body
}

const infraPack = `pack: infra
description: infra drift gates
checks:
  - id: D101
    title: hosts reachable
    run: echo reachable
  - id: D188
    title: stale feed freshness
    run: echo "feed is 3 days old" >&2; exit 1
    blocking: false
  - id: D190
    title: backups fresh
    run: "true"
`

const mediaPack = `pack: media
checks:
  - id: M1
    run: echo ok
  - id: M2
    title: jellyfin healthy
    run: echo down; exit 2
  - id: M3
    run: exit 1
    blocking: false
`

func TestPackAsVerifyStepAndByHand(t *testing.T) {
	r := newGovRepo(t, map[string]string{
		"verify/infra.yaml": infraPack,
		"verify/media.yaml": mediaPack,
		"loops/LOOP-V.md": govLoop("LOOP-V", "## Stage 0: Baseline\n\n```verify {name=verify-infra pack=infra}\n```\n\n"+
			"## Stage 1: Media\n\n```verify {name=verify-media pack=media}\n```\n"),
	})

	// As verify steps of a loop: the blocking failure fails the run.
	r.mustSpine(exitFailed, "run")
	r.clean()
	type verdict struct {
		Status, Summary, Capability string
		Checks                      []string
	}
	got := func(e artifacts.Entry) verdict {
		v := verdict{Status: e.Receipt.Status, Summary: e.Receipt.Summary, Capability: e.Receipt.Capability}
		for _, c := range e.Receipt.Checks {
			v.Checks = append(v.Checks, c.ID+"="+c.Status)
		}
		return v
	}
	wantInfra := verdict{"pass", "2/3 PASS; non-blocking fail: D188", "verify.pack.run", []string{"D101=pass", "D188=fail", "D190=pass"}}
	wantMedia := verdict{"fail", "1/3 PASS; fail: M2; non-blocking fail: M3", "verify.pack.run", []string{"M1=pass", "M2=fail", "M3=fail"}}
	if diff := cmp.Diff(wantInfra, got(r.receiptOf("LOOP-V", "verify-infra"))); diff != "" {
		t.Errorf("verify step infra (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantMedia, got(r.receiptOf("LOOP-V", "verify-media"))); diff != "" {
		t.Errorf("verify step media (-want +got):\n%s", diff)
	}

	// By hand: the same verdicts, under the packs pseudo-loop.
	for _, tc := range []struct {
		pack string
		exit int
		want verdict
	}{
		{"infra", exitOK, wantInfra},
		{"media", exitFailed, wantMedia},
	} {
		t.Run(tc.pack, func(t *testing.T) {
			before := r.head()
			out, _ := r.mustSpine(tc.exit, "pack", "run", tc.pack)
			r.clean()
			e := r.receiptOf("packs", tc.pack)
			if diff := cmp.Diff(tc.want, got(e)); diff != "" {
				t.Errorf("pack run %s (-want +got):\n%s", tc.pack, diff)
			}
			if e.Receipt.Stage != "manual" {
				t.Errorf("stage %q, want manual", e.Receipt.Stage)
			}
			if !strings.Contains(out, tc.want.Summary) {
				t.Errorf("output does not show the summary %q:\n%s", tc.want.Summary, out)
			}
			log := r.read(e.Dir + "/output.log")
			for _, c := range e.Receipt.Checks {
				if !strings.Contains(log, "== "+c.ID) {
					t.Errorf("output.log lacks check %s:\n%s", c.ID, log)
				}
			}
			if r.head() == before {
				t.Fatal("pack run made no commit")
			}
			msg := r.git("log", "-1", "--format=%B")
			if !strings.HasPrefix(msg, "spine(packs): verify "+tc.pack+" — "+tc.want.Summary) || !strings.Contains(msg, "Spine-Run: ") || !strings.Contains(msg, "Spine-Host: ") {
				t.Errorf("commit message:\n%s", msg)
			}
			wantFiles := []string{e.Dir + "/output.log", e.Dir + "/receipt.json"}
			if diff := cmp.Diff(wantFiles, r.headFiles()); diff != "" {
				t.Errorf("committed files (-want +got):\n%s", diff)
			}
		})
	}

	// Manual runs chain like any loop: the second's prev is the first's hash.
	var manual []artifacts.Entry
	for _, e := range r.receipts() {
		if e.Receipt.LoopID == "packs" {
			manual = append(manual, e)
		}
	}
	if len(manual) != 2 || manual[0].Receipt.Prev != "" || manual[1].Receipt.Prev != manual[0].Hash {
		t.Errorf("packs chain broken: %d receipts", len(manual))
	}
	r.mustSpine(exitOK, "verify")

	out, _ := r.mustSpine(exitOK, "pack", "list", "--json")
	var list []packJSON
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Pack != "infra" || list[0].LastRun == nil || list[0].LastRun.Summary != wantInfra.Summary || list[1].Blocking != 2 {
		t.Errorf("pack list --json: %+v", list)
	}
}

func TestPackBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, pack, want string
	}{
		{"duplicate check id", "pack: bad\nchecks:\n  - id: A\n    run: \"true\"\n  - id: A\n    run: \"true\"\n", "verify/bad.yaml:5: error: duplicate check id A (first at"},
		{"check without run", "pack: bad\nchecks:\n  - id: A\n    title: no command\n", "verify/bad.yaml:3: error: A: no run command"},
		{"unknown field", "pack: bad\nchecks:\n  - id: A\n    run: \"true\"\n    blockin: false\n", "verify/bad.yaml:5: error: checks[0]: unknown field \"blockin\""},
		{"not YAML", "pack: bad\nchecks: [\n", "verify/bad.yaml:2: error: invalid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "ran")
			r := newGovRepo(t, map[string]string{
				"verify/bad.yaml":  tc.pack,
				"verify/good.yaml": "pack: good\nchecks:\n  - id: G\n    run: touch " + marker + "\n",
				"loops/LOOP-A.md":  govLoop("LOOP-A", "## Stage 0: Go\n\n```sh {name=hello}\necho hi\n```\n"),
			})
			before := r.head()
			_, errs := r.mustSpine(exitUsage, "pack", "run", "bad")
			if !strings.Contains(errs, strings.Replace(tc.want, ": error: ", ": ", 1)) && !strings.Contains(errs, tc.want) {
				t.Errorf("stderr does not name the fault %q:\n%s", tc.want, errs)
			}
			if r.head() != before || len(r.receipts()) != 0 {
				t.Error("an invalid pack ran or committed")
			}
			out, _ := r.mustSpine(exitUsage, "lint")
			if !strings.Contains(out, tc.want) {
				t.Errorf("lint does not report %q:\n%s", tc.want, out)
			}
			// The other pack and the loops are not affected.
			r.mustSpine(exitOK, "pack", "run", "good")
			if _, err := os.Stat(marker); err != nil {
				t.Errorf("good pack did not run: %v", err)
			}
			r.mustSpine(exitOK, "run")
		})
	}
	r := newGovRepo(t, map[string]string{"verify/good.yaml": "pack: good\nchecks:\n  - id: G\n    run: \"true\"\n"})
	_, errs := r.mustSpine(exitUsage, "pack", "run", "nope")
	if !strings.Contains(errs, `no verify pack "nope"`) || !strings.Contains(errs, "good") {
		t.Errorf("unknown pack: %s", errs)
	}
	// A pack edited and not committed is refused, nothing run or
	// committed (its history would hold a failure that never ran).
	marker := filepath.Join(t.TempDir(), "ran")
	r.write("verify/good.yaml", "pack: good\nchecks:\n  - id: G\n    run: touch "+marker+"\n")
	before := r.head()
	_, errs = r.mustSpine(exitUsage, "pack", "run", "good")
	if !strings.Contains(errs, "verify/good.yaml has uncommitted changes") {
		t.Errorf("uncommitted pack: %s", errs)
	}
	if _, err := os.Stat(marker); err == nil || r.head() != before || len(r.receipts()) != 0 {
		t.Error("an uncommitted pack ran or committed")
	}
}

// lineSplice checks that after is before with one contiguous block of
// lines replaced, and returns the removed and added lines.
func lineSplice(t *testing.T, before, after string) (removed, added []string) {
	t.Helper()
	a := strings.SplitAfter(before, "\n")
	b := strings.SplitAfter(after, "\n")
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	return a[p : len(a)-s], b[p : len(b)-s]
}

// TestGapFileMakesTheLedgersFolder: the first gap filed into a ledger
// configured in a folder that does not exist yet makes the folder and
// commits the ledger there, as gap list reads a missing ledger as empty.
func TestGapFileMakesTheLedgersFolder(t *testing.T) {
	r := newGovRepo(t, map[string]string{
		"spine.yaml":      "gaps: ops/gaps.yaml\n",
		"loops/LOOP-C.md": govLoop("LOOP-C", "## Stage 0: Go\n\n```sh {name=a}\ntrue\n```\n"),
	})
	r.mustSpine(exitOK, "gap", "list")
	_, errs := r.mustSpine(exitOK, "gap", "file", "--loop", "LOOP-C", "--title", "t", "--severity", "low", "--type", "runtime-bug")
	if strings.Contains(errs, "WARN") {
		t.Errorf("gap file warned:\n%s", errs)
	}
	if !strings.Contains(r.read("ops/gaps.yaml"), `id: "GAP-OP-001"`) || !slices.Contains(r.headFiles(), "ops/gaps.yaml") {
		t.Errorf("the ledger was not filed into and committed: %v\n%s", r.headFiles(), r.read("ops/gaps.yaml"))
	}
}

func TestGapFileCloseRoundTrip(t *testing.T) {
	ledger, err := os.ReadFile("../../gaps/testdata/basic.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const loop = "LOOP-MEDIA-20260201"
	r := newGovRepo(t, map[string]string{
		"gaps.yaml":             string(ledger),
		"loops/" + loop + ".md": govLoop(loop, "## Stage 0: Go\n\n```sh {name=hello}\necho hi\n```\n"),
	})
	today := time.Now().UTC().Format("2006-01-02")

	// File.
	out, _ := r.mustSpine(exitOK, "gap", "file", "--loop", loop, "--title", "Backup pool unmonitored",
		"--severity", "high", "--type", "missing-entry", "--description", "No alert when the pool degrades.")
	if !strings.Contains(out, "filed GAP-OP-004") {
		t.Errorf("gap file output:\n%s", out)
	}
	r.clean()
	filed := r.read("gaps.yaml")
	removed, added := lineSplice(t, string(ledger), filed)
	wantAdded := []string{
		"  - id: GAP-OP-004\n",
		"    title: \"Backup pool unmonitored\"\n",
		"    discovered_by: \"" + loop + "\"\n",
		"    discovered_at: \"" + today + "\"\n",
		"    type: missing-entry\n",
		"    description: \"No alert when the pool degrades.\"\n",
		"    severity: high\n",
		"    status: open\n",
		"    parent_loop: \"" + loop + "\"\n",
	}
	if len(removed) != 0 {
		t.Errorf("gap file removed lines: %q", removed)
	}
	if diff := cmp.Diff(wantAdded, added); diff != "" {
		t.Errorf("gap file added (-want +got):\n%s", diff)
	}
	fileRC := r.receiptOf(loop, "GAP-OP-004")
	if fileRC.Receipt.Capability != "gaps.file" || fileRC.Receipt.Stage != "gaps" || fileRC.Receipt.Status != "pass" {
		t.Errorf("gap file receipt: %+v", fileRC.Receipt)
	}
	if diff := cmp.Diff([]string{"gaps.yaml", fileRC.Dir + "/output.log", fileRC.Dir + "/receipt.json"}, r.headFiles()); diff != "" {
		t.Errorf("gap file commit (-want +got):\n%s", diff)
	}
	msg := r.git("log", "-1", "--format=%B")
	if !strings.HasPrefix(msg, "spine(gaps): file GAP-OP-004 Backup pool unmonitored\n") || !strings.Contains(msg, "\nSpine-Run: ") || !strings.Contains(msg, "\nSpine-Host: ") {
		t.Errorf("gap file commit message:\n%s", msg)
	}

	// Close.
	r.mustSpine(exitOK, "gap", "close", "GAP-OP-004", "--fixed-in", loop, "--note", "alert added")
	r.clean()
	closed := r.read("gaps.yaml")
	removed, added = lineSplice(t, filed, closed)
	if diff := cmp.Diff([]string{"    status: open\n", "    parent_loop: \"" + loop + "\"\n"}, removed); diff != "" {
		t.Errorf("gap close removed (-want +got):\n%s", diff)
	}
	wantAdded = []string{
		"    status: fixed\n",
		"    parent_loop: \"" + loop + "\"\n",
		"    fixed_in: \"" + loop + "\"\n",
		"    fixed_at: \"" + today + "\"\n",
		"    notes: \"alert added\"\n",
	}
	if diff := cmp.Diff(wantAdded, added); diff != "" {
		t.Errorf("gap close added (-want +got):\n%s", diff)
	}
	closeRC := r.receiptOf(loop, "GAP-OP-004")
	if closeRC.Receipt.Capability != "gaps.close" || closeRC.Receipt.Prev != fileRC.Hash {
		t.Errorf("gap close receipt: capability %s, prev %s (want %s)", closeRC.Receipt.Capability, closeRC.Receipt.Prev, fileRC.Hash)
	}
	if diff := cmp.Diff([]string{"gaps.yaml", closeRC.Dir + "/output.log", closeRC.Dir + "/receipt.json"}, r.headFiles()); diff != "" {
		t.Errorf("gap close commit (-want +got):\n%s", diff)
	}
	if msg := r.git("log", "-1", "--format=%s"); strings.TrimSpace(msg) != "spine(gaps): close GAP-OP-004 fixed in "+loop {
		t.Errorf("gap close subject: %s", msg)
	}
	r.mustSpine(exitOK, "verify")

	// List.
	out, _ = r.mustSpine(exitOK, "gap", "list", "--open", "--json")
	var open []struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		ParentLoop string `json:"parent_loop"`
	}
	if err := json.Unmarshal([]byte(out), &open); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range open {
		ids = append(ids, g.ID+":"+g.Status)
	}
	if diff := cmp.Diff([]string{"GAP-OP-002:open", "GAP-OP-003:open"}, ids); diff != "" {
		t.Errorf("gap list --open (-want +got):\n%s", diff)
	}

	out, _ = r.mustSpine(exitOK, "gap", "list", "--loop", loop)
	var listed []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		listed = append(listed, strings.Fields(l)[0])
	}
	if diff := cmp.Diff([]string{"GAP-OP-001", "GAP-OP-002", "GAP-OP-004"}, listed); diff != "" {
		t.Errorf("gap list --loop (-want +got):\n%s", diff)
	}

	// Refusals change nothing.
	head := r.head()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"gap", "close", "GAP-OP-999", "--fixed-in", loop}, "no such gap GAP-OP-999"},
		{[]string{"gap", "close", "GAP-OP-004", "--fixed-in", loop}, "gaps.yaml:"},
		{[]string{"gap", "close", "GAP-OP-002"}, "--fixed-in is required"},
		{[]string{"gap", "file", "--loop", "LOOP-NOPE", "--title", "x", "--severity", "low", "--type", "runtime-bug"}, `no loop "LOOP-NOPE"`},
		{[]string{"gap", "file", "--loop", loop, "--title", "x", "--severity", "urgent", "--type", "runtime-bug"}, `--severity "urgent"`},
	} {
		_, errs := r.mustSpine(exitUsage, tc.args...)
		if !strings.Contains(errs, tc.want) {
			t.Errorf("spine %v: stderr lacks %q:\n%s", tc.args, tc.want, errs)
		}
	}
	r.write("gaps.yaml", closed+"# half-edit\n")
	_, errs := r.mustSpine(exitUsage, "gap", "file", "--loop", loop, "--title", "x", "--severity", "low", "--type", "runtime-bug")
	if !strings.Contains(errs, "uncommitted changes") {
		t.Errorf("dirty ledger: %s", errs)
	}
	if r.head() != head || r.read("gaps.yaml") != closed+"# half-edit\n" {
		t.Error("a refused gap command changed the repository")
	}
}

func TestGapLedgerBadInputKeptAndWarned(t *testing.T) {
	r := newGovRepo(t, map[string]string{
		"gaps.yaml": "gaps:\n  - id: GAP-OP-1\n    status: open\n    severity: urgent\n  - id: GAP-OP-1\n    status: wip\n",
	})
	out, errs := r.mustSpine(exitOK, "gap", "list", "--json")
	var all []map[string]any
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Errorf("gap list kept %d of 2 entries", len(all))
	}
	for _, want := range []string{"gaps.yaml:2: warning: GAP-OP-1: severity \"urgent\"", "gaps.yaml:5: error: duplicate gap id GAP-OP-1", "gaps.yaml:5: warning: GAP-OP-1: status \"wip\""} {
		if !strings.Contains(errs, want) {
			t.Errorf("gap list stderr lacks %q:\n%s", want, errs)
		}
	}
	_, errs = r.mustSpine(exitUsage, "gap", "close", "GAP-OP-1", "--fixed-in", "LOOP-X")
	if !strings.Contains(errs, "gaps.yaml:2, gaps.yaml:5") {
		t.Errorf("closing a duplicated id: %s", errs)
	}
}

func TestLintOrphanedGaps(t *testing.T) {
	r := newGovRepo(t, map[string]string{
		"loops/LOOP-DONE.md": "---\nloop_id: LOOP-DONE\nstatus: closed\n---\n\n# Loop Scope: LOOP-DONE\n",
		"loops/LOOP-LIVE.md": govLoop("LOOP-LIVE", ""),
		"gaps.yaml": `gaps:
  - id: GAP-OP-1
    status: open
    parent_loop: LOOP-DONE
  - id: GAP-OP-2
    status: open
    parent_loop: LOOP-GONE
  - id: GAP-OP-3
    status: open
    parent_loop: LOOP-LIVE
  - id: GAP-OP-4
    status: fixed
    parent_loop: LOOP-DONE
  - id: GAP-OP-5
    status: open
`,
	})
	out, _ := r.mustSpine(exitOK, "lint", "--json")
	var probs []loops.Problem
	if err := json.Unmarshal([]byte(out), &probs); err != nil {
		t.Fatal(err)
	}
	var orphans []string
	for _, p := range probs {
		if strings.Contains(p.Message, "orphaned gap") {
			orphans = append(orphans, p.String())
		}
	}
	want := []string{
		"gaps.yaml:2: warning: orphaned gap GAP-OP-1: it is open but its parent loop LOOP-DONE is closed; close it (spine gap close GAP-OP-1 --fixed-in LOOP) or re-parent it",
		"gaps.yaml:5: warning: orphaned gap GAP-OP-2: it is open but its parent loop LOOP-GONE does not exist; close it (spine gap close GAP-OP-2 --fixed-in LOOP) or re-parent it",
	}
	if diff := cmp.Diff(want, orphans); diff != "" {
		t.Errorf("orphan findings (-want +got):\n%s", diff)
	}
}

func TestCapabilityGateInherited(t *testing.T) {
	for _, tc := range []struct {
		name, registry, gate string
	}{
		{"named gate", "capabilities:\n  zfs.destroy:\n    safety: destructive\n    approval: manual\n    gate: ALLOW_ZFS_DESTROY\n", "ALLOW_ZFS_DESTROY"},
		{"derived gate", "capabilities:\n  - name: zfs.destroy\n    safety: destructive\n", "ALLOW_ZFS_DESTROY"},
		{"manual, named", "capabilities:\n  zfs.destroy:\n    safety: mutating\n    approval: manual\n    gate: ALLOW_POOL_WORK\n", "ALLOW_POOL_WORK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "wiped")
			r := newGovRepo(t, map[string]string{
				"capabilities.yaml": tc.registry,
				"loops/LOOP-C.md":   govLoop("LOOP-C", "## Stage 0: Wipe\n\n```sh {name=wipe cap=zfs.destroy}\ntouch "+marker+"\n```\n"),
			})
			out, _ := r.mustSpine(exitOK, "lint")
			if !strings.Contains(out, "loops/LOOP-C.md:11: warning: step wipe: capability zfs.destroy ") ||
				!strings.Contains(out, "it runs only behind gate "+tc.gate+"; add gate="+tc.gate) {
				t.Errorf("lint does not warn about the missing gate:\n%s", out)
			}
			r.mustSpine(exitWaiting, "run")
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the destructive step ran without approval")
			}
			rc := r.receiptOf("LOOP-C", "wipe")
			if rc.Receipt.Status != "blocked" || rc.Receipt.Gate != tc.gate {
				t.Errorf("blocked receipt: status %s gate %s", rc.Receipt.Status, rc.Receipt.Gate)
			}
			out, _ = r.mustSpine(exitWaiting, "plan")
			if !strings.Contains(out, "capability zfs.destroy requires it") {
				t.Errorf("plan does not say why:\n%s", out)
			}
			t.Setenv(tc.gate, "yes")
			r.mustSpine(exitOK, "run")
			if _, err := os.Stat(marker); err != nil {
				t.Fatal("the approved step did not run")
			}
			rc = r.receiptOf("LOOP-C", "wipe")
			if rc.Receipt.Status != "pass" || rc.Receipt.Approval == nil || rc.Receipt.Approval.Source != "env" || rc.Receipt.Capability != "zfs.destroy" {
				t.Errorf("approved receipt: %+v", rc.Receipt)
			}
			r.clean()
		})
	}
}

func TestCapabilityTimeoutIsStepDefault(t *testing.T) {
	r := newGovRepo(t, map[string]string{
		"capabilities.yaml": "capabilities:\n  slow.op:\n    safety: read-only\n    timeout: 1s\n",
		"loops/LOOP-T.md":   govLoop("LOOP-T", "## Stage 0: Slow\n\n```sh {name=slow cap=slow.op}\nsleep 30\n```\n"),
	})
	start := time.Now()
	r.mustSpine(exitFailed, "run")
	if el := time.Since(start); el > 20*time.Second {
		t.Fatalf("the capability's timeout did not stop the step (%s)", el)
	}
	rc := r.receiptOf("LOOP-T", "slow")
	if rc.Receipt.Status != "fail" || !strings.Contains(rc.Receipt.Note, "1s") {
		t.Errorf("timed-out receipt: status %s note %q", rc.Receipt.Status, rc.Receipt.Note)
	}
	// A step's own timeout wins over its capability's.
	r.commit("a step with its own timeout", map[string]string{
		"loops/LOOP-T.md": govLoop("LOOP-T", "## Stage 0: Slow\n\n```sh {name=own cap=slow.op timeout=10s}\nsleep 2\n```\n"),
	})
	r.mustSpine(exitOK, "run")
	if rc := r.receiptOf("LOOP-T", "own"); rc.Receipt.Status != "pass" {
		t.Errorf("step with its own timeout: %s %s", rc.Receipt.Status, rc.Receipt.Note)
	}
	out, _ := r.mustSpine(exitOK, "cap", "list", "--json")
	var list []capJSON
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Timeout != "1s" || list[0].EffectiveGate != "" {
		t.Errorf("cap list --json: %+v", list)
	}
}

func TestLoopCloseWithOpenGapThenAccepted(t *testing.T) {
	const loop = "LOOP-X-20260301"
	r := newGovRepo(t, map[string]string{
		"loops/" + loop + ".md": govLoop(loop, "## Stage 0: Go\n\n```sh {name=hello}\necho hi\n```\n"),
		"gaps.yaml":             "gaps:\n",
	})
	r.mustSpine(exitOK, "run")
	r.mustSpine(exitOK, "gap", "file", "--loop", loop, "--title", "Leftover", "--severity", "low", "--type", "runtime-bug")
	doc := r.read("loops/" + loop + ".md")
	head := r.head()

	_, errs := r.mustSpine(exitWaiting, "loop", "close", loop)
	if !strings.Contains(errs, "gap GAP-OP-001 (gaps.yaml:2) is open: Leftover") {
		t.Errorf("refusal does not list the open gap:\n%s", errs)
	}
	if r.head() != head || r.read("loops/"+loop+".md") != doc {
		t.Fatal("a refused close changed the repository")
	}
	// The gap marked fixed in the working tree only: the loop closes on
	// the ledger as committed, so it says to commit first.
	ledger := r.read("gaps.yaml")
	r.write("gaps.yaml", strings.Replace(ledger, "status: open", "status: fixed", 1))
	if _, errs := r.mustSpine(exitUsage, "loop", "close", loop); !strings.Contains(errs, "gaps.yaml has uncommitted changes; commit them first") {
		t.Errorf("close on an uncommitted ledger: %s", errs)
	}
	if r.head() != head {
		t.Fatal("a refused close committed")
	}
	r.write("gaps.yaml", ledger)

	r.mustSpine(exitOK, "gap", "close", "GAP-OP-001", "--fixed-in", loop)
	out, _ := r.mustSpine(exitOK, "loop", "close", loop)
	if !strings.Contains(out, "closed "+loop) {
		t.Errorf("loop close output:\n%s", out)
	}
	r.clean()
	d := loops.Parse("loops/"+loop+".md", []byte(r.read("loops/"+loop+".md")))
	if d.Status != "closed" {
		t.Errorf("status %q, want closed", d.Status)
	}
	if _, err := time.Parse(time.RFC3339, d.Meta.String("closed_at")); err != nil {
		t.Errorf("closed_at %q: %v", d.Meta.String("closed_at"), err)
	}
	rc := r.receiptOf(loop, "close")
	if rc.Receipt.Capability != "loops.close" || rc.Receipt.Stage != "closeout" || rc.Receipt.Status != "pass" {
		t.Errorf("closeout receipt: %+v", rc.Receipt)
	}
	wantFiles := []string{"loops/" + loop + ".md", rc.Dir + "/output.log", rc.Dir + "/receipt.json"}
	if diff := cmp.Diff(wantFiles, r.headFiles()); diff != "" {
		t.Errorf("closeout commit (-want +got):\n%s", diff)
	}
	if !strings.Contains(r.read("loops/"+loop+".md"), rc.Receipt.RunKey) {
		t.Error("the evidence block does not show the closeout receipt")
	}
	r.mustSpine(exitOK, "verify")
	_, errs = r.mustSpine(exitUsage, "loop", "close", loop)
	if !strings.Contains(errs, "already closed") {
		t.Errorf("second close: %s", errs)
	}
}

// TestGovernanceReceiptsAreNoStepRuns: the receipts of spine's own actions
// are not runs of a loop's steps. The closeout receipt of spine loop close
// (step "close") does not make the loop's own gated step close count as
// run: a step after=LOOP-K/close in another loop still waits, and the
// reopened loop's step is blocked, not "edited after it ran". A pack run
// by hand is no run of a loop's step either, and no loop may take the
// pseudo-loop ids its receipts use.
func TestGovernanceReceiptsAreNoStepRuns(t *testing.T) {
	r := newGovRepo(t, map[string]string{
		"loops/LOOP-K.md": govLoop("LOOP-K", "## Stage 0: A\n\n```sh {name=close gate=ALLOW_K destructive=true}\necho ran > closed.txt\n```\n"),
		"loops/LOOP-M.md": govLoop("LOOP-M", "## Stage 0: A\n\n```sh {name=migrate after=LOOP-K/close}\necho migrated > migrated.txt\n```\n"),
	})
	r.mustSpine(exitOK, "loop", "close", "LOOP-K", "--force")
	out, _, _ := r.spine("plan")
	if !strings.Contains(out, "waiting for LOOP-K/close to pass") || strings.Contains(out, "edited after it ran") {
		t.Errorf("plan after the loop was closed:\n%s", out)
	}
	r.spine("run")
	if _, err := os.Stat(filepath.Join(r.root, "migrated.txt")); err == nil {
		t.Error("a step after the closed loop's gated step ran, which never did")
	}
	doc := strings.Replace(r.read("loops/LOOP-K.md"), "status: closed", "status: active", 1)
	r.commit("reopen", map[string]string{"loops/LOOP-K.md": doc})
	if out, _, _ := r.spine("plan"); !strings.Contains(out, "gate ALLOW_K not approved") {
		t.Errorf("plan of the reopened loop:\n%s", out)
	}
	// The site agrees: the step close has no last run.
	r.mustSpine(exitOK, "site", "build")
	page := regexp.MustCompile(`\s+`).ReplaceAllString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(r.read("public/loops/LOOP-K/index.html"), " "), " ")
	if !strings.Contains(page, "close blocked gate= ALLOW_K destructive —") {
		t.Errorf("the loop page shows the closeout receipt as the step close's run:\n%s", page)
	}

	// A step may name a governance capability: its lost run still holds
	// it (the evidence bullet's stage is the step's, not closeout's).
	r = newGovRepo(t, map[string]string{
		"loops/LOOP-W.md": govLoop("LOOP-W", "## Stage 0: go\n\n```sh {name=wipe cap=loops.close destructive=true}\necho wiped\n```\n"),
	})
	r.mustSpine(exitOK, "run")
	r.git("rm", "-rq", "receipts")
	r.git("commit", "-qm", "receipts gone")
	if out, _, _ := r.spine("plan"); !strings.Contains(out, "records run") || !strings.Contains(out, "receipt folder") {
		t.Errorf("plan after the receipt of a step with cap=loops.close was removed:\n%s", out)
	}

	// No step waits on them.
	r = newGovRepo(t, map[string]string{
		"loops/LOOP-Q.md": govLoop("LOOP-Q", "## Stage 0: go\n\n```sh {name=b after=packs/example}\necho b\n```\n"),
	})
	if out, _ := r.mustSpine(exitUsage, "lint"); !strings.Contains(out, `loops/LOOP-Q.md:11: error: step "b": after=packs/example names packs, spine's own receipts`) || strings.Contains(out, "warning") {
		t.Errorf("lint of after=packs/example:\n%s", out)
	}

	for _, id := range []string{"packs", "gaps", "PACKS"} {
		r := newGovRepo(t, map[string]string{"loops/p.md": govLoop(id, "## Stage 0: A\n\n```sh {name=a}\ntrue\n```\n")})
		if out, _ := r.mustSpine(exitUsage, "lint"); !strings.Contains(out, "loops/p.md:2: error: loop id \""+id+"\" is reserved") {
			t.Errorf("lint of loop id %s:\n%s", id, out)
		}
	}
}

// TestRenamedLoopKeepsItsDestructivePass: a loop document reused under a
// new id (its evidence block dropped, also moved to another file) does
// not run a destructive step again that passed under the old id with the
// same command: it is held, naming the old run, until --retry.
func TestRenamedLoopKeepsItsDestructivePass(t *testing.T) {
	t.Setenv("ALLOW_X", "yes")
	doc := func(id string) string {
		return govLoop(id, "## Stage 1: Go\n\n```sh {name=wipe gate=ALLOW_X destructive=true}\necho wiped >> wipes.txt\n```\n\n```sh {name=list destructive=true}\necho listed\n```\n")
	}
	for _, tc := range []struct {
		move bool
		name string // the step's name in the new wave
	}{{false, "wipe"}, {true, "wipe"}, {false, "wipe-next"}} {
		move := tc.move
		r := newGovRepo(t, map[string]string{"loops/a.md": doc("LOOP-A"), ".gitignore": "wipes.txt\n"})
		r.mustSpine(exitOK, "run")
		path := "loops/a.md"
		if move {
			r.git("mv", "loops/a.md", "loops/c.md")
			path = "loops/c.md"
		}
		// The new wave: another id, the evidence block gone, one
		// command changed, the step perhaps renamed too.
		next := strings.Replace(doc("LOOP-B"), "echo listed", "echo listed again", 1)
		next = strings.Replace(next, "{name=wipe ", "{name="+tc.name+" ", 1)
		r.commit("wave 2", map[string]string{path: next})
		out, _, _ := r.spine("plan")
		if !strings.Contains(out, "destructive, and its command passed at") || !strings.Contains(out, "as step wipe of loop LOOP-A") || !strings.Contains(out, "--retry "+tc.name+" runs it") {
			t.Errorf("move %v, step %s: plan:\n%s", move, tc.name, out)
		}
		if strings.Contains(out, "list     failed") {
			t.Errorf("move %v: a step whose command changed is held:\n%s", move, out)
		}
		r.mustSpine(exitWaiting, "run")
		if got := strings.Count(r.read("wipes.txt"), "wiped"); got != 1 {
			t.Fatalf("move %v: the passed destructive step ran %d times, want once", move, got)
		}
		r.mustSpine(exitOK, "run", "--retry", tc.name)
		if got := strings.Count(r.read("wipes.txt"), "wiped"); got != 2 {
			t.Errorf("move %v: --retry wipe: ran %d times in all, want 2", move, got)
		}
	}
}

// TestClosedLoopFailureWaitsForNobody: a loop closed with --force over a
// failed step does not make every later run and plan exit 3 for it; plan
// still shows the step, and --retry says the loop does not run instead of
// that there is nothing to do.
func TestClosedLoopFailureWaitsForNobody(t *testing.T) {
	r := newGovRepo(t, map[string]string{
		"loops/LOOP-C.md": govLoop("LOOP-C", "## Stage 0: x\n\n```sh {name=bad}\nexit 7\n```\n"),
	})
	r.mustSpine(exitFailed, "run")
	r.mustSpine(exitOK, "loop", "close", "LOOP-C", "--force")
	r.mustSpine(exitOK, "run")
	if out, _ := r.mustSpine(exitOK, "plan"); !strings.Contains(out, "bad") || !strings.Contains(out, `failed  loop status is "closed"; only active loops run; then: failed at`) {
		t.Errorf("plan no longer shows the closed loop's failed step, or not why --retry waits:\n%s", out)
	}
	if _, errs := r.mustSpine(exitUsage, "run", "--retry", "bad"); !strings.Contains(errs, `--retry bad: its loop does not run: LOOP-C (status "closed")`) {
		t.Errorf("run --retry of a closed loop's step: %s", errs)
	}
}

func TestLoopCloseRefusalsAndForce(t *testing.T) {
	const loop = "LOOP-G"
	r := newGovRepo(t, map[string]string{
		"loops/LOOP-G.md": govLoop(loop, "## Stage 0: Go\n\n```sh {name=first}\necho hi\n```\n\n"+
			"## Stage 1: Gated\n\n```sh {name=danger gate=ALLOW_DANGER}\necho boom\n```\n"),
		"loops/LOOP-PLAIN.md": "# Loop Scope: LOOP-PLAIN\n\n> **Status:** active\n",
	})
	r.mustSpine(exitWaiting, "run")
	_, errs := r.mustSpine(exitWaiting, "loop", "close", loop)
	if !strings.Contains(errs, "step danger (Stage 1: Gated): blocked: gate ALLOW_DANGER not approved") {
		t.Errorf("refusal does not list the blocked step:\n%s", errs)
	}
	out, _ := r.mustSpine(exitOK, "loop", "close", loop, "--force")
	if !strings.Contains(out, "closed with --force") {
		t.Errorf("forced close output:\n%s", out)
	}
	rc := r.receiptOf(loop, "close")
	if !strings.Contains(rc.Receipt.Note, "--force") || !strings.Contains(rc.Receipt.Note, "step danger") {
		t.Errorf("forced closeout note: %q", rc.Receipt.Note)
	}
	if log := r.read(rc.Dir + "/output.log"); !strings.Contains(log, "step danger") {
		t.Errorf("forced closeout output.log:\n%s", log)
	}
	r.clean()

	_, errs = r.mustSpine(exitUsage, "loop", "close", "LOOP-PLAIN")
	if !strings.Contains(errs, "loops/LOOP-PLAIN.md:1: the document has no YAML frontmatter") {
		t.Errorf("no frontmatter: %s", errs)
	}
	_, errs = r.mustSpine(exitUsage, "loop", "close", "LOOP-NOPE")
	if !strings.Contains(errs, `no loop "LOOP-NOPE"`) {
		t.Errorf("unknown loop: %s", errs)
	}
}

func TestLoopNewScaffold(t *testing.T) {
	r := newGovRepo(t, map[string]string{"verify/infra.yaml": infraPack})
	const id = "LOOP-MD1400-CAPACITY-20260301"
	out, _ := r.mustSpine(exitOK, "loop", "new", id, "--objective", "Normalize MD1400 capacity: no drift", "--owner", "@ronny")
	rel := "loops/" + id + ".md"
	if !strings.Contains(out, "created "+rel) || !strings.Contains(out, "spine lint") {
		t.Errorf("loop new output:\n%s", out)
	}
	if st := r.git("status", "--porcelain"); !strings.Contains(st, "?? loops/") {
		t.Errorf("loop new committed or wrote nothing: %q", st)
	}
	lint, _ := r.mustSpine(exitOK, "lint")
	if strings.Contains(lint, ": error: ") {
		t.Errorf("scaffold has lint errors:\n%s", lint)
	}
	src := r.read(rel)
	d := loops.Parse(rel, []byte(src))
	var stages []string
	for _, st := range d.Stages {
		var steps []string
		for _, s := range st.Steps {
			steps = append(steps, string(s.Kind)+":"+s.Name)
		}
		stages = append(stages, st.Title+" "+strings.Join(steps, ","))
	}
	want := []string{
		"Stage 0: Baseline (Read-Only) command:baseline-host,verify:verify-baseline",
		"Stage 1: Change (Destructive, Gated) command:apply-change",
		"Stage 2: Verify And Closeout verify:verify-after,manual:evidence reviewed: receipts, artifacts and the evidence block,manual:gaps of this loop closed or handed over (spine gap list --open --loop " + id + ")",
	}
	if diff := cmp.Diff(want, stages); diff != "" {
		t.Errorf("scaffold stages (-want +got):\n%s", diff)
	}
	meta := map[string]string{}
	for _, k := range []string{"loop_id", "status", "owner", "objective", "heartbeat_ttl_minutes", "priority", "scope"} {
		meta[k] = d.Meta.String(k)
	}
	wantMeta := map[string]string{"loop_id": id, "status": "active", "owner": "@ronny", "objective": "Normalize MD1400 capacity: no drift",
		"heartbeat_ttl_minutes": "240", "priority": "medium", "scope": "ops"}
	if diff := cmp.Diff(wantMeta, meta); diff != "" {
		t.Errorf("scaffold frontmatter (-want +got):\n%s", diff)
	}
	if _, s := d.Step("apply-change"); s == nil || s.Gate != "ALLOW_MD1400_CAPACITY" || !s.Destructive {
		t.Errorf("gated stage: %+v", s)
	}
	if _, s := d.Step("verify-baseline"); s == nil || s.Pack != "infra" {
		t.Errorf("verify step: %+v", s)
	}
	for _, h := range []string{"# Loop Scope: " + id, "## Objective", "## Phases", "## Success Criteria", "## Definition Of Done"} {
		if !strings.Contains(src, "\n"+h+"\n") {
			t.Errorf("scaffold lacks %q", h)
		}
	}

	_, errs := r.mustSpine(exitUsage, "loop", "new", id, "--objective", "again")
	if !strings.Contains(errs, "already exists") || r.read(rel) != src {
		t.Errorf("second loop new: %s", errs)
	}
	r.write("loops/other/LOOP-Y.md", "hand-written\n")
	_, errs = r.mustSpine(exitUsage, "loop", "new", "LOOP-Y", "--objective", "x", "--dir", "loops/other")
	if !strings.Contains(errs, "already exists") || r.read("loops/other/LOOP-Y.md") != "hand-written\n" {
		t.Errorf("overwrite refused? %s", errs)
	}
	_, errs = r.mustSpine(exitUsage, "loop", "new", "../escape", "--objective", "x")
	if !strings.Contains(errs, "loop id") {
		t.Errorf("bad id: %s", errs)
	}
	// Ids never reused: one a document has in another case, spine's own,
	// one a removed loop has receipts of; nor a folder git keeps nothing
	// in.
	r.commit("the scaffold", map[string]string{rel: src})
	r.commit("a loop that ran", map[string]string{"loops/LOOP-OLD.md": govLoop("LOOP-OLD", "## Stage 0: A\n\n```sh {name=copy}\necho old\n```\n")})
	r.mustSpine(exitOK, "run", "--loop", "LOOP-OLD")
	r.git("rm", "-q", "loops/LOOP-OLD.md")
	r.git("commit", "-qm", "retire LOOP-OLD")
	for _, tc := range []struct{ id, dir, want string }{
		{strings.ToLower(id), "loops", "ids that differ only in case share an artifact folder"},
		{"packs", "loops", `loop id "packs" is reserved`},
		{"LOOP-OLD", "loops", "loop id LOOP-OLD has 1 receipt(s)"},
		{"loop-old", "loops", "loop id LOOP-OLD has receipts"},
		{"LOOP-Z", ".git", "git keeps no file under a .git folder"},
		{"LOOP-Z", "loops/.git", "git keeps no file under a .git folder"},
	} {
		_, errs = r.mustSpine(exitUsage, "loop", "new", tc.id, "--objective", "x", "--dir", tc.dir)
		if !strings.Contains(errs, tc.want) {
			t.Errorf("loop new %s --dir %s: %s; want %q", tc.id, tc.dir, errs, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(r.root, "loops", "LOOP-OLD.md")); err == nil {
		t.Error("loop new wrote a document under a used id")
	}
}

func TestStatusStaleExitCode(t *testing.T) {
	now := time.Now().UTC()
	doc := func(hb time.Time, status string) string {
		return "---\nloop_id: LOOP-HB\nstatus: " + status + "\nlast_heartbeat_utc: \"" + hb.Format(time.RFC3339) + "\"\nheartbeat_ttl_minutes: 30\n---\n\n# Loop Scope: LOOP-HB\n"
	}
	for _, tc := range []struct {
		name      string
		doc       string
		args      []string
		wantExit  int
		wantStale bool
	}{
		{"stale, --stale", doc(now.Add(-2*time.Hour), "active"), []string{"status", "--stale"}, exitFailed, true},
		{"stale, plain status", doc(now.Add(-2*time.Hour), "active"), []string{"status"}, exitOK, true},
		{"fresh, --stale", doc(now.Add(-5*time.Minute), "active"), []string{"status", "--stale"}, exitOK, false},
		{"stale but closed", doc(now.Add(-2*time.Hour), "closed"), []string{"status", "--stale"}, exitOK, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newGovRepo(t, map[string]string{"loops/LOOP-HB.md": tc.doc})
			r.mustSpine(tc.wantExit, tc.args...)
			out, _ := r.mustSpine(exitOK, "status", "--json")
			var st []statusLoop
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatal(err)
			}
			if len(st) != 1 || st[0].HeartbeatStale != tc.wantStale {
				t.Errorf("heartbeat_stale: %+v, want %v", st, tc.wantStale)
			}
		})
	}
}

func TestGovernanceHelpEndsWithExitStatus(t *testing.T) {
	for _, args := range [][]string{
		{"gap", "list"}, {"gap", "file"}, {"gap", "close"}, {"pack", "list"}, {"pack", "run"},
		{"cap", "list"}, {"loop", "new"}, {"loop", "close"}, {"gap"}, {"pack"}, {"cap"}, {"loop"},
	} {
		var out bytes.Buffer
		run(append(args, "--help"), &out, &out)
		if !strings.HasSuffix(strings.TrimSpace(out.String()), "141 the reader of the output went away (spine gap list | head)") {
			t.Errorf("spine %s --help does not end with EXIT STATUS:\n%s", strings.Join(args, " "), out.String())
		}
	}
}

func TestGovernanceActionsBehindCapabilityGate(t *testing.T) {
	const loop = "LOOP-GATED"
	r := newGovRepo(t, map[string]string{
		"capabilities.yaml":     "capabilities:\n  gaps.close:\n    safety: destructive\n    approval: manual\n  loops.close:\n    approval: manual\n    gate: ALLOW_CLOSEOUT\n",
		"loops/" + loop + ".md": govLoop(loop, "## Stage 0: Go\n\n```sh {name=hello}\necho hi\n```\n"),
		"gaps.yaml":             "gaps:\n",
	})
	r.mustSpine(exitOK, "run")
	r.mustSpine(exitOK, "gap", "file", "--loop", loop, "--title", "t", "--severity", "low", "--type", "runtime-bug")
	ledger := r.read("gaps.yaml")

	for _, tc := range []struct {
		args       []string
		gate, step string
	}{
		{[]string{"gap", "close", "GAP-OP-001", "--fixed-in", loop}, "ALLOW_GAPS_CLOSE", "GAP-OP-001"},
		{[]string{"loop", "close", loop}, "ALLOW_CLOSEOUT", "close"},
	} {
		doc := r.read("loops/" + loop + ".md")
		_, errs := r.mustSpine(exitWaiting, tc.args...)
		if !strings.Contains(errs, "runs only behind gate "+tc.gate) {
			t.Errorf("spine %v: %s", tc.args, errs)
		}
		if r.read("gaps.yaml") != ledger || r.read("loops/"+loop+".md") != doc {
			t.Fatalf("spine %v changed the repository without approval", tc.args)
		}
		rc := r.receiptOf(loop, tc.step)
		if rc.Receipt.Status != "blocked" || rc.Receipt.Gate != tc.gate {
			t.Errorf("blocked receipt of %v: %s %s", tc.args, rc.Receipt.Status, rc.Receipt.Gate)
		}
		if diff := cmp.Diff([]string{rc.Dir + "/output.log", rc.Dir + "/receipt.json"}, r.headFiles()); diff != "" {
			t.Errorf("blocked commit (-want +got):\n%s", diff)
		}
		r.clean()

		t.Setenv(tc.gate, "yes")
		r.mustSpine(exitOK, tc.args...)
		rc = r.receiptOf(loop, tc.step)
		if rc.Receipt.Status != "pass" || rc.Receipt.Approval == nil || rc.Receipt.Approval.Source != "env" {
			t.Errorf("approved receipt of %v: %+v", tc.args, rc.Receipt)
		}
		if tc.step == "GAP-OP-001" {
			r.mustSpine(exitOK, "gap", "list", "--open")
			ledger = r.read("gaps.yaml")
		}
	}
	r.mustSpine(exitOK, "verify")
}

// TestGovernanceActionOpenedByGitApproval: a governance action behind a
// capability gate is opened by an approver's committed approvals: entry in
// the loop's frontmatter, as the help says (not only by NAME=yes), and
// not by a non-approver's.
func TestGovernanceActionOpenedByGitApproval(t *testing.T) {
	const loop = "LOOP-C"
	r := newGovRepo(t, map[string]string{
		"spine.yaml":            "policy:\n  approvers: [\"Dana <dana@x.example>\"]\n",
		"capabilities.yaml":     "capabilities:\n  loops.close:\n    approval: manual\n    gate: ALLOW_CLOSE\n",
		"loops/" + loop + ".md": govLoop(loop, "## Stage 0: Go\n\n```sh {name=a}\necho a\n```\n"),
	})
	r.mustSpine(exitOK, "run")
	approve := func(email string) {
		t.Setenv("GIT_AUTHOR_EMAIL", email)
		defer t.Setenv("GIT_AUTHOR_EMAIL", "op@example.com")
		doc := strings.Replace(r.read("loops/"+loop+".md"), "status: active\n", "status: active\napprovals: [ALLOW_CLOSE]\n", 1)
		r.commit("approve the close", map[string]string{"loops/" + loop + ".md": doc})
	}
	approve("op@example.com") // not an approver
	if _, errs := r.mustSpine(exitWaiting, "loop", "close", loop); !strings.Contains(errs, "who is not in policy.approvers") {
		t.Errorf("loop close approved by a non-approver: %s", errs)
	}
	r.clean()
	doc := strings.Replace(r.read("loops/"+loop+".md"), "approvals: [ALLOW_CLOSE]\n", "", 1)
	r.commit("revoke", map[string]string{"loops/" + loop + ".md": doc})
	approve("dana@x.example")
	r.mustSpine(exitOK, "loop", "close", loop)
	rc := r.receiptOf(loop, "close")
	if rc.Receipt.Status != "pass" || rc.Receipt.Approval == nil || rc.Receipt.Approval.Source != "git" || !strings.Contains(rc.Receipt.Approval.Author, "dana@x.example") {
		t.Errorf("closeout receipt: %+v approval %+v", rc.Receipt, rc.Receipt.Approval)
	}
}

func TestInvalidRegistryRefusesToRun(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	r := newGovRepo(t, map[string]string{
		"capabilities.yaml": "capabilities:\n  zfs.destroy:\n    safety: [destructive\n",
		"loops/LOOP-I.md":   govLoop("LOOP-I", "## Stage 0: Go\n\n```sh {name=wipe cap=zfs.destroy}\ntouch "+marker+"\n```\n"),
	})
	_, errs := r.mustSpine(exitUsage, "run")
	if !strings.Contains(errs, "capabilities.yaml:") || !strings.Contains(errs, "invalid YAML") {
		t.Errorf("run with an invalid registry: %s", errs)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a step ran under an unreadable registry")
	}
	out, _ := r.mustSpine(exitUsage, "lint")
	if !strings.Contains(out, "capabilities.yaml:") || !strings.Contains(out, ": error: invalid YAML") {
		t.Errorf("lint with an invalid registry:\n%s", out)
	}
}

// TestGovernanceTextIsSafeOnTheTerminal: what loop close, gap close and
// loop new print, and their refusals, show control characters escaped;
// flags that end up in receipts and commits (--host, --fixed-in, --dir)
// refuse them.
func TestGovernanceTextIsSafeOnTheTerminal(t *testing.T) {
	r := newGovRepo(t, map[string]string{
		"loops/LOOP-C.md": govLoop("LOOP-C", "## Stage 0: a\n\n```sh {name=s after=LOOP-X\x1b]0;PWN\x07\u202e/x}\ntrue\n```\n"),
		"gaps.yaml":       "gaps:\n  - id: GAP-OP-1\n    title: \"t\\e]0;T\\a\"\n    status: open\n    parent_loop: LOOP-C\n",
	})
	check := func(what, out string) {
		t.Helper()
		if strings.ContainsAny(out, "\x1b\x07\u202e") {
			t.Errorf("%s printed a control character raw:\n%q", what, out)
		}
	}
	bare := filepath.Join(t.TempDir(), "b.git")
	r.git("init", "-q", "--bare", bare)
	out, errs, _ := r.spine("loop", "close", "LOOP-C")
	check("loop close", out+errs)
	out, errs, _ = r.spine("loop", "close", "LOOP-C", "--force")
	check("loop close --force", out+errs)
	for _, args := range [][]string{
		{"gap", "close", "GAP-OP-1", "--fixed-in", "L\x1b]0;PWN\x07"},
		{"gap", "file", "--loop", "LOOP-C", "--title", "t", "--severity", "low", "--type", "runtime-bug", "--host", "h\x1b]0;PWN\x07"},
		{"loop", "new", "LOOP-N", "--objective", "o", "--dir", "d\x1b]0;X\x07"},
		{"gap", "close", "GAP-OP-1", "--fixed-in", "L\u202eX"},
		{"loop", "new", "LOOP-N", "--objective", "o", "--dir", "lo\u202eops"},
		{"keygen", "--host", "h\x1b[31m", "--out", filepath.Join(t.TempDir(), "k.key")},
		{"hook", "install", "--repo", bare, "--host", "a\x1bb"},
	} {
		out, errs, code := r.spine(args...)
		check(args[0]+" "+args[1], out+errs)
		if code != exitUsage {
			t.Errorf("spine %q: exit %d, want %d (refused)\n%s%s", args, code, exitUsage, out, errs)
		}
	}
}
