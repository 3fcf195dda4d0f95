package site

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/loops"
)

// ServeOptions configure Serve.
type ServeOptions struct {
	// Addr is the address to listen on; empty means 127.0.0.1:8080.
	Addr string
	// Load returns the options of a build: it is called for the first
	// build and again for every rebuild, so it should re-read the
	// configuration and the loop documents.
	Load func() (Options, error)
	// Reload, when set, is called instead of Load for a rebuild while the
	// file watcher works, with the options of the last build and what
	// changed since: it may read again only what changed.
	Reload func(prev Options, ch Changes) (Options, error)
	// Poll is how often inputs are checked for changes when files cannot
	// be watched; zero means 500ms.
	Poll time.Duration
	// NoWatch polls instead of watching files (as on systems without
	// inotify).
	NoWatch bool
	// Rewatch is how long after the file watcher failed (or could not
	// start) Serve, polling meanwhile, tries to watch again; zero means
	// 30s. A queue overflow under a burst of changes need not leave a
	// server polling for the rest of its life.
	Rewatch time.Duration
	// Logger receives build results and errors; nil discards them.
	Logger *slog.Logger
	// Ready, when set, is called with the listening address once the
	// first build is done and the server accepts connections.
	Ready func(addr string)
}

// reloadPath and eventsPath are served by Serve, not from the site.
const (
	reloadPath = "/__spine/reload.js"
	eventsPath = "/__spine/events"
)

// Serve builds the site, serves it over HTTP, rebuilds it when loop
// documents, receipts, the gap ledger, verify packs or spine.yaml change,
// and tells open pages to reload through server-sent events when a rebuild
// changed any file. It returns when ctx is cancelled, after shutting the
// server down gracefully.
//
// On Linux it watches the inputs with inotify, and a rebuild reads again
// only what the events name, trusting the Builder's memory for the rest.
// Where that is not possible (another system, the watch limit reached, the
// event queue overflowed, a watched root moved) it logs why and falls back
// to checking the modification times of every input each Poll, with full
// builds, and tries to watch again each Rewatch.
func Serve(ctx context.Context, so ServeOptions) error {
	if so.Load == nil {
		return errors.New("site serve: no Load function")
	}
	if so.Addr == "" {
		so.Addr = "127.0.0.1:8080"
	}
	if so.Poll <= 0 {
		so.Poll = 500 * time.Millisecond
	}
	if so.Rewatch <= 0 {
		so.Rewatch = 30 * time.Second
	}
	log := so.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b, err := NewBuilder()
	if err != nil {
		return err
	}
	opts, err := so.Load()
	if err != nil {
		return fmt.Errorf("site serve: %w", err)
	}
	var w *watcher
	if !so.NoWatch {
		// Watch first, then read the repository again: a change made
		// after the first read and before the watches were added is in
		// the second read.
		w, opts, err = startWatcher(so, opts, log)
		if err != nil {
			return fmt.Errorf("site serve: %w", err)
		}
	}
	defer func() {
		if w != nil {
			w.close()
		}
	}()
	opts.Logger = log
	stats, err := b.Build(ctx, opts)
	if err != nil {
		return fmt.Errorf("site serve: %w", err)
	}
	log.Info("site built", "files", stats.Files, "written", stats.Written, "out", OutDir(opts))

	s := &server{out: OutDir(opts), reload: b.assets["assets/reload.js"], done: make(chan struct{})}
	s.setVersion(1)
	ln, err := net.Listen("tcp", so.Addr)
	if err != nil {
		return fmt.Errorf("site serve: %w", err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); ok {
		s.loopback = ta.IP.IsLoopback()
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if so.Ready != nil {
		so.Ready(ln.Addr().String())
	}

	var fp string
	var tick *time.Ticker
	var tickC <-chan time.Time
	poll := func() {
		if tick == nil {
			fp = fingerprint(opts, b.watchList())
			tick = time.NewTicker(so.Poll)
			tickC = tick.C
		}
	}
	defer func() {
		if tick != nil {
			tick.Stop()
		}
	}()
	// retry, when set, is when to try watching again after the watcher
	// failed or could not start.
	var retry time.Time
	if w == nil {
		poll()
		// The first build read the repository before this fingerprint:
		// a change made in between would look built. The first tick
		// makes a build that takes its fingerprint before reading (it
		// writes nothing when nothing changed).
		fp = ""
		if !so.NoWatch {
			retry = time.Now().Add(so.Rewatch)
		}
	}
	var ready <-chan struct{}
	version := 1
	// full is set when a rebuild failed: the changes it was given are
	// taken, so the next one reads and checks everything.
	full := false
	for {
		ready = nil
		if w != nil {
			ready = w.ready
		}
		select {
		case <-ctx.Done():
			close(s.done)
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return fmt.Errorf("site serve: shutdown: %w", err)
			}
			return nil
		case err := <-serveErr:
			return fmt.Errorf("site serve: %w", err)
		case <-ready:
		case <-tickC:
		}
		var hint *buildHint
		reload := so.Load
		rewatched := false
		if w == nil && !retry.IsZero() && !time.Now().Before(retry) {
			retry = time.Now().Add(so.Rewatch)
			if nw, err := newWatcher(opts); err != nil {
				log.Debug("site serve: still not watching files", "why", err)
			} else {
				w, retry, rewatched = nw, time.Time{}, true
				tick.Stop()
				tick, tickC = nil, nil
				log.Info("site serve: watching files again", "folders", w.count())
			}
		}
		switch {
		case rewatched:
			// Changes made while polling, before the watches were
			// added, have no events: read and check everything once.
		case w != nil:
			c := settle(ctx, w)
			switch {
			case c.failed != "":
				log.Warn("site serve: file watcher failed, falling back to polling and full builds", "why", c.failed, "poll", so.Poll, "rewatch", so.Rewatch)
				w.close()
				w = nil
				poll()
				retry = time.Now().Add(so.Rewatch)
			case c.empty():
				continue
			case c.config:
				// Folders may have moved: watch again, read everything.
				w.close()
				w = nil
				var nopts Options
				if nopts, err = so.Load(); err != nil {
					log.Error("site rebuild: reading the repository", "err", err)
					poll()
					retry = time.Now().Add(so.Rewatch)
					continue
				}
				if w, _, err = startWatcher(so, nopts, log); err != nil || w == nil {
					poll()
					retry = time.Now().Add(so.Rewatch)
				}
			case full:
				// Read and check everything (hint stays nil).
			default:
				hint = &buildHint{c: c}
				if so.Reload != nil {
					prev, pub := opts, c.public()
					reload = func() (Options, error) { return so.Reload(prev, pub) }
				}
			}
		default:
			nfp := fingerprint(opts, b.watchList())
			if nfp == fp {
				continue
			}
			fp = nfp
		}
		start := time.Now()
		nopts, err := reload()
		if err != nil {
			log.Error("site rebuild: reading the repository", "err", err)
			full = true
			continue
		}
		nopts.Logger = log
		loaded := time.Now()
		stats, err := b.build(ctx, nopts, hint)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("site rebuild failed", "err", err)
			}
			full = true
			continue
		}
		full = false
		opts = nopts
		// In polling, fp stays the fingerprint taken before the
		// repository was read: a file changed while the build ran (or
		// half-written when it was read) differs at the next tick and is
		// built then. The build's new watch list can make that
		// fingerprint differ too, which costs one rebuild that writes
		// nothing. With the watcher, such a file's events are pending.
		log.Info("site rebuilt", "written", stats.Written, "removed", stats.Removed, "incremental", hint != nil,
			"took", time.Since(start).Round(time.Millisecond), "read", loaded.Sub(start).Round(time.Millisecond))
		if stats.Written+stats.Removed > 0 {
			version++
			s.setVersion(version)
		}
	}
}

