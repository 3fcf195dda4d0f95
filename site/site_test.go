package site_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"flag"
	"html"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/site"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// fixtureRoot is the fixture repository.
const fixtureRoot = "testdata/repo"

// fixtureNow is the clock of the fixture builds.
var fixtureNow = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// corpusDir holds the real loop documents and gap ledger.
var corpusDir = filepath.Join("..", "..", "shared", "corpus")

// buildSite builds the site of the repository at root into out.
func buildSite(t testing.TB, b *site.Builder, root, out string) site.Stats {
	t.Helper()
	cfg, err := config.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if b == nil {
		if b, err = site.NewBuilder(); err != nil {
			t.Fatal(err)
		}
	}
	st, err := b.Build(context.Background(), site.Options{Root: root, Out: out, Config: cfg, Set: loadSet(t, root), Now: fixtureNow})
	if err != nil {
		t.Fatalf("build %s: %v", root, err)
	}
	return st
}

// copyTree copies the folder src to dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fixtureCopy returns a writable copy of the fixture repository.
func fixtureCopy(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	copyTree(t, fixtureRoot, dir)
	return dir
}

// tree returns the hash of every file under dir, by slash path.
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(data)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pages returns the HTML files under dir.
func pages(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for p := range tree(t, dir) {
		if strings.HasSuffix(p, ".html") {
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
			if err != nil {
				t.Fatal(err)
			}
			out[p] = string(data)
		}
	}
	return out
}

// goldenPages are compared with testdata/golden.
var goldenPages = []string{
	"index.html",
	"loops/LOOP-DEMO-STORAGE-20260301/index.html",
	"receipts/CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd/index.html",
	"receipts/CAP-20260301-110000__step.broken__Rcorrupt001/index.html",
	"gaps/index.html",
	"gaps/GAP-OP-1033/index.html",
	"verify/media/index.html",
	"timeline/index.html",
	"feed.xml",
}

func TestGolden(t *testing.T) {
	out := t.TempDir()
	buildSite(t, nil, fixtureRoot, out)
	for _, p := range goldenPages {
		got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "golden", strings.ReplaceAll(p, "/", "__"))
		if *update {
			if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./site -run TestGolden -update)", err)
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s differs from %s (-want +got):\n%s", p, golden, diff)
		}
	}
}

// attrRe finds href and src attribute values.
var attrRe = regexp.MustCompile(`\s(?:href|src)="([^"]*)"`)

// checkLinks asserts that every relative href and src of every page
// resolves to a file of the site.
func checkLinks(t *testing.T, out string) int {
	t.Helper()
	files := tree(t, out)
	n := 0
	for p, content := range pages(t, out) {
		for _, m := range attrRe.FindAllStringSubmatch(content, -1) {
			ref := html.UnescapeString(m[1])
			u, err := url.Parse(ref)
			if err != nil {
				t.Errorf("%s: bad URL %q", p, ref)
				continue
			}
			if u.Scheme != "" || u.Host != "" || u.Path == "" {
				continue // external, or a fragment of this page
			}
			if strings.HasPrefix(u.Path, "/") {
				t.Errorf("%s: absolute path %q does not work from the file system", p, ref)
				continue
			}
			target := path.Join(path.Dir(p), u.Path)
			if _, ok := files[target]; !ok {
				t.Errorf("%s: link %q: %s is not in the site", p, ref, target)
			}
			n++
		}
	}
	return n
}

func TestLinksFixture(t *testing.T) {
	out := t.TempDir()
	buildSite(t, nil, fixtureRoot, out)
	if n := checkLinks(t, out); n < 100 {
		t.Errorf("only %d links checked", n)
	}
}

