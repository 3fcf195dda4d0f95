package loops

import (
	"regexp"
	"strings"
	"testing"
)

// stageRe is the regexp stageNumber implements.
var stageRe = regexp.MustCompile(`(?i)^(stage|phase|wave|step)[ -]?(\d+)\b`)

// stageNumberRe is stageNumber as it was written with stageRe: the regexp
// is tried on headings starting with an ASCII s, p or w only.
func stageNumberRe(txt string) (string, bool) {
	txt = strings.TrimLeft(txt, "*_`")
	if txt == "" {
		return "", false
	}
	switch txt[0] | 0x20 {
	case 's', 'p', 'w':
		if m := stageRe.FindStringSubmatch(txt); m != nil {
			return m[2], true
		}
	}
	return "", false
}

var stageCases = []string{
	"", "Stage 1", "stage 1: x", "STAGE-2 y", "Stage2", "Stage 12b", "Stage 12_", "Stage 12é", "Stage 12-3", "Stage  1",
	"Stage -1", "Stage- 1", "**Stage 3**", "`Phase 4`", "__Wave 5__", "Step 6.", "Steps 7", "Stag 1", "Stage", "Stage ",
	"Stage x", "phaſe 1", "ſtage 1", "ſtep 1", "PHAſE 2", "phase\u017f 1", "Phase 01", "Wave 9)", "Wave 9a", "Step 1\n",
	"STEP 3 of 4", "Stepp 1", "Stage 1 ", "S", "sTaGe 7:", "wave\t1", "Phase 1 – done", "***", "Stage ١", "Stage 9999999999999999999",
	"ſ", "p", "Phasé 1", "Phase\u212a 1", "stagE-0", "Step-", "Step -", "Stage 5_x", "Stage 5x", "Stage 5.5",
}

func TestStageNumber(t *testing.T) {
	for _, c := range stageCases {
		got, gotOK := stageNumber(c)
		want, wantOK := stageNumberRe(c)
		if got != want || gotOK != wantOK {
			t.Errorf("stageNumber(%q) = %q, %v; the regexp gives %q, %v", c, got, gotOK, want, wantOK)
		}
	}
}

func FuzzStageNumber(f *testing.F) {
	for _, c := range stageCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gotOK := stageNumber(s)
		want, wantOK := stageNumberRe(s)
		if got != want || gotOK != wantOK {
			t.Fatalf("stageNumber(%q) = %q, %v; the regexp gives %q, %v", s, got, gotOK, want, wantOK)
		}
	})
}
