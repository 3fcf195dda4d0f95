package site_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/site"
)

// TestSignatureStateAndPublishedKey shows each receipt's signature state
// against the keys published in the repository (an unsigned receipt after
// a signed one of its loop as a warning), and copies those keys into the
// site for readers to verify with.
func TestSignatureStateAndPublishedKey(t *testing.T) {
	repo := t.TempDir()
	writeFile(t, filepath.Join(repo, "loops", "a.md"), "---\nloop_id: LOOP-SIG\nstatus: active\n---\n\n# Loop Scope: LOOP-SIG\n\n## Stage 1: X\n\n```sh {name=one}\ntrue\n```\n")
	addReceipt(t, repo, receiptSpec{key: "CAP-20260301-101500__step.one__Rsigned0001", loop: "LOOP-SIG", step: "one", stage: "Stage 1: X", status: "pass", command: "true", host: "h", output: "ok\n"})
	addReceipt(t, repo, receiptSpec{key: "CAP-20260301-101600__step.one__Runsigned01", loop: "LOOP-SIG", step: "one", stage: "Stage 1: X", status: "pass", command: "true", host: "h", output: "ok\n"})
	addReceipt(t, repo, receiptSpec{key: "CAP-20260301-101700__step.one__Rforged0001", loop: "LOOP-SIG", step: "one", stage: "Stage 1: X", status: "pass", command: "true", host: "h", output: "ok\n"})
	writeFile(t, filepath.Join(repo, "loops", "b.md"), "---\nloop_id: LOOP-PLAIN\nstatus: active\n---\n\n# Loop Scope: LOOP-PLAIN\n\n## Stage 1: X\n\n```sh {name=two}\ntrue\n```\n")
	addReceipt(t, repo, receiptSpec{key: "CAP-20260301-101800__step.two__Rplain00001", loop: "LOOP-PLAIN", step: "two", stage: "Stage 1: X", status: "pass", command: "true", host: "h", output: "ok\n"})
	key, err := artifacts.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer := artifacts.NewSigner(key)
	for _, k := range []string{"CAP-20260301-101500__step.one__Rsigned0001", "CAP-20260301-101700__step.one__Rforged0001"} {
		if _, err := signer.WriteSignature(repo, "receipts/2026/03/01/"+k); err != nil {
			t.Fatal(err)
		}
	}
	// The third receipt is edited after it was signed.
	forged := filepath.Join(repo, "receipts/2026/03/01/CAP-20260301-101700__step.one__Rforged0001/receipt.json")
	b, _ := os.ReadFile(forged)
	os.WriteFile(forged, []byte(strings.Replace(string(b), `"host": "h"`, `"host": "x"`, 1)), 0o644)
	pub, err := artifacts.MarshalPublicKey(signer.PublicKey(), "test host")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(repo, artifacts.PublishedKeysFile), string(pub))

	out := filepath.Join(t.TempDir(), "public")
	b2, err := site.NewBuilder()
	if err != nil {
		t.Fatal(err)
	}
	buildSite(t, b2, repo, out)
	page := func(k string) string {
		data, err := os.ReadFile(filepath.Join(out, "receipts", k, "index.html"))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	for k, want := range map[string]string{
		"CAP-20260301-101500__step.one__Rsigned0001": `<div class="chip ok"><b>signature</b> signed, verified`,
		// Unsigned after a signed receipt of its loop, keys published:
		// what a receipt rewritten with its envelope removed looks like.
		"CAP-20260301-101600__step.one__Runsigned01": `<div class="chip bad"><b>signature</b> unsigned, though the receipt before it in this loop is signed: check which host wrote it</div>`,
		// Unsigned in a loop nothing signed: a host that does not sign.
		"CAP-20260301-101800__step.two__Rplain00001": `<div class="chip"><b>signature</b> unsigned</div>`,
		"CAP-20260301-101700__step.one__Rforged0001": `<div class="chip bad"><b>signature</b> `,
	} {
		if !strings.Contains(page(k), want) {
			t.Errorf("%s: page lacks %q", k, want)
		}
	}
	got, err := os.ReadFile(filepath.Join(out, artifacts.PublishedKeysFile))
	if err != nil || string(got) != string(pub) {
		t.Errorf("published key not copied into the site: %v", err)
	}
}

