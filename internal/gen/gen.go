// Package gen generates realistic loop documents for benchmarks and load
// tests: YAML frontmatter, an objective, 3 to 8 stages of `sh` steps with
// attribute lists, tables, task lists, run keys and gap references, with
// sizes distributed like real documents (median about 2 KB, a tail to
// 20 KB). Output is deterministic for a seed.
//
// Every document is lint-clean except for a few closed loops written the
// way older real documents are: about 4% have frontmatter whose YAML strict
// parsers reject (an unquoted value holding ": ") and about 8% have no
// frontmatter, with their metadata in a blockquote. Closed loops never run,
// so every loop a pipeline would run is clean.
//
// Step commands only print (echo, printf, date, uname, true): generated
// loops are safe to run. Some steps carry gate=ALLOW_… and
// destructive=true to exercise gates; they still only print.
//
//	gen.GenerateLoops(dir, 5000, 1)          // dir/loops/<LOOP-ID>.scope.md
//	src := gen.Doc(7, gen.Rand(1, 7))        // the same bytes as document 7
package gen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// MaxSize bounds the size of a generated document, in bytes.
const MaxSize = 20 << 10

// sizeScale is the median of the log-normal target size. The smallest
// documents are their skeleton (frontmatter, objective, three one-step
// stages, about 900 bytes) and every document ends past its target, so the
// median document comes out near 2 KB.
const sizeScale = 1850

// GenerateLoops writes n loop documents under dir/loops/ (created when
// absent), document i at Path(i) with the bytes Doc(i, Rand(seed, i)).
func GenerateLoops(dir string, n int, seed int64) error {
	if err := os.MkdirAll(filepath.Join(dir, "loops"), 0o755); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, filepath.FromSlash(Path(i)))
		if err := os.WriteFile(p, Doc(i, Rand(seed, i)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Docs returns the n documents GenerateLoops would write for seed, in
// order, without touching the disk.
func Docs(n int, seed int64) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = Doc(i, Rand(seed, i))
	}
	return out
}

// Rand returns the random source GenerateLoops uses for document i: each
// document has its own, so any one can be regenerated alone.
func Rand(seed int64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(i)))
}

var (
	areas  = []string{"MEDIA", "INFRA", "MAILROOM", "SECRETS", "HA", "MINT", "SPINE", "NETWORK", "STORAGE", "AGENT", "OBSERVABILITY", "COMMS"}
	topics = []string{"CAPACITY-NORMALIZATION", "PARITY-LOCK", "CUTOVER-EXECUTION", "DRIFT-CLEANUP", "BASELINE",
		"RUNTIME-ALIGNMENT", "HYGIENE", "MIGRATION", "AUDIT", "HARDENING", "ROTATION", "CONSOLIDATION"}
)

// LoopID returns document i's loop id, e.g.
// LOOP-MEDIA-PARITY-LOCK-00013-20260214. It depends on i only.
func LoopID(i int) string {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%90)
	return fmt.Sprintf("LOOP-%s-%s-%05d-%s", areas[i%len(areas)], topics[(i/len(areas))%len(topics)], i, day.Format("20060102"))
}

// Path returns document i's path relative to the directory given to
// GenerateLoops: loops/<LoopID>.scope.md.
func Path(i int) string { return "loops/" + LoopID(i) + ".scope.md" }

var (
	owners      = []string{"@ronny", "@operator", "@ops-oncall", "@storage-team"}
	terminals   = []string{"SPINE-EXECUTION-01", "SPINE-EXECUTION-02", "SPINE-CONTROL-01", "TERMINAL-C"}
	modes       = []string{"background", "single_worker", "orchestrator_subagents"}
	priorities  = []string{"low", "medium", "medium", "high", "high", "critical"}
	stageTitles = []string{"Baseline + Drift (Read-Only)", "Governance Lane Registration", "Deterministic Evidence Pack",
		"Drift Hygiene Before Provision", "Activation", "Copy-First Migration", "Verify and Close Out", "Rollback Drill",
		"Capture and Classify Findings", "Implement Changes", "Gate Review", "Cleanup"}
	headingWords = []string{"Stage", "Stage", "Stage", "Phase", "Step-", "Wave"}
	verbs        = []string{"list", "status", "snapshot", "probe", "audit", "verify", "inventory", "check", "collect", "report"}
	nouns        = []string{"pool", "datasets", "disks", "containers", "routes", "secrets", "certs", "queues", "backups", "vms", "mounts", "dns"}
	caps         = []string{"infra.storage.audit.snapshot", "verify.pack.run", "media.status", "gaps.status", "session.start",
		"loops.create", "network.shop.audit.canonical", "secrets.exec", "docker.compose.status", "services.health.status"}
	gates  = []string{"ALLOW_MD1400_PROVISION", "ALLOW_POOL_WIPE", "ALLOW_DNS_CUTOVER", "ALLOW_SECRET_ROTATION"}
	phrase = []string{
		"capture the current state before any change", "keep the receipts for every governed action",
		"reduce pressure on the media pool", "eliminate drift between the registry and runtime",
		"confirm the gate is honoured before destructive work", "record the artifacts next to the loop",
		"verify packs must pass before close-out", "operator approval is required for this wave",
		"no raw SSH for mutations; use the capability", "the backup stays in place until verification",
		"datasets are copied first and removed only after a checksum pass", "stale entries are archived, not deleted",
	}
)

