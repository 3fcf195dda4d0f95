package yamlx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	yamlv2 "gopkg.in/yaml.v2"
)

// syntaxLine matches the prefix yaml.v3 gives a syntax error.
var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parserProblems are the messages of YAML's parser, as opposed to its
// scanner (yaml.v3's parserc.go). For these yaml.v3 names the line,
// counted from 0, where the enclosing collection starts (the first line
// of a 10,000-line ledger whose line 751 is mis-indented), or, when that
// is the first line, the line of the problem, counted from 0 too. For
// the scanner's it names the problem's line (or the start of the
// scalar it was reading), counted from 1.
var parserProblems = []string{
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found undefined tag handle",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// ErrorLine returns the line, counted from 1 as YAML counts lines (a
// CR, LF or CRLF, NEL, LS or PS each ends one), that a syntax error
// yaml.v3 returned for data is about, and its message without yaml.v3's
// prefix ("yaml: line N: "). The line is 0 when the error names none.
//
// For a parser error it is the line of the problem itself: yaml.v3 does
// not say it, so data is parsed again by yaml.v2 (the same parser, which
// names the problem's line; only on this error path, and only up to the
// error, so aliases are not expanded). A flow collection left open ("[a,
// b" without its "]") is named by its bracket's line. Either way the line
// is one of data's (the end of the stream is its last line).
func ErrorLine(data []byte, err error) (int, string) {
	msg := err.Error()
	m := syntaxLine.FindStringSubmatch(msg)
	if m == nil {
		msg = strings.TrimPrefix(msg, "yaml: ")
		return unnumberedLine(data, msg), msg
	}
	n, convErr := strconv.Atoi(m[1])
	msg = msg[len(m[0]):]
	if convErr != nil {
		return 0, msg
	}
	if isParserProblem(msg) {
		n++ // the enclosing collection's line, counted from 1
		// For a flow collection left open that is the line of its
		// bracket, the best there is: the problem's line is wherever
		// the scanner stopped, lines later. For the others it is
		// the problem's own line.
		if !strings.HasPrefix(msg, "did not find expected ',' or") {
			if p := problemLine(data, msg); p > 0 {
				n = p
			}
		}
	}
	return min(max(n, 1), lineCount(data)), msg
}

func isParserProblem(msg string) bool {
	for _, p := range parserProblems {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// problemLine returns the line, counted from 1, of the parser problem msg
// as yaml.v2 reports it for data, or 0 when it reports another problem or
// none.
func problemLine(data []byte, msg string) (line int) {
	defer func() {
		if recover() != nil {
			line = 0
		}
	}()
	// Every document, up to the one that fails.
	dec := yamlv2.NewDecoder(bytes.NewReader(data))
	var err error
	for err == nil {
		var v struct{}
		err = dec.Decode(&v)
	}
	if errors.Is(err, io.EOF) {
		return 0
	}
	m := syntaxLine.FindStringSubmatch(err.Error())
	if m == nil || err.Error()[len(m[0]):] != msg {
		return 0
	}
	n, convErr := strconv.Atoi(m[1])
	if convErr != nil {
		return 0
	}
	return n + 1 // yaml.v2 counts a parser problem's line from 0
}

// unknownAnchor matches the message of an alias to no anchor.
var unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// unnumberedLine returns the line, counted from 1, of a problem YAML
// reports without one (msg, without "yaml: "): the first character its
// reader refuses (a control character, bytes that are not UTF-8), or
// the first alias to an unknown anchor; 0 for another problem, or when
// the line cannot be found.
func unnumberedLine(data []byte, msg string) int {
	switch {
	case msg == "control characters are not allowed",
		strings.Contains(msg, "UTF-8"),
		msg == "invalid Unicode character":
		if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
			return 0 // UTF-16, which the reader decodes as such
		}
		if off := firstRefused(data); off >= 0 {
			return lineCount(data[:off+1])
		}
	case unknownAnchor.MatchString(msg):
		if off := aliasOffset(data, unknownAnchor.FindStringSubmatch(msg)[1]); off >= 0 {
			return lineCount(data[:off+1])
		}
	}
	return 0
}

// firstRefused returns the offset of the first character of data YAML's
// reader refuses, as yaml.v2 and yaml.v3 check them: bytes that are not
// UTF-8, and characters outside YAML's printable set; -1 when there is
// none.
func firstRefused(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		printable := r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0x7E || r == 0x85 ||
			r >= 0xA0 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
		if !printable {
			return i
		}
		i += size
	}
	return -1
}

// aliasOffset returns the offset in data of the first alias "*name" that
// stands as a node (after a space, a line's start or a flow indicator,
// and followed by the end, a space or a flow indicator), outside
// comments and quotes as a line shows them; -1 when there is none.
func aliasOffset(data []byte, name string) int {
	alias := "*" + name
	start := 0
	for start <= len(data) {
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += start
		}
		line := data[start:end]
		var quote byte
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '\'' || c == '"':
				if i == 0 || bytes.IndexByte([]byte(" \t[{,:-"), line[i-1]) >= 0 {
					quote = c
				}
			case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
				i = len(line)
			case c == '*' && (i == 0 || bytes.IndexByte([]byte(" \t[{,"), line[i-1]) >= 0) &&
				bytes.HasPrefix(line[i:], []byte(alias)):
				j := i + len(alias)
				if j == len(line) || bytes.IndexByte([]byte(" \t\r,]}"), line[j]) >= 0 {
					return start + i
				}
			}
		}
		start = end + 1
	}
	return -1
}

// lineCount returns the number of lines of data as YAML counts them (at
// least 1).
func lineCount(data []byte) int {
	n := 1
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case c == '\n':
			n++
		case c == '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			n++
		case c == 0xC2 && i+1 < len(data) && data[i+1] == 0x85:
			n++
			i++
		case c == 0xE2 && i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xA8 || data[i+2] == 0xA9):
			n++
			i += 2
		}
	}
	// A final line break ends the last line; it starts none.
	if t := bytes.TrimRight(data, "\r\n"); len(t) < len(data) {
		n--
	}
	return max(n, 1)
}

// SyntaxError words a syntax error yaml.v3 returned for the file path
// holding data as "path:line: invalid YAML: message", the line being the
// problem's (ErrorLine); "path: invalid YAML: ..." when it names none.
func SyntaxError(path string, data []byte, err error) error {
	first, _, _ := strings.Cut(err.Error(), "\n")
	if line, msg := ErrorLine(data, errors.New(first)); line > 0 {
		return fmt.Errorf("%s:%d: invalid YAML: %s", path, line, msg)
	}
	return fmt.Errorf("%s: invalid YAML: %w", path, err)
}
