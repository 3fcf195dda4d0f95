package site

import (
	"strconv"
	"unicode/utf8"

	"github.com/spinehq/spine/artifacts"
)

// decodeReceiptFast decodes receipt.json as artifacts.DecodeReceipt does,
// for the receipts spine writes: an object with the contract's keys, each
// at most once, spelt exactly, with values of their field's type (null
// for the approval and the lists). Anything else (an unknown or
// differently spelt key, a null string, a number that is not a plain
// integer, a surrogate escape, invalid UTF-8, a syntax error) makes it
// give up (ok false), and the caller decodes with artifacts.DecodeReceipt,
// whose result or error then stands. Strings without escapes share data,
// which must not change afterwards: a site build keeps the receipt's bytes
// for its page anyway, so its strings cost no copy.
//
// It is several times faster than encoding/json, which matters for the
// tens of thousands of receipts a site build decodes.
func decodeReceiptFast(data []byte) (rc *artifacts.Receipt, ok bool) {
	d := jsonScanner{b: data}
	rc = &artifacts.Receipt{}
	d.ws()
	var seen uint64
	if !d.objectStart() {
		return nil, false
	}
	for more := d.objectFirst(); more; more = d.objectNext() {
		key, ok := d.key()
		if !ok {
			return nil, false
		}
		bit, ok := d.field(rc, key)
		if !ok || seen&bit != 0 {
			return nil, false
		}
		seen |= bit
	}
	if d.bad {
		return nil, false
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, false
	}
	return rc, true
}

// jsonScanner reads the JSON of a receipt; bad is set on anything it does
// not handle, and sticks.
type jsonScanner struct {
	b   []byte
	i   int
	bad bool
}

func (d *jsonScanner) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space (0 at the end).
func (d *jsonScanner) peek() byte {
	d.ws()
	if d.i >= len(d.b) {
		return 0
	}
	return d.b[d.i]
}

func (d *jsonScanner) expect(c byte) bool {
	if d.peek() != c {
		d.bad = true
		return false
	}
	d.i++
	return true
}

func (d *jsonScanner) objectStart() bool { return !d.bad && d.expect('{') }

// objectFirst reports whether the object just opened has a member.
func (d *jsonScanner) objectFirst() bool {
	if d.bad {
		return false
	}
	if d.peek() == '}' {
		d.i++
		return false
	}
	return true
}

// objectNext reads the separator after a member: true for another member.
func (d *jsonScanner) objectNext() bool {
	if d.bad {
		return false
	}
	switch d.peek() {
	case ',':
		d.i++
		return true
	case '}':
		d.i++
		return false
	}
	d.bad = true
	return false
}

// key reads a member's name and its colon; names are plain ASCII.
func (d *jsonScanner) key() (string, bool) {
	if d.peek() != '"' {
		d.bad = true
		return "", false
	}
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		c := d.b[j]
		if c == '"' {
			d.i = j + 1
			if !d.expect(':') {
				return "", false
			}
			return unsafeString(d.b[start:j]), true
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
	}
	d.bad = true
	return "", false
}