// doc accumulates one document.
type doc struct {
	b     strings.Builder
	r     *rand.Rand
	steps int
	// manual holds the manual steps' texts so far: a document words
	// each differently (spine lint warns of a repeat).
	manual map[string]bool
}

func (d *doc) pick(list []string) string { return list[d.r.IntN(len(list))] }

func (d *doc) printf(format string, args ...any) { fmt.Fprintf(&d.b, format, args...) }

// runKey renders a run key of the DESIGN.md shape.
func (d *doc) runKey(day time.Time) string {
	const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	id := make([]byte, 10)
	for i := range id {
		id[i] = alnum[d.r.IntN(len(alnum))]
	}
	t := day.Add(time.Duration(d.r.IntN(86400)) * time.Second)
	return fmt.Sprintf("CAP-%s__%s__R%s", t.Format("20060102-150405"), d.pick(caps), id)
}

func (d *doc) sentence() string {
	s := d.pick(phrase)
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// step writes one fenced sh step with an attribute list.
func (d *doc) step(stage int) {
	d.steps++
	name := fmt.Sprintf("s%d-%s-%s-%d", stage, d.pick(verbs), d.pick(nouns), d.steps)
	attrs := "name=" + name
	switch d.r.IntN(10) {
	case 0:
		attrs += " gate=" + d.pick(gates) + " destructive=true"
	case 1:
		attrs += " allow_failure=true"
	case 2:
		attrs += " idempotent=true timeout=" + []string{"30s", "2m", "10m", "1h"}[d.r.IntN(4)]
	case 3:
		attrs += " cap=" + d.pick(caps)
	}
	if d.r.IntN(2) == 0 {
		attrs += fmt.Sprintf(" artifact=%02d-%s.txt", d.steps, name)
	}
	if d.r.IntN(8) == 0 {
		// Runme-style JSON attributes.
		d.printf("```sh {\"name\":%q,\"idempotent\":true}\n", name)
	} else {
		d.printf("```sh {%s}\n", attrs)
	}
	switch d.r.IntN(5) {
	case 0:
		d.printf("echo %q\n", d.pick(phrase))
	case 1:
		d.printf("printf '%%s\\n' %s %s\n", d.pick(nouns), d.pick(verbs))
	case 2:
		d.printf("date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ\necho %s\n", d.pick(nouns))
	case 3:
		d.printf("uname -s\ntrue\n")
	default:
		d.printf("for x in %s %s %s; do\n  echo \"$x ok\"\ndone\n", d.pick(nouns), d.pick(nouns), d.pick(nouns))
	}
	d.printf("```\n\n")
}

// filler writes one block of stage content other than a step.
func (d *doc) filler(stage int, day time.Time) {
	switch d.r.IntN(6) {
	case 0:
		d.printf("%s %s\n\n", d.sentence(), d.sentence())
	case 1:
		d.printf("| Check | Result | Receipt |\n|-------|--------|---------|\n")
		for n := 2 + d.r.IntN(4); n > 0; n-- {
			d.printf("| %s %s | %s | `%s` |\n", d.pick(nouns), d.pick(verbs), []string{"PASS", "PASS", "FAIL (non-blocking)", "16/16 PASS"}[d.r.IntN(4)], d.runKey(day))
		}
		d.printf("\n")
	case 2:
		for n := 1 + d.r.IntN(3); n > 0; n-- {
			mark := " "
			if d.r.IntN(2) == 0 {
				mark = "x"
			}
			text := fmt.Sprintf("operator confirms %s %s", d.pick(nouns), d.pick(verbs))
			for k := 2; d.manual[text]; k++ {
				text = fmt.Sprintf("operator confirms %s %s (%d)", d.pick(nouns), d.pick(verbs), k)
			}
			d.manual[text] = true
			d.printf("- [%s] %s\n", mark, text)
		}
		d.printf("\n")
	case 3:
		for n := 1 + d.r.IntN(4); n > 0; n-- {
			d.printf("- `%s`", d.runKey(day))
			if d.r.IntN(3) == 0 {
				d.printf(" -> `GAP-OP-%d`", 400+d.r.IntN(1200))
			}
			d.printf("\n")
		}
		d.printf("\n")
	case 4:
		d.printf("```text\n# documentation only: no attributes, never runs\n%s %s\n```\n\n", d.pick(nouns), d.pick(verbs))
	default:
		d.step(stage)
	}
}

// Doc returns the i-th document, drawing every choice from rng.
func Doc(i int, rng *rand.Rand) []byte {
	d := &doc{r: rng, manual: map[string]bool{}}
	id := LoopID(i)
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%90)
	// Log-normal size around the median, capped.
	target := int(sizeScale * math.Exp(rng.NormFloat64()*0.8))
	target = min(max(target, 600), MaxSize-1024)
	nStages := min(8, 3+target/2500+rng.IntN(2))

	status := []string{"closed", "closed", "closed", "closed", "closed", "closed", "closed", "closed", "closed", "closed", "closed",
		"active", "open", "active", "open", "planned", "planned", "draft", "blocked", "deferred"}[rng.IntN(20)]
	style := "frontmatter"
	if status == "closed" {
		switch rng.IntN(25) {
		case 0, 1, 2, 3:
			style = "blockquote"
		case 4, 5:
			style = "rejected"
		}
	}
	scope := strings.ToLower(areas[i%len(areas)])
	objective := fmt.Sprintf("%s for %s %s", strings.TrimSuffix(d.sentence(), "."), scope, d.pick(nouns))

	if style == "blockquote" {
		d.printf("# %s\n\n> **Status:** %s\n> **Owner:** %s\n> **Created:** %s\n> **Severity:** %s\n\n---\n\n",
			id, []string{"closed", "CLOSED", "complete", "COMPLETE"}[rng.IntN(4)], d.pick(owners), day.Format("2006-01-02"), d.pick(priorities))
	} else {
		d.printf("---\nloop_id: %s\ncreated: %s\nstatus: %s\nowner: %q\nscope: %s\npriority: %s\n",
			id, day.Format("2006-01-02"), status, d.pick(owners), scope, d.pick(priorities))
		if rng.IntN(2) == 0 {
			d.printf("execution_mode: %s\n", d.pick(modes))
		}
		if status == "active" || status == "open" {
			hb := day.Add(time.Duration(rng.IntN(86400)) * time.Second)
			d.printf("active_terminal: %s\nlast_heartbeat_utc: %q\nheartbeat_ttl_minutes: %d\n",
				d.pick(terminals), hb.Format(time.RFC3339), []int{60, 120, 240, 480}[rng.IntN(4)])
		}
		if rng.IntN(3) == 0 {
			d.printf("operator_note: %q\n", "single-terminal "+scope+" wave")
		}
		if style == "rejected" {
			d.printf("objective: %s: %s\n", objective, d.pick(phrase)) // strict YAML rejects ": "
		} else {
			d.printf("objective: %q\n", objective)
		}
		if rng.IntN(6) == 0 {
			d.printf("approvals: [%s]\n", d.pick(gates))
		}
		d.printf("---\n\n# Loop Scope: %s\n\n", id)
	}
	d.printf("## Objective\n\n%s. %s\n\n", objective, d.sentence())
	if rng.IntN(2) == 0 {
		d.printf("## Guard Commands\n\n<!-- Machine-readable: agents use these to resume/verify without rediscovery -->\n"+
			"- **Verify**: `./bin/ops cap run verify.run -- fast`\n- **Handoff**: `./bin/ops cap run session.handoff.create --loops %s`\n\n", id)
	}

	// The skeleton: every stage gets a heading and one step.
	type stage struct {
		heading string
		body    []string
	}
	stages := make([]stage, nStages)
	w, sep := d.pick(headingWords), " " // one heading style per document
	if strings.HasSuffix(w, "-") {
		w, sep = strings.TrimSuffix(w, "-"), "-"
	}
	for s := range stages {
		stages[s].heading = fmt.Sprintf("### %s%s%d: %s\n\n", w, sep, s, d.pick(stageTitles))
		sub := &doc{r: rng, steps: d.steps, manual: d.manual}
		sub.step(s)
		d.steps = sub.steps
		stages[s].body = append(stages[s].body, sub.b.String())
	}
	size := func() int {
		n := d.b.Len()
		for _, st := range stages {
			n += len(st.heading)
			for _, b := range st.body {
				n += len(b)
			}
		}
		return n
	}
	// Fill the stages up to the target size.
	for size() < target {
		s := rng.IntN(nStages)
		sub := &doc{r: rng, steps: d.steps, manual: d.manual}
		sub.filler(s, day)
		d.steps = sub.steps
		stages[s].body = append(stages[s].body, sub.b.String())
	}
	d.printf("## Stages\n\n")
	for _, st := range stages {
		d.b.WriteString(st.heading)
		for _, b := range st.body {
			d.b.WriteString(b)
		}
	}
	if rng.IntN(2) == 0 {
		d.printf("## Gaps\n\n")
		for n := 1 + rng.IntN(3); n > 0; n-- {
			d.printf("- GAP-OP-%d: %s\n", 400+rng.IntN(1200), d.pick(phrase))
		}
		d.printf("\n")
	}
	d.printf("## Success Criteria\n\n- %s\n- %s\n", d.sentence(), d.sentence())
	return []byte(d.b.String())
}