// TestLoopChartSaysWhatItLeavesOut: a loop with runs of more steps than
// its chart shows says in the caption that the earlier ones are left out.
func TestLoopChartSaysWhatItLeavesOut(t *testing.T) {
	repo := t.TempDir()
	var doc strings.Builder
	doc.WriteString("---\nloop_id: LOOP-BIG\nstatus: active\n---\n\n# Loop Scope: LOOP-BIG\n\n## Stage 1: Many\n\n")
	for i := range 62 {
		fmt.Fprintf(&doc, "```sh {name=s%d}\ntrue\n```\n\n", i)
	}
	writeFile(t, filepath.Join(repo, "loops", "big.md"), doc.String())
	for i := range 62 {
		addReceipt(t, repo, receiptSpec{key: fmt.Sprintf("CAP-20260301-10%02d%02d__step.s%d__Rbig%07d", i/60, i%60, i, i), loop: "LOOP-BIG", step: fmt.Sprintf("s%d", i), stage: "Stage 1: Many", status: "pass", command: "true", host: "h", output: "ok\n"})
	}
	out := filepath.Join(t.TempDir(), "public")
	buildSite(t, nil, repo, out)
	page, err := os.ReadFile(filepath.Join(out, "loops", "LOOP-BIG", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "60 runs from") || !strings.Contains(string(page), "(the last 60 steps with runs; the runs of 2 earlier ones are in the table below)") {
		t.Errorf("the chart's caption does not say what it leaves out:\n%s", page)
	}
}

// TestDocumentsWithoutAPageAreListed: a loop document whose id another
// document has, or whose id cannot be a page name, gets no page; the index
// lists it, with why, rather than leave it out without a word.
func TestDocumentsWithoutAPageAreListed(t *testing.T) {
	repo := t.TempDir()
	writeFile(t, filepath.Join(repo, "loops", "a.md"), "---\nloop_id: LOOP-DUP\nstatus: closed\n---\n\n# Loop Scope: LOOP-DUP\n")
	writeFile(t, filepath.Join(repo, "loops", "b.md"), "---\nloop_id: LOOP-DUP\nstatus: active\n---\n\n# Loop Scope: LOOP-DUP\n")
	writeFile(t, filepath.Join(repo, "loops", "c.md"), "---\nloop_id: \"../../x\"\nstatus: active\n---\n\n# c\n")
	out := filepath.Join(t.TempDir(), "public")
	buildSite(t, nil, repo, out)
	index, err := os.ReadFile(filepath.Join(out, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 loop documents without a page.", "<li><code>loops/b.md: loop id LOOP-DUP is also used by loops/a.md</code></li>"} {
		if !strings.Contains(string(index), want) {
			t.Errorf("the index lacks %q:\n%s", want, index)
		}
	}
}

// TestNoExitCodeShownAsSuch: a receipt of a step that did not run (a
// blocked gate) records exit code -1, spine's "none"; the site shows it as
// none, not as a process's exit status, on the loop's runs, the receipt's
// page and the feed.
func TestNoExitCodeShownAsSuch(t *testing.T) {
	repo := t.TempDir()
	writeFile(t, filepath.Join(repo, "loops", "a.md"), "---\nloop_id: LOOP-GATE\nstatus: active\n---\n\n# Loop Scope: LOOP-GATE\n\n## Stage 1: X\n\n```sh {name=wipe gate=ALLOW_WIPE}\ntrue\n```\n")
	const key = "CAP-20260301-101500__step.wipe__Rblocked001"
	addReceipt(t, repo, receiptSpec{key: key, loop: "LOOP-GATE", step: "wipe", stage: "Stage 1: X", status: "blocked", gate: "ALLOW_WIPE", command: "true", host: "h"})
	out := filepath.Join(t.TempDir(), "public")
	b, err := site.NewBuilder()
	if err != nil {
		t.Fatal(err)
	}
	buildSite(t, b, repo, out)
	read := func(rel string) string {
		data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	for _, c := range []struct{ rel, want, not string }{
		{"loops/LOOP-GATE/index.html", `<td class="num">—</td>`, `<td class="num">-1</td>`},
		{"receipts/" + key + "/index.html", `<b>exit</b> —</span>`, `<b>exit</b> -1`},
		{"feed.xml", "no exit code", "exit -1"},
	} {
		page := read(c.rel)
		if !strings.Contains(page, c.want) || strings.Contains(page, c.not) {
			t.Errorf("%s: want %q, not %q", c.rel, c.want, c.not)
		}
	}
	// The receipt's recorded fields stay as recorded.
	if page := read("receipts/" + key + "/index.html"); !strings.Contains(page, ">-1<") {
		t.Errorf("the receipt's fields do not show exit_code -1 as recorded")
	}
}

// TestBlockedCalloutWhenTheGateIsListed: a loop whose approvals: lists the
// gate a step was blocked at was approved, and the approval did not cover
// the step: the callout asks for an approval given anew, not for adding
// what is there.
func TestBlockedCalloutWhenTheGateIsListed(t *testing.T) {
	for _, tc := range []struct {
		name, approvals, want, not string
	}{
		{"not listed", "", "have an approver add <code>ALLOW_WIPE</code> to <code>approvals:</code>", "approve it again"},
		{"listed", "approvals: [ALLOW_WIPE]\n", "have an approver approve it again (commit <code>approvals:</code> without <code>ALLOW_WIPE</code>, then with it)", "have an approver add"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := t.TempDir()
			writeFile(t, filepath.Join(repo, "loops", "a.md"), "---\nloop_id: LOOP-GATE\nstatus: active\n"+tc.approvals+"---\n\n# Loop Scope: LOOP-GATE\n\n## Stage 1: X\n\n```sh {name=wipe gate=ALLOW_WIPE}\ntrue\n```\n")
			addReceipt(t, repo, receiptSpec{key: "CAP-20260301-101500__step.wipe__Rblocked001", loop: "LOOP-GATE", step: "wipe", stage: "Stage 1: X", status: "blocked", gate: "ALLOW_WIPE", command: "true", host: "h"})
			out := filepath.Join(t.TempDir(), "public")
			b, err := site.NewBuilder()
			if err != nil {
				t.Fatal(err)
			}
			buildSite(t, b, repo, out)
			data, err := os.ReadFile(filepath.Join(out, "loops", "LOOP-GATE", "index.html"))
			if err != nil {
				t.Fatal(err)
			}
			if page := string(data); !strings.Contains(page, tc.want) || strings.Contains(page, tc.not) {
				t.Errorf("callout: want %q, not %q", tc.want, tc.not)
			}
		})
	}
}