func TestLinksCorpus(t *testing.T) {
	docs, _ := filepath.Glob(filepath.Join(corpusDir, "loop-scopes", "*.md"))
	if len(docs) == 0 {
		t.Skipf("no corpus at %s", corpusDir)
	}
	repo := filepath.Join(t.TempDir(), "repo")
	copyTree(t, filepath.Join(corpusDir, "loop-scopes"), filepath.Join(repo, "loop-scopes"))
	data, err := os.ReadFile(filepath.Join(corpusDir, "gaps.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "gaps.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	st := buildSite(t, nil, repo, out)
	for _, w := range st.Warnings {
		t.Logf("warning: %s", w)
	}
	set := loadSet(t, repo)
	for _, d := range set.Docs {
		if set.ByID(d.LoopID) != d {
			continue
		}
		if _, err := os.Stat(filepath.Join(out, "loops", d.LoopID, "index.html")); err != nil {
			t.Errorf("%s: no page for loop %s", d.Path, d.LoopID)
		}
	}
	gapPages, _ := filepath.Glob(filepath.Join(out, "gaps", "GAP-*", "index.html"))
	if len(gapPages) < 100 {
		t.Errorf("only %d gap pages from the real ledger", len(gapPages))
	}
	if n := checkLinks(t, out); n < 1000 {
		t.Errorf("only %d links checked", n)
	}
	checkSafe(t, out)
}

// Patterns no page may contain (outside escaped text, which cannot hold a
// literal '<').
var (
	scriptTag     = regexp.MustCompile(`(?i)<script[^>]*>`)
	allowedScript = regexp.MustCompile(`^<script src="(\.\./)*assets/(search|heartbeat)\.js" defer>$`)
	eventAttr     = regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)
	badTags       = regexp.MustCompile(`(?i)<(iframe|object|embed|img|style|base|form[^>]*action)`)
	styleAttr     = regexp.MustCompile(`(?i)<[^>]*\sstyle\s*=`)
	urlAttr       = regexp.MustCompile(`(?i)\s(?:href|src|action|xlink:href)\s*=\s*"([^"]*)"`)
)

// checkSafe asserts that no page of the site can run script other than the
// site's own search.js and heartbeat.js, and that nothing breaks the content security
// policy (no inline scripts, styles or event handlers).
func checkSafe(t *testing.T, out string) {
	t.Helper()
	for p, content := range pages(t, out) {
		for _, m := range scriptTag.FindAllString(content, -1) {
			if !allowedScript.MatchString(m) {
				t.Errorf("%s: script tag %q", p, m)
			}
		}
		if strings.Count(content, "</script>") != len(scriptTag.FindAllString(content, -1)) {
			t.Errorf("%s: unbalanced script tags", p)
		}
		if m := eventAttr.FindString(content); m != "" {
			t.Errorf("%s: event handler attribute in %q", p, m)
		}
		if m := badTags.FindString(content); m != "" {
			t.Errorf("%s: forbidden element %q", p, m)
		}
		if m := styleAttr.FindString(content); m != "" {
			t.Errorf("%s: inline style in %q", p, m)
		}
		for _, m := range urlAttr.FindAllStringSubmatch(content, -1) {
			u := strings.Map(func(r rune) rune {
				if r <= ' ' {
					return -1
				}
				return r
			}, strings.ToLower(html.UnescapeString(m[1])))
			for _, s := range []string{"javascript:", "vbscript:", "data:"} {
				if strings.HasPrefix(u, s) {
					t.Errorf("%s: dangerous URL %q", p, m[1])
				}
			}
		}
		if !strings.Contains(content, `<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:">`) {
			t.Errorf("%s: no content security policy", p)
		}
	}
}

// xssPayloads are injected into every kind of input.
var xssPayloads = []string{
	`<script>alert(1)</script>`,
	`<img src=x onerror=alert(2)>`,
	`"><svg onload=alert(3)>`,
	`javascript:alert(4)`,
	`'><iframe src=javascript:alert(5)>`,
	`</title><script>alert(6)</script>`,
	`<a href="javascript:alert(7)">x</a>`,
	`[md](javascript:alert(8))`,
	"[tab](<java\tscript:alert(9)>)",
	`<style>body{display:none}</style>`,
}

func TestXSS(t *testing.T) {
	repo := fixtureCopy(t)
	all := strings.Join(xssPayloads, "\n\n")
	inline := strings.ReplaceAll(strings.Join(xssPayloads, " "), "\n", " ")
	// A loop document: payloads in frontmatter, body, code and step blocks.
	doc := "---\nloop_id: LOOP-XSS-INJECT-20260303\nstatus: active\nowner: " + yamlQuote(inline) + "\nobjective: " + yamlQuote(inline) +
		"\nnested:\n  key: " + yamlQuote(inline) + "\n  list: [" + yamlQuote(xssPayloads[0]) + "]\n---\n\n# Loop Scope: LOOP-XSS-INJECT-20260303 " + inline +
		"\n\n" + all + "\n\n### Stage 1: " + inline + "\n\n```sh {name=inject title=" + yamlQuote(xssPayloads[1]) + "}\n" + all + "\n```\n\n- [ ] " + inline + "\n"
	writeFile(t, filepath.Join(repo, "loops", "LOOP-XSS-INJECT-20260303.md"), doc)
	// A receipt: payloads in every string field and the output.
	addReceipt(t, repo, receiptSpec{key: "CAP-20260303-080000__step.inject__Rinject0001", loop: "LOOP-XSS-INJECT-20260303", step: "inject",
		stage: inline, status: "fail", command: all, host: inline, note: inline, gate: "X", output: all + "\n\x1b[31m" + inline + "\x1b[0m\n",
		summary: inline, checks: []string{xssPayloads[2]}})
	// Gaps and a pack.
	writeFile(t, filepath.Join(repo, "gaps.yaml"), "gaps:\n  - id: GAP-OP-7777\n    title: "+yamlQuote(inline)+"\n    description: "+yamlQuote(all)+
		"\n    type: "+yamlQuote(xssPayloads[1])+"\n    severity: "+yamlQuote(xssPayloads[0])+"\n    status: open\n    parent_loop: "+yamlQuote(xssPayloads[2])+
		"\n    notes: "+yamlQuote(inline)+"\n    extra_field: "+yamlQuote(inline)+"\n")
	writeFile(t, filepath.Join(repo, "verify", "xss.yaml"), "pack: xss\ndescription: "+yamlQuote(inline)+"\nchecks:\n  - id: X1\n    title: "+yamlQuote(inline)+"\n    run: "+yamlQuote(all)+"\n")
	writeFile(t, filepath.Join(repo, "spine.yaml"), "site:\n  title: "+yamlQuote(`<script>alert("title")</script>`)+"\n")
	out := t.TempDir()
	st := buildSite(t, nil, repo, out)
	for _, w := range st.Warnings {
		t.Logf("warning: %s", w)
	}
	for _, p := range []string{"loops/LOOP-XSS-INJECT-20260303/index.html", "receipts/CAP-20260303-080000__step.inject__Rinject0001/index.html",
		"gaps/GAP-OP-7777/index.html", "verify/xss/index.html", "loops/LOOP-DEMO-XSS-20260302/index.html"} {
		data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(p)))
		if err != nil {
			t.Fatalf("page %s missing: %v", p, err)
		}
		// The payloads are shown, as text.
		if !strings.Contains(string(data), "&lt;script&gt;alert(") {
			t.Errorf("%s does not show the payload as text", p)
		}
	}
	checkSafe(t, out)
	// The feed is well-formed XML and the search index is inert JSON.
	feed, err := os.ReadFile(filepath.Join(out, "feed.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(feed, new(atomFeed)); err != nil {
		t.Errorf("feed.xml: %v", err)
	}
	search, err := os.ReadFile(filepath.Join(out, "search.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(search, "<>") {
		t.Errorf("search.json holds a raw < or >")
	}
	var items []map[string]string
	if err := json.Unmarshal(search, &items); err != nil {
		t.Errorf("search.json: %v", err)
	}
}

// yamlQuote quotes s as a YAML double-quoted scalar.
func yamlQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	buildSite(t, nil, fixtureRoot, a)
	buildSite(t, nil, fixtureRoot, b)
	ta, tb := tree(t, a), tree(t, b)
	if diff := cmp.Diff(ta, tb); diff != "" {
		t.Errorf("two builds differ (-first +second):\n%s", diff)
	}
	if len(ta) < 30 {
		t.Errorf("only %d files", len(ta))
	}
	// Without an explicit clock the newest input time is used: still
	// deterministic.
	c := t.TempDir()
	cfg, _ := config.Load(fixtureRoot)
	for i := 0; i < 2; i++ {
		if _, err := site.Build(context.Background(), site.Options{Root: fixtureRoot, Out: c, Config: cfg, Set: loadSet(t, fixtureRoot)}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			ta = tree(t, c)
		}
	}
	if diff := cmp.Diff(ta, tree(t, c)); diff != "" {
		t.Errorf("builds without a clock differ:\n%s", diff)
	}
}

