package render

//go:generate go run ./internal/chromacss/gencss -light github -dark github-dark -o chroma.css

import (
	_ "embed"
	"io"
	"strings"
	"sync"
)

// Chroma styles used for the light and the dark colour scheme: chroma.css
// is generated from them (go generate; TestCSSMatchesChroma checks it).
const (
	LightStyle = "github"
	DarkStyle  = "github-dark"
)

// chromaCSS is the style sheet of highlighted code, generated from chroma's
// styles.
//
//go:embed chroma.css
var chromaCSS string

// maxCachedBlock is the largest code block whose highlighted HTML is kept.
const maxCachedBlock = 16 << 10

// highlighter turns code into HTML with chroma's CSS classes, through small
// lexers of its own (lexers.go) for the languages of operator documents:
// shell, YAML, JSON, SQL, Python, Go, diff, INI/TOML and Dockerfile. Code
// in any other language is shown as escaped plain text. Results are cached
// by content.
type highlighter struct {
	mu    sync.Mutex
	cache map[string]string
	limit int
}

func newHighlighter(limit int) *highlighter {
	return &highlighter{cache: map[string]string{}, limit: limit}
}

// write writes code as a highlighted <pre> block.
func (h *highlighter) write(w io.StringWriter, lang string, code []byte) {
	lang = strings.ToLower(strings.TrimSpace(lang))
	cacheable := h.limit > 0 && len(code) <= maxCachedBlock
	var key string
	if cacheable {
		key = lang + "\x00" + string(code)
		h.mu.Lock()
		out, ok := h.cache[key]
		h.mu.Unlock()
		if ok {
			_, _ = w.WriteString(out)
			return
		}
	}
	var b strings.Builder
	b.Grow(len(code)*2 + 64)
	b.WriteString(`<pre class="chroma"><code`)
	if lang != "" && isLangName(lang) {
		b.WriteString(` class="language-` + lang + `"`)
	}
	b.WriteString(`>`)
	emit := func(cls, s string) {
		if s == "" {
			return
		}
		if cls == "" {
			b.WriteString(EscapeText(s))
			return
		}
		b.WriteString(`<span class="`)
		b.WriteString(cls)
		b.WriteString(`">`)
		b.WriteString(EscapeText(s))
		b.WriteString(`</span>`)
	}
	highlightTokens(lang, string(code), emit)
	b.WriteString("</code></pre>\n")
	out := b.String()
	if cacheable {
		h.mu.Lock()
		if len(h.cache) >= h.limit {
			clear(h.cache)
		}
		h.cache[key] = out
		h.mu.Unlock()
	}
	_, _ = w.WriteString(out)
}

func isLangName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '+') {
			return false
		}
	}
	return len(s) <= 32
}

// highlightTokens tokenises code in the fence language lang and emits each
// token with its CSS class (clsText for plain text); code in a language
// without a lexer is one plain token.
func highlightTokens(lang, code string, emit emitFunc) {
	if lex := lexerFor(lang); lex != nil {
		lex(code, emit)
		return
	}
	if code != "" {
		emit(clsText, code)
	}
}

// CSS returns the style sheet for highlighted code: the light style, and the
// dark style inside a prefers-color-scheme: dark media query.
func CSS() (string, error) { return chromaCSS, nil }

// shellKeyword reports whether word is a shell reserved word.
func shellKeyword(word string) bool {
	switch word {
	case "if", "then", "else", "elif", "fi", "for", "in", "do", "done", "while", "until",
		"case", "esac", "function", "select", "time":
		return true
	}
	return false
}

// shellBuiltin reports whether word is a shell builtin.
func shellBuiltin(word string) bool {
	switch word {
	case "echo", "cd", "export", "local", "set", "unset", "read", "printf", "test", "source",
		"eval", "exec", "exit", "return", "trap", "shift", "true", "false", "readonly", "declare",
		"alias", "wait", "pwd", "ulimit", "umask", "type", "command", "builtin", "let", "break", "continue":
		return true
	}
	return false
}

