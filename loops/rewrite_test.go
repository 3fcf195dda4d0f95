package loops

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// heartbeat is the fixed time the round-trip tests write.
var heartbeat = QuoteYAML(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).Format(time.RFC3339))

// evidenceBlock is the evidence the round-trip tests write.
const evidenceBlock = "### Stage 0: Baseline\n\n" +
	"- `CAP-20260304-050607__step.pool-list__Rabcdefghij` (pass, 00-pool-list.txt)\n" +
	"- `CAP-20260304-050611__verify.pack.run__Rklmnopqrst` (fail, allow_failure: D188 stale)\n"

// rawValue returns the text after `key:` on the key's line of src's
// frontmatter, without a comment, as written.
func rawValue(src []byte, key string) (string, bool) {
	b, err := locateFrontmatter(src)
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(src[b.start:b.close]), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if isKeyLine([]byte(line), key) {
			v := line[len(key)+1:]
			if c := commentStart(v); c >= 0 {
				v = v[:c]
			}
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// roundTrip applies the writer to one document and checks the properties
// every document must have; it returns the golden text.
func roundTrip(t *testing.T, name string, src []byte) []byte {
	t.Helper()
	before := Parse(name, src)

	// Rewriting a key with the value it has changes nothing (or is
	// refused): never different bytes.
	for _, f := range before.Meta {
		raw, ok := rawValue(src, f.Key)
		if !ok {
			continue
		}
		out, err := SetFrontmatter(src, f.Key, raw)
		if err == nil && !bytes.Equal(out, src) {
			t.Errorf("SetFrontmatter(%s, same value %q) changed the document:\n%s", f.Key, raw, lineDiff(src, out))
		}
	}

	var golden bytes.Buffer
	out, err := SetFrontmatter(src, "last_heartbeat_utc", heartbeat)
	switch {
	case err == nil:
		fmt.Fprintf(&golden, "# SetFrontmatter last_heartbeat_utc: ok (metadata read from %s)\n", before.MetaSource)
	case errors.Is(err, ErrNoFrontmatter):
		if before.MetaSource == SourceFrontmatter || before.MetaSource == SourceFrontmatterLines {
			t.Errorf("SetFrontmatter: %v on a document with frontmatter", err)
		}
		fmt.Fprintf(&golden, "# SetFrontmatter last_heartbeat_utc: refused: %v\n", err)
		out = src
	default:
		fmt.Fprintf(&golden, "# SetFrontmatter last_heartbeat_utc: refused: %v\n", err)
		out = src
	}
	withEvidence, err := SetEvidence(out, evidenceBlock)
	if err != nil {
		t.Fatalf("SetEvidence: %v", err)
	}
	again, err := SetEvidence(withEvidence, evidenceBlock)
	if err != nil || !bytes.Equal(again, withEvidence) {
		t.Errorf("regenerating the evidence block changed the document (%v):\n%s", err, lineDiff(withEvidence, again))
	}
	if out2, err := SetFrontmatter(withEvidence, "last_heartbeat_utc", heartbeat); err == nil && !bytes.Equal(out2, withEvidence) {
		t.Errorf("setting the heartbeat twice changed the document:\n%s", lineDiff(withEvidence, out2))
	}

	// Only the heartbeat line and the evidence block changed.
	diff := lineDiff(src, withEvidence)
	unterminated := "" // the last line, when it had no line ending
	for _, l := range strings.Split(diff, "\n") {
		if l == "" || l[0] != '-' && l[0] != '+' {
			continue
		}
		text := l[1:]
		switch {
		case unterminated != "" && l[0] == '+' && strings.TrimSuffix(text, `\r`) == unterminated:
		case strings.HasPrefix(text, "last_heartbeat_utc:"):
		case l[0] == '+' && (strings.Contains(evidenceBlock, strings.TrimSuffix(text, `\r`)) || text == `\r` ||
			strings.HasPrefix(text, "## Execution Evidence") || strings.HasPrefix(text, "<!-- spine:evidence:")):
		case l[0] == '-' && strings.HasSuffix(text, ` \ no newline`):
			// The last line gains its line ending before the block.
			unterminated = strings.TrimSuffix(text, ` \ no newline`)
		default:
			t.Errorf("line outside the writer's own changed: %q", l)
		}
	}
	// The document keeps its line endings.
	if bytes.Contains(src, []byte("\r\n")) && bytes.Count(withEvidence, []byte("\n")) != bytes.Count(withEvidence, []byte("\r\n")) {
		t.Errorf("a CRLF document gained LF-only lines")
	}
	if !bytes.Contains(src, []byte("\r")) && bytes.Contains(withEvidence, []byte("\r")) {
		t.Errorf("an LF document gained CR characters")
	}

	// It still reads the same, plus the new heartbeat and run keys.
	after := Parse(name, withEvidence)
	if after.LoopID != before.LoopID || after.Status != before.Status || after.MetaSource != before.MetaSource || after.Title != before.Title {
		t.Errorf("after the writer: id %q status %q source %q title %q; before: %q %q %q %q",
			after.LoopID, after.Status, after.MetaSource, after.Title, before.LoopID, before.Status, before.MetaSource, before.Title)
	}
	for _, f := range before.Meta {
		if f.Key == "last_heartbeat_utc" && !bytes.Equal(out, src) {
			continue
		}
		if v, _ := after.Meta.Get(f.Key); !cmp.Equal(v, f.Value) {
			t.Errorf("metadata %s reads %v after the writer, %v before", f.Key, v, f.Value)
		}
	}
	if !bytes.Equal(out, src) {
		if got := after.Meta.String("last_heartbeat_utc"); got != "2026-03-04T05:06:07Z" {
			t.Errorf("last_heartbeat_utc reads %q after the writer", got)
		}
	}
	wantKeys := append(append([]string{}, before.RunKeys...), FindRunKeys([]byte(evidenceBlock))...)
	if diff := cmp.Diff(sortedSet(wantKeys), after.RunKeys); diff != "" {
		t.Errorf("run keys after the writer (-want +got):\n%s", diff)
	}
	if len(after.Stages) != len(before.Stages) {
		t.Errorf("stages: %d after the writer, %d before (evidence headings must not become stages)", len(after.Stages), len(before.Stages))
	}
	golden.WriteString(diff)
	return golden.Bytes()
}

func sortedSet(in []string) []string { return sortedKeys(append([]string(nil), in...)) }

// TestRoundTripCorpus runs the writer over every real document; the
// results are golden files under testdata/golden/corpus (-update
// regenerates them).
func TestRoundTripCorpus(t *testing.T) {
	for _, nd := range corpusDocs(t) {
		t.Run(nd.name, func(t *testing.T) {
			golden(t, "corpus/"+strings.TrimSuffix(nd.name, ".md")+".diff", roundTrip(t, nd.name, nd.src))
		})
	}
}

// TestRoundTripFixtures does the same over the project's own fixtures,
// and over CRLF and BOM variants of them.
func TestRoundTripFixtures(t *testing.T) {
	for _, nd := range fixtureDocs(t) {
		t.Run(nd.name, func(t *testing.T) {
			base := strings.TrimSuffix(nd.name, ".md")
			golden(t, "fixtures/"+base+".diff", roundTrip(t, nd.name, nd.src))
			crlf := bytes.ReplaceAll(nd.src, []byte("\n"), []byte("\r\n"))
			golden(t, "fixtures/"+base+".crlf.diff", roundTrip(t, nd.name, crlf))
			roundTrip(t, nd.name, append([]byte("\xef\xbb\xbf"), nd.src...))
			roundTrip(t, nd.name, bytes.TrimSuffix(nd.src, []byte("\n"))) // no final newline
		})
	}
}

func TestSetFrontmatter(t *testing.T) {
	tests := []struct {
		name, src, key, value string
		want                  string // "" with err
		err                   string
	}{
		{name: "replace keeps spacing and comment",
			src: "---\nloop_id: L-1\nlast_heartbeat_utc:   \"2026-01-01T00:00:00Z\"   # refreshed\nstatus: open\n---\nbody\n",
			key: "last_heartbeat_utc", value: `"2026-03-04T05:06:07Z"`,
			want: "---\nloop_id: L-1\nlast_heartbeat_utc:   \"2026-03-04T05:06:07Z\"   # refreshed\nstatus: open\n---\nbody\n"},
		{name: "add as the last line",
			src: "---\nloop_id: L-1\n# a comment\nstatus: open\n---\n", key: "last_heartbeat_utc", value: `"x"`,
			want: "---\nloop_id: L-1\n# a comment\nstatus: open\nlast_heartbeat_utc: \"x\"\n---\n"},
		{name: "add to an empty block",
			src: "---\n---\n# T\n", key: "status", value: "open", want: "---\nstatus: open\n---\n# T\n"},
		{name: "empty value gets one",
			src: "---\nstatus:\nowner: x\n---\n", key: "status", value: "open", want: "---\nstatus: open\nowner: x\n---\n"},
		{name: "empty value with a comment",
			src: "---\nstatus: # none yet\n---\n", key: "status", value: "open", want: "---\nstatus: open # none yet\n---\n"},
		{name: "quoted value with a hash",
			src: "---\nnote: \"a # b\" # c\n---\n", key: "note", value: `"d"`, want: "---\nnote: \"d\" # c\n---\n"},
		{name: "apostrophe in a plain value is not a quote",
			src: "---\nnote: it's here # c\n---\n", key: "note", value: "gone", want: "---\nnote: gone # c\n---\n"},
		{name: "CRLF kept",
			src: "---\r\nloop_id: L-1\r\nstatus: open\r\n---\r\nbody\r\n", key: "last_heartbeat_utc", value: `"x"`,
			want: "---\r\nloop_id: L-1\r\nstatus: open\r\nlast_heartbeat_utc: \"x\"\r\n---\r\nbody\r\n"},
		{name: "CRLF replace",
			src: "---\r\nstatus: open\r\n---\r\n", key: "status", value: "closed", want: "---\r\nstatus: closed\r\n---\r\n"},
		{name: "BOM kept",
			src: "\xef\xbb\xbf---\nstatus: open\n---\n", key: "status", value: "closed", want: "\xef\xbb\xbf---\nstatus: closed\n---\n"},
		{name: "closing line with spaces around",
			src: "---\nstatus: open\n  ---  \nbody\n", key: "owner", value: "x", want: "---\nstatus: open\nowner: x\n  ---  \nbody\n"},
		{name: "same value: same bytes",
			src: "---\nstatus:    open   # c\n---\n", key: "status", value: "open", want: "---\nstatus:    open   # c\n---\n"},
		{name: "similar key untouched",
			src: "---\nstatus_note: x\nstatus: open\n---\n", key: "status", value: "closed", want: "---\nstatus_note: x\nstatus: closed\n---\n"},
		{name: "nested key of the same name untouched",
			src: "---\nlanes:\n  A:\n    status: pending\nstatus: open\n---\n", key: "status", value: "closed",
			want: "---\nlanes:\n  A:\n    status: pending\nstatus: closed\n---\n"},
		{name: "rejected YAML: edits only its own line",
			src: "---\nloop_id: L-1\nstatus: open\nobjective: a: b\n---\n", key: "status", value: "closed",
			want: "---\nloop_id: L-1\nstatus: closed\nobjective: a: b\n---\n"},
		{name: "rejected YAML: adds only its own line",
			src: "---\nloop_id: L-1\nobjective: a: b\n---\n", key: "last_heartbeat_utc", value: `"x"`,
			want: "---\nloop_id: L-1\nobjective: a: b\nlast_heartbeat_utc: \"x\"\n---\n"},
		{name: "rejected YAML repaired by the edit",
			src: "---\nloop_id: L-1\nobjective: a: b\n---\n", key: "objective", value: `"a: b"`,
			want: "---\nloop_id: L-1\nobjective: \"a: b\"\n---\n"},

		{name: "no frontmatter", src: "# T\n\n---\nstatus: open\n---\n", key: "status", value: "x", err: ErrNoFrontmatter.Error()},
		{name: "never closes", src: "---\nstatus: open\n", key: "status", value: "x", err: "frontmatter block never closes; refusing to edit it"},
		{name: "multi-line list", src: "---\napprovals:\n  - A\nstatus: x\n---\n", key: "approvals", value: "[B]",
			err: "frontmatter approvals: current value spans several lines; refusing to rewrite it"},
		{name: "multi-line after a blank line", src: "---\napprovals:\n\n- A\n---\n", key: "approvals", value: "[B]",
			err: "frontmatter approvals: current value spans several lines; refusing to rewrite it"},
		{name: "continued plain scalar", src: "---\nobjective: one\n  two\n---\n", key: "objective", value: "x",
			err: "frontmatter objective: current value spans several lines; refusing to rewrite it"},
		{name: "block scalar", src: "---\nnote: |\n---\n", key: "note", value: "x",
			err: "frontmatter note: current value is a block scalar; refusing to rewrite it"},
		{name: "anchor", src: "---\na: &x 1\nb: *x\n---\n", key: "a", value: "2",
			err: "frontmatter a: current value carries an anchor other keys may refer to; refusing to rewrite it"},
		{name: "key twice", src: "---\nstatus: a\nstatus: b\n---\n", key: "status", value: "x",
			err: "frontmatter status: key appears twice; refusing to guess which to set"},
		{name: "binary document", src: "---\n---\n\x00", key: "a", value: "x", err: "document is a binary file (NUL byte); refusing to edit it"},
		{name: "bad key", src: "---\n---\n", key: "a b", value: "x", err: `frontmatter key "a b": use letters, digits, '_', '.' and '-'`},
		{name: "value with a comment", src: "---\na: x\n---\n", key: "a", value: "y # d",
			err: `frontmatter a: value "y # d" holds a YAML comment (quote it with QuoteYAML)`},
		{name: "value with a control character", src: "---\na: x\n---\n", key: "a", value: "y\x00",
			err: "frontmatter a: value holds control characters (quote it with QuoteYAML)"},
		{name: "value with trailing space", src: "---\na: x\n---\n", key: "a", value: "y ",
			err: "frontmatter a: value must not start or end with white space"},
		{name: "newline in value", src: "---\n---\n", key: "a", value: "x\ny", err: "frontmatter a: value must be a single line"},
		{name: "value that is not a scalar", src: "---\na: 1\n---\n", key: "b", value: "x: y",
			err: "frontmatter b: refusing the edit: the block would no longer parse as YAML (yaml: line 2: mapping values are not allowed in this context)"},
		{name: "flow mapping root", src: "---\n{a: 1}\n---\n", key: "b", value: "2",
			err: "frontmatter b: refusing the edit: the value would read back as <nil>, not 2"},
		{name: "unquoted string that reads as another type", src: "---\na: x\n---\n", key: "a", value: "[1, 2",
			err: "frontmatter a: refusing the edit: the block would no longer parse as YAML (yaml: line 1: did not find expected ',' or ']')"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetFrontmatter([]byte(tt.src), tt.key, tt.value)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.err {
				t.Fatalf("error = %q, want %q", gotErr, tt.err)
			}
			if err == nil && string(got) != tt.want {
				t.Errorf("got:\n%q\nwant:\n%q", got, tt.want)
			}
			if err != nil && got != nil {
				t.Errorf("bytes returned with an error")
			}
		})
	}
}

func TestQuoteYAML(t *testing.T) {
	for s, want := range map[string]string{
		"2026-03-04T05:06:07Z": "2026-03-04T05:06:07Z", "a: b": "a: b", `quote " and \ backslash`: `quote " and \ backslash`,
		"tab\there": "tab\there", "é — ✓": "é — ✓", "#": "#", "": "", "bell\a\x7f\u0085\ufeff": "bell\a\x7f\u0085\ufeff",
		"Caf\xe9": "Caf\ufffd",
	} {
		src := []byte("---\nk: " + QuoteYAML(s) + "\n---\n")
		d := Parse("x.md", src)
		if got := d.Meta.String("k"); got != want || d.MetaSource != SourceFrontmatter {
			t.Errorf("QuoteYAML(%q) reads back as %q (%s)", s, got, d.MetaSource)
		}
	}
}

func TestSetEvidence(t *testing.T) {
	block := "- `CAP-20260304-050607__x__Rabc` (pass)\n"
	tests := []struct {
		name, src, block, want, err string
	}{
		{name: "appended when absent", src: "# T\n\nText.\n", block: block,
			want: "# T\n\nText.\n\n## Execution Evidence\n\n" + EvidenceBegin + "\n" + block + EvidenceEnd + "\n"},
		{name: "final newline added first", src: "# T", block: block,
			want: "# T\n\n## Execution Evidence\n\n" + EvidenceBegin + "\n" + block + EvidenceEnd + "\n"},
		{name: "empty document", src: "", block: "x",
			want: "\n## Execution Evidence\n\n" + EvidenceBegin + "\nx\n" + EvidenceEnd + "\n"},
		{name: "replaced in place", src: "# T\n\n" + EvidenceBegin + "\nold\nlines\n" + EvidenceEnd + "\n\n## After\n", block: block,
			want: "# T\n\n" + EvidenceBegin + "\n" + block + EvidenceEnd + "\n\n## After\n"},
		{name: "empty block", src: EvidenceBegin + "\nold\n" + EvidenceEnd + "\n", block: "",
			want: EvidenceBegin + "\n" + EvidenceEnd + "\n"},
		{name: "text around markers kept", src: "> " + EvidenceBegin + " keep\nold\n  " + EvidenceEnd + " keep\n", block: "new\n",
			want: "> " + EvidenceBegin + " keep\nnew\n  " + EvidenceEnd + " keep\n"},
		{name: "CRLF document", src: "# T\r\n\r\n" + EvidenceBegin + "\r\nold\r\n" + EvidenceEnd + "\r\n", block: "a\nb\r\n",
			want: "# T\r\n\r\n" + EvidenceBegin + "\r\na\r\nb\r\n" + EvidenceEnd + "\r\n"},
		{name: "CRLF appended", src: "# T\r\n", block: "a\n",
			want: "# T\r\n\r\n## Execution Evidence\r\n\r\n" + EvidenceBegin + "\r\na\r\n" + EvidenceEnd + "\r\n"},
		{name: "a lone CR completed as CRLF", src: "# T\r", block: "a\n",
			want: "# T\r\n\r\n## Execution Evidence\r\n\r\n" + EvidenceBegin + "\r\na\r\n" + EvidenceEnd + "\r\n"},
		{name: "LF document, CRLF block", src: "# T\n", block: "a\r\n",
			want: "# T\n\n## Execution Evidence\n\n" + EvidenceBegin + "\na\n" + EvidenceEnd + "\n"},

		// A document showing the block as an example, in a fenced code
		// block, keeps it: the markers there are its own text.
		{name: "example in a fence, no block", src: "# T\n\n```markdown\n" + EvidenceBegin + "\n- example\n" + EvidenceEnd + "\n```\n", block: block,
			want: "# T\n\n```markdown\n" + EvidenceBegin + "\n- example\n" + EvidenceEnd + "\n```\n\n## Execution Evidence\n\n" + EvidenceBegin + "\n" + block + EvidenceEnd + "\n"},
		{name: "example in a tilde fence, then the block", src: "~~~~\n" + EvidenceBegin + "\n~~~\n" + EvidenceEnd + "\n~~~~\n\n" + EvidenceBegin + "\nold\n" + EvidenceEnd + "\n", block: block,
			want: "~~~~\n" + EvidenceBegin + "\n~~~\n" + EvidenceEnd + "\n~~~~\n\n" + EvidenceBegin + "\n" + block + EvidenceEnd + "\n"},
		{name: "example in an indented fence of a list", src: "- item\n\n  ```\n  " + EvidenceBegin + "\n  " + EvidenceEnd + "\n  ```\n", block: "x\n",
			want: "- item\n\n  ```\n  " + EvidenceBegin + "\n  " + EvidenceEnd + "\n  ```\n\n## Execution Evidence\n\n" + EvidenceBegin + "\nx\n" + EvidenceEnd + "\n"},
		{name: "a block that leaves a fence open is closed", src: "# T\n\n" + EvidenceBegin + "\nold\n" + EvidenceEnd + "\n", block: "- `K` (pass): note\n```\n",
			want: "# T\n\n" + EvidenceBegin + "\n- `K` (pass): note\n```\n```\n" + EvidenceEnd + "\n"},
		{name: "a block that leaves a fence open, appended to a CRLF document", src: "# T\r\n", block: "~~~~",
			want: "# T\r\n\r\n## Execution Evidence\r\n\r\n" + EvidenceBegin + "\r\n~~~~\r\n~~~~\r\n" + EvidenceEnd + "\r\n"},
		{name: "document ends inside a fence", src: "# T\n\n```sh\nls\n", block: "x\n",
			want: "# T\n\n```sh\nls\n```\n\n## Execution Evidence\n\n" + EvidenceBegin + "\nx\n" + EvidenceEnd + "\n"},
		{name: "example in a fence with an indented inner fence", src: "```markdown\nWrite this:\n    ```\n    " + EvidenceBegin + "\n    example text\n    " + EvidenceEnd + "\n    ```\n```\n", block: "x\n",
			want: "```markdown\nWrite this:\n    ```\n    " + EvidenceBegin + "\n    example text\n    " + EvidenceEnd + "\n    ```\n```\n\n## Execution Evidence\n\n" + EvidenceBegin + "\nx\n" + EvidenceEnd + "\n"},
		{name: "example in a fence in a block quote", src: "> ```\n> " + EvidenceBegin + "\n> example\n> " + EvidenceEnd + "\n> ```\n", block: "x\n",
			want: "> ```\n> " + EvidenceBegin + "\n> example\n> " + EvidenceEnd + "\n> ```\n\n## Execution Evidence\n\n" + EvidenceBegin + "\nx\n" + EvidenceEnd + "\n"},
		{name: "a quoted fence left open ends with its quote", src: "> ```\n> code\n\n" + EvidenceBegin + "\nold\n" + EvidenceEnd + "\n", block: "x\n",
			want: "> ```\n> code\n\n" + EvidenceBegin + "\nx\n" + EvidenceEnd + "\n"},
		{name: "a document ending in an open quoted fence", src: "> ```\n> code\n", block: "x\n",
			want: "> ```\n> code\n\n## Execution Evidence\n\n" + EvidenceBegin + "\nx\n" + EvidenceEnd + "\n"},
		{name: "markers named in code spans", src: "It starts with `" + EvidenceBegin + "` and ends with `" + EvidenceEnd + "`.\n", block: "x\n",
			want: "It starts with `" + EvidenceBegin + "` and ends with `" + EvidenceEnd + "`.\n\n## Execution Evidence\n\n" + EvidenceBegin + "\nx\n" + EvidenceEnd + "\n"},
		{name: "begin in a fence, end outside", src: "```\n" + EvidenceBegin + "\nin a fence\n```\nafter fence\n" + EvidenceEnd + "\n", block: "x",
			err: "evidence block is missing its begin marker"},

		{name: "markers twice", src: EvidenceBegin + "\n" + EvidenceEnd + "\n" + EvidenceBegin + "\n" + EvidenceEnd + "\n", block: "x",
			err: "evidence markers appear more than once; refusing to guess which block is spine's"},
		{name: "begin only", src: EvidenceBegin + "\n", block: "x", err: "evidence block is missing its end marker"},
		{name: "end only", src: EvidenceEnd + "\n", block: "x", err: "evidence block is missing its begin marker"},
		{name: "end before begin", src: EvidenceEnd + "\n" + EvidenceBegin + "\n", block: "x", err: "evidence end marker comes before the begin marker"},
		{name: "markers on one line", src: EvidenceBegin + " " + EvidenceEnd + "\n", block: "x",
			err: "evidence end marker must be on its own line after the begin marker"},
		{name: "binary document", src: "\x00\x01", block: "x", err: "document is a binary file (NUL byte); refusing to edit it"},
		{name: "NUL in the block", src: "# T\n", block: "a\x00", err: "evidence block holds a NUL byte"},
		{name: "marker in the block", src: "# T\n", block: "x " + EvidenceEnd + "\n", err: "evidence block must not contain the evidence markers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetEvidence([]byte(tt.src), tt.block)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.err {
				t.Fatalf("error = %q, want %q", gotErr, tt.err)
			}
			if err != nil {
				return
			}
			if string(got) != tt.want {
				t.Errorf("got:\n%q\nwant:\n%q", got, tt.want)
			}
			again, err := SetEvidence(got, tt.block)
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("second SetEvidence changed the bytes (%v):\n%q", err, again)
			}
		})
	}
}