// TestStoppedBuildAndFull: a build stopped halfway leaves pages its old
// manifest does not describe, and its marker: the next build writes every
// file again, so that a page of text the document no longer has does not
// stay. A file removed or changed in the output folder by hand is not
// looked at by an incremental build; --full (Options.Full) makes it again.
func TestStoppedBuildAndFull(t *testing.T) {
	repo := fixtureCopy(t)
	out := t.TempDir()
	fresh := t.TempDir()
	buildSite(t, nil, repo, out)
	manifest := filepath.Join(out, site.ManifestName)
	before, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(repo, "loops", "LOOP-DEMO-CLOSED-20260215.md")
	src, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, string(src)+"\nA paragraph taken back.\n")
	buildSite(t, nil, repo, out)
	// As a build killed after it wrote the page and before its manifest
	// leaves the folder; then the edit is taken back.
	writeFile(t, manifest, string(before))
	writeFile(t, filepath.Join(out, site.BuildingName), "")
	writeFile(t, p, string(src))
	buildSite(t, nil, repo, out)
	buildSite(t, nil, repo, fresh)
	if diff := cmp.Diff(tree(t, fresh), tree(t, out)); diff != "" {
		t.Errorf("after a stopped build, the next build differs from a fresh one (-fresh +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(out, site.BuildingName)); err == nil {
		t.Error("the marker of a build under way is left after a build that finished")
	}

	// Changed by hand: an incremental build leaves it, a full one not.
	os.RemoveAll(filepath.Join(out, "assets"))
	writeFile(t, filepath.Join(out, "index.html"), "defaced")
	cfg, err := config.Load(repo)
	if err != nil {
		t.Fatal(err)
	}
	b, err := site.NewBuilder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(context.Background(), site.Options{Root: repo, Out: out, Config: cfg, Set: loadSet(t, repo), Now: fixtureNow, Full: true}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tree(t, fresh), tree(t, out)); diff != "" {
		t.Errorf("after --full, the site differs from a fresh one (-fresh +got):\n%s", diff)
	}
}

