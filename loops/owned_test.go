package loops

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestOnlySpineEdits(t *testing.T) {
	const fm = "---\nloop_id: LOOP-A\nstatus: active\n---\n"
	const body = "# LOOP-A\n\n## Stage 1: Do\n\n```sh {name=one}\necho one\n```\n"
	block := func(lines ...string) string {
		return "\n## Execution Evidence\n\n" + EvidenceBegin + "\n" + strings.Join(lines, "") + EvidenceEnd + "\n"
	}
	run := "#### Stage 1: Do\n\n- `CAP-20261126-194539__step.one__Rmde3xzysm4` (pass, step one)\n"
	beat := func(v string) string {
		return "---\nloop_id: LOOP-A\nstatus: active\nlast_heartbeat_utc: \"" + v + "\"\n---\n"
	}
	tests := []struct {
		name          string
		before, after string
		want          bool
	}{
		{"identical", fm + body, fm + body, true},
		{"block and heartbeat added by a run", fm + body, beat("2026-11-26T19:45:39Z") + body + block(run), true},
		{"block and heartbeat rewritten", beat("2026-11-25T10:00:00Z") + body + block(), beat("2026-11-26T19:45:39Z") + body + block(run), true},
		{"block in the middle rewritten", fm + body + "\n" + EvidenceBegin + "\n" + EvidenceEnd + "\n\n## Notes\n\nkept\n",
			fm + body + "\n" + EvidenceBegin + "\n" + run + EvidenceEnd + "\n\n## Notes\n\nkept\n", true},
		{"CRLF document", strings.ReplaceAll(fm+body, "\n", "\r\n"), strings.ReplaceAll(beat("2026-11-26T19:45:39Z")+body+block(run), "\n", "\r\n"), true},
		{"no frontmatter", body, body + block(run), true},
		{"a key written twice", "---\nloop_id: LOOP-A\nd: 0\nd:\nlast_heartbeat_utc: \"2026-11-25T10:00:00Z\"\n---\n" + body,
			"---\nloop_id: LOOP-A\nd: 0\nd:\nlast_heartbeat_utc: \"2026-11-26T19:45:39Z\"\n---\n" + body + block(run), true},
		{"a key written twice, the second edited", "---\nloop_id: LOOP-A\nd: 0\nd:\n---\n" + body,
			"---\nloop_id: LOOP-A\nd: 0\nd: 1\n---\n" + body + block(run), false},

		{"a step's command edited", fm + body, fm + strings.Replace(body, "echo one", "echo two", 1) + block(run), false},
		{"a word of prose edited", fm + body, fm + strings.Replace(body, "# LOOP-A", "# LOOP-A!", 1) + block(run), false},
		{"another frontmatter key", fm + body, "---\nloop_id: LOOP-A\nstatus: closed\n---\n" + body + block(run), false},
		{"a step added after the block", fm + body + block(), fm + body + block(run) + "\n```sh {name=two}\necho two\n```\n", false},
		{"text after the end marker", fm + body + block(), fm + body + block(run) + "more\n", false},
		{"markers removed", fm + body + block(run), fm + body, false},
		{"block deleted with its heading", fm + body + block(run), fm + body + "\n", false},
		{"heartbeat deleted", beat("2026-11-25T10:00:00Z") + body + block(), fm + body + block(run), false},
		{"markers doubled", fm + body + block(run), fm + body + block(run) + block(run), false},
		{"an open fence in the block hides a stage",
			fm + body + "\n" + EvidenceBegin + "\n" + EvidenceEnd + "\n\n## Stage 2: Later\n\n```sh {name=later}\necho later\n```\n",
			fm + body + "\n" + EvidenceBegin + "\n```\n" + EvidenceEnd + "\n\n## Stage 2: Later\n\n```sh {name=later}\necho later\n```\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OnlySpineEdits([]byte(tt.before), []byte(tt.after)); got != tt.want {
				t.Errorf("OnlySpineEdits = %v, want %v\nbefore:\n%s\nafter:\n%s", got, tt.want, tt.before, tt.after)
			}
			// What a run writes is always only spine's edit.
			if tt.want {
				return
			}
			src, err := SetEvidence([]byte(tt.before), run)
			if err != nil {
				return
			}
			if !OnlySpineEdits([]byte(tt.before), src) {
				t.Errorf("SetEvidence's own output is not only spine's edit:\n%s", src)
			}
		})
	}
}

// FuzzOnlySpineEdits checks that what a run writes into a document (a new
// evidence block, a heartbeat) is always recognised as spine's own edit
// when it leaves the stages and steps as they were: else a run whose
// commit failed would leave its loop refused until an operator commits
// spine's bytes by hand.
func FuzzOnlySpineEdits(f *testing.F) {
	for i, doc := range seedDocs(f) {
		f.Add(doc, []string{evidenceBlock, "", "x", "### Stage 1\r\n- a\n"}[i%4], int64(i)*86400*97)
	}
	f.Add([]byte("---\nloop_id: A\nlast_heartbeat_utc: \"2026-01-01T00:00:00Z\"\n---\n# A\n"), "- `K` (pass, step x)\n", int64(1764000000))
	f.Fuzz(func(t *testing.T, src []byte, block string, beat int64) {
		out, err := SetEvidence(src, block)
		if err != nil {
			return
		}
		at := time.Unix(beat%(1<<35), 0).UTC().Format(time.RFC3339)
		if hb, err := SetFrontmatter(out, HeartbeatKey, QuoteYAML(at)); err == nil {
			out = hb
		} else if !errors.Is(err, ErrNoFrontmatter) {
			return
		}
		same := sameSteps(Parse("f.md", src), Parse("f.md", out))
		if got := OnlySpineEdits(src, out); got != same {
			t.Fatalf("OnlySpineEdits = %v, steps the same: %v\n%s", got, same, lineDiff(src, out))
		}
	})
}