// settleTime is how long the watcher must be quiet before a rebuild, so
// that the events of one change (an editor's save, a run's files) make
// one rebuild; maxSettle bounds the wait under a steady stream of events.
const (
	settleTime = 20 * time.Millisecond
	maxSettle  = 300 * time.Millisecond
)

// settle waits until w has been quiet for settleTime (at most maxSettle)
// and returns what it saw.
func settle(ctx context.Context, w *watcher) changeSet {
	quiet := time.NewTimer(settleTime)
	defer quiet.Stop()
	limit := time.NewTimer(maxSettle)
	defer limit.Stop()
	for {
		select {
		case <-w.ready:
			quiet.Reset(settleTime)
			continue
		case <-quiet.C:
		case <-limit.C:
		case <-ctx.Done():
		}
		return w.take()
	}
}

// startWatcher watches the inputs of opts and reads the repository again
// (so.Load): what changed before the watches were added is in that read.
// A watcher that cannot start is logged, and nil is returned with opts:
// Serve then polls.
func startWatcher(so ServeOptions, opts Options, log *slog.Logger) (*watcher, Options, error) {
	w, err := newWatcher(opts)
	if err != nil {
		log.Warn("site serve: not watching files, polling for changes with full builds instead", "why", err, "poll", so.Poll)
		return nil, opts, nil
	}
	nopts, err := so.Load()
	if err != nil {
		w.close()
		return nil, opts, err
	}
	log.Info("site serve: watching files for changes", "folders", w.count())
	return w, nopts, nil
}

// watchList returns the paths the last build read (receipt folders, the
// gap ledger, verify packs).
func (b *Builder) watchList() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lastWatch...)
}