func TestIncremental(t *testing.T) {
	for _, warm := range []bool{false, true} {
		name := "fresh-builder"
		if warm {
			name = "same-builder"
		}
		t.Run(name, func(t *testing.T) {
			repo := fixtureCopy(t)
			out := t.TempDir()
			var b *site.Builder
			if warm {
				var err error
				if b, err = site.NewBuilder(); err != nil {
					t.Fatal(err)
				}
			}
			first := buildSite(t, b, repo, out)
			if first.Written != first.Files || first.Unchanged != 0 {
				t.Fatalf("first build: %+v", first)
			}
			// Nothing changed: nothing written.
			again := buildSite(t, b, repo, out)
			if again.Written != 0 || again.Removed != 0 || again.Unchanged != first.Files {
				t.Errorf("unchanged rebuild: written %v removed %v", again.WrittenPaths, again.RemovedPaths)
			}
			// One loop's text changed: only its page is rewritten.
			p := filepath.Join(repo, "loops", "LOOP-DEMO-CLOSED-20260215.md")
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, p, string(src)+"\nA new paragraph.\n")
			st := buildSite(t, b, repo, out)
			if diff := cmp.Diff([]string{"loops/LOOP-DEMO-CLOSED-20260215/index.html"}, st.WrittenPaths); diff != "" {
				t.Errorf("after editing one loop, written (-want +got):\n%s", diff)
			}
			if st.Removed != 0 {
				t.Errorf("removed %v", st.RemovedPaths)
			}
			data, _ := os.ReadFile(filepath.Join(out, "loops", "LOOP-DEMO-CLOSED-20260215", "index.html"))
			if !strings.Contains(string(data), "A new paragraph.") {
				t.Error("the loop page does not show the edit")
			}
			// A loop deleted: its page and its status page go; the pages
			// linking to it are rewritten.
			if err := os.Remove(filepath.Join(repo, "loops", "LOOP-DEMO-XSS-20260302.md")); err != nil {
				t.Fatal(err)
			}
			st = buildSite(t, b, repo, out)
			if diff := cmp.Diff([]string{"loops/LOOP-DEMO-XSS-20260302/index.html", "status/draft/index.html"}, st.RemovedPaths); diff != "" {
				t.Errorf("after deleting a loop, removed (-want +got):\n%s", diff)
			}
			for _, gone := range st.RemovedPaths {
				if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(gone))); !os.IsNotExist(err) {
					t.Errorf("%s still exists", gone)
				}
			}
			if _, err := os.Stat(filepath.Join(out, "loops", "LOOP-DEMO-XSS-20260302")); !os.IsNotExist(err) {
				t.Error("the deleted loop's folder is still there")
			}
			wantWritten := []string{
				"index.html", // the row and the status filter are gone
				"receipts/CAP-20260302-120000__step.xss-step__Rxss0000001/index.html", // its loop link is now marked missing
				"search.json",
				"status/active/index.html", "status/closed/index.html", // the filter bar lost "draft"
				"timeline/2026-03/index.html", "timeline/index.html", // loop links
			}
			if diff := cmp.Diff(wantWritten, st.WrittenPaths); diff != "" {
				t.Errorf("after deleting a loop, written (-want +got):\n%s", diff)
			}
			// The result equals a clean build of the same input.
			clean := t.TempDir()
			buildSite(t, nil, repo, clean)
			if diff := cmp.Diff(tree(t, clean), tree(t, out)); diff != "" {
				t.Errorf("incremental result differs from a clean build (-clean +incremental):\n%s", diff)
			}
		})
	}
}

// receiptSpec describes a receipt the tests add to a repository.
type receiptSpec struct {
	key, loop, step, stage, status, command, host, note, gate, output, summary string
	checks                                                                     []string
	corrupt                                                                    string
	// artifact is a repository-relative file the receipt records, as
	// it is now.
	artifact string
}

