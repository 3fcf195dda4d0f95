package site

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spinehq/spine/artifacts"
)

// Output log display limits.
const (
	// inlineLogBytes and inlineLogLines bound a log shown whole.
	inlineLogBytes = 256 << 10
	inlineLogLines = 1000
	// foldLines is how many lines are shown at each end of a folded log.
	foldLines = 100
	// maxLineBytes bounds one displayed line.
	maxLineBytes = 2000
)

// logView is an output log prepared for display.
type logView struct {
	// Present is false when the run folder has no output.log.
	Present bool
	Size    int64
	Lines   int
	SHA256  string
	// Head is the whole log, or its first lines when Folded; Tail its
	// last lines when Folded. Both are escaped HTML with ANSI colours as
	// classes.
	Head, Tail string
	Folded     bool
	Omitted    int
	Err        string
}

// lineCollector keeps the first and last lines of a stream.
type lineCollector struct {
	head    []string
	tail    []string // ring of the last foldLines lines
	tailPos int
	lines   int
	partial []byte
}

func (c *lineCollector) add(line []byte) {
	if len(line) > maxLineBytes {
		line = append(line[:maxLineBytes:maxLineBytes], "… (line cut)"...)
	}
	c.lines++
	s := string(line)
	if len(c.head) < foldLines {
		c.head = append(c.head, s)
		return
	}
	if len(c.tail) < foldLines {
		c.tail = append(c.tail, s)
		return
	}
	c.tail[c.tailPos] = s
	c.tailPos = (c.tailPos + 1) % foldLines
}

func (c *lineCollector) write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(c.partial) < maxLineBytes+1 {
				c.partial = append(c.partial, p[:min(len(p), maxLineBytes+1-len(c.partial))]...)
			}
			return
		}
		if len(c.partial) > 0 {
			if len(c.partial) < maxLineBytes+1 {
				c.partial = append(c.partial, p[:min(i, maxLineBytes+1-len(c.partial))]...)
			}
			c.add(c.partial)
			c.partial = c.partial[:0]
		} else {
			c.add(p[:i])
		}
		p = p[i+1:]
	}
}

func (c *lineCollector) finish() {
	if len(c.partial) > 0 {
		c.add(c.partial)
		c.partial = nil
	}
}

// tailLines returns the ring's lines in order.
func (c *lineCollector) tailLines() []string {
	if len(c.tail) < foldLines {
		return c.tail
	}
	return append(append([]string{}, c.tail[c.tailPos:]...), c.tail[:c.tailPos]...)
}

// readLog reads an output log once: its hash, size, line count and the
// lines to display. Small logs are read whole; large ones are streamed, so
// a log of any size costs constant memory. It also returns the stat of the
// file read, as fstat reported it before the read (a streamed log: when
// fstat reported the same after it), else the zero fileStat, for the log
// summaries (sumCache.record, whose cutoff keeps out a log changed while
// it was read).
func readLog(path string) (logView, fileStat) {
	v := logView{}
	data, st, err := readFileStat(path, inlineLogBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return v, fileStat{}
	case err == nil:
		v.Present = true
		v.Size = int64(len(data))
		v.SHA256 = artifacts.HashBytes(data)
		text := unsafeString(data) // data is not changed, nor kept
		lines := strings.Count(text, "\n")
		if len(text) > 0 && !strings.HasSuffix(text, "\n") {
			lines++
		}
		v.Lines = lines
		if lines <= inlineLogLines {
			if len(text) > 0 {
				v.Head = ansiHTML(strings.Split(strings.TrimSuffix(text, "\n"), "\n"))
			}
			return v, st
		}
	}
	// Large, or with too many lines to show: stream it.
	f, err := openNoFollow(path)
	if errors.Is(err, fs.ErrNotExist) {
		return logView{}, fileStat{}
	}
	if err != nil {
		v.Err = err.Error()
		return v, fileStat{}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		v.Err = err.Error()
		return v, fileStat{}
	}
	if !fi.Mode().IsRegular() {
		v.Err = "output.log is not a regular file"
		return v, fileStat{}
	}
	before, _ := infoFileStat(fi)
	v.Present = true
	// Stream: hash everything, keep the first and last lines.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		v.Err = err.Error()
		return v, fileStat{}
	}
	h := sha256.New()
	var c lineCollector
	buf := make([]byte, 256<<10)
	var size int64
	for {
		n, err := f.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			c.write(buf[:n])
			size += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			v.Err = err.Error()
			return v, fileStat{}
		}
	}
	if fi, err := f.Stat(); err != nil {
		before = fileStat{}
	} else if after, _ := infoFileStat(fi); after != before {
		before = fileStat{}
	}
	c.finish()
	v.Size = size
	v.SHA256 = hex.EncodeToString(h.Sum(nil))
	v.Lines = c.lines
	v.Folded = true
	v.Omitted = c.lines - len(c.head) - len(c.tail)
	v.Head = ansiHTML(c.head)
	v.Tail = ansiHTML(c.tailLines())
	return v, before
}

