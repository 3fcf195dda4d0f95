package artifacts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
)

// DefaultOutputLimit is the number of bytes of a step's output that
// output.log (and a stdout artifact) keeps when NewOutput is given no
// limit: 16 MiB.
const DefaultOutputLimit = 16 << 20

// logLimitFactor bounds output.log at this many times the output limit:
// each line's timestamp and tag cost about 30 bytes, so that many short
// lines could otherwise make a log many times the output it keeps.
const logLimitFactor = 4

// MaxLineChunk is about the longest line an OutputWriter buffers: a line
// that grows beyond it is written in chunks of this size, each on a log
// line of its own (a chunk ends a little earlier where the cut would go
// through a secret, which it keeps whole for the redaction).
const MaxLineChunk = 64 << 10

// OutputTimeLayout is the layout of the timestamp that starts every line of
// output.log (always UTC, millisecond precision).
const OutputTimeLayout = "2006-01-02T15:04:05.000Z"

// Stream names accepted by (*OutputWriter).Stream with their log tags.
const (
	StreamStdout = "stdout" // tagged [out]
	StreamStderr = "stderr" // tagged [err]
	// StreamCombined is a process's stdout and stderr written to one
	// pipe, read in the order they were written (a step without an
	// artifact): tagged [out+err].
	StreamCombined = "stdout+stderr"
)

// flushSize is how much an OutputWriter buffers before writing to its sinks.
const flushSize = 64 << 10

// OutputWriter captures a step's output for output.log: every line of every
// stream is redacted, then written as
//
//	2006-01-02T15:04:05.000Z [out] text
//
// with the time the line's first byte arrived ([err] for stderr). Lines are
// buffered per stream, so a secret split across writes is still found; a
// partial line is written at Close, or in MaxLineChunk pieces when it grows
// past that. Bytes are stored as they are (binary output, NUL bytes and
// invalid UTF-8 included); only the '\n' after a cut piece is added.
//
// Once the output it keeps would pass its limit (or the log, with its
// timestamps, four times that), no further line is written and Close
// appends the line
//
//	... output truncated at K bytes (N bytes dropped) ...
//
// (no timestamp, so a step cannot forge it), where K counts the step's
// output bytes stored and N those not stored. OutputWriter keeps counting
// what it is sent, computes the SHA-256 of what it writes as it goes, and
// holds at most about 64 KiB per stream plus 64 KiB of write buffer,
// however much is printed.
//
// Write errors of the sinks do not reach the step (its writes never fail,
// so it is never blocked or killed by a full disk); Close reports the first.
// Stream writers are safe for concurrent use.
type OutputWriter struct {
	mu      sync.Mutex
	clock   func() time.Time
	limit   int64
	red     *Redactor
	sc      redactScratch
	log     sink
	tee     *sink
	streams []*stream
	total   int64
	redacts int
	pfx     []byte
	closed  bool
	live    bool
}

// SetLive makes every write reach output.log's writer at once instead of
// in 64 KiB blocks, so that a terminal or a reader of a running background
// step's log sees lines as they come. It costs one write per write of the
// step. Call it before the first write.
func (o *OutputWriter) SetLive(live bool) {
	o.mu.Lock()
	o.live = live
	o.mu.Unlock()
}

// sink is one destination: output.log, or the raw stdout tee.
type sink struct {
	w         io.Writer
	buf       []byte
	hash      hash.Hash
	written   int64 // bytes accepted, including buffered ones
	kept      int64 // input bytes whose lines were stored
	seen      int64 // input bytes sent to this sink's streams
	truncated bool
	err       error
}

// NewOutput returns an OutputWriter writing output.log to w. clock stamps lines
// (nil means time.Now); limit bounds the bytes of output kept (0 or less
// means DefaultOutputLimit), and the bytes written to w at four times
// that; redactor may be nil (well-known shapes only). It does not close
// w.
func NewOutput(w io.Writer, clock func() time.Time, limit int64, redactor *Redactor) *OutputWriter {
	if clock == nil {
		clock = time.Now
	}
	if limit <= 0 {
		limit = DefaultOutputLimit
	}
	return &OutputWriter{
		clock: clock,
		limit: limit,
		red:   redactor,
		log:   sink{w: w, hash: sha256.New()},
	}
}

// TeeStdout also writes the stdout stream to w, raw (no timestamps or
// tags, partial last line kept as it is), redacted and under the same
// limit, for a step's artifact file. Call it before the first write.
func (o *OutputWriter) TeeStdout(w io.Writer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tee = &sink{w: w, hash: sha256.New()}
}

// Stream returns the writer for the named stream: StreamStdout ("stdout",
// tagged [out]), StreamStderr ("stderr", tagged [err]), StreamCombined
// (tagged [out+err]), or any other name, tagged [name]. Repeated calls with the same name return the same writer.
func (o *OutputWriter) Stream(name string) io.Writer {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.streams {
		if s.name == name {
			return s
		}
	}
	tag := name
	switch name {
	case StreamStdout:
		tag = "out"
	case StreamStderr:
		tag = "err"
	case StreamCombined:
		tag = "out+err"
	}
	s := &stream{o: o, name: name, tag: []byte(" [" + tag + "] "), stdout: name == StreamStdout}
	o.streams = append(o.streams, s)
	return s
}

