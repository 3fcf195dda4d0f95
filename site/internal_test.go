package site

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/render"
)

func TestANSI(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"plain escaped", []string{"a <b> & c"}, "a &lt;b&gt; &amp; c"},
		{"colour", []string{"\x1b[31mred\x1b[0m ok"}, `<span class="af1">red</span> ok`},
		{"bold bright", []string{"\x1b[1;92mgo\x1b[m"}, `<span class="ab af10">go</span>`},
		{"carries over lines", []string{"\x1b[33mwarn", "still\x1b[0m done"}, "<span class=\"af3\">warn</span>\n<span class=\"af3\">still</span> done"},
		{"256 colours dropped", []string{"\x1b[38;5;208morange\x1b[0m"}, "orange"},
		{"other sequences stripped", []string{"\x1b[2K\x1b[1Gline\x1b]8;;http://x\x07link\x1b]8;;\x07"}, "linelink"},
		{"carriage return keeps the last frame", []string{"10%\r50%\r100%"}, "100%"},
		{"control characters dropped, a NUL shown", []string{"a\x00b\x07c\td"}, "a\ufffdbc\td"},
		{"escape at the end", []string{"x\x1b"}, "x"},
		{"invalid UTF-8 (binary output)", []string{"a\xff\xfeb", "ok é"}, "a\ufffdb\nok é"},
		// spine's prefix is its own: a colour left on does not paint it,
		// a carriage return in the step's text does not take it away.
		{"prefix outside a colour left on", []string{"2026-03-01T10:15:00.000Z [out] \x1b[31mred", "2026-03-01T10:15:00.001Z [err] still"},
			"2026-03-01T10:15:00.000Z [out] <span class=\"af1\">red</span>\n2026-03-01T10:15:00.001Z [err] <span class=\"af1\">still</span>"},
		{"prefix kept over a carriage return", []string{"2026-03-01T10:15:00.000Z [out] 10%\r100%"}, "2026-03-01T10:15:00.000Z [out] 100%"},
		{"not a prefix", []string{"2026-03-01 10:15 [out] x\ry"}, "y"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ansiHTML(tc.lines)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestHTMLEscape checks escapeHTML's escText mode against
// html.EscapeString, bidirectional controls shown (render.VisibleBidi) in
// every mode.
func TestHTMLEscape(t *testing.T) {
	for _, s := range []string{"", "plain", `<a href="x">'q' & r</a>`, "&&", "<", "tail>", "\x00\xff é \u2028", "x-\u202etxt.exe\u202c & \u2066<y>\u2069", "\xe2\x80"} {
		var b strings.Builder
		escapeHTML(&b, s, escText)
		if diff := cmp.Diff(render.EscapeText(s), b.String()); diff != "" {
			t.Errorf("escapeHTML(%q, escText) (-html.EscapeString +escapeHTML):\n%s", s, diff)
		}
		b.Reset()
		escapeHTML(&b, s, escTemplate)
		if strings.ContainsAny(b.String(), "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069") {
			t.Errorf("escapeHTML(%q, escTemplate) = %q keeps a bidirectional control", s, b.String())
		}
	}
}

// TestHTMLEscapeControls: text escaped for a page (escTemplate) keeps
// valid UTF-8, tabs and line breaks, and replaces every other control
// character and each byte of invalid UTF-8 with U+FFFD: the pages say
// they are UTF-8, and an escape from a document is shown, not passed on.
func TestHTMLEscapeControls(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain — é ✓ 日本", "plain — é ✓ 日本"},
		{"tab\tline\nret\r", "tab\tline\nret\r"},
		{"esc \x1b[31m red", "esc \ufffd[31m red"},
		{"ff \x0c del \x7f bell \x07", "ff \ufffd del \ufffd bell \ufffd"},
		{"bad \xff\xfe end", "bad \ufffd\ufffd end"},
		{"cut \xe2\x80", "cut \ufffd\ufffd"},
		{"<\x1b>", "&lt;\ufffd&gt;"},
	} {
		var b strings.Builder
		escapeHTML(&b, tc.in, escTemplate)
		if b.String() != tc.want {
			t.Errorf("escapeHTML(%q, escTemplate) = %q, want %q", tc.in, b.String(), tc.want)
		}
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"LOOP-MD1400-CAPACITY-20260227", true},
		{"GAP-OP-1033", true},
		{"media.v2_x", true},
		{"", false},
		{"../x", false},
		{"a/b", false},
		{".hidden", false},
		{"-flag", false},
		{"a b", false},
		{"index.html", false},
		{"status", false},
		{"assets", false},
		{strings.Repeat("a", 201), false},
		{"LOOP-É", false},
	}
	for _, tc := range tests {
		if got := validID(tc.id); got != tc.want {
			t.Errorf("validID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestValidOutPath(t *testing.T) {
	tests := []struct {
		p    string
		want bool
	}{
		{"index.html", true},
		{"loops/LOOP-X/index.html", true},
		{"receipts/K/artifacts/10-x.txt", true},
		{"../x", false},
		{"/etc/passwd", false},
		{"a/../b", false},
		{"a//b", false},
		{".spine-manifest.json", false},
		{"a/.git/x", false},
		{"a\\b", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := validOutPath(tc.p); got != tc.want {
			t.Errorf("validOutPath(%q) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestArtifactSiteName(t *testing.T) {
	used := map[string]bool{}
	got := []string{
		artifactSiteName("artifacts/loop/10-zpool-list.txt", 0, used),
		artifactSiteName("artifacts/loop/report.html", 1, used),
		artifactSiteName("artifacts/loop/x y<z>.sh", 2, used),
		artifactSiteName("artifacts/other/10-zpool-list.txt", 3, used),
		artifactSiteName("artifacts/loop/..", 4, used),
	}
	want := []string{"10-zpool-list.txt", "report.html.txt", "x_y_z_.sh.txt", "4-10-zpool-list.txt", "artifact.txt"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestChainMatchesVerify checks that the site's chain verdicts are the
// ones `spine verify` (artifacts.VerifyEntries) reaches, on the fixture and
// on the fixture with a receipt removed from the middle of a chain.
func TestChainMatchesVerify(t *testing.T) {
	check := func(t *testing.T, root string) {
		entries, err := (&artifacts.Store{Root: root}).List()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for _, p := range artifacts.VerifyEntries(root, root, entries).Problems {
			if strings.HasPrefix(p.Problem, "prev ") {
				want[p.RunKey] = p.Problem
			}
		}
		scan, err := newReceiptCache().scan(root, "receipts")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, chainStates(scan.recs)); diff != "" {
			t.Errorf("chain problems (-verify +site):\n%s", diff)
		}
	}
	t.Run("fixture", func(t *testing.T) { check(t, "testdata/repo") })
	t.Run("gap in the chain", func(t *testing.T) {
		root := t.TempDir()
		copyDir(t, "testdata/repo", root)
		if err := removeAll(root + "/receipts/2026/03/01/CAP-20260301-101530__step.smart-check__Rm1n2b3v4c5"); err != nil {
			t.Fatal(err)
		}
		check(t, root)
	})
}

func TestCheckOut(t *testing.T) {
	cfg := config.Default()
	tests := []struct {
		out, state string
		want       bool
	}{
		{"/repo/public", "/repo/.git/spine", true},
		{"/elsewhere/site", "/repo/.git/spine", true},
		{"/repo/..public", "", true},
		{"/repo/receipts-site", "", true},
		{"/repo", "", false},
		{"/", "", false},
		{"/repo/.git/site", "", false},
		{"/repo/.git", "", false},
		{"/repo/receipts", "", false},
		{"/repo/receipts/site", "", false},
		{"/repo/receipts/..site", "", false},
		{"/repo/artifacts/x", "", false},
		{"/repo/verify", "", false},
		// $SPINE_STATE_DIR in or around the output folder.
		{"/repo/public", "/repo/public/state", false},
		{"/srv/www", "/srv/www", false},
		{"/srv/state/out", "/srv/state", false},
		{"/srv/www", "/srv/www-state", true},
	}
	for _, tc := range tests {
		if err := checkOut("/repo", tc.out, tc.state, cfg); (err == nil) != tc.want {
			t.Errorf("checkOut(/repo, %s, %q) = %v, want ok=%v", tc.out, tc.state, err, tc.want)
		}
	}
}

// TestCheckOutFollowsLinks: an output folder that is a symbolic link (a
// committed public -> .git, a link elsewhere to the repository or its
// receipts) is refused by where it leads, naming both; a link to a folder
// outside the repository is fine.
func TestCheckOutFollowsLinks(t *testing.T) {
	cfg := config.Default()
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	for _, d := range []string{".git/spine", "receipts", "elsewhere"} {
		if err := os.MkdirAll(filepath.Join(repo, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	www := filepath.Join(base, "www")
	os.MkdirAll(www, 0o755)
	for _, tc := range []struct {
		link, target string
		want         bool
	}{
		{filepath.Join(repo, "public"), ".git", false},
		{filepath.Join(base, "site-root"), repo, false},
		{filepath.Join(base, "site-rc"), filepath.Join(repo, "receipts"), false},
		{filepath.Join(base, "site-state"), filepath.Join(repo, ".git", "spine"), false},
		{filepath.Join(repo, "pub"), www, true},
	} {
		if err := os.Symlink(tc.target, tc.link); err != nil {
			t.Fatal(err)
		}
		outs := []string{tc.link, filepath.Join(tc.link, "sub")}
		if tc.target == repo {
			outs = outs[:1] // repo/sub is a folder of the repository like public/
		}
		for _, out := range outs {
			err := checkOut(repo, out, filepath.Join(repo, ".git", "spine"), cfg)
			if (err == nil) != tc.want {
				t.Errorf("checkOut(%s -> %s) = %v, want ok=%v", out, tc.target, err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), "leads to") {
				t.Errorf("checkOut(%s): %v; want it to say where the link leads", out, err)
			}
		}
	}
}

// TestSearchKey checks that searchKeyOf, which hashes the runs' entries
// without making their strings, gives the key of the entries searchItems
// gives (search.json's key in the manifest of earlier builds), for the
// fixture's runs (running, corrupt, of unknown loops) and for runs
// without a time or receipt.
func TestSearchKey(t *testing.T) {
	st := prepareRepo(t, filepath.Join("testdata", "repo"))
	generic := func() string {
		k := newKeyer(st.global, "search.json")
		st.searchItems(func(_ *receiptRec, fields ...string) {
			k.int(int64(len(fields)))
			for _, f := range fields {
				k.str(f)
			}
		})
		return k.sum()
	}
	tests := []struct {
		name string
		edit func()
	}{
		{"fixture", func() {}},
		{"no time, no receipt", func() {
			st.recs = append(st.recs, &receiptRec{Entry: artifacts.Entry{RunKey: "CAP-x"}, Missing: true})
		}},
		{"long fields", func() {
			st.recs = append(st.recs, &receiptRec{Entry: artifacts.Entry{RunKey: strings.Repeat("K", 300), Receipt: &artifacts.Receipt{LoopID: strings.Repeat("L", 200), Step: strings.Repeat("s", 150), Status: "pass"}}, Start: time.Date(2026, 3, 1, 10, 0, 0, 5, time.FixedZone("x", 3600))})
		}},
		{"no runs", func() { st.recs = nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.edit()
			if got, want := st.searchKeyOf(), generic(); got != want {
				t.Errorf("searchKeyOf = %s, searchItems' entries hash to %s", got, want)
			}
		})
	}
	if len(st.gapByID) == 0 || len(st.docs) == 0 {
		t.Error("fixture without gaps or loops: the test checks less than it should")
	}
}

// TestScanManyDays scans more day folders than a batch of the scan holds
// open (dayBatch): every run folder is found and read, relative to its
// own day folder, and no folder is left open.
func TestScanManyDays(t *testing.T) {
	root := t.TempDir()
	fds := func() int {
		des, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(des)
	}
	want := map[string]string{}
	for i := range 2*dayBatch + 3 {
		day := fmt.Sprintf("receipts/%d/%02d/%02d", 2024+i/336, 1+i%336/28, 1+i%28)
		key := fmt.Sprintf("CAP-%s__step.s%d__R%010d", strings.ReplaceAll(day[len("receipts/"):], "/", "")+"-000000", i, i)
		dir := filepath.Join(root, filepath.FromSlash(day), key)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		host := fmt.Sprintf("host-%d", i)
		if i%50 != 7 { // some runs still going: no receipt.json
			rc := fmt.Sprintf(`{"run_key": %q, "loop_id": "LOOP-X", "step": "s", "status": "pass", "host": %q}`, key, host)
			if err := os.WriteFile(filepath.Join(dir, "receipt.json"), []byte(rc), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			host = "missing"
		}
		want[day+"/"+key] = host
	}
	// Symbolic links named as runs, in the first batch and a later one:
	// not followed, and warned about in the order of the days.
	var wantWarnings []string
	for _, i := range []int{3, dayBatch + 9} {
		day := fmt.Sprintf("receipts/2024/%02d/%02d", 1+i/28, 1+i%28)
		link := fmt.Sprintf("CAP-%s-000000__step.link__Rlink%06d", strings.ReplaceAll(day[len("receipts/"):], "/", ""), i)
		if !artifacts.ValidRunKey(link) {
			t.Fatalf("%s is not a valid run key", link)
		}
		if err := os.Symlink(t.TempDir(), filepath.Join(root, filepath.FromSlash(day), link)); err != nil {
			t.Fatal(err)
		}
		wantWarnings = append(wantWarnings, "receipts: "+day+"/"+link+" is a symbolic link; not followed")
	}
	before := fds()
	scan, err := newReceiptCache().scan(root, "receipts")
	if err != nil {
		t.Fatal(err)
	}
	if after := fds(); after != before {
		t.Errorf("%d descriptors open before the scan, %d after", before, after)
	}
	got := map[string]string{}
	for _, r := range scan.recs {
		switch {
		case r.Missing:
			got[r.Dir] = "missing"
		case r.Receipt == nil:
			got[r.Dir] = "unread: " + errText(r.Err)
		default:
			got[r.Dir] = r.Receipt.Host
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("run folders (-want +scanned):\n%s", diff)
	}
	if diff := cmp.Diff(wantWarnings, scan.warnings); diff != "" {
		t.Errorf("warnings (-want +scanned):\n%s", diff)
	}
}

// TestEmitStream checks emitStream against emit: the same file and
// manifest entry for the same content, an unchanged file left alone (not
// even replaced), and a failed fill leaving the old file and no
// temporary file behind.
func TestEmitStream(t *testing.T) {
	out := t.TempDir()
	content := []byte(strings.Repeat("[\"x\"],\n", 20000)) // over the 64 KiB buffer
	fill := func(data []byte) func(io.Writer) error {
		return func(w io.Writer) error {
			for len(data) > 0 { // in pieces, as searchJob writes
				n := min(len(data), 1000)
				if _, err := w.Write(data[:n]); err != nil {
					return err
				}
				data = data[n:]
			}
			return nil
		}
	}
	newWriter := func(old map[string]manifestEntry) *writer {
		return &writer{out: out, old: &manifest{files: old}, next: map[string]manifestEntry{}}
	}
	w := newWriter(map[string]manifestEntry{})
	if err := w.emitStream("search.json", "k1", fill(content)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(out, "search.json")
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("search.json: %d bytes (err %v), want %d", len(got), err, len(content))
	}
	want := manifestEntry{Key: "k1", SHA: contentHash(content)}
	if e := w.next["search.json"]; e != want || w.written.Load() != 1 {
		t.Fatalf("manifest entry %+v (written %d), want %+v (1)", e, w.written.Load(), want)
	}
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	// The same content under a new key: recorded, not rewritten.
	w = newWriter(map[string]manifestEntry{"search.json": want})
	if err := w.emitStream("search.json", "k2", fill(content)); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || w.unchanged.Load() != 1 || w.next["search.json"] != (manifestEntry{Key: "k2", SHA: want.SHA}) {
		t.Errorf("unchanged content: file replaced %v, unchanged %d, entry %+v", !os.SameFile(before, after), w.unchanged.Load(), w.next["search.json"])
	}
	// A fill that fails: the old file stays, nothing is recorded.
	w = newWriter(map[string]manifestEntry{"search.json": want})
	boom := errors.New("boom")
	err = w.emitStream("search.json", "k3", func(out io.Writer) error {
		out.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("fill error: got %v, want %v", err, boom)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, content) {
		t.Error("a failed fill changed the file")
	}
	if _, err := os.Stat(p + ".spine-tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
	if len(w.next) != 0 {
		t.Errorf("a failed fill recorded %v", w.next)
	}
	if err := w.emitStream("../x", "k", fill(content)); err == nil {
		t.Error("a path out of the output folder was written")
	}
}

// TestTimelineCaptionGivesTheRunsSpan: two runs ten seconds apart are
// drawn on an axis of ten minutes, and the caption gives the runs' own
// span, not the axis's end.
func TestTimelineCaptionGivesTheRunsSpan(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 2, 50, 0, 0, time.UTC)
	rows := []timelineRow{{Label: "a", Runs: []*receiptRec{
		{Entry: artifacts.Entry{RunKey: "CAP-20261128-025000__x__Ra"}, Start: t0, Finish: t0.Add(2 * time.Second)},
		{Entry: artifacts.Entry{RunKey: "CAP-20261128-025010__x__Rb"}, Start: t0.Add(10 * time.Second), Finish: t0.Add(12 * time.Second)},
	}}}
	_, caption := stageTimeline(rows, "../")
	if want := "2 runs from " + fmtWhen(t0) + " to " + fmtWhen(t0.Add(12*time.Second)) + ", one row per step, coloured by status"; caption != want {
		t.Errorf("caption %q, want %q", caption, want)
	}
}

// TestDayChartFitsItsDates: the runs-per-day chart is wide enough for the
// date under each end however few days it shows (one day cut its date to
// "202").
func TestDayChartFitsItsDates(t *testing.T) {
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for n, min := range map[int]float64{1: 72, 2: 150, 5: 150, 100: 150} {
		var days []dayCount
		for i := range n {
			days = append(days, dayCount{Day: day.AddDate(0, 0, i), Pass: 1})
		}
		svg := string(dayChart(days))
		m := regexp.MustCompile(`viewBox="0 0 ([0-9.]+) `).FindStringSubmatch(svg)
		if m == nil {
			t.Fatalf("%d days: no viewBox in %s", n, svg)
		}
		if w, _ := strconv.ParseFloat(m[1], 64); w < min {
			t.Errorf("%d days: chart %v wide, want at least %v", n, w, min)
		}
	}
}

// TestFeedTime: a feed entry's time is its run's end, else its start (a
// run that has not ended), else the epoch.
func TestFeedTime(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	end := start.Add(time.Minute)
	for _, tc := range []struct {
		rec  receiptRec
		want time.Time
	}{
		{receiptRec{Start: start, Finish: end}, end},
		{receiptRec{Start: start}, start},
		{receiptRec{}, time.Unix(0, 0).UTC()},
	} {
		if got := feedTime(&tc.rec); !got.Equal(tc.want) {
			t.Errorf("feedTime(start %v, finish %v) = %v, want %v", tc.rec.Start, tc.rec.Finish, got, tc.want)
		}
	}
}