// TestFIFOInputs: an output.log or an artifact that is a FIFO (made on
// the build host) is refused as not a regular file, never opened to wait
// for a writer: the build finishes, and the pages say what is wrong.
func TestFIFOInputs(t *testing.T) {
	repo := fixtureCopy(t)
	run := filepath.Join(repo, "receipts", "2026", "03", "01", "CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd")
	for _, p := range []string{filepath.Join(run, "output.log"), filepath.Join(repo, "artifacts", "loop-demo-storage-20260301", "10-zpool-list.txt")} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Skip(err)
		}
	}
	out := t.TempDir()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buildSite(t, nil, repo, out)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("site build waits on a FIFO")
	}
	page, err := os.ReadFile(filepath.Join(out, "receipts", "CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(page), "not a regular file"); n < 2 {
		t.Errorf("the receipt page names %d of the two FIFOs as not regular files:\n%s", n, page)
	}
	rep, err := artifacts.Verify(repo, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range rep.Problems {
		if strings.Contains(p.Problem, "not a regular file") {
			got = append(got, p.Path)
		}
	}
	if len(got) != 2 {
		t.Errorf("spine verify names %v as not regular files; want output.log and the artifact (%v)", got, rep.Problems)
	}
}

// TestUnreadableReceiptNamedInTheRepository: a receipt.json that cannot be
// read (a symbolic link) is named on its page by its path in the
// repository, not by the build host's absolute path.
func TestUnreadableReceiptNamedInTheRepository(t *testing.T) {
	repo := fixtureCopy(t)
	run := filepath.Join(repo, "receipts", "2026", "03", "01", "CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd")
	if err := os.Rename(filepath.Join(run, "receipt.json"), filepath.Join(run, "r.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("r.json", filepath.Join(run, "receipt.json")); err != nil {
		t.Skip(err)
	}
	out := t.TempDir()
	buildSite(t, nil, repo, out)
	page, err := os.ReadFile(filepath.Join(out, "receipts", "CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "read receipt: receipts/2026/03/01/CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd/receipt.json") || strings.Contains(string(page), repo) {
		t.Errorf("the page does not name the receipt by its path in the repository, or names %s:\n%s", repo, page)
	}
}

// TestNoControlCharactersInPages: control characters, invalid UTF-8 and
// bidirectional overrides from frontmatter values (YAML escapes decode
// into them), a document's body and the gap ledger never reach a page as
// they are: every page is valid UTF-8 with no control character but tab
// and line breaks, and shows no bidirectional override raw.
func TestNoControlCharactersInPages(t *testing.T) {
	repo := fixtureCopy(t)
	p := filepath.Join(repo, "loops", "LOOP-DEMO-STORAGE-20260301.md")
	src, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(src), `owner: "@ops"`, `owner: "@o\x1b[31mps\x0c\x7f\u202eRTL"`+"\nobjective: \"obj \\x01\\u2066x\"", 1)
	doc += "\nBody \x1b]0;title\x07 \xff\xfe end.\n"
	writeFile(t, p, doc)
	g := filepath.Join(repo, "gaps.yaml")
	gsrc, _ := os.ReadFile(g)
	writeFile(t, g, strings.Replace(string(gsrc), "    type: stale-ssot\n", "    type: stale-ssot\n    title: \"gap \\x1b\\x0c\\u202e title\"\n", 1))
	out := t.TempDir()
	buildSite(t, nil, repo, out)
	for name := range tree(t, out) {
		if !strings.HasSuffix(name, ".html") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		data := string(raw)
		if !utf8.ValidString(data) {
			t.Errorf("%s is not valid UTF-8", name)
		}
		if i := strings.IndexFunc(data, func(r rune) bool {
			return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f || r == '\u202e' || r == '\u2066'
		}); i >= 0 {
			t.Errorf("%s has %q at %d: %q", name, data[i], i, data[max(0, i-40):min(len(data), i+40)])
		}
	}
	page, _ := os.ReadFile(filepath.Join(out, "loops", "LOOP-DEMO-STORAGE-20260301", "index.html"))
	if !strings.Contains(string(page), "@o\ufffd[31mps") {
		t.Errorf("the owner is not shown with its escape replaced:\n%.2000s", page)
	}
}

func TestCorruptAndIncompleteReceipts(t *testing.T) {
	repo := fixtureCopy(t)
	addReceipt(t, repo, receiptSpec{key: "CAP-20260301-120000__step.x__Rbadjson001", corrupt: `{"run_key": `})
	addReceipt(t, repo, receiptSpec{key: "CAP-20260301-120100__step.x__Rnotjson001", corrupt: "\x00\x01binary"})
	// A run folder without receipt.json: still running, or interrupted.
	writeFile(t, filepath.Join(repo, "receipts", "2026", "03", "01", "CAP-20260301-120200__step.x__Rrunning001", "output.log"), "half way\n")
	out := t.TempDir()
	buildSite(t, nil, repo, out)
	for key, want := range map[string]string{
		"CAP-20260301-120000__step.x__Rbadjson001":      "This receipt cannot be read.",
		"CAP-20260301-120100__step.x__Rnotjson001":      "This receipt cannot be read.",
		"CAP-20260301-120200__step.x__Rrunning001":      "No receipt yet.",
		"CAP-20260301-110000__step.broken__Rcorrupt001": "line 1 column",
	} {
		data, err := os.ReadFile(filepath.Join(out, "receipts", key, "index.html"))
		if err != nil {
			t.Errorf("no page for %s: %v", key, err)
			continue
		}
		if !strings.Contains(string(data), want) {
			t.Errorf("%s page lacks %q", key, want)
		}
	}
	checkLinks(t, out)
}

func TestHugeLogIsFolded(t *testing.T) {
	repo := fixtureCopy(t)
	var b strings.Builder
	line := "2026-03-01T12:00:00.000Z [out] " + strings.Repeat("x", 90) + " <script>alert(1)</script>\n"
	for b.Len() < 50<<20 {
		b.WriteString(line)
	}
	addReceipt(t, repo, receiptSpec{key: "CAP-20260301-130000__step.huge__Rhugelog001", loop: "LOOP-DEMO-STORAGE-20260301", step: "huge", status: "pass", command: "yes", output: b.String()})
	out := t.TempDir()
	buildSite(t, nil, repo, out)
	dir := filepath.Join(out, "receipts", "CAP-20260301-130000__step.huge__Rhugelog001")
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if len(page) > 512<<10 {
		t.Errorf("page is %d bytes: the log was inlined", len(page))
	}
	for _, w := range []string{"lines not shown", `<a href="output.txt">full log (.txt)</a>`, "50.0 MiB", "hashes</b> verified"} {
		if !strings.Contains(string(page), w) {
			t.Errorf("page lacks %q", w)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "output.txt"))
	if err != nil || fi.Size() != int64(b.Len()) {
		t.Errorf("output.txt: %v (size %d, want %d)", err, fi.Size(), b.Len())
	}
	checkSafe(t, out)
}

func TestUnsafeNamesStayInside(t *testing.T) {
	repo := fixtureCopy(t)
	writeFile(t, filepath.Join(repo, "loops", "evil1.md"), "---\nloop_id: ../../../escaped\nstatus: active\n---\n# x\n")
	writeFile(t, filepath.Join(repo, "loops", "evil2.md"), "---\nloop_id: a/b\nstatus: active\n---\n# y\n")
	writeFile(t, filepath.Join(repo, "loops", "evil3.md"), "---\nloop_id: .hidden\nstatus: \"../x\"\n---\n# z\n")
	writeFile(t, filepath.Join(repo, "gaps.yaml"), "gaps:\n  - id: ../../gap-escape\n    status: open\n  - id: GAP-OK-1\n    status: open\n")
	writeFile(t, filepath.Join(repo, "verify", "evil.yaml"), "pack: ../../pack-escape\nchecks:\n  - id: A\n    run: 'true'\n")
	writeFile(t, filepath.Join(repo, "receipts", "2026", "03", "01", "not-a-run-key", "receipt.json"), "{}")
	base := t.TempDir()
	out := filepath.Join(base, "deep", "out")
	st := buildSite(t, nil, repo, out)
	if len(st.Warnings) < 3 {
		t.Errorf("want warnings for the skipped pages, got %q", st.Warnings)
	}
	// Nothing but the output folder was written under base.
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(out, p); strings.HasPrefix(rel, "..") && p != base && p != filepath.Join(base, "deep") {
			t.Errorf("written outside the output folder: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range tree(t, out) {
		if strings.Contains(p, "escape") || strings.Contains(p, "hidden") || strings.Contains(p, "not-a-run-key") {
			t.Errorf("page for an unsafe name: %s", p)
		}
	}
	checkLinks(t, out)
}

func TestFeedAndSearch(t *testing.T) {
	out := t.TempDir()
	buildSite(t, nil, fixtureRoot, out)
	data, err := os.ReadFile(filepath.Join(out, "feed.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var f atomFeed
	if err := xml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if f.XMLName.Space != "http://www.w3.org/2005/Atom" || f.ID == "" || f.Title == "" || f.Updated == "" || f.Author.Name == "" {
		t.Errorf("feed lacks required elements: %+v", f)
	}
	ids := map[string]bool{}
	for _, e := range f.Entries {
		if e.ID == "" || e.Title == "" || e.Updated == "" || ids[e.ID] {
			t.Errorf("bad or duplicate entry %+v", e)
		}
		if _, err := time.Parse(time.RFC3339, e.Updated); err != nil {
			t.Errorf("entry %s: updated %q", e.ID, e.Updated)
		}
		ids[e.ID] = true
	}
	if len(f.Entries) != 9 || !ids["urn:spine:run:CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd"] {
		t.Errorf("feed entries: %v", ids)
	}
	// With a base URL, links and ids are absolute, and stable.
	cfg, _ := config.Load(fixtureRoot)
	out2 := t.TempDir()
	if _, err := site.Build(context.Background(), site.Options{Root: fixtureRoot, Out: out2, Config: cfg, Set: loadSet(t, fixtureRoot), BaseURL: "https://evidence.example.org/site"}); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(filepath.Join(out2, "feed.xml"))
	if !strings.Contains(string(data), `<id>https://evidence.example.org/site/receipts/CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd/index.html</id>`) {
		t.Errorf("feed with base URL:\n%s", data)
	}

	data, err = os.ReadFile(filepath.Join(out, "search.json"))
	if err != nil {
		t.Fatal(err)
	}
	var items []map[string]string
	if err := json.Unmarshal(data, &items); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, it := range items {
		kinds[it["kind"]]++
		if it["id"] == "" || it["url"] == "" {
			t.Errorf("search item without id or url: %v", it)
		}
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(it["url"]))); err != nil {
			t.Errorf("search item %s: url %s is not in the site", it["id"], it["url"])
		}
	}
	if diff := cmp.Diff(map[string]int{"loop": 3, "run": 9, "gap": 5}, kinds); diff != "" {
		t.Errorf("search items by kind (-want +got):\n%s", diff)
	}
	// A run is found by its host, its gate and who approved it.
	found := map[string]bool{}
	for _, it := range items {
		if it["kind"] != "run" {
			continue
		}
		found["host "+it["host"]] = true
		if it["gate"] != "" {
			found["gate "+it["gate"]] = true
		}
		if it["by"] != "" {
			found["by "+it["by"]] = true
		}
	}
	for _, want := range []string{"host pve", "gate ALLOW_MD1400_PROVISION", "gate XSS_GATE", "by <img src=x onerror=alert('author')>"} {
		if !found[want] {
			t.Errorf("no run in search.json with %s (have %v)", want, found)
		}
	}
}

// atomFeed is the part of an Atom feed the tests read.
type atomFeed struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string   `xml:"id"`
	Title   string   `xml:"title"`
	Updated string   `xml:"updated"`
	Author  struct {
		Name string `xml:"name"`
	} `xml:"author"`
	Entries []struct {
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Updated string `xml:"updated"`
		Link    struct {
			Href string `xml:"href,attr"`
		} `xml:"link"`
	} `xml:"entry"`
}

func TestPagesShowWhatTheyShould(t *testing.T) {
	out := t.TempDir()
	buildSite(t, nil, fixtureRoot, out)
	tests := []struct {
		page string
		want []string
	}{
		{"index.html", []string{
			`<a class="id" href="loops/LOOP-DEMO-STORAGE-20260301/index.html">LOOP-DEMO-STORAGE-20260301</a>`,
			`<span class="frac">4/5</span>`, `<span class="hb hb-stale"`, `>25h</span>`, // 10:20 on the 1st to noon on the 2nd, over twice the 240m ttl
			`href="status/active/index.html"`, `<form class="search" role="search" hidden>`}},
		{"status/closed/index.html", []string{`LOOP-DEMO-CLOSED-20260215`, `1 of 3 loops`}},
		{"loops/LOOP-DEMO-STORAGE-20260301/index.html", []string{
			`<b>Blocked at a gate.</b> Step <a href="../../receipts/CAP-20260301-101600__step.provision__Rq9w8e7r6t5/index.html"><code>provision</code></a>`,
			`<code class="gate">ALLOW_MD1400_PROVISION</code>`,
			`<svg class="tl"`, `class="st-blocked"`,
			`<span class="ref ref-run missing" title="no receipt for this run key in this repository">CAP-20260228-090000__step.old__Rnotexist00</span>`,
			`<a class="ref ref-gap" href="../../gaps/GAP-OP-1033/index.html">GAP-OP-1033</a>`,
			`<a href="../../loops/LOOP-DEMO-CLOSED-20260215/index.html">closed loop</a>`,
			`<dt>review</dt><dd><dl class="nested"><dt>by</dt><dd>@lead</dd><dt>checks</dt><dd><ul class="vlist"><li>capacity</li><li>smart</li></ul></dd></dl></dd>`,
			`<div class="step state-blocked" id="step-provision">`}},
		{"receipts/CAP-20260301-101530__step.smart-check__Rm1n2b3v4c5/index.html", []string{
			`<b>hashes</b> mismatch`, `output.log hashes to`, `<b>hash chain</b> ok`}},
		{"receipts/CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd/index.html", []string{
			`<a href="artifacts/10-zpool-list.txt"><code>artifacts/loop-demo-storage-20260301/10-zpool-list.txt</code></a>`,
			`<span class="ab af2">ONLINE</span>`, `<b>approval</b> not gated`}},
		{"receipts/CAP-20260301-101600__step.provision__Rq9w8e7r6t5/index.html", []string{`gate ALLOW_MD1400_PROVISION: not approved`}},
		{"receipts/CAP-20260302-120000__step.xss-step__Rxss0000001/index.html", []string{`approved in git (commit &lt;script&gt;`}},
		// The loop's runs table says who approved a gated run, and that a
		// blocked one was not approved.
		{"loops/LOOP-DEMO-XSS-20260302/index.html", []string{
			`<div class="sub">gate XSS_GATE: approved in git (commit &lt;script&gt;, &lt;img src=x onerror=alert(&#39;author&#39;)&gt;)</div>`}},
		{"loops/LOOP-DEMO-STORAGE-20260301/index.html", []string{
			`<span class="badge st-blocked">blocked</span><div class="sub">gate ALLOW_MD1400_PROVISION: not approved</div>`}},
		{"gaps/index.html", []string{`GAP-OP-1040</a> <span class="badge st-orphan"`, `GAP-OP-1041</a> <span class="badge st-orphan"`, `2 orphaned`}},
		{"gaps/status/open/index.html", []string{`3 of 5 gaps`}},
		// A gap's description is no Markdown document: its tildes are kept.
		{"gaps/GAP-OP-1001/index.html", []string{`Agent guessed ~/stacks/infisical/ instead of reading the binding (~/stacks/secrets).`}},
		{"verify/media/index.html", []string{`<svg class="hist"`, `D188`, `media 2/3 PASS (D188 non-blocking fail)`}},
	}
	for _, tc := range tests {
		data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(tc.page)))
		if err != nil {
			t.Errorf("%s: %v", tc.page, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(string(data), w) {
				t.Errorf("%s lacks %q", tc.page, w)
			}
		}
	}
	// The artifact and the folded log are copied into the site.
	for _, p := range []string{
		"receipts/CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd/artifacts/10-zpool-list.txt",
		"receipts/CAP-20260301-102000__step.scrub-status__Rlonglog001/output.txt",
	} {
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(p))); err != nil {
			t.Error(err)
		}
	}
	var names []string
	for p := range tree(t, out) {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		if strings.HasSuffix(p, ".spine-tmp") {
			t.Errorf("temporary file left: %s", p)
		}
	}
	_ = loops.EvidenceBegin
}