// shellTokens is a small shell lexer emitting chroma's classes: comments,
// quoted strings, variables and substitutions, keywords, builtins, numbers,
// operators and here-documents.
func shellTokens(code string, emit emitFunc) {
	i := 0
	n := len(code)
	wordStart := true // at the start of a word (for # comments and keywords)
	cmdPos := true    // at a command position (for keywords and builtins)
	var heredocs []string
	plainFrom := -1
	flush := func(to int) {
		if plainFrom >= 0 && to > plainFrom {
			emit(clsText, code[plainFrom:to])
		}
		plainFrom = -1
	}
	plain := func() {
		if plainFrom < 0 {
			plainFrom = i
		}
	}
	for i < n {
		c := code[i]
		switch {
		case c == '\n':
			plain()
			i++
			flush(i)
			wordStart, cmdPos = true, true
			for _, tag := range heredocs {
				i = shellHeredoc(code, i, tag, emit)
			}
			heredocs = heredocs[:0]
		case c == '#' && wordStart:
			flush(i)
			j := strings.IndexByte(code[i:], '\n')
			if j < 0 {
				j = n - i
			}
			emit(clsCommentSingle, code[i:i+j])
			i += j
		case c == '\'':
			flush(i)
			j := strings.IndexByte(code[i+1:], '\'')
			if j < 0 {
				j = n - i - 1
			} else {
				j++
			}
			emit(clsStringSingle, code[i:i+j+1])
			i += j + 1
			wordStart, cmdPos = false, false
		case c == '"':
			flush(i)
			i = shellDouble(code, i, emit)
			wordStart, cmdPos = false, false
		case c == '`':
			flush(i)
			j := strings.IndexByte(code[i+1:], '`')
			if j < 0 {
				j = n - i - 1
			} else {
				j++
			}
			emit(clsStringBacktick, code[i:i+j+1])
			i += j + 1
			wordStart, cmdPos = false, false
		case c == '$':
			flush(i)
			i = shellDollar(code, i, emit)
			wordStart, cmdPos = false, false
		case c == '\\' && i+1 < n:
			flush(i)
			emit(clsStringEscape, code[i:i+2])
			i += 2
			wordStart = false
		case c == '<' && strings.HasPrefix(code[i:], "<<") && !strings.HasPrefix(code[i:], "<<<"):
			flush(i)
			j := i + 2
			if j < n && code[j] == '-' {
				j++
			}
			for j < n && (code[j] == ' ' || code[j] == '\t') {
				j++
			}
			k := j
			for k < n && (isAlnum(code[k]) || code[k] == '_' || code[k] == '\'' || code[k] == '"') {
				k++
			}
			tag := strings.Trim(code[j:k], `'"`)
			emit(clsOperator, code[i:j])
			if tag != "" {
				emit(clsStringHeredoc, code[j:k])
				heredocs = append(heredocs, tag)
			} else {
				k = j // no tag: what follows is lexed as usual
			}
			i = k
			wordStart, cmdPos = false, false
		case strings.IndexByte("|&;()<>", c) >= 0:
			flush(i)
			j := i + 1
			for j < n && strings.IndexByte("|&;<>", code[j]) >= 0 && j-i < 3 {
				j++
			}
			emit(clsOperator, code[i:j])
			i = j
			wordStart, cmdPos = true, true
		case c == ' ' || c == '\t':
			plain()
			i++
			wordStart = true
		case isAlnum(c) || c == '_' || c == '-' || c == '.' || c == '/':
			j := i
			for j < n && (isAlnum(code[j]) || code[j] == '_' || code[j] == '-' || code[j] == '.' || code[j] == '/') {
				j++
			}
			word := code[i:j]
			switch {
			case wordStart && (cmdPos || word == "in" || word == "do" || word == "then") && shellKeyword(word) && (j >= n || !isWordByte(code[j])):
				flush(i)
				emit(clsKeyword, word)
				cmdPos = word != "in"
			case wordStart && cmdPos && shellBuiltin(word) && (j >= n || !isWordByte(code[j])):
				flush(i)
				emit(clsNameBuiltin, word)
				cmdPos = false
			case wordStart && isNumber(word) && (j >= n || !isWordByte(code[j])):
				flush(i)
				emit(clsNumber, word)
				cmdPos = false
			default:
				plain()
				if j < n && code[j] == '=' && cmdPos {
					// VAR=value assignments keep the command position.
					flush(i)
					emit(clsNameVariable, word)
					i = j
					wordStart = false
					continue
				}
				cmdPos = false
			}
			i = j
			wordStart = false
		default:
			plain()
			i++
			wordStart = false
		}
	}
	flush(n)
}

