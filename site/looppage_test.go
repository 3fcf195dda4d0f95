package site

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/loops"
)

// trickyLoop exercises every escaping path of a loop page: a title, facts,
// findings and metadata with & < > " ' + and a NUL, and gaps.
const trickyLoop = "---\nloop_id: LOOP-TRICKY-1\nstatus: active\nowner: \"a+b <c> & 'd' \\\"e\\\"\"\nscope: C++ & co\nlist: [x+y, \"<z>\"]\nmap: {k: v+w}\n---\n" +
	"# LOOP-TRICKY-1: C++ <templates> & \"quotes\" + 'apostrophes' \x00\n\n" +
	"Mentions GAP-OP-1 and LOOP-OTHER-2.\n\n### Stage 1: One + two <b>\n\n```sh {name=a+b gate=ops+1}\necho '<x>' + \"y\"\n```\n\n- [ ] check <that> & this+that\n\n" +
	"```sh\nno name\n```\n"

// TestLoopPageMatchesTemplate checks that the hand-written loop page is
// byte for byte what templates/loop.html gives, on the test repository,
// the corpus and a document with every character html/template escapes.
func TestLoopPageMatchesTemplate(t *testing.T) {
	repos := map[string]string{"fixture": filepath.Join("testdata", "repo")}
	if docs, _ := filepath.Glob(filepath.Join("..", "..", "shared", "corpus", "loop-scopes", "*.md")); len(docs) > 0 {
		repos["corpus"] = filepath.Join("..", "..", "shared", "corpus")
	}
	tricky := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tricky, "loops"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tricky, "loops", "tricky.md"), []byte(trickyLoop), 0o644); err != nil {
		t.Fatal(err)
	}
	gapsYAML := "gaps:\n  - id: GAP-OP-1\n    title: \"gap + <one> & 'q'\"\n    severity: \"high+\"\n    status: open\n    parent_loop: LOOP-TRICKY-1\n    description: d\n"
	if err := os.WriteFile(filepath.Join(tricky, "gaps.yaml"), []byte(gapsYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	repos["tricky"] = tricky
	for name, root := range repos {
		t.Run(name, func(t *testing.T) {
			st := prepareRepo(t, root)
			if len(st.docs) == 0 {
				t.Fatal("no loops")
			}
			// Every loop holds its first step for an operator (failed),
			// with a reason html/template must escape.
			st.reasons = map[string]map[string]string{}
			for _, d := range st.docs {
				if _, step := firstStep(d); step != "" {
					st.reasons[d.LoopID] = map[string]string{step: "held <because> & \"x\" + 'y' \x00"}
					st.states[d.LoopID][step] = "failed"
				}
			}
			blocked := 0
			for _, d := range st.docs {
				pg := st.loopPage(d)
				if st.reasons[d.LoopID] != nil && len(pg.Held) != 1 {
					t.Errorf("%s: %d held call-outs, want 1", d.Path, len(pg.Held))
				}
				body, err := st.loopBody(d, pg)
				if err != nil {
					t.Fatal(err)
				}
				pg.Body = body
				same := func(what string) {
					t.Helper()
					var want bytes.Buffer
					if err := st.b.tmpl.ExecuteTemplate(&want, "loop.html", pg); err != nil {
						t.Fatal(err)
					}
					var got hw
					if err := st.writeLoop(&got, d, pg); err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(want.String(), got.String()); diff != "" {
						t.Errorf("%s%s: loop page differs from loop.html (-template +written):\n%s", d.Path, what, diff)
					}
				}
				same("")
				if len(pg.Blocked) > 0 {
					// The gate is listed in approvals: and the approval
					// refused, with and without the planner's reason.
					pg.Blocked[0].Listed = true
					same(" (approval listed)")
					pg.Blocked[0].Reason = "refused <because> & \"x\" + 'y'"
					same(" (approval listed, reason given)")
					blocked++
				}
			}
			if name == "fixture" && blocked == 0 {
				t.Error("no blocked gate in the fixture: the approval-listed call-out is not compared")
			}
		})
	}
}

func TestURLEscaping(t *testing.T) {
	b, err := NewBuilder()
	if err != nil {
		t.Fatal(err)
	}
	st := &buildState{b: b}
	for _, u := range []string{"../../index.html", "../x y/ü?a=b&c=d+e", "javascript:alert(1)", "https://x.example/a'b\"c", "#frag"} {
		var want bytes.Buffer
		if err := b.urlTmpl.ExecuteTemplate(&want, "spine-url", u); err != nil {
			t.Fatal(err)
		}
		var got hw
		got.s(`<a href="`)
		st.u(&got, u)
		got.s(`">`)
		if got.String() != want.String() {
			t.Errorf("u(%q) = %s, want %s", u, got.String(), want.String())
		}
	}
}

// TestExecuteRows checks that a page whose rows are written in place is
// byte for byte the page its template gives with the rows as a string,
// also when the page's own text holds the mark that stands for the rows.
func TestExecuteRows(t *testing.T) {
	b, err := NewBuilder()
	if err != nil {
		t.Fatal(err)
	}
	st := &buildState{b: b, title: "Site"}
	row := func(id, title string) loopRow {
		return loopRow{ID: id, URL: loopPath(id), Title: title, Status: "active", Total: 1, Bar: progressBar(0, 1), HeartAge: "—", HeartClass: "none"}
	}
	tests := []struct {
		name   string
		status string
		rows   []loopRow
	}{
		{"rows", "", []loopRow{row("LOOP-A-1", "a <b>"), row("LOOP-B-2", "")}},
		{"mark in a row", "", []loopRow{row("LOOP-A-1", rowsMark)}},
		{"mark in the page", rowsMark, []loopRow{row("LOOP-A-1", "x")}},
		{"mark in the page and a row", rowsMark, []loopRow{row("LOOP-A-1", rowsMark)}},
		{"no rows", "", nil},
		{"no rows, mark in the page", rowsMark, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page := func() *indexPage {
				return &indexPage{pageBase: st.base("index.html", "Loops", "loops"), Status: tc.status, Rows: tc.rows, Shown: len(tc.rows), Total: 2}
			}
			want := page()
			var rows hw
			rows.indexRows(want.Rows)
			want.RowsHTML = rows.html()
			var wantHTML bytes.Buffer
			if err := b.tmpl.ExecuteTemplate(&wantHTML, "index.html", want); err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			w := &writer{out: out, old: &manifest{files: map[string]manifestEntry{}}, next: map[string]manifestEntry{}}
			pg := page()
			if err := st.executeRows(w, "index.html", "", "index.html", pg, len(pg.Rows), &pg.RowsHTML, func(w *hw) { w.indexRows(pg.Rows) }); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(out, "index.html"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantHTML.String(), string(got)); diff != "" {
				t.Errorf("(-template +written):\n%s", diff)
			}
		})
	}
}