// null consumes a null if one comes next.
func (d *jsonScanner) null() bool {
	if d.peek() == 'n' && len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// str reads a string value.
func (d *jsonScanner) str() string {
	if d.bad || d.peek() != '"' {
		d.bad = true
		return ""
	}
	start := d.i + 1
	ascii := true
	for j := start; j < len(d.b); j++ {
		c := d.b[j]
		switch {
		case c == '"':
			d.i = j + 1
			s := d.b[start:j]
			if !ascii && !utf8.Valid(s) {
				d.bad = true
				return ""
			}
			return unsafeString(s)
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			d.bad = true
			return ""
		case c >= 0x80:
			ascii = false
		}
	}
	d.bad = true
	return ""
}

// escaped reads a string with escapes, from its first byte at start.
func (d *jsonScanner) escaped(start int) string {
	out := make([]byte, 0, 64)
	j := start
	for j < len(d.b) {
		c := d.b[j]
		switch {
		case c == '"':
			d.i = j + 1
			if !utf8.Valid(out) {
				d.bad = true
				return ""
			}
			return string(out)
		case c < 0x20:
			d.bad = true
			return ""
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		if j+1 >= len(d.b) {
			break
		}
		e := d.b[j+1]
		j += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if j+4 > len(d.b) {
				d.bad = true
				return ""
			}
			v, err := strconv.ParseUint(string(d.b[j:j+4]), 16, 16)
			if err != nil || v >= 0xD800 && v < 0xE000 {
				// Surrogates (pairs or not) are left to encoding/json.
				d.bad = true
				return ""
			}
			out = utf8.AppendRune(out, rune(v))
			j += 4
		default:
			d.bad = true
			return ""
		}
	}
	d.bad = true
	return ""
}

// int reads a plain integer: -?(0|[1-9][0-9]*), within int64.
func (d *jsonScanner) int() int64 {
	if d.bad {
		return 0
	}
	d.ws()
	start := d.i
	j := d.i
	if j < len(d.b) && d.b[j] == '-' {
		j++
	}
	digits := j
	for j < len(d.b) && d.b[j] >= '0' && d.b[j] <= '9' {
		j++
	}
	if j == digits || (d.b[digits] == '0' && j > digits+1) {
		d.bad = true
		return 0
	}
	if j < len(d.b) {
		switch d.b[j] {
		case '.', 'e', 'E':
			d.bad = true
			return 0
		}
	}
	v, err := strconv.ParseInt(unsafeString(d.b[start:j]), 10, 64)
	if err != nil {
		d.bad = true
		return 0
	}
	d.i = j
	return v
}

// intN reads a plain integer for an int field.
func (d *jsonScanner) intN() int {
	v := d.int()
	if int64(int(v)) != v {
		d.bad = true
		return 0
	}
	return int(v)
}

func (d *jsonScanner) bool() bool {
	if d.bad {
		return false
	}
	switch d.peek() {
	case 't':
		if len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "true" {
			d.i += 4
			return true
		}
	case 'f':
		if len(d.b)-d.i >= 5 && string(d.b[d.i:d.i+5]) == "false" {
			d.i += 5
			return false
		}
	}
	d.bad = true
	return false
}

// array calls elem for each element of an array (or nothing for null,
// reported by isNull).
func (d *jsonScanner) array(elem func()) (isNull bool) {
	if d.bad {
		return false
	}
	if d.null() {
		return true
	}
	if !d.expect('[') {
		return false
	}
	if d.peek() == ']' {
		d.i++
		return false
	}
	for !d.bad {
		elem()
		switch d.peek() {
		case ',':
			d.i++
			continue
		case ']':
			d.i++
			return false
		}
		d.bad = true
	}
	return false
}

// members reads an object whose members set sets; a key it does not know,
// or the same key twice, gives up.
func (d *jsonScanner) members(set func(key string) (uint64, bool)) {
	if !d.objectStart() {
		return
	}
	var seen uint64
	for more := d.objectFirst(); more; more = d.objectNext() {
		key, ok := d.key()
		if !ok {
			return
		}
		bit, ok := set(key)
		if !ok || seen&bit != 0 {
			d.bad = true
			return
		}
		seen |= bit
	}
}

// field decodes the value of the receipt's member key; it returns the
// member's bit (for duplicates) and false for a key it does not know.
func (d *jsonScanner) field(rc *artifacts.Receipt, key string) (uint64, bool) {
	var bit uint64
	switch key {
	case "run_key":
		bit, rc.RunKey = 1<<0, d.str()
	case "loop_id":
		bit, rc.LoopID = 1<<1, d.str()
	case "stage":
		bit, rc.Stage = 1<<2, d.str()
	case "step":
		bit, rc.Step = 1<<3, d.str()
	case "capability":
		bit, rc.Capability = 1<<4, d.str()
	case "command":
		bit, rc.Command = 1<<5, d.str()
	case "command_sha256":
		bit, rc.CommandSHA256 = 1<<6, d.str()
	case "host":
		bit, rc.Host = 1<<7, d.str()
	case "user":
		bit, rc.User = 1<<8, d.str()
	case "workdir":
		bit, rc.Workdir = 1<<9, d.str()
	case "started_at":
		bit, rc.StartedAt = 1<<10, d.str()
	case "finished_at":
		bit, rc.FinishedAt = 1<<11, d.str()
	case "duration_ms":
		bit, rc.DurationMS = 1<<12, d.int()
	case "exit_code":
		bit, rc.ExitCode = 1<<13, d.intN()
	case "status":
		bit, rc.Status = 1<<14, d.str()
	case "allow_failure":
		bit, rc.AllowFailure = 1<<15, d.bool()
	case "gate":
		bit, rc.Gate = 1<<16, d.str()
	case "approval":
		bit = 1 << 17
		if !d.null() {
			a := &artifacts.Approval{}
			d.members(func(k string) (uint64, bool) {
				switch k {
				case "source":
					a.Source = d.str()
					return 1, true
				case "commit":
					a.Commit = d.str()
					return 2, true
				case "author":
					a.Author = d.str()
					return 4, true
				}
				return 0, false
			})
			rc.Approval = a
		}
	case "source_commit":
		bit, rc.SourceCommit = 1<<18, d.str()
	case "artifacts":
		bit = 1 << 19
		list := []artifacts.ArtifactRef{}
		if d.array(func() {
			var a artifacts.ArtifactRef
			d.members(func(k string) (uint64, bool) {
				switch k {
				case "path":
					a.Path = d.str()
					return 1, true
				case "sha256":
					a.SHA256 = d.str()
					return 2, true
				case "size":
					a.Size = d.int()
					return 4, true
				}
				return 0, false
			})
			list = append(list, a)
		}) {
			list = nil
		}
		rc.Artifacts = list
	case "output_sha256":
		bit, rc.OutputSHA256 = 1<<20, d.str()
	case "spine_version":
		bit, rc.SpineVersion = 1<<21, d.str()
	case "prev":
		bit, rc.Prev = 1<<22, d.str()
	case "note":
		bit, rc.Note = 1<<23, d.str()
	case "output_truncated":
		bit, rc.OutputTruncated = 1<<24, d.bool()
	case "output_bytes":
		bit, rc.OutputBytes = 1<<25, d.int()
	case "redactions":
		bit, rc.Redactions = 1<<26, d.intN()
	case "checks":
		bit = 1 << 27
		list := []artifacts.CheckResult{}
		if d.array(func() {
			var c artifacts.CheckResult
			d.members(func(k string) (uint64, bool) {
				switch k {
				case "id":
					c.ID = d.str()
					return 1, true
				case "title":
					c.Title = d.str()
					return 2, true
				case "status":
					c.Status = d.str()
					return 4, true
				case "exit_code":
					c.ExitCode = d.intN()
					return 8, true
				case "duration_ms":
					c.DurationMS = d.int()
					return 16, true
				case "blocking":
					c.Blocking = d.bool()
					return 32, true
				}
				return 0, false
			})
			list = append(list, c)
		}) {
			list = nil
		}
		rc.Checks = list
	case "summary":
		bit, rc.Summary = 1<<28, d.str()
	default:
		return 0, false
	}
	return bit, !d.bad
}

// detachReceipt returns rc with every string copied out of the buffer
// decodeReceiptFast decoded it from (into one new block), so the buffer
// can be reused. TestDetachReceipt checks it copies every string field.
func detachReceipt(rc *artifacts.Receipt) *artifacts.Receipt {
	n := 0
	each := func(f func(s *string)) {
		for _, s := range []*string{&rc.RunKey, &rc.LoopID, &rc.Stage, &rc.Step, &rc.Capability, &rc.Command,
			&rc.CommandSHA256, &rc.Host, &rc.User, &rc.Workdir, &rc.StartedAt, &rc.FinishedAt, &rc.Status,
			&rc.Gate, &rc.SourceCommit, &rc.OutputSHA256, &rc.SpineVersion, &rc.Prev, &rc.Note, &rc.Summary} {
			f(s)
		}
		if a := rc.Approval; a != nil {
			f(&a.Source)
			f(&a.Commit)
			f(&a.Author)
		}
		for i := range rc.Artifacts {
			f(&rc.Artifacts[i].Path)
			f(&rc.Artifacts[i].SHA256)
		}
		for i := range rc.Checks {
			f(&rc.Checks[i].ID)
			f(&rc.Checks[i].Title)
			f(&rc.Checks[i].Status)
		}
	}
	each(func(s *string) { n += len(*s) })
	if n == 0 {
		return rc
	}
	block := make([]byte, 0, n)
	each(func(s *string) {
		if len(*s) == 0 {
			*s = ""
			return
		}
		at := len(block)
		block = append(block, *s...)
		*s = unsafeString(block[at:])
	})
	return rc
}
