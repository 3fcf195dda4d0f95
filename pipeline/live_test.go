package pipeline

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowWriter takes its time over each write and keeps what it got.
type slowWriter struct {
	mu  sync.Mutex
	got bytes.Buffer
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(50 * time.Microsecond)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got.Write(p)
}

// TestLiveFeedKeepsLines: lines written while the feed's writer is busy
// reach it whole and in order (the two buffers never share memory: run
// with -race), and when the writer cannot keep up, whole lines are
// dropped and a line says how many bytes.
func TestLiveFeedKeepsLines(t *testing.T) {
	w := &slowWriter{}
	f := newLiveFeed(w)
	var want strings.Builder
	for i := range 5000 {
		line := fmt.Sprintf("line %05d\n", i)
		want.WriteString(line)
		f.Write([]byte(line))
	}
	f.Close()
	if got := w.got.String(); got != want.String() {
		t.Fatalf("the writer got %d bytes, not the %d lines in order", len(got), 5000)
	}

	blocked := make(chan struct{})
	bw := &blockingWriter{release: blocked}
	f = newLiveFeed(bw)
	big := strings.Repeat("x", 1000) + "\n"
	for range 3000 { // 3 MB: more than liveFeedMax while the writer waits
		f.Write([]byte(big))
	}
	close(blocked)
	f.Close()
	got := bw.got.String()
	if !strings.Contains(got, "bytes of output not shown here") {
		t.Fatalf("nothing says output was dropped (%d bytes got)", len(got))
	}
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if l != big[:len(big)-1] && !strings.HasPrefix(l, "[spine] ") {
			t.Fatalf("a line cut short or joined: %.80q", l)
		}
	}
}

// blockingWriter waits for release before its first write.
type blockingWriter struct {
	release chan struct{}
	got     bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return w.got.Write(p)
}