func isWordByte(c byte) bool {
	return isAlnum(c) || c == '_' || c == '-' || c == '.' || c == '/' || c == '=' || c == '$' || c == '"' || c == '\''
}

func isNumber(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// shellDouble emits a double-quoted string starting at i, with variables
// inside it, and returns the index after it.
func shellDouble(code string, i int, emit emitFunc) int {
	n := len(code)
	from := i
	j := i + 1
	for j < n {
		switch code[j] {
		case '\\':
			j += 2
			continue
		case '"':
			emit(clsStringDouble, code[from:j+1])
			return j + 1
		case '$':
			if j+1 < n && (code[j+1] == '{' || code[j+1] == '(' || isAlnum(code[j+1]) || code[j+1] == '_') {
				if from < j {
					emit(clsStringDouble, code[from:j])
				}
				j = shellDollar(code, j, emit)
				from = j
				continue
			}
		}
		j++
	}
	if j > n {
		j = n
	}
	if from < j {
		emit(clsStringDouble, code[from:j])
	}
	return j
}

// shellDollar emits $NAME, ${…}, $(…) or $((…)) starting at i.
func shellDollar(code string, i int, emit emitFunc) int {
	n := len(code)
	if i+1 >= n {
		emit(clsText, "$")
		return i + 1
	}
	switch c := code[i+1]; {
	case c == '{' || c == '(':
		closeCh := byte('}')
		if c == '(' {
			closeCh = ')'
		}
		depth := 0
		j := i + 1
		for j < n && code[j] != '\n' {
			if code[j] == c {
				depth++
			} else if code[j] == closeCh {
				depth--
				if depth == 0 {
					break
				}
			}
			j++
		}
		if j < n && code[j] == closeCh {
			j++
		}
		tt := clsNameVariable
		if c == '(' {
			tt = clsStringInterpol
		}
		emit(tt, code[i:j])
		return j
	case isAlnum(c) || c == '_':
		j := i + 1
		for j < n && (isAlnum(code[j]) || code[j] == '_') {
			j++
		}
		emit(clsNameVariable, code[i:j])
		return j
	case strings.IndexByte("?!#@*$-", c) >= 0:
		emit(clsNameVariable, code[i:i+2])
		return i + 2
	}
	emit(clsText, "$")
	return i + 1
}

// shellHeredoc emits the body of a here-document starting at i, up to and
// including the line holding only tag, and returns the index after it.
func shellHeredoc(code string, i int, tag string, emit emitFunc) int {
	start := i
	for i < len(code) {
		j := strings.IndexByte(code[i:], '\n')
		end := len(code)
		if j >= 0 {
			end = i + j + 1
		}
		if strings.TrimSpace(code[i:end]) == tag {
			emit(clsStringHeredoc, code[start:end])
			return end
		}
		i = end
	}
	if start < len(code) {
		emit(clsStringHeredoc, code[start:])
	}
	return len(code)
}

// Highlight returns code as a highlighted <pre> block, with the classes of
// the CSS that CSS returns.
func (r *Renderer) Highlight(lang, code string) string {
	var b strings.Builder
	r.hl.write(&b, lang, []byte(code))
	return b.String()
}
