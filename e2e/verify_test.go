package e2e

import (
	"strings"
	"testing"
)

// TestVerifyTellsAReceiptNotWrittenYet: spine killed after a destructive
// step's result was journaled, before its receipt was written. Until the
// next run writes the receipt, spine verify names the missing receipt and
// says that the journal holds the run and the next run writes it, instead
// of leaving it to read as a receipt lost or removed; once the next run
// has written it, verify is clean.
func TestVerifyTellsAReceiptNotWrittenYet(t *testing.T) {
	bare := newBare(t, map[string]string{
		"loops/LOOP-V.md": loopDoc("LOOP-V", "### Stage 1: Wipe\n\n"+
			step("name=wipe destructive=true", "echo wiped")+"\n"+step("name=after", "echo after")+"\n"),
	})
	clone := cloneOf(t, bare)
	if out, code := spine(t, clone, []string{"SPINE_FAULT=after-result"}, "run"); code == 0 {
		t.Fatalf("the run was not killed at after-result:\n%s", out)
	}
	out, code := spine(t, clone, nil, "verify")
	if code != 1 || !strings.Contains(out, "this host ran destructive step wipe of LOOP-V") ||
		!strings.Contains(out, "its run (pass, exit 0) is in the journal: spine stopped before writing its receipt, and the next spine run writes it") {
		t.Fatalf("verify between the crash and the next run: exit %d, want 1 saying the journal holds the run\n%s", code, out)
	}
	if out, code := spine(t, clone, nil, "run"); code != 0 {
		t.Fatalf("the run after the crash: exit %d\n%s", code, out)
	}
	if out, code := spine(t, clone, nil, "verify"); code != 0 || strings.Contains(out, "journal") {
		t.Fatalf("verify once the receipt is written: exit %d\n%s", code, out)
	}
}