// firstStep returns the stage title and name of d's first named step.
func firstStep(d *loops.Document) (string, string) {
	for _, sg := range d.Stages {
		for _, s := range sg.Steps {
			if s.Name != "" {
				return sg.Title, s.Name
			}
		}
	}
	return "", ""
}

// TestHeldReasonWithWatcherHint: in a serve build that trusts the
// watcher's change set (nothing changed on disk), a changed reason of a
// held step still rewrites its loop page.
func TestHeldReasonWithWatcherHint(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("testdata", "repo"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := loops.Discover(root, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out})
	if err != nil {
		t.Fatal(err)
	}
	set := loops.Load(root, paths)
	const loop, step = "LOOP-DEMO-STORAGE-20260301", "smart-check"
	out := t.TempDir()
	opts := func(reason string) Options {
		return Options{Root: root, Out: out, Config: cfg, Set: set, Now: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC),
			StepState: func(d *loops.Document, s *loops.Step) string {
				if d.LoopID == loop && s.Name == step {
					return "interrupted"
				}
				return "done"
			},
			StepReason: func(*loops.Document, *loops.Step) string { return reason },
		}
	}
	b, err := NewBuilder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.build(context.Background(), opts("first"), nil); err != nil {
		t.Fatal(err)
	}
	st, err := b.build(context.Background(), opts("second"), &buildHint{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(out, "loops", loop, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Written == 0 || !strings.Contains(string(data), "is interrupted: second</div>") {
		t.Fatalf("%d written; loop page:\n%s", st.Written, data)
	}
}

// TestBlockedCalloutFollowsTheStepState: the loop page calls out a gate
// only while the planner has the step blocked: once it is approved (the
// step pending, waiting for its run) or gone from the document, the blocked
// receipt still in its history asks for nothing.
func TestBlockedCalloutFollowsTheStepState(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("testdata", "repo"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := loops.Discover(root, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out})
	if err != nil {
		t.Fatal(err)
	}
	set := loops.Load(root, paths)
	const loop, step = "LOOP-DEMO-STORAGE-20260301", "provision"
	for _, tc := range []struct{ state, want string }{{"blocked", "Blocked at a gate"}, {"pending", ""}, {"done", ""}} {
		out := t.TempDir()
		opts := Options{Root: root, Out: out, Config: cfg, Set: set, Now: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC),
			StepState: func(d *loops.Document, s *loops.Step) string {
				if d.LoopID == loop && s.Name == step {
					return tc.state
				}
				return "done"
			},
		}
		if _, err := Build(context.Background(), opts); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(out, "loops", loop, "index.html"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(data), "Blocked at a gate"); got != (tc.want != "") {
			t.Errorf("step %s: the page calls out its gate: %v; want %v", tc.state, got, tc.want != "")
		}
	}
}

// TestAdoptedRunsAfterIDChange: a loop whose id was changed (a typo fixed
// in loop_id) keeps, through its evidence block, the runs made under the
// old id, and the planner counts them. Its page lists them, the index
// shows the latest as its last run, and their receipt pages lead to it;
// once the block no longer records a run, the pages say so again, in a
// rebuild from the file watcher too.
func TestAdoptedRunsAfterIDChange(t *testing.T) {
	root := t.TempDir()
	const key = "CAP-20260301-100000__step.wipe__Rold"
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rc := &artifacts.Receipt{RunKey: key, LoopID: "LOOP-OLD", Stage: "Stage 1: Wipe", Step: "wipe", Capability: "step.wipe",
		Command: "true\n", CommandSHA256: artifacts.CommandSHA256("true\n"), Host: "h", StartedAt: "2026-03-01T10:00:00Z",
		FinishedAt: "2026-03-01T10:00:01Z", Status: artifacts.StatusPass, OutputSHA256: artifacts.HashBytes([]byte("ok\n"))}
	data, err := artifacts.MarshalReceipt(rc)
	if err != nil {
		t.Fatal(err)
	}
	doc := func(bullet string) string {
		return "---\nloop_id: LOOP-NEW\nstatus: active\n---\n# LOOP-NEW\n\n## Stage 1: Wipe\n\n```sh {name=wipe destructive=true}\ntrue\n```\n\n## Execution Evidence\n\n" +
			loops.EvidenceBegin + "\n#### Stage 1: Wipe\n\n" + bullet + loops.EvidenceEnd + "\n"
	}
	write("loops/new.md", doc("- `"+key+"` (pass, step wipe)\n"))
	cfg, err := config.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	b, err := NewBuilder()
	if err != nil {
		t.Fatal(err)
	}
	build := func(hint *buildHint) {
		t.Helper()
		opts := Options{Root: root, Out: out, Config: cfg, Set: loops.Load(root, []string{"loops/new.md"}), Now: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC),
			StepState: func(*loops.Document, *loops.Step) string { return "done" }}
		if _, err := b.build(context.Background(), opts, hint); err != nil {
			t.Fatal(err)
		}
	}
	read := func(rel string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	runLink := `href="../../receipts/` + key + `/index.html"`
	crumb := `<a href="../../loops/LOOP-NEW/index.html">LOOP-NEW</a> / run`

	// First without the receipt (it arrives by a pull, as the watcher
	// reports it): the block's bullet names a run not in the repository.
	build(nil)
	if loop := read("loops/LOOP-NEW/index.html"); strings.Contains(loop, runLink) {
		t.Fatalf("loop page links a run without a receipt:\n%s", loop)
	}
	write("receipts/2026/03/01/"+key+"/receipt.json", string(data))
	write("receipts/2026/03/01/"+key+"/output.log", "ok\n")
	build(&buildHint{c: changeSet{runs: map[string]bool{"receipts/2026/03/01/" + key: true}, days: map[string]bool{"receipts/2026/03/01": true}, receiptsAll: true}})
	if loop := read("loops/LOOP-NEW/index.html"); strings.Count(loop, runLink) < 2 {
		// The evidence block's link, and the runs table's.
		t.Fatalf("loop page lists the run made under the old id %d times:\n%s", strings.Count(loop, runLink), loop)
	}
	if idx := read("index.html"); !strings.Contains(idx, `href="receipts/`+key+`/index.html"`) {
		t.Fatalf("index does not show the adopted run as the loop's last run:\n%s", idx)
	}
	if rp := read("receipts/" + key + "/index.html"); !strings.Contains(rp, crumb) {
		t.Fatalf("receipt page does not lead to the loop:\n%s", rp)
	}

	// The block no longer records the run (as the watcher reports it).
	write("loops/new.md", doc(""))
	build(&buildHint{c: changeSet{docs: map[string]bool{"loops/new.md": true}}})
	if loop := read("loops/LOOP-NEW/index.html"); strings.Contains(loop, runLink) {
		t.Fatalf("loop page still lists a run it no longer records:\n%s", loop)
	}
	if rp := read("receipts/" + key + "/index.html"); strings.Contains(rp, crumb) || !strings.Contains(rp, `class="missing" title="no loop document with this id in this repository">LOOP-OLD</span>`) {
		t.Fatalf("receipt page after the bullet went:\n%s", rp)
	}
}

// TestAdoptionFollowsWhoRecordsTheRun: a loop whose id changed keeps its
// old runs on its page when a new document takes the old id (it records
// none of them), and not when the document with the old id records the run
// itself (a copy, or a bullet added by hand): as the planner counts them.
func TestAdoptionFollowsWhoRecordsTheRun(t *testing.T) {
	const key = "CAP-20260301-100000__step.wipe__Rold"
	rc := &artifacts.Receipt{RunKey: key, LoopID: "LOOP-OLD", Stage: "Stage 1: Wipe", Step: "wipe", Capability: "step.wipe",
		Command: "true\n", CommandSHA256: artifacts.CommandSHA256("true\n"), Host: "h", StartedAt: "2026-03-01T10:00:00Z",
		FinishedAt: "2026-03-01T10:00:01Z", Status: artifacts.StatusPass, OutputSHA256: artifacts.HashBytes([]byte("ok\n"))}
	data, err := artifacts.MarshalReceipt(rc)
	if err != nil {
		t.Fatal(err)
	}
	doc := func(id, bullet string) string {
		return "---\nloop_id: " + id + "\nstatus: active\n---\n# " + id + "\n\n## Stage 1: Wipe\n\n```sh {name=wipe destructive=true}\ntrue\n```\n\n## Execution Evidence\n\n" +
			loops.EvidenceBegin + "\n#### Stage 1: Wipe\n\n" + bullet + loops.EvidenceEnd + "\n"
	}
	bullet := "- `" + key + "` (pass, step wipe)\n"
	for _, tc := range []struct {
		name      string
		oldBullet string
		adopted   bool
	}{
		{"a new document takes the old id", "", true},
		{"the old id's document records the run", bullet, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for rel, content := range map[string]string{
				"loops/new.md": doc("LOOP-NEW", bullet),
				"loops/old.md": doc("LOOP-OLD", tc.oldBullet),
				"receipts/2026/03/01/" + key + "/receipt.json": string(data),
				"receipts/2026/03/01/" + key + "/output.log":   "ok\n",
			} {
				p := filepath.Join(root, filepath.FromSlash(rel))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := config.Load(root)
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			opts := Options{Root: root, Out: out, Config: cfg, Set: loops.Load(root, []string{"loops/new.md", "loops/old.md"}), Now: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)}
			if _, err := Build(context.Background(), opts); err != nil {
				t.Fatal(err)
			}
			// The receipt page leads to the loop that has the run.
			page, err := os.ReadFile(filepath.Join(out, "receipts", key, "index.html"))
			if err != nil {
				t.Fatal(err)
			}
			crumb := `<a href="../../loops/LOOP-NEW/index.html">LOOP-NEW</a> / run`
			if got := strings.Contains(string(page), crumb); got != tc.adopted {
				t.Errorf("the run's page leads to LOOP-NEW: %v, want %v", got, tc.adopted)
			}
			// The old id's page lists the run only when it is its own.
			old, err := os.ReadFile(filepath.Join(out, "loops", "LOOP-OLD", "index.html"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(old), `href="../../receipts/`+key+`/index.html"`); got == tc.adopted {
				t.Errorf("LOOP-OLD's page links the run: %v, want %v", got, !tc.adopted)
			}
		})
	}
}
