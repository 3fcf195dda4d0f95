// Package loops owns the loop document model: discovering loop documents in
// a repository, parsing their metadata (frontmatter or the inline shapes real
// documents use), locating stages and steps, linting, and rewriting the
// frontmatter and evidence block without touching any other byte.
package loops

import (
	"crypto/sha1"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spinehq/spine/internal/finding"
)

// Level is the severity of a lint finding (the shared finding.Level).
type Level = finding.Level

// Finding levels. An error-level finding makes `spine lint` exit 2 and keeps
// the pipeline from running the loop.
const (
	LevelError   = finding.LevelError
	LevelWarning = finding.LevelWarning
)

// Problem is one lint finding, located at a file and line (the shared
// finding.Problem, formatted as `file:line: level: message`).
type Problem = finding.Problem

// Field is one metadata key with its value, in document order.
type Field struct {
	// Key is the key as written (frontmatter) or normalised to snake_case
	// (inline metadata such as `> **Blocked By:** x` becomes blocked_by).
	Key string `json:"key"`
	// Value is the decoded value: string, bool, int, float64, []any or
	// map[string]any for frontmatter; always a string for inline metadata.
	Value any `json:"value"`
	// Line is the 1-based line of the key in the file.
	Line int `json:"line"`
}

// Meta is the ordered metadata of a document.
type Meta []Field

