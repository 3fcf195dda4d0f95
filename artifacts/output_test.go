package artifacts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 3, 1, 10, 15, 7, 123_000_000, time.UTC)

const ts0 = "2026-03-01T10:15:07.123Z"

// fixedClock always returns t0.
func fixedClock() time.Time { return t0 }

// stepClock returns t0, t0+1ms, t0+2ms, ... on successive calls.
func stepClock() func() time.Time {
	n := 0
	return func() time.Time {
		t := t0.Add(time.Duration(n) * time.Millisecond)
		n++
		return t
	}
}

// ts returns the log timestamp of t0+n ms.
func ts(n int) string {
	return t0.Add(time.Duration(n) * time.Millisecond).Format(OutputTimeLayout)
}

// prefixLines prefixes every line of s as an OutputWriter would with a fixed
// clock.
func prefixLines(s, tag string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if line == "" {
			continue
		}
		b.WriteString(ts0 + " [" + tag + "] " + strings.TrimSuffix(line, "\n") + "\n")
	}
	return b.String()
}

// write is one Write call on a stream of an OutputWriter in a test.
type write struct {
	stream string
	data   string
}

func TestOutput(t *testing.T) {
	long := strings.Repeat("x", MaxLineChunk)
	tests := []struct {
		name      string
		secrets   []string
		limit     int64
		writes    []write
		want      string
		truncated bool
		redacts   int
	}{
		{
			name:   "lines, partial lines and timestamps of first bytes",
			writes: []write{{"stdout", "hello\nwor"}, {"stdout", "ld\n"}, {"stdout", "tail"}},
			want:   ts(0) + " [out] hello\n" + ts(0) + " [out] world\n" + ts(1) + " [out] tail\n",
		},
		{
			name:   "interleaved streams keep their own partial lines",
			writes: []write{{"stdout", "out-a"}, {"stderr", "err-a\nerr-b"}, {"stdout", "\n"}, {"stderr", "\n"}, {"other", "x\n"}},
			want: ts(1) + " [err] err-a\n" + ts(0) + " [out] out-a\n" + ts(1) + " [err] err-b\n" +
				ts(2) + " [other] x\n",
		},
		{
			name:    "secret split across writes",
			secrets: []string{"hunter2-secret"},
			writes:  []write{{"stdout", "pw hunt"}, {"stdout", "er2-sec"}, {"stdout", "ret ok\ntoken gh"}, {"stdout", "p_" + tok36 + "\n"}},
			want:    ts(0) + " [out] pw [REDACTED] ok\n" + ts(1) + " [out] token [REDACTED]\n",
			redacts: 2,
		},
		{
			name:   "binary, NUL, invalid UTF-8 and CR stored as they are",
			writes: []write{{"stdout", "\x00\xff\xfe\r\n\x00"}, {"stderr", "\xe2\x82\n"}},
			want:   ts(0) + " [out] \x00\xff\xfe\r\n" + ts(1) + " [err] \xe2\x82\n" + ts(0) + " [out] \x00\n",
		},
		{
			name:   "empty lines",
			writes: []write{{"stdout", "\n\n"}},
			want:   ts(0) + " [out] \n" + ts(0) + " [out] \n",
		},
		{
			name: "overlong line cut in chunks",
			// A piece is cut once the bytes after it are there (cutOverlap):
			// the rest of the line, up to its end, is the last piece.
			writes: []write{{"stdout", long}, {"stdout", long + "yy"}, {"stdout", "z\n"}},
			want:   ts(0) + " [out] " + long + "\n" + ts(1) + " [out] " + long + "yyz\n",
		},
		{
			name:   "overlong partial line cut in chunks in one write",
			writes: []write{{"stdout", long + long + long + "yy"}, {"stdout", "z\n"}},
			want:   ts(0) + " [out] " + long + "\n" + ts(1) + " [out] " + long + "\n" + ts(2) + " [out] " + long + "yyz\n",
		},
		{
			name:  "truncated at a line boundary with one marker",
			limit: 3 * 11, // three lines of output
			writes: []write{
				{"stdout", "0123456789\n0123456789\n"},
				{"stderr", "0123456789\n"},
				{"stdout", "0123456789\n"}, {"stdout", "more\n"}, {"stderr", "partial"},
			},
			want: ts(0) + " [out] 0123456789\n" + ts(0) + " [out] 0123456789\n" + ts(1) + " [err] 0123456789\n" +
				"... output truncated at 33 bytes (23 bytes dropped) ...\n",
			truncated: true,
		},
		{
			// A log of many short lines is bounded at four times the
			// limit, its timestamps included: 4 lines of 33 bytes.
			name:      "short lines bounded by the log's size",
			limit:     40,
			writes:    []write{{"stdout", strings.Repeat("x\n", 30)}},
			want:      strings.Repeat(ts(0)+" [out] x\n", 4) + "... output truncated at 8 bytes (52 bytes dropped) ...\n",
			truncated: true,
		},
		{
			name:      "a first line longer than the limit",
			limit:     10,
			writes:    []write{{"stdout", "this line is too long\n"}},
			want:      "... output truncated at 0 bytes (22 bytes dropped) ...\n",
			truncated: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			o := NewOutput(&log, stepClock(), tt.limit, NewRedactor(tt.secrets))
			var total int64
			for _, w := range tt.writes {
				n, err := o.Stream(w.stream).Write([]byte(w.data))
				if err != nil || n != len(w.data) {
					t.Fatalf("Write(%q) = %d, %v", w.data, n, err)
				}
				total += int64(n)
			}
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, log.String()); diff != "" {
				t.Errorf("log mismatch (-want +got):\n%s", diff)
			}
			got := struct {
				Truncated  bool
				Bytes      int64
				Size       int64
				Redactions int
				SHA256     string
			}{o.Truncated(), o.Bytes(), o.Size(), o.Redactions(), o.SHA256()}
			want := got
			want.Truncated, want.Bytes, want.Size, want.Redactions, want.SHA256 =
				tt.truncated, total, int64(log.Len()), tt.redacts, HashBytes(log.Bytes())
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("counters mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOutputPEMByteByByte(t *testing.T) {
	in := "key:\n" + rsaKey + "done\n"
	var log strings.Builder
	var tee bytes.Buffer
	o := NewOutput(&log, fixedClock, 0, nil)
	o.TeeStdout(&tee)
	w := o.Stream(StreamStdout)
	for i := 0; i < len(in); i++ {
		w.Write([]byte{in[i]})
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	want := "key:\n" + rsaKeyRedacted + "done\n"
	if diff := cmp.Diff(prefixLines(want, "out"), log.String()); diff != "" {
		t.Errorf("log mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, tee.String()); diff != "" {
		t.Errorf("tee mismatch (-want +got):\n%s", diff)
	}
	if o.Redactions() != 1 {
		t.Errorf("Redactions() = %d, want 1", o.Redactions())
	}
}

func TestOutputTeeStdout(t *testing.T) {
	long := strings.Repeat("y", MaxLineChunk+10)
	tests := []struct {
		name      string
		limit     int64
		writes    []write
		want      string
		truncated bool
	}{
		{
			name:   "raw stdout only, redacted, partial last line kept",
			writes: []write{{"stdout", "NAME SIZE\n"}, {"stderr", "warning\n"}, {"stdout", "tank 10T AKIAIOSFODNN7EXAMPLE\nno newline"}},
			want:   "NAME SIZE\ntank 10T [REDACTED]\nno newline",
		},
		{
			name:   "long line not split",
			writes: []write{{"stdout", long}, {"stdout", "\n"}},
			want:   long + "\n",
		},
		{
			name:      "truncated",
			limit:     12,
			writes:    []write{{"stdout", "1234\n"}, {"stdout", "5678\n"}, {"stdout", "9abc\n"}},
			want:      "1234\n5678\n... output truncated at 10 bytes (5 bytes dropped) ...\n",
			truncated: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log, tee bytes.Buffer
			o := NewOutput(&log, fixedClock, tt.limit, nil)
			o.TeeStdout(&tee)
			for _, w := range tt.writes {
				o.Stream(w.stream).Write([]byte(w.data))
			}
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, tee.String()); diff != "" {
				t.Errorf("tee mismatch (-want +got):\n%s", diff)
			}
			if o.StdoutTruncated() != tt.truncated || o.StdoutSize() != int64(tee.Len()) || o.StdoutSHA256() != HashBytes(tee.Bytes()) {
				t.Errorf("StdoutTruncated, StdoutSize, StdoutSHA256 = %v, %d, %s; want %v, %d, %s",
					o.StdoutTruncated(), o.StdoutSize(), o.StdoutSHA256(), tt.truncated, tee.Len(), HashBytes(tee.Bytes()))
			}
		})
	}
	o := NewOutput(io.Discard, nil, 0, nil)
	if o.StdoutSHA256() != "" || o.StdoutSize() != 0 || o.StdoutTruncated() {
		t.Error("without a tee the stdout counters must be empty")
	}
}

func TestOutputConcurrent(t *testing.T) {
	var log bytes.Buffer
	o := NewOutput(&log, time.Now, 0, NewRedactor([]string{"s3cret-value"}))
	const goroutines, lines = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		name := StreamStdout
		if g%2 == 1 {
			name = StreamStderr
		}
		wg.Go(func() {
			w := o.Stream(name)
			for i := range lines {
				fmt.Fprintf(w, "g%d line %d s3cret-value\n", g, i)
			}
		})
	}
	wg.Wait()
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n") {
		_, rest, ok := strings.Cut(line, " [")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		got = append(got, rest)
	}
	var want []string
	for g := range goroutines {
		tag := "out"
		if g%2 == 1 {
			tag = "err"
		}
		for i := range lines {
			want = append(want, fmt.Sprintf("%s] g%d line %d [REDACTED]", tag, g, i))
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines mismatch (-want +got):\n%s", diff)
	}
	if o.Redactions() != goroutines*lines {
		t.Errorf("Redactions() = %d, want %d", o.Redactions(), goroutines*lines)
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestOutputErrors(t *testing.T) {
	o := NewOutput(failWriter{}, fixedClock, 0, nil)
	w := o.Stream(StreamStdout)
	if n, err := w.Write([]byte("line\n")); n != 5 || err != nil {
		t.Errorf("Write with a failing sink = %d, %v; want 5, nil", n, err)
	}
	if err := o.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Close() = %v, want the sink error", err)
	}
	if err := o.Close(); err == nil {
		t.Error("second Close() lost the error")
	}
	if _, err := w.Write([]byte("late\n")); err == nil {
		t.Error("Write after Close: want error")
	}
}

// countWriter counts bytes.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func TestOutputBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 256 MiB")
	}
	chunk := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"), 512) // 32 KiB
	var sink countWriter
	o := NewOutput(&sink, time.Now, 0, NewRedactor([]string{"not-present"}))
	w := o.Stream(StreamStdout)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const total = 256 << 20
	for range total / len(chunk) {
		w.Write(chunk[:len(chunk)-7])
		w.Write(chunk[len(chunk)-7:])
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("allocated %d bytes for %d bytes of output", alloc, total)
	}
	// The log keeps the first 16 MiB of output, cut at a line's end.
	if !o.Truncated() || o.Bytes() != total || o.Kept() > DefaultOutputLimit || o.Kept() < DefaultOutputLimit-64 ||
		sink.n > DefaultOutputLimit*logLimitFactor+100 {
		t.Errorf("Truncated, Bytes, Kept, written = %v, %d, %d, %d", o.Truncated(), o.Bytes(), o.Kept(), sink.n)
	}
}

