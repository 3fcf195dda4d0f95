//go:build linux

package site

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watchMask is what the watcher asks inotify for on every folder.
const watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_ATTRIB |
	unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
	unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW | unix.IN_EXCL_UNLINK

// watcher watches the inputs of the site with inotify: every folder of
// the layout (wantDir) has a watch, and folders that appear are watched
// and scanned as they appear.
type watcher struct {
	l    *watchLayout
	fd   int
	wake [2]int // a pipe that stops the reader

	mu      sync.Mutex
	byWD    map[int32]string
	byPath  map[string]int32
	pending changeSet
	// ready is signalled (without blocking) when pending gains events.
	ready chan struct{}
	done  chan struct{}
}

// newWatcher watches the inputs of a build with opts; it fails when
// inotify is unavailable or a folder cannot be watched (the caller then
// polls).
func newWatcher(opts Options) (*watcher, error) {
	l, err := newWatchLayout(opts)
	if err != nil {
		return nil, err
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	w := &watcher{l: l, fd: fd, byWD: map[int32]string{}, byPath: map[string]int32{}, ready: make(chan struct{}, 1), done: make(chan struct{})}
	if err := unix.Pipe2(w.wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watcher: %w", err)
	}
	var c changeSet
	if err := w.addTree(l.root, &c); err != nil {
		w.close()
		return nil, err
	}
	// The folders outside the tree (a receipts folder under a dot
	// folder, say, and .git's refs/heads) and the folders leading to them.
	for _, s := range []string{l.receipts, l.artifacts, l.verify, filepath.Dir(l.gaps), filepath.Dir(l.keys), l.refs} {
		if s == "" {
			continue
		}
		for p := s; within(p, l.root); p = filepath.Dir(p) {
			if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
				if err := w.addTree(p, &c); err != nil {
					w.close()
					return nil, err
				}
			}
			if p == l.root {
				break
			}
		}
	}
	go w.run()
	return w, nil
}

// addTree watches dir and the folders under it that the layout wants,
// recording in c what a scan of new folders finds.
func (w *watcher) addTree(dir string, c *changeSet) error {
	if !w.l.wantDir(dir) {
		return nil
	}
	w.mu.Lock()
	_, had := w.byPath[dir]
	w.mu.Unlock()
	if !had {
		wd, err := unix.InotifyAddWatch(w.fd, dir, watchMask)
		switch {
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
			return nil // gone already: its parent's event says so
		case errors.Is(err, unix.ENOSPC):
			return fmt.Errorf("inotify watch limit reached (fs.inotify.max_user_watches) at %s", dir)
		case err != nil:
			return fmt.Errorf("inotify watch %s: %w", dir, err)
		}
		w.mu.Lock()
		if old, ok := w.byWD[int32(wd)]; ok && old != dir {
			delete(w.byPath, old)
		}
		w.byWD[int32(wd)] = dir
		w.byPath[dir] = int32(wd)
		w.mu.Unlock()
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil // removed meanwhile, or unreadable: nothing to watch below
	}
	for _, de := range des {
		if !de.IsDir() {
			continue
		}
		if err := w.addTree(filepath.Join(dir, de.Name()), c); err != nil {
			return err
		}
	}
	return nil
}

// removeTree forgets the watches of dir and the folders under it (moved
// away: their watches would report the old paths).
func (w *watcher) removeTree(dir string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, wd := range w.byPath {
		if within(p, dir) {
			_, _ = unix.InotifyRmWatch(w.fd, uint32(wd))
			delete(w.byPath, p)
			delete(w.byWD, wd)
		}
	}
}

// take returns the changes seen since the last call.
func (w *watcher) take() changeSet {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.pending
	w.pending = changeSet{}
	return c
}

// fail records why the watcher cannot be trusted any more.
func (w *watcher) fail(why string) {
	w.mu.Lock()
	if w.pending.failed == "" {
		w.pending.failed = why
	}
	w.mu.Unlock()
	w.signal()
}

func (w *watcher) signal() {
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// close stops the watcher.
func (w *watcher) close() {
	select {
	case <-w.done:
		return
	default:
	}
	close(w.done)
	_, _ = unix.Write(w.wake[1], []byte{0})
}

// run reads events until close, then closes the descriptors.
func (w *watcher) run() {
	defer func() {
		unix.Close(w.fd)
		unix.Close(w.wake[0])
		unix.Close(w.wake[1])
	}()
	buf := make([]byte, 64<<10)
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}, {Fd: int32(w.wake[0]), Events: unix.POLLIN}}
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		_, err := unix.Poll(fds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		select {
		case <-w.done:
			return
		default:
		}
		if err != nil {
			w.fail("inotify poll: " + err.Error())
			return
		}
		for {
			n, err := unix.Read(w.fd, buf)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if err != nil || n <= 0 {
				w.fail(fmt.Sprintf("inotify read: %v", err))
				return
			}
			w.handle(buf[:n])
		}
	}
}

// handle records a buffer of events.
func (w *watcher) handle(buf []byte) {
	var c changeSet
	var added []string
	for off := 0; off+unix.SizeofInotifyEvent <= len(buf); {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
		off += unix.SizeofInotifyEvent + int(ev.Len)
		name := strings.TrimRight(string(nameBytes), "\x00")
		mask := ev.Mask
		if mask&unix.IN_Q_OVERFLOW != 0 {
			c.failed = "inotify event queue overflowed"
			continue
		}
		w.mu.Lock()
		dir, ok := w.byWD[ev.Wd]
		if ok && mask&unix.IN_IGNORED != 0 {
			delete(w.byWD, ev.Wd)
			if w.byPath[dir] == ev.Wd {
				delete(w.byPath, dir)
			}
		}
		w.mu.Unlock()
		if !ok {
			continue // a watch removed meanwhile
		}
		if mask&unix.IN_MOVE_SELF != 0 {
			if dir == w.l.root || dir == w.l.receipts {
				c.failed = "watched folder " + dir + " was moved"
			}
			continue
		}
		if mask&(unix.IN_DELETE_SELF|unix.IN_IGNORED) != 0 {
			if dir == w.l.root {
				c.failed = "watched folder " + dir + " was removed"
			}
			continue
		}
		if name == "" {
			continue
		}
		p := filepath.Join(dir, name)
		isDir := mask&unix.IN_ISDIR != 0
		w.l.classify(&c, p, isDir)
		if isDir {
			switch {
			case mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
				added = append(added, p)
			case mask&unix.IN_MOVED_FROM != 0:
				w.removeTree(p)
			}
		}
	}
	for _, p := range added {
		// Watch the new folder, then treat what is already in it as
		// changed: it may have been filled before the watch was added.
		if err := w.addTree(p, &c); err != nil {
			c.failed = err.Error()
			continue
		}
		w.scanNew(&c, p)
	}
	w.mu.Lock()
	w.pending.merge(&c)
	w.mu.Unlock()
	if !c.empty() {
		w.signal()
	}
}

// scanNew records as changed everything already under a new folder p.
func (w *watcher) scanNew(c *changeSet, p string) {
	_ = filepath.WalkDir(p, func(q string, de os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if de.IsDir() && q != p && !w.l.wantDir(q) {
			return filepath.SkipDir
		}
		w.l.classify(c, q, de.IsDir())
		return nil
	})
}

// count returns the number of folders watched.
func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.byPath)
}