// Get returns the value of key and whether it was present.
func (m Meta) Get(key string) (any, bool) {
	for _, f := range m {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

// String returns the value of key rendered as a string ("" when absent).
func (m Meta) String(key string) string {
	v, ok := m.Get(key)
	if !ok || v == nil {
		return ""
	}
	return scalarString(v)
}

// Line returns the line where key is written, or 0.
func (m Meta) Line(key string) int {
	for _, f := range m {
		if f.Key == key {
			return f.Line
		}
	}
	return 0
}

// Approvals returns the gates approvals: lists: a YAML list, or a string
// of names separated by commas or spaces.
func (m Meta) Approvals() []string {
	v, ok := m.Get("approvals")
	if !ok {
		return nil
	}
	var out []string
	switch x := v.(type) {
	case string:
		out = strings.FieldsFunc(x, func(r rune) bool { return r == ',' || r == ' ' || r == '[' || r == ']' })
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && strings.TrimSpace(s) != "" {
				out = append(out, strings.TrimSpace(s))
			}
		}
	}
	return out
}

// MetaSource says where a document's metadata was read from.
type MetaSource string

// Metadata sources, from most to least structured.
const (
	SourceFrontmatter MetaSource = "frontmatter"
	// SourceFrontmatterLines means the YAML was rejected and the block was
	// read line by line; the writer then edits only lines it owns.
	SourceFrontmatterLines MetaSource = "frontmatter-lines"
	SourceInline           MetaSource = "inline"
	SourceNone             MetaSource = "none"
)

// StepKind distinguishes the items a stage holds.
type StepKind string

// Step kinds.
const (
	// KindCommand is a fenced shell block with an attribute list.
	KindCommand StepKind = "command"
	// KindVerify is a fenced `verify` block: the built-in verify.pack.run.
	KindVerify StepKind = "verify"
	// KindManual is a task-list item an operator checks in git.
	KindManual StepKind = "manual"
)

// Step is one executable item of a stage: a command block, a verify block or
// a manual task-list item.
type Step struct {
	Kind StepKind `json:"kind"`
	// Name is the step's identity across edits. For manual steps it is the
	// item's text.
	Name string `json:"name"`
	// Lang is the fence's language (sh, bash, shell, verify).
	Lang string `json:"lang,omitempty"`
	// Attrs holds every attribute as written, in order.
	Attrs []Attr `json:"attrs,omitempty"`
	// Command is the block's content, exactly as written.
	Command string `json:"command,omitempty"`
	// Checked is set on a manual step that is ticked `- [x]`.
	Checked bool `json:"checked,omitempty"`
	// Line is the 1-based line of the fence or task item.
	Line int `json:"line"`

	Cap          string        `json:"cap,omitempty"`
	Gate         string        `json:"gate,omitempty"`
	Destructive  bool          `json:"destructive,omitempty"`
	AllowFailure bool          `json:"allow_failure,omitempty"`
	Idempotent   bool          `json:"idempotent,omitempty"`
	Background   bool          `json:"background,omitempty"`
	Timeout      time.Duration `json:"timeout,omitempty"`
	Host         string        `json:"host,omitempty"`
	Artifact     string        `json:"artifact,omitempty"`
	After        string        `json:"after,omitempty"`
	Pack         string        `json:"pack,omitempty"`
}

// Capability returns the capability name used in run keys: the cap
// attribute, verify.pack.run for verify blocks, or step.<name>.
func (s *Step) Capability() string {
	switch {
	case s.Cap != "":
		return s.Cap
	case s.Kind == KindVerify:
		return "verify.pack.run"
	default:
		return "step." + s.Name
	}
}

// Attr is one attribute of a step's info string.
type Attr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Stage is a heading whose text starts with Stage N, Phase N, Step-N or
// Wave N, with the steps found under it (until the next heading of the same
// or a higher level).
type Stage struct {
	// Number is the N of the heading ("4", "0").
	Number string `json:"number"`
	// Title is the heading's full text ("Stage 4: Activation").
	Title string `json:"title"`
	Level int    `json:"level"`
	Line  int    `json:"line"`
	Steps []Step `json:"steps"`
}

// Document is one parsed loop document.
type Document struct {
	// Path is the document's path relative to the repository root, with
	// forward slashes.
	Path string `json:"path"`
	// LoopID is the loop's identity: frontmatter loop_id, else the title,
	// else the file name.
	LoopID string `json:"loop_id"`
	// IDFrom says where LoopID came from: "frontmatter", "metadata",
	// "title" or "filename".
	IDFrom string `json:"id_from"`
	// FileID is the loop id the file name implies (it can differ).
	FileID string `json:"file_id"`
	// Title is the text of the first level-1 heading.
	Title string `json:"title"`
	// Status is the normalised status (active, draft, planned, blocked,
	// deferred, closed, or the lower-cased raw value when unknown).
	Status string `json:"status"`
	// RawStatus is the status as written.
	RawStatus  string     `json:"raw_status"`
	Meta       Meta       `json:"meta"`
	MetaSource MetaSource `json:"meta_source"`
	// BodyLine is the 1-based line where the Markdown body starts.
	BodyLine int `json:"body_line"`
	// BodyOffset is the byte offset where the Markdown body starts.
	BodyOffset int     `json:"-"`
	Stages     []Stage `json:"stages"`
	// RunKeys are the distinct run keys the document mentions, sorted.
	RunKeys []string `json:"run_keys"`
	// Evidence are the runs the evidence block records (ParseEvidence).
	Evidence []EvidenceRun `json:"-"`
	// GapIDs are the distinct gap ids mentioned, sorted.
	GapIDs []string `json:"gaps"`
	// LoopRefs are the distinct other loop ids mentioned, sorted.
	LoopRefs []string  `json:"loop_refs"`
	Problems []Problem `json:"problems"`
	// Source is the file's content, unmodified; nil when the document was
	// loaded with LoadOptions.NoSource.
	Source []byte `json:"-"`
	// BlobID is the id git gives the file's content as a blob (the SHA-1
	// of a "blob" header and the content), so that a document loaded
	// without its bytes (LoadOptions.NoSource) can still be compared with
	// HEAD's version. Set by Load and LoadWith (kept in the cache with the
	// rest), zero for a document from Parse.
	BlobID [20]byte `json:"-"`
}

// GitBlobID returns the id git gives content as a blob.
func GitBlobID(content []byte) [20]byte {
	h := sha1.New()
	h.Write([]byte("blob " + strconv.Itoa(len(content)) + "\x00"))
	h.Write(content)
	var id [20]byte
	h.Sum(id[:0])
	return id
}

// Body returns the Markdown body (everything after the frontmatter), nil
// when Source is.
func (d *Document) Body() []byte {
	if d.Source == nil {
		return nil
	}
	return d.Source[d.BodyOffset:]
}

// HasErrors reports whether any finding is error-level.
func (d *Document) HasErrors() bool {
	for _, p := range d.Problems {
		if p.Level == LevelError {
			return true
		}
	}
	return false
}

// The findings of a document Parse could not read as a loop at all.
const (
	msgEmpty  = "empty document"
	msgBinary = "binary file (NUL byte); not a loop document"
	// The starts and ends of the findings of a file not read at all
	// (unreadDocument).
	msgCannotRead = "cannot read: "
	// The starts of the findings of steps not read (StepsUnread).
	msgLostStep = "this line is written as a step but is not one"
	msgTooDeep  = "block quotes and lists nested"
	// A step read but not planned as itself: outside any stage (no stage
	// to plan it in), or named as an earlier step (planned as that one).
	msgOutsideStage = " is outside any stage"
	msgDuplicate    = "duplicate step name "
	// msgUnlistedHidden ends the finding that counts the findings past
	// maxProblems when one of them is of a step not read.
	msgUnlistedHidden = "; among them, one of a step that is not read"
	msgTooLarge       = "-byte limit; not read"
)

// Unreadable reports whether the document could not be read as a loop at
// all (empty, binary, too large, or not readable): nothing in it says whether it is active, so a
// run names it as invalid rather than pass it over as inactive.
func (d *Document) Unreadable() bool {
	for _, p := range d.Problems {
		if p.Level == LevelError && (p.Message == msgEmpty || p.Message == msgBinary ||
			strings.HasPrefix(p.Message, msgCannotRead) || strings.HasSuffix(p.Message, msgTooLarge)) {
			return true
		}
	}
	return false
}

// StepsUnread reports whether a step of the document may not have been
// read, or not as itself: a line written as a step that Markdown does not
// read as one, a body too deeply nested to read, a step outside any stage
// or one named as an earlier step. Such a loop has work a run cannot see,
// whatever the state of the steps it did read.
func (d *Document) StepsUnread() bool {
	for _, p := range d.Problems {
		if p.Level == LevelError && hidesStep(p.Message) {
			return true
		}
	}
	return false
}

// hidesStep reports whether an error finding's message (or its format)
// says a step was not read, or not as itself (see StepsUnread).
func hidesStep(msg string) bool {
	return strings.HasPrefix(msg, msgLostStep) || strings.HasPrefix(msg, msgTooDeep) ||
		strings.HasPrefix(msg, msgDuplicate) || strings.HasPrefix(msg, "step ") && strings.Contains(msg, msgOutsideStage+" (") ||
		strings.HasSuffix(msg, msgUnlistedHidden)
}

// Step returns the command or verify step named name, and its stage.
func (d *Document) Step(name string) (*Stage, *Step) {
	for i := range d.Stages {
		st := &d.Stages[i]
		for j := range st.Steps {
			if st.Steps[j].Kind != KindManual && st.Steps[j].Name == name {
				return st, &st.Steps[j]
			}
		}
	}
	return nil, nil
}

// Slug is the folder name used for the loop's artifacts: the loop id,
// lower-cased, restricted to [a-z0-9._-].
func (d *Document) Slug() string { return Slug(d.LoopID) }

// Records reports whether the document's evidence block records the run
// key. The loop whose document records a run is the run's owner: another
// loop's bullet naming it (a copy, a hand edit) does not make it that
// loop's (see pipeline.Planner.movedRun and the site's adopted runs).
func (d *Document) Records(runKey string) bool {
	return slices.ContainsFunc(d.Evidence, func(e EvidenceRun) bool { return e.RunKey == runKey })
}