// TestHeldStepCallout: a step the planner holds for an operator is called
// out on its loop page with the reason, escaped; a changed reason rewrites
// the page, in the same builder and in a new one that reads the state.
func TestHeldStepCallout(t *testing.T) {
	cfg, err := config.Load(fixtureRoot)
	if err != nil {
		t.Fatal(err)
	}
	out, state := t.TempDir(), t.TempDir()
	const loop, step = "LOOP-DEMO-STORAGE-20260301", "smart-check"
	build := func(b *site.Builder, reason string) site.Stats {
		t.Helper()
		opts := site.Options{Root: fixtureRoot, Out: out, Config: cfg, Set: loadSet(t, fixtureRoot), Now: fixtureNow, StateDir: state,
			StepState: func(d *loops.Document, s *loops.Step) string {
				if d.LoopID == loop && s.Name == step {
					return "failed"
				}
				return "done"
			},
			StepReason: func(d *loops.Document, s *loops.Step) string {
				if d.LoopID == loop && s.Name == step {
					return reason
				}
				return ""
			},
		}
		if b == nil {
			var err error
			if b, err = site.NewBuilder(); err != nil {
				t.Fatal(err)
			}
		}
		st, err := b.Build(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	page := func() string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(out, "loops", loop, "index.html"))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	b, err := site.NewBuilder()
	if err != nil {
		t.Fatal(err)
	}
	build(b, `receipt missing <script>alert(1)</script>`)
	p := page()
	want := `<b>Held for an operator.</b> Step <code>smart-check</code> (`
	if !strings.Contains(p, want) || !strings.Contains(p, `is failed: receipt missing &lt;script&gt;alert(1)&lt;/script&gt;</div>`) || strings.Contains(p, "<script>alert") {
		t.Fatalf("loop page lacks the held call-out, or does not escape it:\n%s", p)
	}
	if st := build(b, "a second reason"); st.Written == 0 || !strings.Contains(page(), "is failed: a second reason</div>") {
		t.Fatalf("same builder, reason changed: %d written, page:\n%s", st.Written, page())
	}
	if st := build(nil, "a third reason"); st.Written == 0 || !strings.Contains(page(), "is failed: a third reason</div>") {
		t.Fatalf("new builder, reason changed: %d written, page:\n%s", st.Written, page())
	}
	if st := build(nil, "a third reason"); st.Written != 0 {
		t.Errorf("new builder, nothing changed: %d written", st.Written)
	}
}

// TestReceiptsReadLookup checks Options.ReceiptsRead: called once per
// build, before the first StepState, with a lookup that gives each run
// folder's receipt as read from disk (decoded, with its chain hash) and
// nothing for a folder it has no readable receipt of (a corrupt one, one
// that does not exist, a folder under another run key's name); in a new
// builder that takes the receipts from its recorded state too.
func TestReceiptsReadLookup(t *testing.T) {
	cfg, err := config.Load(fixtureRoot)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := (&artifacts.Store{Root: fixtureRoot}).List()
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	for _, round := range []string{"read", "recorded"} {
		t.Run(round, func(t *testing.T) {
			var (
				lookup func(string) (*artifacts.Receipt, string, bool)
				calls  int
				early  bool
			)
			opts := site.Options{Root: fixtureRoot, Out: t.TempDir(), Config: cfg, Set: loadSet(t, fixtureRoot), Now: fixtureNow, StateDir: state,
				ReceiptsRead: func(l func(string) (*artifacts.Receipt, string, bool)) { lookup = l; calls++ },
				StepState: func(*loops.Document, *loops.Step) string {
					if lookup == nil {
						early = true
					}
					return "done"
				},
			}
			if _, err := site.Build(context.Background(), opts); err != nil {
				t.Fatal(err)
			}
			if calls != 1 || early {
				t.Fatalf("ReceiptsRead called %d times (want 1); StepState called before it: %v", calls, early)
			}
			readable := 0
			for _, e := range entries {
				rc, hash, ok := lookup(e.Dir)
				if e.Err != nil {
					if ok {
						t.Errorf("%s: lookup gave a receipt; on disk: %v", e.Dir, e.Err)
					}
					continue
				}
				readable++
				if !ok {
					t.Errorf("%s: lookup gave nothing", e.Dir)
					continue
				}
				if hash != e.Hash {
					t.Errorf("%s: hash %s, want %s", e.Dir, hash, e.Hash)
				}
				if diff := cmp.Diff(e.Receipt, rc); diff != "" {
					t.Errorf("%s: receipt differs (-disk +lookup):\n%s", e.Dir, diff)
				}
			}
			if readable < 5 {
				t.Fatalf("only %d readable receipts in the fixture", readable)
			}
			other := path.Join(path.Dir(entries[0].Dir), "CAP-20260301-101500__step.other__Rnothere0001")
			for _, dir := range []string{"receipts/2026/01/01/CAP-20260101-000000__step.none__Rnone0000001", other, path.Join("elsewhere", path.Base(entries[0].Dir))} {
				if _, _, ok := lookup(dir); ok {
					t.Errorf("lookup(%q) gave a receipt", dir)
				}
			}
		})
	}
}
