package loops

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFindRunKeys(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"empty", "", []string{}},
		{"plain", "run CAP-20260226-225229__session.start__Rqmns59757 done",
			[]string{"CAP-20260226-225229__session.start__Rqmns59757"}},
		{"session key", "S20260301-101200__session.start__Rq1w2e3r4t5",
			[]string{"S20260301-101200__session.start__Rq1w2e3r4t5"}},
		{"code span and table", "| a | `CAP-20260101-000000__x__Ra1` |\n| b | `CAP-20260101-000001__y.z__Rb2` |",
			[]string{"CAP-20260101-000000__x__Ra1", "CAP-20260101-000001__y.z__Rb2"}},
		{"inside folder name", "receipts/sessions/RCAP-20260208-115107__infra.vm.bootstrap__Rl0f28410/receipt.md",
			[]string{"CAP-20260208-115107__infra.vm.bootstrap__Rl0f28410"}},
		{"duplicates once", "CAP-20260101-000000__x__Ra1 CAP-20260101-000000__x__Ra1", []string{"CAP-20260101-000000__x__Ra1"}},
		{"greedy capability", "S20260101-000000__a__Rb__Rc", []string{"S20260101-000000__a__Rb__Rc"}},
		{"id stops at punctuation", "CAP-20260101-000000__cap__Rabc.txt", []string{"CAP-20260101-000000__cap__Rabc"}},
		{"short timestamp", "CAP-2026010-000000__x__Ra1", []string{}},
		{"no prefix", "X20260101-000000__x__Ra1", []string{}},
		{"prefix glued to a word", "BUS20260101-000000__x__Ra1", []string{"S20260101-000000__x__Ra1"}},
		{"no id", "CAP-20260101-000000__x__R", []string{}},
		{"no capability", "CAP-20260101-000000____Ra1", []string{}},
		{"capability with underscores", "CAP-20260101-000000___x__Ra1", []string{"CAP-20260101-000000___x__Ra1"}},
		{"at start", "S20260101-000000__a__R1", []string{"S20260101-000000__a__R1"}},
		{"trailing garbage", "S20260101-000000__a__R1__", []string{"S20260101-000000__a__R1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FindRunKeys([]byte(tt.in))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FindRunKeys(%q) (-want +got):\n%s", tt.in, diff)
			}
			if diff := cmp.Diff(regexpSet(runKeyRegexp, []byte(tt.in)), got); diff != "" {
				t.Errorf("FindRunKeys(%q) differs from the regexp (-regexp +scanner):\n%s", tt.in, diff)
			}
		})
	}
}

func TestFindGapIDs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", []string{}},
		{"GAP-OP-1033 and GAP-OP-1034, GAP-OP-1033", []string{"GAP-OP-1033", "GAP-OP-1034"}},
		{"GAP-OP-1299/1300/1301", []string{"GAP-OP-1299"}},
		{"GAP-963 (no letters)", []string{}},
		{"GAP-op-1 lower case", []string{}},
		{"GAP-GAP-OP-1", []string{"GAP-OP-1"}},
		{"XGAP-OP-7", []string{"GAP-OP-7"}},
		{"GAP-OP-", []string{}},
		{"`GAP-INFRA-12`|GAP-X-0", []string{"GAP-INFRA-12", "GAP-X-0"}},
	}
	for _, tt := range tests {
		got := FindGapIDs([]byte(tt.in))
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("FindGapIDs(%q) (-want +got):\n%s", tt.in, diff)
		}
		if diff := cmp.Diff(regexpSet(gapIDRegexp, []byte(tt.in)), got); diff != "" {
			t.Errorf("FindGapIDs(%q) differs from the regexp:\n%s", tt.in, diff)
		}
	}
}

func TestFindLoopIDs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", []string{}},
		{"see LOOP-A-20260101 and `LOOP-B-C`.", []string{"LOOP-A-20260101", "LOOP-B-C"}},
		{"LOOP-X-1.scope.md LOOP-X-1", []string{"LOOP-X-1"}},
		{"XLOOP-NOPE", []string{}},
		{"LOOP- alone, LOOP-lower", []string{}},
		{"LOOP-A-- LOOP-B-", []string{"LOOP-A", "LOOP-B"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, FindLoopIDs([]byte(tt.in))); diff != "" {
			t.Errorf("FindLoopIDs(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// refPieces are fragments random inputs are assembled from: pieces of run
// keys and gap ids, and the characters at their edges, so that near misses
// are common.
var refPieces = []string{
	"CAP-", "S", "C", "A", "P", "-", "_", "__", "___", "R", "__R", "20260226", "2026022", "225229",
	"0", "9", "x", ".", "a.b", "Z", " ", "\n", "`", "|", "/", "GAP-", "OP", "-1", "12", "GAP", "É", "\xff",
	"CAP-20260226-225229__", "S20260226-225229__", "__Rabc", "session.start", "GAP-OP-1033", "RCAP-",
}

// randomRefText builds a random input from refPieces.
func randomRefText(r *rand.Rand) []byte {
	var b strings.Builder
	for n := r.IntN(40); n >= 0; n-- {
		b.WriteString(refPieces[r.IntN(len(refPieces))])
	}
	return []byte(b.String())
}

// TestRefScannersMatchRegexp is a property test: on many random inputs
// the hand scanners find exactly the regular expressions' matches.
func TestRefScannersMatchRegexp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 200000
	if testing.Short() || raceEnabled {
		n = 20000
	}
	for i := 0; i < n; i++ {
		src := randomRefText(r)
		if diff := cmp.Diff(regexpSet(runKeyRegexp, src), FindRunKeys(src)); diff != "" {
			t.Fatalf("FindRunKeys(%q) differs from the regexp (-regexp +scanner):\n%s", src, diff)
		}
		if diff := cmp.Diff(regexpSet(gapIDRegexp, src), FindGapIDs(src)); diff != "" {
			t.Fatalf("FindGapIDs(%q) differs from the regexp (-regexp +scanner):\n%s", src, diff)
		}
	}
}