// fingerprint hashes the modification time and size of every input: the
// loop documents (found again, so new ones count), spine.yaml, the git
// refs that say a commit was made, and the paths of the last build.
func fingerprint(opts Options, watch []string) string {
	cfg := opts.Config
	if cfg == nil {
		cfg = config.Default()
	}
	paths := append([]string(nil), watch...)
	paths = append(paths, filepath.Join(opts.Root, config.FileName))
	// A commit moves HEAD's branch: approvals may count now.
	paths = append(paths, gitRefFiles(opts.Root)...)
	if docs, err := loops.Discover(opts.Root, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out}); err == nil {
		for _, d := range docs {
			paths = append(paths, filepath.Join(opts.Root, filepath.FromSlash(d)))
		}
	}
	if dir := filepath.Join(opts.Root, cfg.VerifyDir); dir != "" {
		if des, err := os.ReadDir(dir); err == nil {
			for _, de := range des {
				paths = append(paths, filepath.Join(dir, de.Name()))
			}
		}
	}
	sort.Strings(paths)
	h := sha256.New()
	for i, p := range paths {
		if i > 0 && p == paths[i-1] {
			continue
		}
		h.Write([]byte(p))
		if fi, err := os.Stat(p); err == nil {
			h.Write([]byte(strconv.FormatInt(fi.ModTime().UnixNano(), 10) + "/" + strconv.FormatInt(fi.Size(), 10)))
		} else {
			h.Write([]byte("-"))
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// server serves the built site, the reload script and the event stream.
type server struct {
	out    string
	reload []byte
	done   chan struct{}
	// loopback is set when the server listens on a loopback address:
	// it then answers only requests for a loopback host name, so that a
	// web page whose name an attacker points at 127.0.0.1 (DNS
	// rebinding) cannot read the site.
	loopback bool

	mu      sync.Mutex
	version string
	subs    map[chan string]bool
}

func (s *server) setVersion(v int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version = strconv.Itoa(v)
	for ch := range s.subs {
		select {
		case ch <- s.version:
		default:
		}
	}
}

// ServeHTTP implements http.Handler.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	if s.loopback && !loopbackHost(r.Host) {
		http.Error(w, "this server answers requests for localhost, 127.0.0.1 or [::1] only", http.StatusMisdirectedRequest)
		return
	}
	switch r.URL.Path {
	case reloadPath:
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(s.reload)
		return
	case eventsPath:
		s.events(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	if strings.HasSuffix(r.URL.Path, "/") {
		p += "/index.html"
		p = path.Clean(p)
	}
	rel := strings.TrimPrefix(p, "/")
	if rel == "" {
		rel = "index.html"
	}
	if !validOutPath(rel) {
		http.NotFound(w, r)
		return
	}
	// The build's own files only: no symbolic link on the way (one put
	// in the output folder could reach any file), nothing but a folder
	// or a regular file.
	full, fi, err := artifacts.SafeLstat(s.out, rel)
	if err != nil || fi == nil || !fi.IsDir() && !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	if fi.IsDir() {
		http.Redirect(w, r, p+"/", http.StatusMovedPermanently)
		return
	}
	f, err := openNoFollow(full)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if fi, err := f.Stat(); err != nil || hardLinked(fi) {
		// A hard link put in the output folder reaches a file
		// elsewhere as a symbolic link would.
		f.Close()
		http.NotFound(w, r)
		return
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(rel))
	switch path.Ext(rel) {
	case ".html":
		ctype = "text/html; charset=utf-8"
		s.mu.Lock()
		v := s.version
		s.mu.Unlock()
		data = injectReload(data, v)
	case ".json":
		ctype = "application/json"
	case ".xml":
		ctype = "application/atom+xml; charset=utf-8"
	case ".txt":
		ctype = "text/plain; charset=utf-8"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(data)
}

// injectReload adds the reload script to a page, before </head>, with the
// version of the site the page was served from: a page served before a
// rebuild reloads even when its event stream connects after the rebuild.
func injectReload(page []byte, version string) []byte {
	i := bytes.Index(page, []byte("</head>"))
	if i < 0 {
		return page
	}
	tag := []byte(`<script src="` + reloadPath + `" data-version="` + html.EscapeString(version) + `" defer></script>` + "\n")
	out := make([]byte, 0, len(page)+len(tag))
	out = append(out, page[:i]...)
	out = append(out, tag...)
	return append(out, page[i:]...)
}

// events streams the site's version; a page reloads when it changes.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	ch := make(chan string, 1)
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[chan string]bool{}
	}
	s.subs[ch] = true
	v := s.version
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}()
	send := func(v string) bool {
		_, err := fmt.Fprintf(w, "event: build\ndata: %s\n\n", v)
		fl.Flush()
		return err == nil
	}
	if !send(v) {
		return
	}
	keep := time.NewTicker(25 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case v := <-ch:
			if !send(v) {
				return
			}
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// loopbackHost reports whether a request's Host names this machine's
// loopback interface: localhost (also "localhost."), an address in
// 127.0.0.0/8 or ::1, with or without a port; or is empty.
func loopbackHost(host string) bool {
	if host == "" {
		return true // HTTP/1.0 without one: no browser's, no rebinding
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
