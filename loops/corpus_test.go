package loops

import (
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Independent regular expressions for run keys and gap ids (DESIGN.md
// "Receipts and run keys", "Verify packs and gaps"). FindRunKeys and
// FindGapIDs are hand scanners that claim to match exactly these.
var (
	runKeyRegexp = regexp.MustCompile(`(CAP-|S)[0-9]{8}-[0-9]{6}__[A-Za-z0-9._-]+__R[A-Za-z0-9]+`)
	gapIDRegexp  = regexp.MustCompile(`GAP-[A-Z]+-[0-9]+`)
)

// regexpSet returns the distinct matches of re in src, sorted.
func regexpSet(re *regexp.Regexp, src []byte) []string {
	set := map[string]bool{}
	for _, m := range re.FindAll(src, -1) {
		set[string(m)] = true
	}
	out := []string{}
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// corpusWant is what a person reading each corpus document finds: its loop
// id, its status as written and normalised, where its metadata lives, the
// file line of the YAML error for frontmatter strict parsers reject, and
// the titles of its stage headings.
type corpusWant struct {
	id, raw, status string
	source          MetaSource
	yamlErrLine     int // 0: no YAML error
	stages          []string
}

var corpusTable = map[string]corpusWant{
	"LOOP-AGENT-FRICTION-BACKLOG-20260302.scope.md": {
		id: "LOOP-AGENT-FRICTION-BACKLOG-20260302", raw: "closed", status: "closed",
		source: SourceFrontmatterLines, yamlErrLine: 12, // objective: Deferred friction backlog: ...
	},
	"LOOP-AGENT-MCP-SURFACE-BUILD-20260221.scope.md": {
		id: "LOOP-AGENT-MCP-SURFACE-BUILD-20260221", raw: "closed", status: "closed", source: SourceInline, // ## Status: closed
	},
	"LOOP-AI-CONSOLIDATION-20260208.scope.md": {
		id: "LOOP-AI-CONSOLIDATION-20260208", raw: "COMPLETE", status: "closed", source: SourceInline, // > **Status:** COMPLETE
	},
	"LOOP-CADDY-PROTO-FIX-20260209.scope.md": {
		id: "LOOP-CADDY-PROTO-FIX-20260209", raw: "CLOSED", status: "closed", source: SourceInline,
	},
	"LOOP-COMMS-RUNTIME-ALIGNMENT-RESEND-20260221.scope.md": {
		id: "LOOP-COMMS-RUNTIME-ALIGNMENT-RESEND-20260221", raw: "closed", status: "closed", source: SourceFrontmatter,
	},
	"LOOP-FRICTION-ROLE-PRECOMMIT-EXECUTION-NORMALIZATION-20260303.scope.md": {
		id: "LOOP-FRICTION-ROLE-PRECOMMIT-EXECUTION-NORMALIZATION-20260303", raw: "closed", status: "closed",
		source: SourceFrontmatterLines, yamlErrLine: 10, // objective: Eliminate operator friction in role/session/pre-commit flow: ...
	},
	"LOOP-HA-SCHEMA-ENVIRONMENTS-V1-20260217.scope.md": {
		id: "LOOP-HA-SCHEMA-ENVIRONMENTS-V1-20260217", raw: "closed", status: "closed",
		source: SourceFrontmatterLines, yamlErrLine: 10, // objective: WS3 registration: ...
	},
	"LOOP-HA-SSOT-BASELINE-20260215.scope.md": {
		// No metadata at all: the id is the title, the status is unknown
		// (its "## Status" section is a checklist).
		id: "LOOP-HA-SSOT-BASELINE-20260215", raw: "", status: "", source: SourceNone,
	},
	"LOOP-INBOX-SHIELD-PLANNING-20260302.scope.md": {
		id: "LOOP-INBOX-SHIELD-PLANNING-20260302", raw: "closed", status: "closed", source: SourceFrontmatter,
		stages: []string{"Phase 0: Research & Design (Complete)", "Phase 1: Foundation", "Phase 2: Intelligence", "Phase 3: Polish"},
	},
	"LOOP-INFISICAL-UI-RBAC-PARITY-LOCK-20260211.scope.md": {
		id: "LOOP-INFISICAL-UI-RBAC-PARITY-LOCK-20260211", raw: "closed", status: "closed", source: SourceFrontmatter,
	},
	"LOOP-MAILROOM-ORCHESTRATION-PLUMBING-HARDENING-20260302.scope.md": {
		id: "LOOP-MAILROOM-ORCHESTRATION-PLUMBING-HARDENING-20260302", raw: "closed", status: "closed", source: SourceFrontmatter,
	},
	"LOOP-MD1400-CAPACITY-NORMALIZATION-20260227-20260227.scope.md": {
		id: "LOOP-MD1400-CAPACITY-NORMALIZATION-20260227-20260227", raw: "closed", status: "closed", source: SourceFrontmatter,
		stages: []string{
			"Stage 0: Baseline + Drift (Read-Only)", "Stage 1: Governance Lane Registration",
			"Stage 2: Deterministic MD1400 Evidence Pack", "Stage 3: Drift Hygiene Before Provision",
			"Stage 4 Gate", "Stage 4 Activation (Approved + Executed)", "Stage 5 Copy-First Migration (In Progress)",
		},
	},
	"LOOP-MEDIA-AGENT-WORKBENCH-20260208.scope.md": {
		id: "LOOP-MEDIA-AGENT-WORKBENCH-20260208", raw: "complete", status: "closed", source: SourceInline,
	},
	"LOOP-MEDIA-MCP-SECRETS-PARITY-20260226-20260226.scope.md": {
		id: "LOOP-MEDIA-MCP-SECRETS-PARITY-20260226-20260226", raw: "closed", status: "closed", source: SourceFrontmatter,
	},
	"LOOP-MEDIA-QB-AUTH-RECONCILE-20260226-20260226.scope.md": {
		id: "LOOP-MEDIA-QB-AUTH-RECONCILE-20260226-20260226", raw: "closed", status: "closed",
		source: SourceFrontmatterLines, yamlErrLine: 8, // objective: Reconcile qB auth: ...
	},
	"LOOP-MINT-ALIGNMENT-LOCK-20260212.scope.md": {
		id: "LOOP-MINT-ALIGNMENT-LOCK-20260212", raw: "closed", status: "closed", source: SourceFrontmatter,
	},
	"LOOP-MINT-MODULE-LOOP-SCOPE-BUNDLE-20260222.scope.md": {
		id: "LOOP-MINT-MODULE-LOOP-SCOPE-BUNDLE-20260222", raw: "closed", status: "closed", source: SourceFrontmatter,
	},
	"LOOP-MINT-PROD-CUTOVER-EXECUTION-20260212.changepack.md": {
		// A change pack: | Field | Value | table with a Change ID and no
		// status row.
		id: "LOOP-MINT-PROD-CUTOVER-EXECUTION-20260212", raw: "", status: "", source: SourceInline,
	},
	"LOOP-OBSERVABILITY-DEPLOY-20260208.scope.md": {
		id: "LOOP-OBSERVABILITY-DEPLOY-20260208", raw: "closed", status: "closed", source: SourceInline,
	},
	"LOOP-SECRETS-OVERLOAD-REMEDIATION-20260211.scope.md": {
		id: "LOOP-SECRETS-OVERLOAD-REMEDIATION-20260211", raw: "closed", status: "closed", source: SourceFrontmatter,
	},
	"LOOP-SPINE-FULL-DISCONNECT-AUDIT-JD-DOCS-20260216.scope.md": {
		id: "LOOP-SPINE-FULL-DISCONNECT-AUDIT-JD-DOCS-20260216", raw: "open", status: "active", source: SourceFrontmatter,
	},
	"LOOP-SPINE-GOVERNANCE-HYGIENE-WORKTREE-D75-20260221.scope.md": {
		id: "LOOP-SPINE-GOVERNANCE-HYGIENE-WORKTREE-D75-20260221", raw: "closed", status: "closed", source: SourceFrontmatter,
	},
	"LOOP-SPINE-TERMINAL-MODEL-CLOSEOUT-20260216.scope.md": {
		id: "LOOP-SPINE-TERMINAL-MODEL-CLOSEOUT-20260216", raw: "closed", status: "closed", source: SourceFrontmatter,
	},
	"LOOP-TIMEZONE-CONSISTENCY-20260208.scope.md": {
		id: "LOOP-TIMEZONE-CONSISTENCY-20260208", raw: "complete", status: "closed", source: SourceInline,
	},
	"LOOP-VM-AUDIT-CLEANUP-20260209.scope.md": {
		id: "LOOP-VM-AUDIT-CLEANUP-20260209", raw: "CLOSED", status: "closed", source: SourceInline,
	},
	"LOOP-W45-SECRETS-PROMOTION-20260227-20260228-20260227.scope.md": {
		id: "LOOP-W45-SECRETS-PROMOTION-20260227-20260228-20260227", raw: "closed", status: "closed", source: SourceFrontmatter,
	},
	"LOOP-W79-T0-SECURITY-EMERGENCY-20260228.scope.md": {
		id: "LOOP-W79-T0-SECURITY-EMERGENCY-20260228", raw: "closed", status: "closed", source: SourceFrontmatter,
	},
}

// TestCorpus checks every real document: loop id, status, metadata source,
// the YAML finding (with its file line) for rejected frontmatter, stages,
// and the exact sets of run keys and gap ids against the independent
// regular expressions.
func TestCorpus(t *testing.T) {
	docs := corpusDocs(t)
	seen := map[string]bool{}
	for _, nd := range docs {
		t.Run(nd.name, func(t *testing.T) {
			want, ok := corpusTable[nd.name]
			if !ok {
				t.Fatalf("corpus document %s is not in corpusTable: read it and add its loop id and status", nd.name)
			}
			seen[nd.name] = true
			d := Parse("mailroom/state/loop-scopes/"+nd.name, nd.src)
			if d.LoopID != want.id {
				t.Errorf("LoopID = %q, want %q", d.LoopID, want.id)
			}
			if d.FileID != strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(nd.name, ".md"), ".scope"), ".changepack") {
				t.Errorf("FileID = %q", d.FileID)
			}
			if d.RawStatus != want.raw || d.Status != want.status {
				t.Errorf("status = %q (raw %q), want %q (raw %q)", d.Status, d.RawStatus, want.status, want.raw)
			}
			if d.MetaSource != want.source {
				t.Errorf("MetaSource = %q, want %q", d.MetaSource, want.source)
			}
			var yamlErrs []Problem
			for _, p := range d.Problems {
				if strings.HasPrefix(p.Message, "frontmatter: ") {
					yamlErrs = append(yamlErrs, p)
				}
			}
			switch {
			case want.yamlErrLine == 0 && len(yamlErrs) > 0:
				t.Errorf("unexpected frontmatter findings: %v", messages(yamlErrs))
			case want.yamlErrLine != 0 && (len(yamlErrs) != 1 || yamlErrs[0].Line != want.yamlErrLine || yamlErrs[0].Level != LevelError):
				t.Errorf("frontmatter findings = %v, want one error at line %d", messages(yamlErrs), want.yamlErrLine)
			case want.yamlErrLine != 0:
				if got := yamlErrs[0].String(); !strings.HasPrefix(got, d.Path+":"+strconv.Itoa(want.yamlErrLine)+": error: frontmatter: ") {
					t.Errorf("finding %q is not file:line: error: frontmatter: ...", got)
				}
			}
			// Nothing in the corpus is an error besides rejected YAML.
			for _, p := range d.Problems {
				if p.Level == LevelError && !strings.HasPrefix(p.Message, "frontmatter: ") {
					t.Errorf("unexpected error finding: %s", p)
				}
			}
			var stages []string
			for _, st := range d.Stages {
				stages = append(stages, st.Title)
			}
			if diff := cmp.Diff(want.stages, stages); diff != "" {
				t.Errorf("stages (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(regexpSet(runKeyRegexp, nd.src), d.RunKeys); diff != "" {
				t.Errorf("run keys (-regexp +Parse):\n%s", diff)
			}
			if diff := cmp.Diff(regexpSet(gapIDRegexp, nd.src), d.GapIDs); diff != "" {
				t.Errorf("gap ids (-regexp +Parse):\n%s", diff)
			}
			for _, r := range d.LoopRefs {
				if r == d.LoopID || !strings.HasPrefix(r, "LOOP-") {
					t.Errorf("LoopRefs holds %q", r)
				}
			}
		})
	}
	for name := range corpusTable {
		if !seen[name] {
			t.Errorf("corpusTable names %s, which is not in the corpus", name)
		}
	}
}

// TestCorpusLoad reads the corpus as a repository would: every document is
// listed, no two share a loop id.
func TestCorpusLoad(t *testing.T) {
	docs := corpusDocs(t)
	paths, err := Discover(corpusDir, []string{"*.md"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(docs) {
		t.Fatalf("Discover found %d documents, want %d", len(paths), len(docs))
	}
	set := Load(corpusDir, paths)
	if len(set.Docs) != len(docs) || len(set.Problems) != 0 {
		t.Fatalf("Load: %d docs, problems %v", len(set.Docs), set.Problems)
	}
	for _, d := range set.Docs {
		if set.ByID(d.LoopID) != d {
			t.Errorf("ByID(%q) is not %s", d.LoopID, d.Path)
		}
		if hasProblem(d.Problems, 0, "duplicate loop id") {
			t.Errorf("%s: unexpected duplicate loop id finding", d.Path)
		}
	}
}

// TestSeed checks the document the project started from: 35 run keys, 4
// gap ids, its stages, and its heartbeat.
func TestSeed(t *testing.T) {
	src, err := os.ReadFile(seedPath)
	if os.IsNotExist(err) {
		t.Skipf("seed %s not present (it lives in shared/ beside the project)", seedPath)
	}
	if err != nil {
		t.Fatal(err)
	}
	d := Parse("loops/LOOP-MD1400-CAPACITY-NORMALIZATION-20260227-20260227.scope.md", src)
	if len(d.RunKeys) != 35 {
		t.Errorf("%d run keys, want 35: %v", len(d.RunKeys), d.RunKeys)
	}
	if diff := cmp.Diff(regexpSet(runKeyRegexp, src), d.RunKeys); diff != "" {
		t.Errorf("run keys (-regexp +Parse):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"GAP-OP-1033", "GAP-OP-1034", "GAP-OP-1035", "GAP-OP-1036"}, d.GapIDs); diff != "" {
		t.Errorf("gap ids (-want +got):\n%s", diff)
	}
	if d.LoopID != "LOOP-MD1400-CAPACITY-NORMALIZATION-20260227-20260227" || d.Status != "active" || d.MetaSource != SourceFrontmatter {
		t.Errorf("id %q status %q source %q", d.LoopID, d.Status, d.MetaSource)
	}
	var stages []string
	for _, st := range d.Stages {
		stages = append(stages, st.Number+" "+st.Title)
	}
	want := []string{
		"0 Stage 0: Baseline + Drift (Read-Only)", "1 Stage 1: Governance Lane Registration",
		"2 Stage 2: Deterministic MD1400 Evidence Pack", "3 Stage 3: Drift Hygiene Before Provision",
		"4 Stage 4 Gate", "4 Stage 4 Activation (Approved + Executed)", "5 Stage 5 Copy-First Migration (In Progress)",
	}
	if diff := cmp.Diff(want, stages); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
	h := d.Heartbeat()
	if h.TTL.Minutes() != 240 || h.Last.Format("2006-01-02T15:04:05Z07:00") != "2026-02-27T03:55:03Z" {
		t.Errorf("heartbeat = %+v", h)
	}
	if len(d.Problems) != 0 {
		t.Errorf("problems: %v", messages(d.Problems))
	}
}
