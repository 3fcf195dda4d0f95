package site_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/site"
)

// server is a running site.Serve.
type server struct {
	url    string
	out    string
	cancel context.CancelFunc
	done   chan error
}

// startServe builds and serves the repository at repo on 127.0.0.1.
func startServe(t *testing.T, repo string) *server {
	t.Helper()
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{out: out, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		s.done <- site.Serve(ctx, site.ServeOptions{
			Addr: "127.0.0.1:0",
			Poll: 50 * time.Millisecond,
			Load: func() (site.Options, error) {
				cfg, err := config.Load(repo)
				if err != nil {
					return site.Options{}, err
				}
				paths, err := loops.Discover(repo, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out})
				if err != nil {
					return site.Options{}, err
				}
				return site.Options{Root: repo, Out: out, Config: cfg, Set: loops.Load(repo, paths), Now: fixtureNow}, nil
			},
			Ready: func(addr string) { ready <- addr },
		})
	}()
	select {
	case addr := <-ready:
		s.url = "http://" + addr
	case err := <-s.done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop shuts the server down and checks that it returns cleanly.
func (s *server) stop(t *testing.T) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("serve did not shut down")
	}
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func TestServe(t *testing.T) {
	repo := fixtureCopy(t)
	s := startServe(t, repo)
	tests := []struct {
		path, ctype string
		code        int
		want        string
	}{
		{"/", "text/html", 200, `<script src="/__spine/reload.js" data-version="1" defer></script>`},
		{"/index.html", "text/html", 200, "LOOP-DEMO-STORAGE-20260301"},
		{"/loops/LOOP-DEMO-STORAGE-20260301/", "text/html", 200, "Blocked at a gate"},
		{"/search.json", "application/json", 200, `"kind":"loop"`},
		{"/feed.xml", "application/atom+xml", 200, "<feed"},
		{"/__spine/reload.js", "text/javascript", 200, "EventSource"},
		{"/receipts/CAP-20260301-102000__step.scrub-status__Rlonglog001/output.txt", "text/plain", 200, "scrub"},
		{"/.spine-manifest.json", "", 404, ""},
		{"/../../etc/passwd", "", 404, ""},
		{"/nope.html", "", 404, ""},
	}
	for _, tc := range tests {
		code, body, h := get(t, s.url+tc.path)
		if code != tc.code || !strings.HasPrefix(h.Get("Content-Type"), tc.ctype) || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d %s, want %d %s containing %q", tc.path, code, h.Get("Content-Type"), tc.code, tc.ctype, tc.want)
		}
	}

	// Only the build's own files: a symbolic link put in the output
	// folder reaches nothing, as a file or as a folder.
	secret := filepath.Join(t.TempDir(), "secret.txt")
	writeFile(t, secret, "not the site's\n")
	if err := os.Symlink(secret, filepath.Join(s.out, "leak.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(secret), filepath.Join(s.out, "leakdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(secret, filepath.Join(s.out, "hard.txt")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/leak.txt", "/leakdir/secret.txt", "/leakdir/", "/hard.txt"} {
		if code, body, _ := get(t, s.url+p); code != 404 || strings.Contains(body, "not the site's") {
			t.Errorf("GET %s through a link: %d %q, want 404", p, code, body)
		}
	}
	// A request for another host name (DNS rebinding) is refused.
	req, _ := http.NewRequest("GET", s.url+"/search.json", nil)
	req.Host = "attacker.example"
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("GET with Host attacker.example: %d, want 421", resp.StatusCode)
		}
	}
	for _, host := range []string{"localhost", "127.0.0.1", "[::1]:80", "LOCALHOST:8080", "localhost.:8080", "127.0.0.2"} {
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET with Host %s: %d, want 200", host, resp.StatusCode)
		}
	}

	// The event stream announces the first build, nothing when an input is
	// touched without change, and a new version after a real change.
	resp, err := http.Get(s.url + "/__spine/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- v
			}
		}
		close(events)
	}()
	if v := <-events; v != "1" {
		t.Fatalf("first event %q, want 1", v)
	}
	doc := filepath.Join(repo, "loops", "LOOP-DEMO-CLOSED-20260215.md")
	now := time.Now()
	if err := os.Chtimes(doc, now, now); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-events:
		t.Errorf("event %q after a touch that changed nothing", v)
	case <-time.After(600 * time.Millisecond):
	}
	src, _ := os.ReadFile(doc)
	writeFile(t, doc, string(src)+"\nEdited while serving.\n")
	select {
	case v := <-events:
		if v != "2" {
			t.Errorf("event %q, want 2", v)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no event after a change")
	}
	if _, body, _ := get(t, s.url+"/loops/LOOP-DEMO-CLOSED-20260215/index.html"); !strings.Contains(body, "Edited while serving.") {
		t.Error("the served page does not show the change")
	}
	// A new receipt is picked up too.
	addReceipt(t, repo, receiptSpec{key: "CAP-20260302-130000__step.audit-vms__Rnewrun0001", loop: "LOOP-DEMO-CLOSED-20260215", step: "audit-vms", status: "pass", command: "qm list", output: "ok\n"})
	select {
	case v := <-events:
		if v != "3" {
			t.Errorf("event %q, want 3", v)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no event after a new receipt")
	}
	if code, _, _ := get(t, s.url+"/receipts/CAP-20260302-130000__step.audit-vms__Rnewrun0001/index.html"); code != 200 {
		t.Errorf("new receipt page: %d", code)
	}
	resp.Body.Close()
	s.stop(t)
	if _, err := http.Get(s.url + "/"); err == nil {
		t.Error("server still answers after shutdown")
	}
	_ = fmt.Sprint
}

// TestBuildWritesNoPageThroughALink: a symbolic link put in the output
// folder where a folder of pages belongs (to .git, to receipts/) is not
// written through: the build fails, naming it, and nothing lands where
// it points.
func TestBuildWritesNoPageThroughALink(t *testing.T) {
	repo := fixtureCopy(t)
	out := filepath.Join(t.TempDir(), "public")
	opts, err := loadRepo(repo, out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := site.Build(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := os.RemoveAll(filepath.Join(out, "timeline")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(out, "timeline")); err != nil {
		t.Fatal(err)
	}
	opts.Full = true
	_, err = site.Build(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "timeline is not a folder (a symbolic link?)") {
		t.Errorf("build through a link: %v", err)
	}
	if ents, _ := os.ReadDir(target); len(ents) != 0 {
		t.Errorf("the build wrote %d file(s) where the link points", len(ents))
	}
	os.Remove(filepath.Join(out, "timeline"))

	// A link where a temporary file is made (search.json.spine-tmp) is
	// not written through: it would land on a receipt.
	victim := filepath.Join(t.TempDir(), "receipt.json")
	writeFile(t, victim, "evidence\n")
	if err := os.Symlink(victim, filepath.Join(out, "search.json.spine-tmp")); err != nil {
		t.Fatal(err)
	}
	if _, err := site.Build(context.Background(), opts); err != nil {
		t.Fatalf("build with a link at a temporary file's name: %v", err)
	}
	if data, _ := os.ReadFile(victim); string(data) != "evidence\n" {
		t.Errorf("the build wrote through the link: %q", data)
	}
	if fi, err := os.Lstat(filepath.Join(out, "search.json")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("search.json is not a regular file: %v %v", fi, err)
	}
	// Nor a hard link there (truncating it would truncate the receipt).
	hard := filepath.Join(out, "hard-victim")
	writeFile(t, hard, "evidence\n")
	if err := os.Link(hard, filepath.Join(out, "index.html.spine-tmp")); err != nil {
		t.Fatal(err)
	}
	if _, err := site.Build(context.Background(), opts); err != nil {
		t.Fatalf("build with a hard link at a temporary file's name: %v", err)
	}
	if data, _ := os.ReadFile(hard); string(data) != "evidence\n" {
		t.Errorf("the build wrote through the hard link: %q", data)
	}

	// A page no longer built is not removed through a linked folder.
	loopDir := filepath.Join(out, "loops", "LOOP-DEMO-XSS-20260302")
	elsewhere := t.TempDir()
	writeFile(t, filepath.Join(elsewhere, "index.html"), "precious\n")
	if err := os.RemoveAll(loopDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, loopDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(repo, "loops", "LOOP-DEMO-XSS-20260302.md")); err != nil {
		t.Fatal(err)
	}
	if opts, err = loadRepo(repo, out); err != nil {
		t.Fatal(err)
	}
	_, err = site.Build(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "symbolic link not followed") {
		t.Errorf("build removing a page through a link: %v", err)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "index.html")); err != nil {
		t.Errorf("the build removed a file through the link: %v", err)
	}
}
