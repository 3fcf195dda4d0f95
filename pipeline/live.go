package pipeline

import (
	"io"
	"strconv"
	"sync"
)

// liveFeedMax bounds what a liveFeed holds for a terminal that does not
// keep up: past it, whole lines are dropped (output.log keeps them).
const liveFeedMax = 1 << 20

// liveFeed hands a step's output to the reporter's live writer (the
// operator's terminal) on a goroutine of its own, so that the step never
// waits for it: a terminal that is slow, paused (Ctrl-S, a pager not
// scrolled) or gone would otherwise fill the step's pipes, stall it, and
// let its timeout kill it in the middle of its work. What the terminal
// cannot take is dropped by whole lines, and a line then says how much.
type liveFeed struct {
	w io.Writer

	mu       sync.Mutex
	buf      []byte
	spare    []byte
	dropped  int64
	skipping bool // dropping up to the end of the current line
	lastNL   bool // the last byte queued ends a line
	closed   bool

	wake   chan struct{}
	exited chan struct{}
}

// newLiveFeed starts feeding w.
func newLiveFeed(w io.Writer) *liveFeed {
	f := &liveFeed{w: w, lastNL: true, wake: make(chan struct{}, 1), exited: make(chan struct{})}
	go f.run()
	return f
}

// Write queues p for the live writer and never blocks on it; it never
// fails.
func (f *liveFeed) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return len(p), nil
	}
	if f.skipping || len(f.buf)+len(p) > liveFeedMax {
		f.dropped += int64(len(p))
		f.skipping = p[len(p)-1] != '\n'
		f.mu.Unlock()
		return len(p), nil
	}
	f.noteDropped()
	f.buf = append(f.buf, p...)
	f.lastNL = p[len(p)-1] == '\n'
	f.mu.Unlock()
	f.signal()
	return len(p), nil
}

// noteDropped queues the line that says how much was dropped, if any.
// Call with f.mu held.
func (f *liveFeed) noteDropped() {
	if f.dropped == 0 {
		return
	}
	if !f.lastNL {
		f.buf = append(f.buf, '\n')
	}
	f.buf = append(f.buf, "[spine] "+strconv.FormatInt(f.dropped, 10)+" bytes of output not shown here (the terminal fell behind); output.log has them\n"...)
	f.dropped, f.lastNL = 0, true
}

func (f *liveFeed) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *liveFeed) run() {
	defer close(f.exited)
	for range f.wake {
		for {
			f.mu.Lock()
			if len(f.buf) == 0 {
				closed := f.closed
				f.mu.Unlock()
				if closed {
					return
				}
				break
			}
			// The two buffers change places: Write appends to the
			// spare while this one is written out, never to it.
			out := f.buf
			f.buf, f.spare = f.spare[:0], nil
			f.mu.Unlock()
			// The reporter's writer reports no error: a terminal that
			// is gone (a closed pipe) is its to ignore.
			_, _ = f.w.Write(out)
			f.mu.Lock()
			f.spare = out[:0]
			f.mu.Unlock()
		}
	}
}

// Close queues the dropped-bytes line if any, and waits until everything
// queued was handed to the live writer (which may wait for the terminal:
// the step is over by then).
func (f *liveFeed) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		<-f.exited
		return
	}
	f.noteDropped()
	f.closed = true
	f.mu.Unlock()
	f.signal()
	<-f.exited
}

// liveTee writes a step's output to its running log and to a liveFeed.
// A log that fails (a full disk) does not stop the feed, and the feed
// never holds the log back. Its writes never fail: the log's first error
// is kept in err. The OutputWriter calls it under its lock.
type liveTee struct {
	log  io.Writer
	live *liveFeed
	err  error
}

func (t *liveTee) Write(p []byte) (int, error) {
	if t.err == nil {
		if _, err := t.log.Write(p); err != nil {
			t.err = err
		}
	}
	_, _ = t.live.Write(p)
	return len(p), nil
}