// sgr is the display state set by ANSI SGR sequences.
type sgr struct {
	bold, dim, italic, under bool
	fg, bg                   int // -1 for default, else 0..15
}

func (s sgr) zero() bool {
	return !s.bold && !s.dim && !s.italic && !s.under && s.fg < 0 && s.bg < 0
}

func (s sgr) classes() string {
	var c []string
	if s.bold {
		c = append(c, "ab")
	}
	if s.dim {
		c = append(c, "ad")
	}
	if s.italic {
		c = append(c, "ai")
	}
	if s.under {
		c = append(c, "au")
	}
	if s.fg >= 0 {
		c = append(c, "af"+strconv.Itoa(s.fg))
	}
	if s.bg >= 0 {
		c = append(c, "ag"+strconv.Itoa(s.bg))
	}
	return strings.Join(c, " ")
}

// apply updates s with the parameters of one SGR sequence.
func (s *sgr) apply(params string) {
	if params == "" {
		*s = sgr{fg: -1, bg: -1}
		return
	}
	ps := strings.Split(params, ";")
	for i := 0; i < len(ps); i++ {
		n, err := strconv.Atoi(ps[i])
		if err != nil {
			continue
		}
		switch {
		case n == 0:
			*s = sgr{fg: -1, bg: -1}
		case n == 1:
			s.bold = true
		case n == 2:
			s.dim = true
		case n == 3:
			s.italic = true
		case n == 4:
			s.under = true
		case n == 22:
			s.bold, s.dim = false, false
		case n == 23:
			s.italic = false
		case n == 24:
			s.under = false
		case n >= 30 && n <= 37:
			s.fg = n - 30
		case n == 39:
			s.fg = -1
		case n >= 40 && n <= 47:
			s.bg = n - 40
		case n == 49:
			s.bg = -1
		case n >= 90 && n <= 97:
			s.fg = n - 90 + 8
		case n >= 100 && n <= 107:
			s.bg = n - 100 + 8
		case n == 38 || n == 48:
			// 256-colour and true-colour: skip their arguments.
			if i+1 < len(ps) && ps[i+1] == "5" {
				i += 2
			} else if i+1 < len(ps) && ps[i+1] == "2" {
				i += 4
			}
		}
	}
}

// logPrefixLen returns the length of the prefix spine writes before each
// line of output.log ("2006-01-02T15:04:05.000Z [out] "), or 0 when the
// line does not start with one.
func logPrefixLen(line string) int {
	const stamp = "2006-01-02T15:04:05.000Z"
	if len(line) < len(stamp)+4 {
		return 0
	}
	for i := 0; i < len(stamp); i++ {
		c, want := line[i], stamp[i]
		if want >= '0' && want <= '9' {
			if c < '0' || c > '9' {
				return 0
			}
		} else if c != want {
			return 0
		}
	}
	rest := line[len(stamp):]
	if !strings.HasPrefix(rest, " [") {
		return 0
	}
	end := strings.Index(rest, "] ")
	if end < 3 || end > 20 {
		return 0
	}
	for _, c := range rest[2:end] {
		if (c < 'a' || c > 'z') && c != '+' {
			return 0
		}
	}
	return len(stamp) + end + 2
}