// stream is one named input of an OutputWriter.
type stream struct {
	o         *OutputWriter
	name      string
	tag       []byte
	stdout    bool
	pending   []byte
	pendingTS time.Time
	pem       pemState
}

// Write captures p. It fails only after Close.
func (s *stream) Write(p []byte) (int, error) {
	o := s.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, fmt.Errorf("output %s: write after close: %w", s.name, fs.ErrClosed)
	}
	if o.live {
		defer o.log.flush() // runs before the unlock
	}
	n := len(p)
	o.total += int64(n)
	o.log.seen += int64(n)
	if s.stdout && o.tee != nil {
		o.tee.seen += int64(n)
	}
	if o.log.truncated && (!s.stdout || o.tee == nil || o.tee.truncated) {
		return n, nil // nothing more can be stored for this stream
	}
	if len(s.pending) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.pending = append(s.pending, p...)
			s.cutLong()
			return n, nil
		}
		s.pending = append(s.pending, p[:i+1]...)
		s.emit(s.pending, s.pendingTS)
		s.pending = s.pending[:0]
		p = p[i+1:]
		if len(p) == 0 {
			return n, nil
		}
	}
	ts := o.clock()
	if j := bytes.LastIndexByte(p, '\n'); j >= 0 {
		s.emit(p[:j+1], ts)
		p = p[j+1:]
	}
	if len(p) > 0 {
		s.pending = append(s.pending, p...)
		s.pendingTS = ts
		s.cutLong()
	}
	return n, nil
}

// cutLong writes pieces of an overlong pending line, of MaxLineChunk
// bytes or a little less: each piece is redacted on its own, so a cut
// never goes through a secret, a token or a private key's marker (see
// cutAt). It waits until the bytes after the cut are there to tell.
func (s *stream) cutLong() {
	over := s.o.red.cutOverlap()
	for len(s.pending) >= MaxLineChunk+over {
		c := s.o.red.cutAt(s.pending[:MaxLineChunk+over], MaxLineChunk, &s.o.sc)
		s.emit(s.pending[:c], s.pendingTS)
		s.pending = s.pending[:copy(s.pending, s.pending[c:])]
		if len(s.pending) > 0 {
			s.pendingTS = s.o.clock()
		}
	}
}

// emit redacts and stores block: complete lines, or (last piece without a
// '\n') a cut piece of a long line or the partial last line at Close.
func (s *stream) emit(block []byte, ts time.Time) {
	o := s.o
	o.pfx = ts.UTC().AppendFormat(o.pfx[:0], OutputTimeLayout)
	o.pfx = append(o.pfx, s.tag...)
	pemMode := s.pem.inKey || bytes.Contains(block, pemBegin)
	var spans []span
	if !pemMode {
		o.sc.spans = o.red.findSpans(block, o.sc.spans[:0])
		spans = o.sc.spans
		if len(spans) > 1 {
			sortSpans(spans)
		}
	}
	base := 0
	for base < len(block) {
		line := block[base:]
		raw := len(line)
		nl := false
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, raw, nl = line[:i], i+1, true
		}
		out, keep := line, true
		switch {
		case pemMode:
			var n int
			out, n, keep = o.red.redactLine(line, &s.pem, &o.sc)
			o.redacts += n
		case len(spans) > 0 && spans[0].start < base+len(line):
			k := 0
			for k < len(spans) && spans[k].start < base+len(line) {
				spans[k].start -= base
				spans[k].end -= base
				k++
			}
			var n int
			o.sc.out, n = applySpans(o.sc.out[:0], line, spans[:k])
			spans = spans[k:]
			o.redacts += n
			out = o.sc.out
		}
		if keep {
			// What a reader sees of the line (on the site, on a
			// terminal) may join a secret the bytes hold in pieces: then
			// the line is stored as seen, redacted, without its colours.
			if red, n := o.red.redactVisible(out); n > 0 {
				o.redacts += n
				out = red
			}
			s.store(out, raw, nl)
		} else {
			s.consume(raw)
		}
		base += raw
	}
}

// sortSpans orders spans by start.
func sortSpans(spans []span) {
	slices.SortFunc(spans, func(x, y span) int { return x.start - y.start })
}

// store writes one redacted line to the log (with prefix) and, for stdout,
// to the tee (raw). raw is the input bytes it stands for; nl whether the
// input line ended with '\n'.
func (s *stream) store(line []byte, raw int, nl bool) {
	o := s.o
	if l := &o.log; !l.truncated {
		need := int64(len(o.pfx) + len(line) + 1)
		if l.kept+int64(raw) > o.limit || l.written+need > o.logLimit() {
			l.truncated = true
		} else {
			l.buf = append(l.buf, o.pfx...)
			l.buf = append(l.buf, line...)
			l.buf = append(l.buf, '\n')
			l.written += need
			l.kept += int64(raw)
			if len(l.buf) >= flushSize {
				l.flush()
			}
		}
	}
	if t := o.tee; s.stdout && t != nil && !t.truncated {
		need := int64(len(line))
		if nl {
			need++
		}
		if t.kept+int64(raw) > o.limit || t.written+need > o.logLimit() {
			t.truncated = true
			return
		}
		t.buf = append(t.buf, line...)
		if nl {
			t.buf = append(t.buf, '\n')
		}
		t.written += need
		t.kept += int64(raw)
		if len(t.buf) >= flushSize {
			t.flush()
		}
	}
}

