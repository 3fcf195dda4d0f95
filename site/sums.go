package site

import (
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/spinehq/spine/internal/jsonscan"
)

// SumsName is the file in the state folder (Options.StateDir, under
// StateSubdir) that records what the site derived from each output log it
// read (size, lines, hash), with the log's file-system identity, so that a
// later build in another process verifies an unchanged log from one lstat
// instead of reading and hashing it. It describes the inputs, not the
// site: it is kept out of the output folder, and any number of output
// folders share it.
const SumsName = "sums.json"

// sumsVersion names the format of SumsName and the display limits a
// summary depends on; a file of another version is ignored.
var sumsVersion = "spine-sums/1 " + strconv.Itoa(inlineLogBytes) + " " + strconv.Itoa(inlineLogLines)

// fileStat is a regular file's identity as lstat reports it. A file whose
// stat is unchanged has not been written since (the same test git makes
// of its index), provided the stat was taken long enough after the last
// change: see sumCache.cutoff.
type fileStat struct {
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"`
	Ctime int64  `json:"ctime"`
	Ino   uint64 `json:"ino"`
	Dev   uint64 `json:"dev"`
}

// logSum is what verify takes from an output log.
type logSum struct {
	Size   int64  `json:"bytes"`
	Lines  int    `json:"lines"`
	SHA256 string `json:"sha256"`
	Folded bool   `json:"folded"`
}

type sumEntry struct {
	Stat fileStat `json:"stat"`
	Sum  logSum   `json:"sum"`
}

// writeJSON writes e as json.Marshal does, without its reflection.
func (e sumEntry) writeJSON(b *bytes.Buffer) {
	b.Write(strconv.AppendInt(append(b.AvailableBuffer(), `{"stat":{"size":`...), e.Stat.Size, 10))
	b.Write(strconv.AppendInt(append(b.AvailableBuffer(), `,"mtime":`...), e.Stat.Mtime, 10))
	b.Write(strconv.AppendInt(append(b.AvailableBuffer(), `,"ctime":`...), e.Stat.Ctime, 10))
	b.Write(strconv.AppendUint(append(b.AvailableBuffer(), `,"ino":`...), e.Stat.Ino, 10))
	b.Write(strconv.AppendUint(append(b.AvailableBuffer(), `,"dev":`...), e.Stat.Dev, 10))
	b.Write(strconv.AppendInt(append(b.AvailableBuffer(), `},"sum":{"bytes":`...), e.Sum.Size, 10))
	b.Write(strconv.AppendInt(append(b.AvailableBuffer(), `,"lines":`...), int64(e.Sum.Lines), 10))
	b.WriteString(`,"sha256":`)
	writeJSONString(b, e.Sum.SHA256)
	b.Write(strconv.AppendBool(append(b.AvailableBuffer(), `,"folded":`...), e.Sum.Folded))
	b.WriteString("}}")
}

// sumCache holds the summaries of output logs by repository-relative run
// folder: those read from SumsName (old) and those this build used
// (next), which the build writes back.
type sumCache struct {
	old map[string]sumEntry
	// cutoff: a file changed at or after it (Unix ns) is not recorded, as
	// a change within the file system's timestamp granularity could leave
	// its stat as it was.
	cutoff int64

	mu    sync.Mutex
	next  map[string]sumEntry
	dirty bool
}

// readSums reads the summaries recorded in the folder dir; an empty dir
// (no state folder), a missing, unreadable or outdated file give an empty
// cache. With mapped set the file is mapped rather than read
// (readOutFile).
func readSums(dir string, mapped bool) *sumCache {
	c := &sumCache{old: map[string]sumEntry{}}
	if dir == "" {
		return c
	}
	data, err := readOutFile(filepath.Join(dir, SumsName), mapped)
	if err != nil {
		return c
	}
	var f struct {
		Version string              `json:"version"`
		Logs    map[string]sumEntry `json:"logs"`
	}
	if logs, ok := parseSumsFast(data); ok {
		c.old = logs
		return c
	}
	if json.Unmarshal(data, &f) != nil || f.Version != sumsVersion || f.Logs == nil {
		return c
	}
	c.old = f.Logs
	return c
}