// ansiHTML converts log lines to escaped HTML: SGR colours and styles
// become spans with classes, every other escape sequence and control
// character is dropped (but NUL, shown as U+FFFD as invalid UTF-8 is),
// and a carriage return keeps what follows it (as a terminal overwriting
// a progress line would).
func ansiHTML(lines []string) string {
	var b strings.Builder
	n := len(lines)
	for _, l := range lines {
		n += len(l)
	}
	b.Grow(n + n/8)
	st := sgr{fg: -1, bg: -1}
	for li, line := range lines {
		if li > 0 {
			b.WriteByte('\n')
		}
		// spine's own prefix (time and stream) is shown as it is: neither
		// a colour the step left on nor a carriage return in its text
		// takes it away.
		if n := logPrefixLen(line); n > 0 {
			escapeHTML(&b, line[:n], escText)
			line = line[n:]
		}
		line = strings.TrimSuffix(line, "\r")
		if i := strings.LastIndexByte(line, '\r'); i >= 0 {
			line = line[i+1:]
		}
		if !utf8.ValidString(line) {
			// Binary output: the page stays valid UTF-8.
			line = strings.ToValidUTF8(line, "\uFFFD")
		}
		open := false
		if !st.zero() {
			b.WriteString(`<span class="` + st.classes() + `">`)
			open = true
		}
		plainFrom := 0
		flush := func(to int) {
			if to > plainFrom {
				escapeHTML(&b, line[plainFrom:to], escText)
			}
		}
		for i := 0; i < len(line); {
			c := line[i]
			if c == 0x1b {
				flush(i)
				end, params, final := artifacts.EscapeSeq(line, i)
				if final == 'm' {
					if open {
						b.WriteString("</span>")
						open = false
					}
					st.apply(params)
					if !st.zero() {
						b.WriteString(`<span class="` + st.classes() + `">`)
						open = true
					}
				}
				i = end
				plainFrom = i
				continue
			}
			if artifacts.IsHiddenControl(c) {
				flush(i)
				if c == 0 {
					// A NUL is output (binary), not a terminal's
					// control: shown as an invalid byte is, so that
					// the page does not hide that a byte was there.
					b.WriteString("\uFFFD")
				}
				i++
				plainFrom = i
				continue
			}
			i++
		}
		flush(len(line))
		if open {
			b.WriteString("</span>")
		}
	}
	return b.String()
}

// artifactCheck is the verification of one artifact a receipt lists.
type artifactCheck struct {
	Ref artifacts.ArtifactRef
	// State is "ok", or what does not match.
	State string
	OK    bool
	// Src is the file to copy into the site ("" when it cannot be).
	Src string
	// SiteName is the copy's file name under the receipt's folder.
	SiteName string
	// SHA256 is the file's actual hash (the copy's content hash).
	SHA256 string
	// Again is set on an entry whose path an earlier entry of the receipt
	// lists: it links to that entry's copy and makes none of its own.
	Again bool
}

// verification is what a receipt page shows about its files.
type verification struct {
	LogPresent bool
	LogSize    int64
	LogLines   int
	LogSHA256  string
	LogFolded  bool
	LogErr     string
	// LogState is "ok", "no output", or what does not match.
	LogState  string
	LogOK     bool
	Artifacts []artifactCheck
	// CommandOK reports whether command_sha256 matches the command, and
	// each pack check's its check's.
	CommandOK bool
}

