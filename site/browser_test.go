package site_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath is where Debian installs Chromium.
const chromiumPath = "/usr/bin/chromium"

// TestBrowser opens the served site in headless Chromium: the index, a loop
// page, a receipt page and the others, checks that no console error or
// content-security-policy violation occurs, that the loops table lists the
// fixtures, that search works and that a change reloads the page, and saves
// screenshots (light, dark, phone) to $SPINE_SCREENSHOT_DIR or the test's
// temporary folder.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("no browser: %s is not installed", chromiumPath)
	}
	shots := os.Getenv("SPINE_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	repo := fixtureCopy(t)
	s := startServe(t, repo)

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	// Chromium keeps its process-singleton socket in a folder of its own
	// under $TMPDIR and leaves it there: give it a TMPDIR the test
	// removes, or every run leaves one more folder in /tmp.
	browserTmp := t.TempDir()
	singletons := func() []string {
		m, _ := filepath.Glob(filepath.Join(os.TempDir(), "org.chromium.Chromium.*"))
		return m
	}
	before := singletons()
	t.Cleanup(func() {
		// After the browser has exited (the deferred cancels ran).
		if after := singletons(); len(after) > len(before) {
			t.Errorf("chromium left folders in %s: %v (before the test: %d)", os.TempDir(), after, len(before))
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Env("TMPDIR="+browserTmp),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	var mu sync.Mutex
	var problems []string
	note := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	if err := chromedp.Listen(bctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range e.Args {
					args = append(args, a.Description+string(a.Value))
				}
				note("console.%s: %s", e.Type, strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			note("exception: %s %s", e.ExceptionDetails.Text, e.ExceptionDetails.URL)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning || strings.Contains(e.Entry.Text, "Content Security Policy") {
				note("log %s/%s: %s %s", e.Entry.Source, e.Entry.Level, e.Entry.Text, e.Entry.URL)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}

	shot := func(name string) {
		t.Helper()
		if testing.Verbose() {
			t.Logf("%s: screenshot %s", time.Since(start).Round(time.Millisecond), name)
		}
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open := func(path string) {
		t.Helper()
		if testing.Verbose() {
			t.Logf("%s: open %s", time.Since(start).Round(time.Millisecond), path)
		}
		if err := chromedp.Do(bctx, chromedp.Navigate(s.url+path), chromedp.WaitVisible("footer.foot")); err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
	}
	eval := func(expr string) any {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[any](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}

	// The index lists the fixtures; the search box came alive under the
	// content security policy.
	open("/index.html")
	rows, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("table.loops tbody")))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"LOOP-DEMO-STORAGE-20260301", "LOOP-DEMO-CLOSED-20260215", "LOOP-DEMO-XSS-20260302"} {
		if !strings.Contains(rows, id) {
			t.Errorf("the loops table does not list %s:\n%s", id, rows)
		}
	}
	if n := eval(`document.querySelectorAll("table.loops tbody tr").length`); n != float64(3) {
		t.Errorf("loops table has %v rows, want 3", n)
	}
	if hidden := eval(`document.querySelector("form.search").hidden`); hidden != false {
		t.Error("search.js did not run: the search form is still hidden")
	}
	// heartbeat.js measures the heartbeat again against the browser's
	// clock: the page says 25h (the newest time in the fixture), the
	// reader's clock months later.
	wantAge := fmt.Sprintf("%dd", int(time.Since(time.Date(2026, 3, 1, 10, 20, 0, 0, time.UTC)).Hours()/24))
	if got := eval(`(function(){var e=document.querySelector("span.hb[data-hb]");return e.className+" "+e.textContent})()`); got != "hb hb-stale "+wantAge {
		t.Errorf("the live heartbeat reads %q, want %q", got, "hb hb-stale "+wantAge)
	}
	if got := eval(`document.querySelector("time.hb-asof").textContent`); got != "now (this browser's clock)" {
		t.Errorf("the heartbeat caption reads %q", got)
	}
	shot("index")
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.CSS("form.search input"), "zpool"), chromedp.WaitVisible(".results li a")); err != nil {
		t.Fatalf("search: %v", err)
	}
	if got := eval(`document.querySelector(".results").textContent`); !strings.Contains(fmt.Sprint(got), "zpool-list") {
		t.Errorf("search for zpool found %q", got)
	}

	// The status filter works without script: a page per status.
	open("/status/closed/index.html")
	if n := eval(`document.querySelectorAll("table.loops tbody tr").length`); n != float64(1) {
		t.Errorf("closed filter shows %v rows, want 1", n)
	}

	open("/loops/LOOP-DEMO-STORAGE-20260301/index.html")
	if n := eval(`document.querySelectorAll("svg.tl rect[class^=st-]").length`); n != float64(6) {
		t.Errorf("stage timeline has %v bars, want 6", n)
	}
	if got := eval(`document.querySelector(".callout.blocked").textContent`); !strings.Contains(fmt.Sprint(got), "ALLOW_MD1400_PROVISION") {
		t.Errorf("blocked gate callout: %q", got)
	}
	shot("loop")

	open("/receipts/CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd/index.html")
	if got := eval(`document.querySelector(".chip.ok").textContent`); !strings.Contains(fmt.Sprint(got), "hash chain") {
		t.Errorf("chain chip: %q", got)
	}
	shot("receipt")
	open("/receipts/CAP-20260301-102000__step.scrub-status__Rlonglog001/index.html")
	open("/receipts/CAP-20260302-120000__step.xss-step__Rxss0000001/index.html")
	if v := eval(`typeof window.alert === "function" && document.querySelectorAll("script:not([src])").length`); v != float64(0) {
		t.Errorf("inline scripts on the XSS receipt page: %v", v)
	}
	open("/loops/LOOP-DEMO-XSS-20260302/index.html")
	for _, p := range []string{"/gaps/GAP-OP-1033/index.html", "/verify/media/index.html", "/timeline/index.html"} {
		open(p)
	}
	open("/gaps/index.html")
	shot("gaps")

	// Dark scheme and a phone.
	if _, err := chromedp.Call(bctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatal(err)
	}
	open("/loops/LOOP-DEMO-STORAGE-20260301/index.html")
	shot("loop-dark")
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	open("/index.html")
	shot("index-phone-dark")
	if _, err := chromedp.Call(bctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		t.Fatal(err)
	}
	open("/receipts/CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd/index.html")
	shot("receipt-phone")
	if w := eval(`document.documentElement.scrollWidth <= window.innerWidth + 1`); w != true {
		t.Errorf("the receipt page scrolls sideways on a phone")
	}

	// A change reloads the open page through the event stream, even when
	// the stream connects only after the rebuild: the page knows the
	// version it was served from. The stream is held off (its requests
	// blocked) until the server has rebuilt the page, then connected.
	const eventsPattern = "http://127.0.0.1:*/__spine/events"
	if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(bctx, network.SetBlockedURLs, network.SetBlockedURLsParams{
		URLPatterns: []*network.BlockPattern{{URLPattern: eventsPattern, Block: true}},
	}); err != nil {
		t.Fatal(err)
	}
	page := "/loops/LOOP-DEMO-CLOSED-20260215/index.html"
	open(page)
	eval(`window.spineMarker = 1`)
	doc := filepath.Join(repo, "loops", "LOOP-DEMO-CLOSED-20260215.md")
	src, _ := os.ReadFile(doc)
	writeFile(t, doc, string(src)+"\nReloaded by the browser.\n")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, body, _ := get(t, s.url+page); strings.Contains(body, "Reloaded by the browser.") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not rebuild the page after a change")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := chromedp.Call(bctx, network.SetBlockedURLs, network.SetBlockedURLsParams{}); err != nil {
		t.Fatal(err)
	}
	if v := eval(`window.spineMarker === 1`); v != true {
		t.Fatal("the page reloaded before its event stream connected")
	}
	// What the browser does when it shows a page again (back/forward
	// cache): connect the stream.
	eval(`window.dispatchEvent(new PageTransitionEvent("pageshow", {persisted: true})), 0`)
	deadline = time.Now().Add(20 * time.Second)
	for {
		if v := eval(`window.spineMarker === undefined && !!document.body && document.body.textContent.includes("Reloaded by the browser.")`); v == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the page did not reload after a change")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// From the file system (browsers refuse to fetch there) the search
	// box stays hidden and a note says where search works.
	out := filepath.Join(t.TempDir(), "public")
	buildSite(t, nil, repo, out)
	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+filepath.Join(out, "index.html")), chromedp.WaitVisible("footer.foot")); err != nil {
		t.Fatalf("open the built site from the file system: %v", err)
	}
	if got := eval(`document.querySelector("form.search").hidden + " " + (document.querySelector(".search-off") || {}).textContent`); got != "true Search needs the site served (spine site serve, or any web server)." {
		t.Errorf("search from the file system: %q", got)
	}

	bcancel()
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
	t.Logf("screenshots in %s; took %s", shots, time.Since(start).Round(time.Millisecond))
}