// consume accounts for input that is deliberately not stored (the body of
// a private key after its placeholder).
func (s *stream) consume(raw int) {
	o := s.o
	if !o.log.truncated {
		o.log.kept += int64(raw)
	}
	if s.stdout && o.tee != nil && !o.tee.truncated {
		o.tee.kept += int64(raw)
	}
}

// flush writes the buffer to the sink and the hash.
func (k *sink) flush() {
	if len(k.buf) == 0 {
		return
	}
	k.hash.Write(k.buf)
	if k.err == nil {
		if _, err := k.w.Write(k.buf); err != nil {
			k.err = err
		}
	}
	k.buf = k.buf[:0]
}

// logLimit returns the most bytes a sink may hold: logLimitFactor times
// the output limit.
func (o *OutputWriter) logLimit() int64 {
	if o.limit > math.MaxInt64/logLimitFactor {
		return math.MaxInt64
	}
	return o.limit * logLimitFactor
}

// finish appends the truncation marker if needed and flushes.
func (k *sink) finish() {
	if k.truncated {
		marker := "... output truncated at " + strconv.FormatInt(k.kept, 10) +
			" bytes (" + strconv.FormatInt(k.seen-k.kept, 10) + " bytes dropped) ...\n"
		k.buf = append(k.buf, marker...)
		k.written += int64(len(marker))
	}
	k.flush()
}

// Close writes partial last lines and the truncation marker, flushes, and
// returns the first error of the sinks. It does not close them. Closing
// twice returns the same result.
func (o *OutputWriter) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.closed = true
		for _, s := range o.streams {
			if len(s.pending) > 0 {
				s.emit(s.pending, s.pendingTS)
				s.pending = nil
			}
		}
		o.log.finish()
		if o.tee != nil {
			o.tee.finish()
		}
	}
	if o.log.err != nil {
		return fmt.Errorf("output: write log: %w", o.log.err)
	}
	if o.tee != nil && o.tee.err != nil {
		return fmt.Errorf("output: write stdout tee: %w", o.tee.err)
	}
	return nil
}

// LogErr returns the first error writing output.log (a full disk), once
// Close has returned: output.log then holds only what was written before.
func (o *OutputWriter) LogErr() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.log.err != nil {
		return fmt.Errorf("output: write log: %w", o.log.err)
	}
	return nil
}

// TeeErr returns the first error writing the stdout tee (the artifact),
// once Close has returned: what it was writing to is incomplete.
func (o *OutputWriter) TeeErr() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tee != nil && o.tee.err != nil {
		return fmt.Errorf("output: write stdout tee: %w", o.tee.err)
	}
	return nil
}

// Kept returns the number of bytes of the step's output output.log holds
// (all of them unless it was cut).
func (o *OutputWriter) Kept() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.log.kept
}

// StdoutKept returns the number of bytes of the step's stdout the stdout
// tee holds, 0 without a tee.
func (o *OutputWriter) StdoutKept() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tee == nil {
		return 0
	}
	return o.tee.kept
}

// Truncated reports whether output.log was cut at the limit.
func (o *OutputWriter) Truncated() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.log.truncated
}

// Bytes returns the number of bytes the step printed on all streams,
// whether stored or not (the receipt's output_bytes).
func (o *OutputWriter) Bytes() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.total
}

// Size returns the number of bytes written (or buffered) to output.log.
func (o *OutputWriter) Size() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.log.written
}

// Redactions returns the number of secrets replaced so far.
func (o *OutputWriter) Redactions() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.redacts
}

// SHA256 returns the hex SHA-256 of the bytes written to output.log (the
// receipt's output_sha256). It is final once Close has returned.
func (o *OutputWriter) SHA256() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return hex.EncodeToString(o.log.hash.Sum(nil))
}

// StdoutTruncated reports whether the stdout tee was cut at the limit.
func (o *OutputWriter) StdoutTruncated() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tee != nil && o.tee.truncated
}

// StdoutSize returns the number of bytes written to the stdout tee (the
// artifact's size), 0 without a tee.
func (o *OutputWriter) StdoutSize() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tee == nil {
		return 0
	}
	return o.tee.written
}

// StdoutSHA256 returns the hex SHA-256 of the bytes written to the stdout
// tee (the artifact's sha256), "" without a tee. It is final after Close.
func (o *OutputWriter) StdoutSHA256() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tee == nil {
		return ""
	}
	return hex.EncodeToString(o.tee.hash.Sum(nil))
}