// verify checks a receipt's output log and artifacts. It returns the log
// prepared for display too when it read it (nil when sums, the summaries
// of earlier builds, hold the unchanged log's size, lines and hash). With
// read set the log is read whatever sums hold (the caller shows it: a stat
// to look it up would be wasted), and its summary recorded in sums.
func verify(root, artifactsDir string, r *receiptRec, sums *sumCache, read bool, gen uint64) (*verification, *logView) {
	v := &verification{}
	logPath := func() string { return filepath.Join(root, filepath.FromSlash(r.Dir), artifacts.OutputFile) }
	var lv *logView
	hit := false
	// The log's stat: the one the scan took (receiptRec.logStat, only
	// where read is false and sums has the log: Builder.wantLog), else
	// one taken now.
	st, ok, known := r.logStat(gen)
	if known || !read && sums.has(r.Dir) {
		if !known {
			st, ok = lstatFile(logPath())
		}
		var s logSum
		if s, hit = sums.lookupStat(r.Dir, st, ok); hit {
			v.LogPresent, v.LogSize, v.LogLines, v.LogSHA256, v.LogFolded = true, s.Size, s.Lines, s.SHA256, s.Folded
		}
	}
	if !hit {
		l, st := readLog(logPath())
		lv = &l
		v.LogPresent, v.LogSize, v.LogLines, v.LogSHA256, v.LogFolded, v.LogErr = l.Present, l.Size, l.Lines, l.SHA256, l.Folded, l.Err
		if l.Present && l.Err == "" {
			sums.record(r.Dir, st, logSum{Size: l.Size, Lines: l.Lines, SHA256: l.SHA256, Folded: l.Folded})
		}
	}
	rc := r.Receipt
	if rc == nil {
		return v, lv
	}
	v.CommandOK = rc.CommandMismatch() == ""
	switch {
	case v.LogErr != "":
		v.LogState = "output.log unreadable: " + v.LogErr
	case !v.LogPresent && rc.OutputSHA256 == "":
		v.LogState, v.LogOK = "no output", true
	case !v.LogPresent:
		v.LogState = "output.log is missing (output_sha256 " + short(rc.OutputSHA256) + ")"
	case rc.OutputSHA256 == "":
		v.LogState = "output.log exists but output_sha256 is empty"
	case v.LogSHA256 != rc.OutputSHA256:
		v.LogState = fmt.Sprintf("output.log hashes to %s, output_sha256 is %s", short(v.LogSHA256), short(rc.OutputSHA256))
	default:
		v.LogState, v.LogOK = "ok", true
	}
	used := map[string]bool{}
	// A path listed again is hashed and copied once: a receipt that lists
	// one artifact a thousand times (spine writes none) had it hashed and
	// copied a thousand times, gigabytes from one file.
	type hashed struct {
		h        string
		size     int64
		err      error
		siteName string
	}
	seen := map[string]*hashed{}
	for i, a := range rc.Artifacts {
		ac := artifactCheck{Ref: a}
		// Keyed by the file, however the path is spelled ("a/./b",
		// "a//b" are a/b).
		key := path.Clean(a.Path)
		prev := seen[key]
		if prev != nil {
			ac.SiteName, ac.Again = prev.siteName, true
		} else {
			ac.SiteName = artifactSiteName(a.Path, i, used)
		}
		prefix := strings.Trim(artifactsDir, "/") + "/"
		p, err := artifacts.SafeJoin(root, a.Path)
		switch {
		case err != nil:
			ac.State = "refused: " + err.Error()
		case !strings.HasPrefix(a.Path, prefix):
			ac.State = "refused: not under " + prefix
		default:
			if prev == nil {
				prev = &hashed{siteName: ac.SiteName}
				prev.h, prev.size, prev.err = artifacts.HashFile(p)
				seen[key] = prev
			}
			h, size, err := prev.h, prev.size, prev.err
			switch {
			case errors.Is(err, fs.ErrNotExist):
				ac.State = "artifact is missing"
			case err != nil:
				ac.State = "unreadable: " + err.Error()
			case h != a.SHA256:
				ac.State = fmt.Sprintf("hashes to %s, the receipt says %s", short(h), short(a.SHA256))
				ac.Src, ac.SHA256 = p, h
			case size != a.Size:
				ac.State = fmt.Sprintf("%d bytes, the receipt says %d", size, a.Size)
				ac.Src, ac.SHA256 = p, h
			default:
				ac.State, ac.OK = "ok", true
				ac.Src, ac.SHA256 = p, h
			}
		}
		v.Artifacts = append(v.Artifacts, ac)
	}
	return v, lv
}

// artifactSiteName returns the file name an artifact is copied to: its base
// name restricted to [A-Za-z0-9._-], always ending in .txt so that no
// static host serves it as a page or a script, and unique in the receipt.
func artifactSiteName(p string, i int, used map[string]bool) string {
	base := p
	if j := strings.LastIndexByte(base, '/'); j >= 0 {
		base = base[j+1:]
	}
	var b strings.Builder
	for k := 0; k < len(base) && b.Len() < 120; k++ {
		c := base[k]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	name := strings.TrimLeft(b.String(), ".")
	if name == "" {
		name = "artifact"
	}
	if !strings.HasSuffix(name, ".txt") {
		name += ".txt"
	}
	if used[name] {
		name = strconv.Itoa(i+1) + "-" + name
	}
	used[name] = true
	return name
}