// FuzzOutput checks that however output is split into writes, the log
// holds exactly the lines Redact gives for the whole output, and that the
// stdout tee holds the redacted output itself.
func FuzzOutput(f *testing.F) {
	f.Add([]byte("plain line\nsecond"), []byte{3, 200, 1})
	f.Add([]byte("token "+ghpToken+"\nhunter2-secret\n"), []byte{10, 5})
	f.Add([]byte(rsaKey+"after"), []byte{1, 1, 1, 1, 40})
	f.Add([]byte("curl -H 'Authorization: Bearer abcdefghijk' 'https://u:pw12@h?password=zz'\n"), []byte{30})
	f.Add([]byte("\x00\xff-----BEGIN EC PRIVATE KEY-----x\ny\n-----END EC PRIVATE KEY-----\n"), []byte{2, 7})
	f.Add([]byte("token=\x1b[01;31m\x1b[Kghp_\x1b[m\x1b[K"+tok36+"\r\nhunter2\x00-secret\n"), []byte{9, 3, 50})
	red := NewRedactor([]string{"hunter2-secret", "zzzz"})
	f.Fuzz(func(t *testing.T, data, splits []byte) {
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(line) >= MaxLineChunk {
				t.Skip("long lines are cut, which Redact does not do")
			}
		}
		want, n := red.Redact(data)
		var log, tee bytes.Buffer
		o := NewOutput(&log, fixedClock, 0, red)
		o.TeeStdout(&tee)
		w := o.Stream(StreamStdout)
		rest := data
		for _, s := range splits {
			k := min(int(s), len(rest))
			w.Write(rest[:k])
			rest = rest[k:]
		}
		w.Write(rest)
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tee.Bytes(), want) {
			t.Fatalf("tee = %q, want %q", tee.Bytes(), want)
		}
		if got, w := log.String(), prefixLines(string(want), "out"); got != w {
			t.Fatalf("log = %q, want %q", got, w)
		}
		if o.Redactions() != n {
			t.Fatalf("Redactions() = %d, Redact counted %d", o.Redactions(), n)
		}
		if o.Bytes() != int64(len(data)) || o.SHA256() != HashBytes(log.Bytes()) {
			t.Fatal("counters do not match")
		}
	})
}

