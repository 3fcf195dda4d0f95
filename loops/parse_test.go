package loops

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestFixtures checks the metadata read from each fixture, one per shape
// real documents use.
func TestFixtures(t *testing.T) {
	type want struct {
		id, idFrom, status, raw string
		source                  MetaSource
		meta                    map[string]any // a subset of the metadata
		stages                  int
	}
	tests := map[string]want{
		"LOOP-FIXTURE-BASIC-20260301.scope.md": {
			id: "LOOP-FIXTURE-BASIC-20260301", idFrom: "frontmatter", status: "active", raw: "active", source: SourceFrontmatter,
			meta: map[string]any{
				"owner": "@operator", "created": "2026-03-01", "heartbeat_ttl_minutes": int64(120),
				"last_heartbeat_utc": "2026-03-01T10:00:00Z", "approvals": []any{"ALLOW_POOL_WIPE"},
				"custom_field": "kept as is", "objective": "Rebuild the cold pool: capture state, wipe, create, verify.",
			},
			stages: 3,
		},
		"LOOP-FIXTURE-REJECTED-20260302.scope.md": {
			id: "LOOP-FIXTURE-REJECTED-20260302", idFrom: "frontmatter", status: "planned", raw: "planned", source: SourceFrontmatterLines,
			meta: map[string]any{
				"owner": "@operator", "objective": "Tidy the mail relay: drop the legacy queue, keep the archive",
				"tags": []any{"relay", "archive"},
			},
			stages: 1,
		},
		"LOOP-FIXTURE-BLOCKQUOTE-20260210.scope.md": {
			id: "LOOP-FIXTURE-BLOCKQUOTE-20260210", idFrom: "title", status: "closed",
			raw: "closed (superseded by LOOP-FIXTURE-BASIC-20260301)", source: SourceInline,
			meta: map[string]any{"blocked_by": "(none)", "owner": "@operator", "severity": "low", "created": "2026-02-10"},
		},
		"LOOP-FIXTURE-BOLD-20260211.scope.md": {
			id: "LOOP-FIXTURE-BOLD-20260211", idFrom: "title", status: "active", raw: "open", source: SourceInline,
			meta: map[string]any{"owner": "@operator", "priority": "high"},
		},
		"LOOP-FIXTURE-BULLETS-20260212.scope.md": {
			id: "LOOP-FIXTURE-BULLETS-20260212", idFrom: "title", status: "deferred", raw: "Deferred", source: SourceInline,
			meta: map[string]any{"owner": "@operator", "created": "2026-02-12"},
		},
		"LOOP-FIXTURE-METALIST-20260213.scope.md": {
			id: "LOOP-FIXTURE-METALIST-20260213", idFrom: "metadata", status: "draft", raw: "draft", source: SourceInline,
			meta: map[string]any{"owner": "@operator"},
		},
		"LOOP-FIXTURE-TABLE-20260214.changepack.md": {
			id: "LOOP-FIXTURE-TABLE-20260214", idFrom: "metadata", status: "closed", raw: "COMPLETE", source: SourceInline,
			meta: map[string]any{"owner": "@operator", "date": "2026-02-14"},
		},
		"LOOP-FIXTURE-HEADINGS-20260215.scope.md": {
			id: "LOOP-FIXTURE-HEADINGS-20260215", idFrom: "title", status: "blocked", raw: "blocked", source: SourceInline,
			meta: map[string]any{"owner": "TERM-CONTROL-01"}, stages: 4,
		},
		"LOOP-FIXTURE-LINT-20260216.scope.md": {
			id: "LOOP-FIXTURE-LINT-20260216", idFrom: "frontmatter", status: "someday-maybe", raw: "someday-maybe", source: SourceFrontmatter,
			stages: 1,
		},
		"LOOP-FIXTURE-NESTED-20260217.scope.md": {
			id: "LOOP-FIXTURE-NESTED-20260217", idFrom: "frontmatter", status: "active", raw: "OPEN", source: SourceFrontmatter,
			meta: map[string]any{
				"opened_at": "2026-02-17T04:40:00Z",
				"lanes": map[string]any{
					"A": map[string]any{"name": "Audit", "status": "pending"},
					"B": map[string]any{"name": "Docs", "status": "pending"},
				},
				"acceptance_criteria": []any{"Gate 0 rerun clean", "docs index => PASS"},
			},
		},
	}
	docs := fixtureDocs(t)
	if len(docs) != len(tests) {
		t.Errorf("%d fixtures, %d expectations", len(docs), len(tests))
	}
	for _, nd := range docs {
		t.Run(nd.name, func(t *testing.T) {
			w, ok := tests[nd.name]
			if !ok {
				t.Fatalf("no expectation for fixture %s", nd.name)
			}
			d := Parse("loops/"+nd.name, nd.src)
			got := want{id: d.LoopID, idFrom: d.IDFrom, status: d.Status, raw: d.RawStatus, source: d.MetaSource, meta: map[string]any{}, stages: len(d.Stages)}
			for k := range w.meta {
				if v, ok := d.Meta.Get(k); ok {
					got.meta[k] = v
				}
			}
			if w.meta == nil {
				w.meta = map[string]any{}
			}
			if diff := cmp.Diff(w, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRejectedYAMLFinding(t *testing.T) {
	d := Parse("loops/x.md", fixture(t, "LOOP-FIXTURE-REJECTED-20260302.scope.md"))
	want := []string{"loops/x.md:8: error: frontmatter: mapping values are not allowed in this context (read line by line instead)"}
	var got []string
	for _, p := range d.Problems {
		got = append(got, p.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Lines of the line-wise reading are file lines.
	if d.Meta.Line("loop_id") != 2 || d.Meta.Line("tags") != 9 {
		t.Errorf("lines: loop_id %d tags %d", d.Meta.Line("loop_id"), d.Meta.Line("tags"))
	}
}

func TestFrontmatterVariants(t *testing.T) {
	tests := []struct {
		name, src      string
		id, status     string
		source         MetaSource
		problems       []string
		bodyLine       int
		title, ownerIs string
	}{
		{
			name: "no frontmatter, --- on line 3 is a rule",
			src:  "# LOOP-A-1\n\n---\nstatus: open\n---\n",
			id:   "LOOP-A-1", source: SourceNone, bodyLine: 1, title: "LOOP-A-1",
		},
		{
			name: "blank line before --- means no frontmatter",
			src:  "\n---\nloop_id: LOOP-B-1\n---\n# T\n",
			id:   "x", source: SourceNone, bodyLine: 1, title: "T",
			problems: []string{"1: warning: no loop_id in frontmatter or title; using the file name \"x\""},
		},
		{
			name: "empty block",
			src:  "---\n---\n# LOOP-C-1\n",
			id:   "LOOP-C-1", source: SourceFrontmatter, bodyLine: 3, title: "LOOP-C-1",
		},
		{
			name: "comments only",
			src:  "---\n# nothing\n---\n# LOOP-C-2\n",
			id:   "LOOP-C-2", source: SourceFrontmatter, bodyLine: 4, title: "LOOP-C-2",
		},
		{
			name: "never closes: keys read line by line",
			src:  "---\nloop_id: LOOP-D-1\nstatus: open\n\n# LOOP-D-1\n\nbody\n",
			id:   "LOOP-D-1", status: "active", source: SourceFrontmatterLines, bodyLine: 1, title: "LOOP-D-1",
			problems: []string{"1: error: frontmatter: block opened on line 1 never closes with ---"},
		},
		{
			name: "not a mapping",
			src:  "---\n- a\n- b\n---\n# LOOP-E-1\n",
			id:   "LOOP-E-1", source: SourceFrontmatterLines, bodyLine: 5, title: "LOOP-E-1",
			problems: []string{"1: error: frontmatter: not a mapping of keys to values (read line by line instead)"},
		},
		{
			name: "BOM and CRLF",
			src:  "\xef\xbb\xbf---\r\nloop_id: LOOP-F-1\r\nstatus: Planned\r\nowner: x\r\n---\r\n# Loop Scope: LOOP-F-1\r\n",
			id:   "LOOP-F-1", status: "planned", source: SourceFrontmatter, bodyLine: 6, title: "Loop Scope: LOOP-F-1", ownerIs: "x",
		},
		{
			name: "rejected YAML with CRLF keeps file lines",
			src:  "---\r\nloop_id: LOOP-G-1\r\nstatus: open\r\nobjective: a: b\r\n---\r\n",
			id:   "LOOP-G-1", status: "active", source: SourceFrontmatterLines, bodyLine: 6,
			problems: []string{"4: error: frontmatter: mapping values are not allowed in this context (read line by line instead)"},
		},
		{
			name: "wrong types",
			src:  "---\nloop_id: [a, b]\nstatus: 3\nheartbeat_ttl_minutes: soon\napprovals: {a: b}\n---\n# LOOP-H-1\n",
			id:   "LOOP-H-1", status: "3", source: SourceFrontmatter, bodyLine: 7, title: "LOOP-H-1",
			problems: []string{
				"2: error: frontmatter: loop_id must be a string, got a list",
				"2: error: loop_id \"a, b\" is not a loop id (no spaces allowed); ignoring it",
				"3: error: frontmatter: status must be a string, got a number",
				"3: warning: unknown status \"3\" (known: active, open, draft, planned, blocked, deferred, closed)",
				"4: warning: frontmatter: heartbeat_ttl_minutes must be a whole number of minutes, got \"soon\"",
				"5: error: frontmatter: approvals must be a list of gate names",
			},
		},
		{
			name: "a key written twice",
			src:  "---\nloop_id: LOOP-K-1\nowner: a\nstatus: active\nowner: b\n---\n# LOOP-K-1\n",
			id:   "LOOP-K-1", status: "active", source: SourceFrontmatter, bodyLine: 7, title: "LOOP-K-1",
			problems: []string{"5: warning: frontmatter: key owner appears twice (first on line 3); spine reads the first"},
		},
		{
			name: "YAML line breaks that are not LF keep file lines",
			src:  "---\nloop_id: LOOP-J-1\na: \"x\r\n\"\rb: [\n---\n",
			id:   "LOOP-J-1", source: SourceFrontmatterLines, bodyLine: 6,
			problems: []string{"4: error: frontmatter: did not find expected node content (read line by line instead)"},
		},
		{
			name: "a control character names its line",
			src:  "---\nloop_id: LOOP-J-2\nstatus: active\nnote: \"a\x01b\"\n---\n",
			id:   "LOOP-J-2", status: "active", source: SourceFrontmatterLines, bodyLine: 6,
			problems: []string{"4: error: frontmatter: control characters are not allowed (read line by line instead)"},
		},
		{
			name: "an alias to no anchor names its line",
			src:  "---\nloop_id: LOOP-J-3\nstatus: active\nowner: *who\n---\n",
			id:   "LOOP-J-3", status: "active", source: SourceFrontmatterLines, bodyLine: 6,
			problems: []string{"4: error: frontmatter: unknown anchor 'who' referenced (read line by line instead)"},
		},
		{
			name: "loop id with bad characters",
			src:  "---\nloop_id: LOOP/../X\n---\n",
			id:   "LOOP/../X", source: SourceFrontmatter, bodyLine: 4,
			problems: []string{"2: error: loop id \"LOOP/../X\" has characters outside [A-Za-z0-9._-]"},
		},
		{
			name: "alias bomb is bounded",
			src: "---\nloop_id: LOOP-I-1\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
				"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n" +
				"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n" +
				"g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n---\n",
			id: "LOOP-I-1", source: SourceFrontmatterLines, bodyLine: 11,
			problems: []string{"1: error: frontmatter: block expands to too many values (aliases?) (read line by line instead)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Parse("loops/x.md", []byte(tt.src))
			if d.LoopID != tt.id || d.Status != tt.status || d.MetaSource != tt.source || d.BodyLine != tt.bodyLine || d.Title != tt.title {
				t.Errorf("id %q status %q source %q body line %d title %q", d.LoopID, d.Status, d.MetaSource, d.BodyLine, d.Title)
			}
			if tt.ownerIs != "" && d.Meta.String("owner") != tt.ownerIs {
				t.Errorf("owner = %q", d.Meta.String("owner"))
			}
			want := tt.problems
			if want == nil {
				want = []string{}
			}
			if diff := cmp.Diff(want, messages(d.Problems)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInlineMetadataShapes(t *testing.T) {
	tests := []struct {
		name, src string
		want      Meta
	}{
		{
			name: "blockquote",
			src:  "# LOOP-A-1\n\n> **Status:** closed (superseded by LOOP-B-2)\n> **Blocked By:** LOOP-C-3\n>\n> **Owner:** `@op`\n\n---\n\nText.\n",
			want: Meta{{"status", "closed (superseded by LOOP-B-2)", 3}, {"blocked_by", "LOOP-C-3", 4}, {"owner", "@op", 6}},
		},
		{
			name: "bold lines",
			src:  "# LOOP-A-1\n**Status:** open\n**Priority:** high\n\nThe plan.\n**Note:** not metadata any more\n",
			want: Meta{{"status", "open", 2}, {"priority", "high", 3}},
		},
		{
			name: "bullets",
			src:  "# LOOP-A-1\n\n- **status**: closed\n* **Owner:** @op\n\n## Notes\n",
			want: Meta{{"status", "closed", 3}, {"owner", "@op", 4}},
		},
		{
			name: "metadata section",
			src:  "# LOOP-A-1\n\n## Metadata\n\n- Status: planned\n- Loop: LOOP-A-1\n- Created: 2026-02-01\n\n## Plan\n\n- step: not metadata\n",
			want: Meta{{"status", "planned", 5}, {"loop_id", "LOOP-A-1", 6}, {"created", "2026-02-01", 7}},
		},
		{
			name: "field value table",
			src:  "# Change Pack: X\n\n| Field | Value |\n|---|---|\n| Change ID | LOOP-T-1 |\n| Status | draft |\n\n| Other | Table |\n|---|---|\n| a | b |\n",
			want: Meta{{"loop_id", "LOOP-T-1", 5}, {"status", "draft", 6}},
		},
		{
			name: "heading metadata",
			src:  "# LOOP-A-1\n\n## Status: closed\n## Created: 2026-02-21\n## Phase 1: Foundation\n",
			want: Meta{{"status", "closed", 3}, {"created", "2026-02-21", 4}},
		},
		{
			name: "first line is metadata, no title",
			src:  "**Status:** draft\n\nbody\n",
			want: Meta{{"status", "draft", 1}},
		},
		{
			name: "duplicate keys: the first wins",
			src:  "> **Status:** open\n> **Status:** closed\n",
			want: Meta{{"status", "open", 1}},
		},
		{
			name: "CRLF",
			src:  "# LOOP-A-1\r\n\r\n> **Status:** closed\r\n> **Owner:** @op\r\n",
			want: Meta{{"status", "closed", 3}, {"owner", "@op", 4}},
		},
		{
			name: "prose first: no metadata",
			src:  "# LOOP-A-1\n\nSome prose.\n\n**Status:** open\n",
			want: Meta{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Parse("loops/x.md", []byte(tt.src))
			if diff := cmp.Diff(tt.want, d.Meta); diff != "" {
				t.Errorf("meta (-want +got):\n%s", diff)
			}
			wantSource := SourceInline
			if len(tt.want) == 0 {
				wantSource = SourceNone
			}
			if d.MetaSource != wantSource {
				t.Errorf("MetaSource = %q, want %q", d.MetaSource, wantSource)
			}
		})
	}
}

func TestLoopIDSources(t *testing.T) {
	tests := []struct {
		name, path, src, id, from string
		warn                      bool
	}{
		{"frontmatter wins over title", "loops/f.md", "---\nloop_id: LOOP-FM-1\n---\n# LOOP-TITLE-1\n", "LOOP-FM-1", "frontmatter", false},
		{"loop scope title", "loops/f.md", "# Loop Scope: LOOP-T-2\n", "LOOP-T-2", "title", false},
		{"bare title", "loops/f.md", "# LOOP-T-3\n", "LOOP-T-3", "title", false},
		{"title in code", "loops/f.md", "# `LOOP-T-4`\n", "LOOP-T-4", "title", false},
		{"prose title falls back to the file name", "loops/LOOP-FILE-5.scope.md", "# Some plan\n", "LOOP-FILE-5", "filename", true},
		{"no title, no metadata", "loops/LOOP-FILE-6.md", "text\n", "LOOP-FILE-6", "filename", false},
		{"inline loop id", "loops/f.md", "# Plan\n\n> **Loop ID:** LOOP-IN-7\n", "LOOP-IN-7", "metadata", false},
		{"second level-1 heading ignored", "loops/f.md", "# LOOP-A-8\n\n# LOOP-B-8\n", "LOOP-A-8", "title", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Parse(tt.path, []byte(tt.src))
			if d.LoopID != tt.id || d.IDFrom != tt.from {
				t.Errorf("LoopID %q from %q, want %q from %q", d.LoopID, d.IDFrom, tt.id, tt.from)
			}
			if got := hasProblem(d.Problems, 1, "using the file name"); got != tt.warn {
				t.Errorf("file name warning = %v, want %v: %v", got, tt.warn, messages(d.Problems))
			}
		})
	}
	if d := Parse("loops/.md", []byte("text\n")); !hasProblem(d.Problems, 1, "missing loop id") || d.LoopID != "" {
		t.Errorf("empty file name: id %q, problems %v", d.LoopID, messages(d.Problems))
	}
}

func TestStageHeadings(t *testing.T) {
	src := `# LOOP-S-1

## Stage 4: Activation
### Phase 0 — Audit
#### Step-2: Copy
## Wave 3
## stage 12 lower case
## **Stage 7**: bold
## Stage4 no space
## Stages 1-3 overview
## Staged rollout
## P1: not a stage
## Phase: not numbered
# Stage 9 title level is not a stage
`
	d := Parse("loops/x.md", []byte(src))
	type stage struct {
		Number, Title string
		Level, Line   int
	}
	var got []stage
	for _, s := range d.Stages {
		got = append(got, stage{s.Number, s.Title, s.Level, s.Line})
	}
	want := []stage{
		{"4", "Stage 4: Activation", 2, 3},
		{"0", "Phase 0 — Audit", 3, 4},
		{"2", "Step-2: Copy", 4, 5},
		{"3", "Wave 3", 2, 6},
		{"12", "stage 12 lower case", 2, 7},
		{"7", "**Stage 7**: bold", 2, 8},
		{"4", "Stage4 no space", 2, 9},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
}

func TestSetextStageHeading(t *testing.T) {
	src := "# LOOP-S-2\n\nStage 1: Underlined\n-------------------\n\n```sh {name=a}\nx\n```\n\n- [ ] check\n"
	d := Parse("loops/x.md", []byte(src))
	if len(d.Stages) != 1 || d.Stages[0].Title != "Stage 1: Underlined" || d.Stages[0].Line != 3 || len(d.Stages[0].Steps) != 2 {
		t.Errorf("stages: %+v", d.Stages)
	}
}

func TestTaskItems(t *testing.T) {
	src := "# LOOP-T-1\n\n## Stage 1: S\n\n" +
		"- [ ] tight one\n- [x] tight two\n\n" +
		"* [X] upper case\n\n" +
		"1. [ ] ordered\n\n" +
		"- [ ] loose one\n\n- [x] loose two\n\n" +
		"- not a task [ ] here\n- [y] not a box\n-  [ ]  extra  spaces  \n" +
		"- parent\n  - [ ] nested\n" +
		"- [ ]\n"
	d := Parse("loops/x.md", []byte(src))
	var got []string
	for _, s := range d.Stages[0].Steps {
		got = append(got, fmt.Sprintf("%d %v %q", s.Line, s.Checked, s.Name))
	}
	want := []string{
		`5 false "tight one"`, `6 true "tight two"`, `8 true "upper case"`, `10 false "ordered"`,
		`12 false "loose one"`, `14 true "loose two"`, `18 false "extra spaces"`, `20 false "nested"`, `21 false ""`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("manual steps (-want +got):\n%s", diff)
	}
}

func TestSteps(t *testing.T) {
	d := Parse("loops/x.md", fixture(t, "LOOP-FIXTURE-BASIC-20260301.scope.md"))
	if len(d.Problems) != 0 {
		t.Fatalf("problems: %v", messages(d.Problems))
	}
	type step struct {
		Stage, Kind, Name, Lang, Command string
		Line                             int
		Checked, Destructive, Allow      bool
		Idem                             bool
		Gate, Artifact, Cap, Pack        string
		Timeout                          time.Duration
	}
	var got []step
	for _, st := range d.Stages {
		for _, s := range st.Steps {
			got = append(got, step{st.Number, string(s.Kind), s.Name, s.Lang, s.Command, s.Line, s.Checked, s.Destructive, s.AllowFailure, s.Idempotent, s.Gate, s.Artifact, s.Capability(), s.Pack, s.Timeout})
		}
	}
	want := []step{
		{Stage: "0", Kind: "command", Name: "pool-list", Lang: "sh", Command: "zpool list -H\n", Line: 29, Artifact: "00-pool-list.txt", Cap: "step.pool-list"},
		{Stage: "0", Kind: "manual", Name: "operator confirmed the shelf is cabled", Line: 38, Checked: true, Cap: "step.operator confirmed the shelf is cabled"},
		{Stage: "0", Kind: "manual", Name: "operator confirmed spare disks are labelled", Line: 39, Cap: "step.operator confirmed spare disks are labelled"},
		{Stage: "1", Kind: "command", Name: "wipe-disks", Lang: "bash", Command: "for d in $DISKS; do wipefs -a \"$d\"; done\n", Line: 43,
			Destructive: true, Gate: "ALLOW_POOL_WIPE", Cap: "step.wipe-disks", Timeout: 30 * time.Minute},
		{Stage: "1", Kind: "command", Name: "settle", Lang: "sh", Command: "udevadm settle\n", Line: 47, Allow: true, Cap: "step.settle", Timeout: 90 * time.Second},
		{Stage: "2", Kind: "verify", Name: "verify-storage", Lang: "verify", Line: 53, Cap: "verify.pack.run", Pack: "storage"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	st, s := d.Step("settle")
	if st == nil || s == nil || st.Number != "1" || s.Name != "settle" {
		t.Errorf("Step(settle) = %v, %v", st, s)
	}
	if st, s := d.Step("nope"); st != nil || s != nil {
		t.Errorf("Step(nope) found something")
	}
	if d.Slug() != "loop-fixture-basic-20260301" {
		t.Errorf("Slug = %q", d.Slug())
	}
}

// TestSharedArtifactName: a second step naming the same artifact (also
// as ./NAME) is warned of, naming the first; other names are not.
func TestSharedArtifactName(t *testing.T) {
	src := "---\nloop_id: LOOP-A\n---\n\n## Stage 1: A\n\n```sh {name=a artifact=out.txt}\ntrue\n```\n\n```sh {name=b artifact=other.txt}\ntrue\n```\n\n## Stage 2: B\n\n```sh {name=c artifact=out.txt}\ntrue\n```\n"
	d := Parse("loops/a.md", []byte(src))
	want := []string{
		`17: warning: step "c": artifact "out.txt" is also the artifact of the step on line 7: the later run replaces the earlier run's file (git's history keeps it); give each step its own artifact name`,
	}
	if diff := cmp.Diff(want, messages(d.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if d.HasErrors() {
		t.Error("a shared artifact name is an error; want a warning")
	}
}

// TestManualStepWording: a manual step without text, and one worded as
// an earlier one (in any stage, spacing aside), are warned of; both still
// wait for their check box.
func TestManualStepWording(t *testing.T) {
	src := "---\nloop_id: LOOP-A\n---\n\n## Stage 1: A\n\n- [ ] \n- [ ] operator confirms  the WWN set\n- [x] cabled\n\n## Stage 2: B\n\n- [ ] operator confirms the WWN set\n- [ ] labelled\n"
	d := Parse("loops/a.md", []byte(src))
	want := []string{
		`7: warning: a manual step without text: the stage waits until it is checked; write what the operator confirms`,
		`13: warning: manual step "operator confirms the WWN set" is also on line 8: spine plan cannot tell them apart; word each differently`,
	}
	if diff := cmp.Diff(want, messages(d.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	n := 0
	for _, st := range d.Stages {
		for _, s := range st.Steps {
			if s.Kind == KindManual {
				n++
			}
		}
	}
	if n != 5 || d.HasErrors() {
		t.Errorf("%d manual steps, errors %v; want 5 and none", n, d.HasErrors())
	}
}

// TestYAMLTabLine: a tab in the frontmatter's indentation is named on its
// own line (YAML names the line before it, or none for the first key).
func TestYAMLTabLine(t *testing.T) {
	for _, tc := range []struct {
		src  string
		line int
	}{
		{"---\nloop_id: LOOP-T\nstatus: active\n\towner: x\n---\n# x\n", 4},
		{"---\nloop_id: LOOP-T\nstatus: active\nowner: x\n\tpriority: p1\n---\n# x\n", 5},
		{"---\n\tloop_id: LOOP-T\nstatus: active\n---\n# x\n", 2},
		// The parser's errors name the problem's line, not the line
		// before the enclosing collection's.
		{"---\nloop_id: LOOP-B\nstatus: active\nowner: a\nkey: [a, b\n---\n# x\n", 5},
		{"---\nloop_id: LOOP-E\nstatus: active\nrelated:\n  - a\n - c\n---\n# x\n", 6},
		{"---\r\nloop_id: LOOP-E\r\nstatus: active\r\nrelated:\r\n  - a\r\n - c\r\n---\r\n# x\r\n", 6},
	} {
		d := Parse("loops/t.md", []byte(tc.src))
		var errs []Problem
		for _, p := range d.Problems {
			if p.Level == LevelError {
				errs = append(errs, p)
			}
		}
		if len(errs) != 1 || errs[0].Line != tc.line {
			t.Errorf("%q: errors %v; want one, on line %d", tc.src, messages(errs), tc.line)
		}
	}
}

// TestLostSteps: a line written as a step that the parser does not read
// as one (it would never run, and a destructive step after it would run
// without it) is an error naming its line; a step shown as an example in
// a longer fence, or in one of the other character, is not.
func TestLostSteps(t *testing.T) {
	const head = "---\nloop_id: LOOP-A\n---\n\n## Stage 1: A\n\n"
	for _, tc := range []struct {
		name, body string
		want       []string
		steps      []string
	}{
		{"a backtick in the info, then a swallowed step",
			"```sh {name=note} `harmless`\necho note\n```\n\n```sh {name=backup}\necho backup\n```\n\n```sh {name=wipe destructive=true}\ntrue\n```\n",
			[]string{
				"7: error: this line is written as a step but is not one, so it would never run: it is not read as a fence (indented four spaces or more, inside an HTML block, or a ``` line whose text after the fence holds a backtick)",
				"11: error: this line is written as a step but is not one, so it would never run: it is inside the code block opened on line 9 (a fence line with text after it closes no block: was that block's closing line taken for an opening one?)",
			}, []string{"wipe"}},
		{"indented four spaces",
			"    ```sh {name=a}\n    true\n    ```\n\n```sh {name=b}\ntrue\n```\n",
			[]string{"7: error: this line is written as a step but is not one, so it would never run: it is not read as a fence (indented four spaces or more, inside an HTML block, or a ``` line whose text after the fence holds a backtick)"},
			[]string{"b"}},
		{"inside an HTML block",
			"<div>\n```sh {name=a}\ntrue\n```\n</div>\n\n```sh {name=b}\ntrue\n```\n",
			[]string{"8: error: this line is written as a step but is not one, so it would never run: it is not read as a fence (indented four spaces or more, inside an HTML block, or a ``` line whose text after the fence holds a backtick)"},
			[]string{"b"}},
		{"an unclosed fence",
			"```sh {name=a}\ntrue\n```\n\n````\nnotes\n\n```sh {name=b}\ntrue\n```\n",
			[]string{"14: error: this line is written as a step but is not one, so it would never run: it is inside the code block opened on line 11, which is never closed"},
			[]string{"a"}},
		{"a list item's fence indented into code",
			"```sh {name=a}\ntrue\n```\n\n-     ```sh {name=b}\n      true\n      ```\n\n```sh {name=c}\ntrue\n```\n",
			[]string{"11: error: this line is written as a step but is not one, so it would never run: it is not read as a fence (indented four spaces or more, inside an HTML block, or a ``` line whose text after the fence holds a backtick)"},
			[]string{"a", "c"}},
		{"a no-break space before the fence",
			"\u00a0```sh {name=a}\n\u00a0true\n\u00a0```\n\n```sh {name=b}\ntrue\n```\n",
			[]string{"7: error: this line is written as a step but is not one, so it would never run: it is not read as a fence (indented four spaces or more, inside an HTML block, or a ``` line whose text after the fence holds a backtick)"},
			[]string{"b"}},
		{"commented out",
			"<!--\n```sh {name=a}\nrm -rf /\n```\n-->\n\n```sh {name=b}\ntrue\n```\n",
			[]string{"8: warning: this step is commented out (inside an HTML comment): it does not run"},
			[]string{"b"}},
		{"inside the evidence block",
			"```sh {name=a}\ntrue\n```\n\n## Execution Evidence\n\n<!-- spine:evidence:begin -->\n```sh {name=b}\ntrue\n```\n<!-- spine:evidence:end -->\n",
			[]string{"14: error: this line is written as a step but is not one, so it would never run: it is inside spine's evidence block, which spine rewrites: move it out of the block"},
			[]string{"a"}},
		{"an example in a longer fence", "````markdown\n```sh {name=example}\nrm -rf /\n```\n````\n\n```sh {name=b}\ntrue\n```\n", nil, []string{"b"}},
		{"an example in a tilde fence", "~~~\n```sh {name=example}\n```\n~~~\n\n```sh {name=b}\ntrue\n```\n", nil, []string{"b"}},
		{"steps in a list and a block quote", "- item\n\n  ```sh {name=a}\n  true\n  ```\n\n> ```sh {name=b}\n> true\n> ```\n", nil, []string{"a", "b"}},
		{"plain steps", "```sh {name=a}\ntrue\n```\n\n```bash {name=b}\ntrue\n```\n", nil, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Parse("loops/a.md", []byte(head+tc.body))
			if diff := cmp.Diff(tc.want, messages(d.Problems), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			var steps []string
			for _, st := range d.Stages {
				for _, s := range st.Steps {
					steps = append(steps, s.Name)
				}
			}
			if diff := cmp.Diff(tc.steps, steps); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStepLint(t *testing.T) {
	d := Parse("loops/LOOP-FIXTURE-LINT-20260216.scope.md", fixture(t, "LOOP-FIXTURE-LINT-20260216.scope.md"))
	want := []string{
		`3: warning: unknown status "someday-maybe" (known: active, open, draft, planned, blocked, deferred, closed)`,
		"9: error: step \"too-early\" is outside any stage (put it under a `### Stage N: ...` heading)",
		`19: error: duplicate step name "dup" (also on line 15)`,
		`23: error: unknown step attribute "colour" (known: name, cap, gate, destructive, allow_failure, idempotent, timeout, background, host, artifact, after, pack)`,
		`27: error: attribute timeout="soon": want a positive Go duration such as 90s or 2h`,
		`27: error: attribute destructive="maybe": want true or false`,
		`31: error: artifact name "../../etc/passwd" escapes the loop's artifact folder (no path separators)`,
		`35: error: step has no name attribute (name=... is its identity across edits)`,
	}
	if diff := cmp.Diff(want, messages(d.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if !d.HasErrors() {
		t.Error("HasErrors = false")
	}
	// Every finding's String names the file and line.
	for _, p := range d.Problems {
		if !strings.HasPrefix(p.String(), "loops/LOOP-FIXTURE-LINT-20260216.scope.md:") {
			t.Errorf("finding %q does not start with the path", p)
		}
	}
}

func TestStepFindings(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"documentation block never runs", "```sh\nrm -rf /\n```\n", []string{}},
		{"documentation block outside a stage", "", []string{}},
		{"unknown language", "```python {name=p}\nprint()\n```\n", []string{`5: error: step language "python" is not runnable (use sh, bash, shell or verify)`}},
		{"no language", "``` {name=p}\nx\n```\n", []string{"5: error: step has no language: write ```sh {...}, ```bash {...} or ```verify {...}"}},
		{"verify without pack", "```verify {name=v}\n```\n", []string{`5: error: verify step "v" has no pack attribute`}},
		{"attribute twice", "```sh {name=a name=b}\nx\n```\n", []string{`5: error: attribute "name" given twice`}},
		{"bad gate", "```sh {name=a gate=allow-x}\nx\n```\n", []string{`5: error: gate "allow-x": must be an environment variable name such as ALLOW_MD1400_PROVISION`}},
		// A refused name is said once: the step has a name attribute.
		{"bad name", "```sh {name=../x}\nx\n```\n", []string{
			`5: error: step name "../x": use letters, digits, '.', '_' and '-' (it becomes part of run keys and paths)`}},
		{"empty name", "```sh {name=}\nx\n```\n", []string{
			`5: error: step name "": use letters, digits, '.', '_' and '-' (it becomes part of run keys and paths)`}},
		{"bad cap", "```sh {name=a cap=\"x y\"}\nx\n```\n", []string{`5: error: cap "x y": use letters, digits, '.', '_' and '-'`}},
		{"negative timeout", "```sh {name=a timeout=-1s}\nx\n```\n", []string{`5: error: attribute timeout="-1s": want a positive Go duration such as 90s or 2h`}},
		{"bool words", "```sh {name=a background=yes idempotent=off allow_failure}\nx\n```\n", []string{}},
		{"CRLF code", "```sh {name=a}\r\nzfs list\r\nrm -rf /tank/old\r\n```\r\n", []string{
			"6: error: step \"a\": its code has a carriage return (CRLF line endings, from a Windows editor or git's core.autocrlf), which the shell would take as part of the line's last word; save the document with LF line endings (dos2unix, or `*.md text eol=lf` in .gitattributes)"}},
		{"CR on a later line", "```bash {name=a}\nzfs list\necho done\r\n```\n", []string{
			"7: error: step \"a\": its code has a carriage return (CRLF line endings, from a Windows editor or git's core.autocrlf), which the shell would take as part of the line's last word; save the document with LF line endings (dos2unix, or `*.md text eol=lf` in .gitattributes)"}},
		{"CRLF around a documentation block", "```sh\r\necho doc\r\n```\r\n", []string{}},
		{"artifact dot", "```sh {name=a artifact=.hidden}\nx\n```\n", []string{`5: error: artifact name ".hidden" must not start with a dot`}},
		{"artifact dotdot", "```sh {name=a artifact=..}\nx\n```\n", []string{`5: error: artifact name ".." is empty or a directory`}},
		{"artifact backslash", "```sh {name=a artifact=..\\\\x}\nx\n```\n", []string{`5: error: artifact name "..\\\\x" escapes the loop's artifact folder (no path separators)`}},
		{"evidence end marker missing", "text\n\n<!-- spine:evidence:begin -->\n- old\n", []string{`7: warning: evidence block is missing its end marker; spine leaves the evidence block alone until the markers are fixed`}},
		{"evidence markers twice", "<!-- spine:evidence:begin -->\n<!-- spine:evidence:end -->\n<!-- spine:evidence:begin -->\n<!-- spine:evidence:end -->\n", []string{`5: warning: evidence markers appear more than once; refusing to guess which block is spine's; spine leaves the evidence block alone until the markers are fixed`}},
		{"verify pack invalid", "```verify {name=v pack=..}\n```\n", []string{`5: error: pack "..": use letters, digits, '.', '_' and '-'`}},
		{"verify pack missing", "```verify {name=v}\n```\n", []string{`5: error: verify step "v" has no pack attribute`}},
		{"artifact escape sequence", "```sh {\"name\":\"a\",\"artifact\":\"x\\u001b[31my\\u0007.txt\"}\nx\n```\n", []string{`5: error: artifact name "x\x1b[31my\a.txt" holds a control character`}},
		{"artifact line break", "```sh {\"name\":\"a\",\"artifact\":\"x\\ny.txt\"}\nx\n```\n", []string{`5: error: artifact name "x\ny.txt" holds a control character`}},
		{"unterminated list", "```sh {name=a\nx\n```\n", []string{
			`5: error: step: attribute list "{name=a" does not end with }`,
			`5: error: step has no name attribute (name=... is its identity across edits)`}},
		{"JSON wrong type", "```sh {\"name\":\"a\",\"timeout\":[1]}\nx\n```\n", []string{
			`5: error: step: attribute "timeout": value must be a string, number or boolean`,
			`5: error: step has no name attribute (name=... is its identity across edits)`}},
		{"JSON trailing garbage", "```sh {\"name\":\"a\"} }\nx\n```\n", []string{
			`5: error: step: attribute list: unexpected "}" after the JSON object`,
			`5: error: step has no name attribute (name=... is its identity across edits)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "# LOOP-X-1\n\n## Stage 1: S\n\n" + tt.body
			d := Parse("loops/x.md", []byte(src))
			if diff := cmp.Diff(tt.want, messages(d.Problems)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStepsScopedToStage(t *testing.T) {
	src := "# LOOP-X-1\n\n## Stage 1: A\n\n### Details\n\n```sh {name=a}\nx\n```\n\n- [ ] check a\n  across two lines\n\n## Notes\n\n```sh {name=b}\ny\n```\n\n- [ ] not a step\n\n## Stage 2: B\n\n> - [x] quoted task\n"
	d := Parse("loops/x.md", []byte(src))
	if len(d.Stages) != 2 || len(d.Stages[0].Steps) != 2 || len(d.Stages[1].Steps) != 1 {
		t.Fatalf("stages: %+v", d.Stages)
	}
	if got := d.Stages[0].Steps[1].Name; got != "check a across two lines" {
		t.Errorf("manual step name %q", got)
	}
	if !d.Stages[1].Steps[0].Checked {
		t.Errorf("quoted task not checked")
	}
	if diff := cmp.Diff([]string{"16: error: step \"b\" is outside any stage (put it under a `### Stage N: ...` heading)"}, messages(d.Problems)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestNormalizeStatus(t *testing.T) {
	tests := []struct {
		raw, want string
		ok        bool
	}{
		{"", "", true},
		{"  ", "", true},
		{"open", "active", true},
		{"OPEN", "active", true},
		{"Active", "active", true},
		{"in_progress", "active", true},
		{"In Progress", "active", true},
		{"draft", "draft", true},
		{"planned", "planned", true},
		{"blocked", "blocked", true},
		{"deferred", "deferred", true},
		{"closed", "closed", true},
		{"CLOSED", "closed", true},
		{"COMPLETE", "closed", true},
		{"complete", "closed", true},
		{"Done", "closed", true},
		{"closed (superseded by LOOP-X-1)", "closed", true},
		{"**closed**", "closed", true},
		{"`open`", "active", true},
		{"✅ COMPLETE", "closed", true},
		{"closed — 2026-02-09", "closed", true},
		{"On Hold", "on hold", false},
		{"someday-maybe", "someday-maybe", false},
		{"3", "3", false},
		{"-", "-", false},
		{"Open-ish", "open-ish", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeStatus(tt.raw)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeStatus(%q) = %q, %v; want %q, %v", tt.raw, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFileIDSlugValid(t *testing.T) {
	for in, want := range map[string]string{
		"loops/LOOP-A-1.scope.md":        "LOOP-A-1",
		"LOOP-A-1.changepack.md":         "LOOP-A-1",
		"a/b/LOOP-A-1.md":                "LOOP-A-1",
		`a\b\LOOP-A-1.md`:                "LOOP-A-1",
		"LOOP-A-1.v2.md":                 "LOOP-A-1.v2",
		"LOOP-A-1.2.md":                  "LOOP-A-1.2",
		".md":                            "",
		"loops/.scope.md":                ".scope",
		"LOOP-W45-20260227.scope.md.bak": "LOOP-W45-20260227.scope.md",
	} {
		if got := FileID(in); got != want {
			t.Errorf("FileID(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"LOOP-A-1":  "loop-a-1",
		"Loop A/1":  "loop-a-1",
		"..hidden":  "hidden",
		"":          "loop",
		"-._":       "_",
		"ÉTÉ-2026":  "t--2026",
		"LOOP.X_Y1": "loop.x_y1",
	} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]bool{
		"LOOP-A-1": true, "a.b_c-d": true, "": false, "-x": false, ".x": false, "a/b": false, "a b": false,
		strings.Repeat("A", 200): true, strings.Repeat("A", 201): false,
	} {
		if got := ValidLoopID(in); got != want {
			t.Errorf("ValidLoopID(%q) = %v", in, got)
		}
	}
}

func TestMetaHelpers(t *testing.T) {
	m := Meta{{"a", "x", 2}, {"n", int64(3), 3}, {"l", []any{"p", int64(1)}, 4}, {"z", nil, 5}}
	if m.String("a") != "x" || m.String("n") != "3" || m.String("l") != "p, 1" || m.String("z") != "" || m.String("missing") != "" {
		t.Errorf("String: %q %q %q %q", m.String("a"), m.String("n"), m.String("l"), m.String("z"))
	}
	if m.Line("l") != 4 || m.Line("missing") != 0 {
		t.Errorf("Line")
	}
	if _, ok := m.Get("z"); !ok {
		t.Errorf("Get(z) not found")
	}
}

// TestAfterLint: an `after` naming a step of the loop itself that the
// step could never follow (none, itself, a later one) is an error on the
// step's line; an earlier step, a step of another loop (looked up by
// lint), and a loop-qualified earlier step are not.
func TestAfterLint(t *testing.T) {
	src := "---\nloop_id: LOOP-A\nstatus: active\n---\n\n# LOOP-A\n\n## Stage 1: S\n\n" +
		"```sh {name=first}\ntrue\n```\n\n" + // line 10
		"```sh {name=typo after=frist}\ntrue\n```\n\n" + // 14
		"```sh {name=self after=self}\ntrue\n```\n\n" + // 18
		"```sh {name=early after=late}\ntrue\n```\n\n" + // 22
		"```sh {name=late after=first}\ntrue\n```\n\n" + // 26
		"```sh {name=other after=LOOP-B/x}\ntrue\n```\n\n" + // 30
		"```sh {name=own after=LOOP-A:first}\ntrue\n```\n\n" + // 34
		"```sh {name=own-late after=LOOP-A/last}\ntrue\n```\n\n" + // 38
		"```sh {name=last}\ntrue\n```\n" // 42
	d := Parse("loops/a.md", []byte(src))
	want := []string{
		`14: error: step "typo": after=frist names no step of this loop; it would wait for ever`,
		`18: error: step "self": after=self names the step itself; it would wait for ever`,
		`22: error: step "early": after=late names a step that comes after it (steps run in document order); it would wait for ever`,
		`38: error: step "own-late": after=LOOP-A/last names a step that comes after it (steps run in document order); it would wait for ever`,
	}
	if diff := cmp.Diff(want, messages(d.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestFindingsAreBounded: a step of thousands of unknown attributes lists
// maxProblems findings and one that counts the rest, an error when one of
// them is (a step of 800,000 made 1.6 million findings and gigabytes).
func TestFindingsAreBounded(t *testing.T) {
	src := "---\nloop_id: LOOP-F\nstatus: active\n---\n\n# Loop Scope: LOOP-F\n\n## Stage 1: A\n\n```sh {name=z" + strings.Repeat(" k=v", 5000) + "}\necho\n```\n"
	d := Parse("loops/f.md", []byte(src))
	if len(d.Problems) != maxProblems+1 {
		t.Fatalf("%d findings, want %d", len(d.Problems), maxProblems+1)
	}
	last := d.Problems[len(d.Problems)-1]
	if want := "8999 more findings, from this line on, are not listed (a document lists 1000)"; last.Message != want || last.Level != LevelError || last.Line != 10 {
		t.Errorf("last finding: %s (%s), want line 10: error: %s", last.Message, last.Level, want)
	}
}

// TestManyDefinitionsInATaskItem: a check-box item or a setext heading
// made of tens of thousands of link reference definitions is parsed at
// once (goldmark's definition reader took plan 9 s over 1 MB).
func TestManyDefinitionsInATaskItem(t *testing.T) {
	var defs strings.Builder
	for i := range 80_000 {
		fmt.Fprintf(&defs, "[a%d]: /u\n", i)
	}
	for name, body := range map[string]string{
		"task item": "- " + defs.String(),
		"setext":    defs.String() + "===\n",
	} {
		t.Run(name, func(t *testing.T) {
			src := "---\nloop_id: LOOP-D\n---\n\n# Loop Scope: LOOP-D\n\n## Stage 1: A\n\n```sh {name=a}\ntrue\n```\n\n" + body
			start := time.Now()
			d := Parse("loops/d.md", []byte(src))
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("parse took %s", el)
			}
			if len(d.Stages) != 1 || len(d.Stages[0].Steps) != 1 {
				t.Errorf("stages %+v", d.Stages)
			}
		})
	}
}

// TestUnlistedLostStepStillHides: a lost step whose finding is past the
// document's 1,000 still makes the loop one whose steps were not all read.
func TestUnlistedLostStepStillHides(t *testing.T) {
	var b strings.Builder
	b.WriteString("---\nloop_id: LOOP-A\nstatus: active\n---\n# Loop Scope: LOOP-A\n\n## Stage 1: A\n\n```sh {name=a}\ntrue\n```\n\n")
	for i := range 1001 {
		fmt.Fprintf(&b, "<!--\n```sh {name=c%d}\necho\n```\n-->\n\n", i)
	}
	b.WriteString("## Stage 2: B\n\n    ```sh {name=z}\n    echo lost\n    ```\n")
	d := Parse("loops/a.md", []byte(b.String()))
	if !d.StepsUnread() {
		t.Errorf("steps unread: false; last finding: %v", d.Problems[len(d.Problems)-1])
	}
	// So does the document read back from the cache.
	enc, err := encodeDocument(d)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeDocument(string(enc))
	if err != nil {
		t.Fatal(err)
	}
	if !back.StepsUnread() {
		t.Error("steps unread: false once cached")
	}
}

// TestHostIsOneName: a host with a blank around it or a list of hosts
// (which matched no host, so the step never ran, with a clean lint) is an
// error naming its line; a plain host name is fine.
func TestHostIsOneName(t *testing.T) {
	src := "---\nloop_id: LOOP-H\nstatus: active\nhost: \"nas01 \"\n---\n\n# Loop Scope: LOOP-H\n\n## Stage 1: A\n\n```sh {name=x host=\" nas01\"}\ntrue\n```\n\n```sh {name=y host=backup-01.example.org}\ntrue\n```\n"
	d := Parse("loops/h.md", []byte(src))
	var got []string
	for _, p := range d.Problems {
		got = append(got, p.String())
	}
	want := []string{
		`loops/h.md:4: error: frontmatter: host "nas01 ": one host name, of letters, digits, '.', '_' and '-'`,
		`loops/h.md:11: error: host " nas01": one host name, of letters, digits, '.', '_' and '-'`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	m := Parse("loops/m.md", []byte("---\nloop_id: LOOP-M\nstatus: active\nhost: nas01, backup01\n---\n\n# Loop Scope: LOOP-M\n"))
	if len(m.Problems) != 1 || !strings.Contains(m.Problems[0].Message, `host "nas01, backup01"`) {
		t.Errorf("a list of hosts: %v", m.Problems)
	}
}