// parseSumsFast decodes SumsName as save writes it (this version's, no
// white space but a newline before each entry, integers in range), as
// json.Unmarshal would; ok is false for anything else, left to
// json.Unmarshal. The strings share data.
func parseSumsFast(data []byte) (map[string]sumEntry, bool) {
	header := `{"version":` + strconv.Quote(sumsVersion) + `,"logs":{`
	if !bytes.HasPrefix(data, []byte(header)) {
		return nil, false
	}
	d := jsonscan.Scanner{B: data, I: len(header)}
	lit := func(s string) {
		d.WS()
		if !bytes.HasPrefix(d.B[d.I:], []byte(s)) {
			d.Bad = true
			return
		}
		d.I += len(s)
	}
	unsigned := func() uint64 {
		v := d.Int()
		if v < 0 {
			d.Bad = true
		}
		return uint64(v)
	}
	logs := make(map[string]sumEntry, bytes.Count(data, []byte("\n")))
	if d.Peek() == '}' {
		d.I++
	} else {
		for !d.Bad {
			dir, _ := d.Key()
			var e sumEntry
			lit(`{"stat":{"size":`)
			e.Stat.Size = d.Int()
			lit(`,"mtime":`)
			e.Stat.Mtime = d.Int()
			lit(`,"ctime":`)
			e.Stat.Ctime = d.Int()
			lit(`,"ino":`)
			e.Stat.Ino = unsigned()
			lit(`,"dev":`)
			e.Stat.Dev = unsigned()
			lit(`},"sum":{"bytes":`)
			e.Sum.Size = d.Int()
			lit(`,"lines":`)
			e.Sum.Lines = d.IntN()
			lit(`,"sha256":`)
			e.Sum.SHA256 = d.Str()
			lit(`,"folded":`)
			e.Sum.Folded = d.Bool()
			lit(`}}`)
			if d.Bad {
				break
			}
			logs[dir] = e
			if d.Peek() == ',' {
				d.I++
				continue
			}
			d.Expect('}')
			break
		}
	}
	d.Expect('}')
	d.WS()
	if d.Bad || d.I != len(d.B) {
		return nil, false
	}
	return logs, true
}

// begin starts a build: entries not used by it are dropped when it saves.
func (c *sumCache) begin(now time.Time) {
	c.next = make(map[string]sumEntry, len(c.old))
	c.dirty = false
	c.cutoff = now.Add(-racyWindow).UnixNano()
}

// has reports whether a summary is recorded for run folder dir (so that
// lookup's lstat is only paid where it can hit).
func (c *sumCache) has(dir string) bool {
	if c == nil {
		return false
	}
	_, ok := c.old[dir]
	return ok
}

// lookupStat returns the recorded summary of the output log of run
// folder dir, if st, the log's stat (lstatFile: ok false for no regular
// file), is the one recorded.
func (c *sumCache) lookupStat(dir string, st fileStat, ok bool) (logSum, bool) {
	if c == nil || !ok {
		return logSum{}, false
	}
	e, had := c.old[dir]
	if !had || e.Stat != st {
		return logSum{}, false
	}
	c.mu.Lock()
	c.next[dir] = e
	c.mu.Unlock()
	return e.Sum, true
}

// store records the summary of a log read whole; before is its stat taken
// before reading. Nothing is recorded unless the file kept that stat
// while it was read and was last changed before the cutoff.
func (c *sumCache) store(dir, path string, before fileStat, s logSum) {
	if c == nil || before == (fileStat{}) || before.Mtime >= c.cutoff || before.Ctime >= c.cutoff {
		return
	}
	if after, ok := lstatFile(path); !ok || after != before {
		return
	}
	c.mu.Lock()
	c.next[dir] = sumEntry{Stat: before, Sum: s}
	c.dirty = true
	c.mu.Unlock()
}

// record records the summary of a log read whole, whose stat st was
// taken from the open file before reading it (readLog, readFileStat).
// Nothing is recorded for a file last changed at or after the cutoff,
// which also keeps out a file changed while it was read: its stat then
// differs from st, as its ctime is past the cutoff.
func (c *sumCache) record(dir string, st fileStat, s logSum) {
	if c == nil || st == (fileStat{}) || st.Mtime >= c.cutoff || st.Ctime >= c.cutoff {
		return
	}
	e := sumEntry{Stat: st, Sum: s}
	c.mu.Lock()
	c.next[dir] = e
	if old, ok := c.old[dir]; !ok || old != e {
		// An entry recorded again as it was (a log read for its page
		// rather than looked up) leaves the file as it is.
		c.dirty = true
	}
	c.mu.Unlock()
}

// keep carries the entry of run folder dir over to this build, for a
// receipt whose verification the Builder kept in memory.
func (c *sumCache) keep(dir string) {
	if c == nil {
		return
	}
	if e, ok := c.old[dir]; ok {
		c.mu.Lock()
		c.next[dir] = e
		c.mu.Unlock()
	}
}

// save writes this build's entries to the folder dir when they differ
// from the ones read, and makes them the old ones. An empty dir (no state
// folder) records nothing.
func (c *sumCache) save(dir string) error {
	if dir == "" || !c.dirty && len(c.next) == len(c.old) {
		// Nothing to write: the entries stay in memory for the next
		// build of this Builder.
		c.old = c.next
		return nil
	}
	dirs := make([]string, 0, len(c.next))
	for d := range c.next {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	err := writeStateFile(filepath.Join(dir, SumsName), func(w io.Writer) error {
		var b bytes.Buffer
		b.WriteString(`{"version":` + strconv.Quote(sumsVersion) + `,"logs":{`)
		for i, d := range dirs {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("\n")
			writeJSONString(&b, d)
			b.WriteByte(':')
			c.next[d].writeJSON(&b)
			if b.Len() >= 32<<10 {
				if _, err := w.Write(b.Bytes()); err != nil {
					return err
				}
				b.Reset()
			}
		}
		b.WriteString("\n}}\n")
		_, err := w.Write(b.Bytes())
		return err
	})
	if err != nil {
		return err
	}
	c.old = c.next
	return nil
}