func TestOutputLive(t *testing.T) {
	for _, live := range []bool{false, true} {
		var log bytes.Buffer
		o := NewOutput(&log, fixedClock, 0, nil)
		o.SetLive(live)
		fmt.Fprint(o.Stream(StreamStdout), "first\npart")
		want := ""
		if live {
			want = ts0 + " [out] first\n"
		}
		if log.String() != want {
			t.Errorf("live=%v: before Close the sink holds %q, want %q", live, log.String(), want)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		if want := ts0 + " [out] first\n" + ts0 + " [out] part\n"; log.String() != want {
			t.Errorf("live=%v: log = %q, want %q", live, log.String(), want)
		}
	}
}

// TestOutputCutKeepsSecretsWhole: a long line without a newline is
// written in pieces, each redacted on its own; a secret value, a token or
// a private key's marker that the cut at MaxLineChunk would split is kept
// whole in one piece, so neither output.log nor the stdout artifact (which
// joins the pieces again) holds it.
func TestOutputCutKeepsSecretsWhole(t *testing.T) {
	secret := "S3cr3tV4lue-XYZ-0123456789"
	long := strings.Repeat("s", 6000) // a secret value longer than minCutOverlap
	red := NewRedactor([]string{secret, long + "-long"})
	key := strings.ReplaceAll(strings.TrimSuffix(rsaKey, "\n"), "\n", " ")
	for _, tc := range []struct {
		name, value string
		gone        string // must not be stored
	}{
		{"secret_env value", secret, secret},
		{"GitHub token", ghpToken, ghpToken},
		{"secret longer than the overlap", long + "-long", long + "-long"},
		{"private key marker", key, "MIIEow"},
		// Shapes whose span is the value after a key: the key stays
		// with the value, also when the cut falls between them.
		{"Bearer token", "Authorization: Bearer abcdefgh12345678TOKEN", "abcdefgh12345678TOKEN"},
		{"password=", "DB_PASSWORD=hunter22xyz-Pa55", "hunter22xyz-Pa55"},
		{"URL password", "https://user:pw-12345-xyz@host/x", "pw-12345-xyz"},
	} {
		backs := []int{1, 5, len(tc.value) / 2, len(tc.value) - 1}
		if i := strings.Index(tc.value, tc.gone); i > 0 {
			backs = append(backs, len(tc.value)-i) // the cut just before the value
		}
		for _, back := range backs {
			t.Run(fmt.Sprintf("%s/%d before the cut", tc.name, back), func(t *testing.T) {
				line := strings.Repeat(" ", MaxLineChunk-back) + tc.value + strings.Repeat("-", 3*MaxLineChunk)
				var log, tee bytes.Buffer
				o := NewOutput(&log, fixedClock, 0, red)
				o.TeeStdout(&tee)
				w := o.Stream(StreamStdout)
				for rest := line; rest != ""; {
					k := min(32<<10, len(rest)) // a pipe's reads
					w.Write([]byte(rest[:k]))
					rest = rest[k:]
				}
				if err := o.Close(); err != nil {
					t.Fatal(err)
				}
				for name, got := range map[string]string{"output.log": log.String(), "artifact": tee.String()} {
					if strings.Contains(got, tc.gone) {
						t.Errorf("%s holds %q", name, tc.gone)
					}
					if !strings.Contains(got, Redacted) {
						t.Errorf("%s has no %s", name, Redacted)
					}
				}
				if strings.Count(log.String(), "\n") < 3 {
					t.Errorf("the line was not cut: %d log lines", strings.Count(log.String(), "\n"))
				}
			})
		}
	}
}