// TestEvidenceHeadingsAreNotStages: spine's own block repeats stage titles.
func TestEvidenceHeadingsAreNotStages(t *testing.T) {
	src := "# LOOP-E-1\n\n## Stage 1: Real\n\n```sh {name=a}\nx\n```\n"
	out, err := SetEvidence([]byte(src), "### Stage 1: Real\n\n- `CAP-20260304-050607__step.a__Rabc` (pass)\n\n### Stage 2: Also a record\n")
	if err != nil {
		t.Fatal(err)
	}
	d := Parse("x.md", out)
	if len(d.Stages) != 1 || len(d.Stages[0].Steps) != 1 || len(d.RunKeys) != 1 {
		t.Errorf("stages %+v, run keys %v", d.Stages, d.RunKeys)
	}
}

func TestCommentStart(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want int
	}{
		{" value", -1},
		{" value # note", 7},
		{" #", 1},
		{"#no", -1},
		{" it's # note", 6},
		{` 0 " # note`, 5}, // a quote inside a plain scalar opens nothing
		{` 0 " #`, 5},
		{` "a # b" # note`, 9},
		{` 'a # b' # note`, 9},
		{` "a \" # b" # note`, 12},
		{` [a, "b # c"] # note`, 14},
		{` {k: "v # w"} # note`, 14},
		{` x, "y # z"`, 7}, // a comma outside a flow collection is text
		{` ["unclosed # x`, -1},
	} {
		if got := commentStart(tc.v); got != tc.want {
			t.Errorf("commentStart(%q) = %d, want %d", tc.v, got, tc.want)
		}
	}
}
