package loops

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseEvidence(t *testing.T) {
	const k1 = "CAP-20261126-101500__step.wipe__Rabcdefghij"
	const k2 = "CAP-20261126-101501__verify.pack.run__Rklmnopqrst"
	block := func(body string) string {
		return "---\nloop_id: LOOP-A\n---\n# LOOP-A\n\n## Execution Evidence\n\n" + EvidenceBegin + "\n" + body + EvidenceEnd + "\n"
	}
	tests := []struct {
		name string
		src  string
		want []EvidenceRun
	}{
		{"none", "# LOOP-A\n", nil},
		{"empty block", block(""), nil},
		{
			"two stages",
			block("#### Stage 1: Wipe\n\n- `" + k1 + "` (pass, step wipe)\n\n#### Stage 2: Verify\n\n- `" + k2 + "` (fail, step media: 3/4 PASS)\n"),
			[]EvidenceRun{
				{Stage: "Stage 1: Wipe", RunKey: k1, Status: "pass", Step: "wipe", Line: 11, Text: "- `" + k1 + "` (pass, step wipe)"},
				{Stage: "Stage 2: Verify", RunKey: k2, Status: "fail", Step: "media", Line: 15, Text: "- `" + k2 + "` (fail, step media: 3/4 PASS)"},
			},
		},
		{
			"CRLF",
			strings.ReplaceAll(block("#### S\n\n- `"+k1+"` (interrupted, step wipe: spine stopped)\n"), "\n", "\r\n"),
			[]EvidenceRun{{Stage: "S", RunKey: k1, Status: "interrupted", Step: "wipe", Line: 11, Text: "- `" + k1 + "` (interrupted, step wipe: spine stopped)"}},
		},
		{"bullet before any sub-heading", block("- `" + k1 + "` (pass, step wipe)\n"), nil},
		{"other shapes", block("#### S\n\n- " + k1 + " (pass, step wipe)\n- `" + k1 + "` pass\n- `" + k1 + "` (pass, wipe)\n- `a b` (pass, step wipe)\n- `" + k1 + "` (pass, step )\n- `" + k1 + "` (pass, step wipe\n"), nil},
		{"end marker after a bullet on its line", "x\n" + EvidenceBegin + "\n#### S\n\n- `" + k1 + "` (pass, step wipe: a)" + EvidenceEnd + "\n", nil},
		{"bullet outside the block", "#### S\n\n- `" + k1 + "` (pass, step wipe)\n" + block(""), nil},
		{"an example in a fence is not the block", "```markdown\n" + EvidenceBegin + "\n#### S\n\n- `" + k1 + "` (pass, step wipe)\n" + EvidenceEnd + "\n```\n", nil},
		{
			"the block after an example in a fence",
			"```\n" + EvidenceBegin + "\n#### S\n\n- `" + k2 + "` (pass, step media)\n" + EvidenceEnd + "\n```\n\n" + EvidenceBegin + "\n#### S\n\n- `" + k1 + "` (pass, step wipe)\n" + EvidenceEnd + "\n",
			[]EvidenceRun{{Stage: "S", RunKey: k1, Status: "pass", Step: "wipe", Line: 12, Text: "- `" + k1 + "` (pass, step wipe)"}},
		},
		{"markers twice", block("#### S\n\n- `"+k1+"` (pass, step wipe)\n") + EvidenceBegin + "\n", nil},
		{"end before begin", EvidenceEnd + "\n#### S\n- `" + k1 + "` (pass, step wipe)\n" + EvidenceBegin + "\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseEvidence([]byte(tt.src))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseEvidence (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseEvidence checks, for any input, that each run ParseEvidence
// returns is the line it says it is, and reads back the same from it.
func FuzzParseEvidence(f *testing.F) {
	for _, d := range seedDocs(f) {
		f.Add(d)
	}
	f.Add([]byte("x\n" + EvidenceBegin + "\n#### Stage 1: A\n\n- `CAP-20261126-101500__step.a__Rabcdefghij` (pass, step a)\n- `S20261126-101500__x__R1` (blocked, step b: gate G not approved)\n" + EvidenceEnd + "\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		lines := bytes.Split(src, []byte("\n"))
		for _, r := range ParseEvidence(src) {
			if r.Line < 1 || r.Line > len(lines) {
				t.Fatalf("run %+v: line out of range (%d lines)", r, len(lines))
			}
			if l := string(bytes.TrimSuffix(lines[r.Line-1], []byte("\r"))); l != r.Text {
				t.Fatalf("run %+v: line %d is %q", r, r.Line, l)
			}
			again, ok := parseEvidenceBullet(r.Text)
			if !ok || again.RunKey != r.RunKey || again.Status != r.Status || again.Step != r.Step || r.Stage == "" || !isStepName(r.Step) {
				t.Fatalf("run %+v does not read back from its text (%+v, %v)", r, again, ok)
			}
		}
	})
}
