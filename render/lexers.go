package render

import "strings"

// emitFunc receives each token of highlighted code with its CSS class
// (clsText for plain text).
type emitFunc func(cls, text string)

// CSS classes of tokens: chroma's class names (chroma.StandardTypes), so
// that the style sheet generated from chroma's styles applies.
const (
	clsText               = ""
	clsWhitespace         = "w"
	clsKeyword            = "k"
	clsKeywordConstant    = "kc"
	clsKeywordDeclaration = "kd"
	clsKeywordNamespace   = "kn"
	clsKeywordType        = "kt"
	clsNameAttribute      = "na"
	clsNameBuiltin        = "nb"
	clsNameBuiltinPseudo  = "bp"
	clsNameClass          = "nc"
	clsNameDecorator      = "nd"
	clsNameFunction       = "nf"
	clsNameNamespace      = "nn"
	clsNameTag            = "nt"
	clsNameVariable       = "nv"
	clsLiteral            = "l"
	clsString             = "s"
	clsStringBacktick     = "sb"
	clsStringChar         = "sc"
	clsStringDouble       = "s2"
	clsStringEscape       = "se"
	clsStringHeredoc      = "sh"
	clsStringInterpol     = "si"
	clsStringSingle       = "s1"
	clsStringSymbol       = "ss"
	clsNumber             = "m"
	clsOperator           = "o"
	clsPunctuation        = "p"
	clsComment            = "c"
	clsCommentSingle      = "c1"
	clsCommentMultiline   = "cm"
	clsCommentPreproc     = "cp"
	clsGenericDeleted     = "gd"
	clsGenericHeading     = "gh"
	clsGenericInserted    = "gi"
	clsGenericSubheading  = "gu"
)

// lexerFor returns the lexer of a lower-case fence language, or nil for a
// language shown as plain text.
func lexerFor(lang string) func(code string, emit emitFunc) {
	switch lang {
	case "sh", "bash", "shell", "zsh", "ksh":
		return shellTokens
	case "yaml", "yml":
		return yamlTokens
	case "json":
		return jsonTokens
	case "sql", "mysql", "postgresql", "postgres", "pgsql", "sqlite", "sqlite3":
		return (&codeSyntax{lineComments: []string{"--"}, blockComment: true, quotes: `'"`, doubledQuotes: true,
			operators: "+-*/%=<>!|&^~", caseFold: true, word: sqlWord}).lex
	case "python", "py", "python3", "py3":
		return (&codeSyntax{lineComments: []string{"#"}, quotes: `"'`, tripleQuotes: true, decorators: true,
			operators: "+-*/%=<>!&|^~", word: pythonWord, next: pythonNext}).lex
	case "go", "golang":
		return (&codeSyntax{lineComments: []string{"//"}, blockComment: true, quotes: "\"'`", rawQuote: '`',
			operators: "+-*/%=<>!&|^~", word: goWord, next: goNext}).lex
	case "diff", "patch", "udiff":
		return diffTokens
	case "ini", "cfg", "dosini", "toml", "conf", "systemd":
		return iniTokens
	case "dockerfile", "docker", "containerfile":
		return dockerfileTokens
	}
	return nil
}

// tokens collects the tokens of code as byte ranges and emits them, runs of
// adjacent tokens of the same class merged into one.
type tokens struct {
	code     string
	emit     emitFunc
	cls      string
	from, to int
}

// add adds code[i:j] as a token of class cls.
func (t *tokens) add(cls string, i, j int) {
	if j <= i {
		return
	}
	if cls == t.cls && i == t.to && t.to > t.from {
		t.to = j
		return
	}
	t.flush()
	t.cls, t.from, t.to = cls, i, j
}

// flush emits the pending token.
func (t *tokens) flush() {
	if t.to > t.from {
		t.emit(t.cls, t.code[t.from:t.to])
	}
	t.from, t.to = 0, 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }

func isIdent(c byte) bool { return isIdentStart(c) || isDigit(c) }

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// lineEnd returns the index of the newline ending the line holding i, or
// len(s).
func lineEnd(s string, i int) int {
	if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(s)
}

// codeSyntax describes a programming language for the generic lexer.
type codeSyntax struct {
	// lineComments start comments that run to the end of the line.
	lineComments []string
	// blockComment is set for /* … */ comments.
	blockComment bool
	// quotes are the string delimiters; rawQuote is one without escapes
	// that may span lines.
	quotes   string
	rawQuote byte
	// tripleQuotes allows """ and ''' strings (Python); doubledQuotes
	// escapes a quote by doubling it instead of by a backslash (SQL).
	tripleQuotes, doubledQuotes bool
	// decorators highlights @name (Python).
	decorators bool
	// operators are the operator characters; other ASCII punctuation is
	// punctuation.
	operators string
	// caseFold looks words up in lower case.
	caseFold bool
	// word returns the class of a word, clsText for a plain name.
	word func(w string) string
	// next returns the class of a plain name following the word prev
	// (a function's name after def), clsText for none.
	next func(prev string) string
}

// lex tokenises code.
func (sx *codeSyntax) lex(code string, emit emitFunc) {
	t := &tokens{code: code, emit: emit}
	n := len(code)
	prev := "" // the word before the current token, spaces aside
	for i := 0; i < n; {
		c := code[i]
		j := i + 1
		cls := clsText
		switch {
		case isBlank(c):
			for j < n && isBlank(code[j]) {
				j++
			}
			t.add(clsText, i, j)
			i = j
			continue
		case sx.isLineComment(code, i):
			j = lineEnd(code, i)
			cls = clsCommentSingle
		case sx.blockComment && strings.HasPrefix(code[i:], "/*"):
			j = n
			if k := strings.Index(code[i+2:], "*/"); k >= 0 {
				j = i + 2 + k + 2
			}
			cls = clsCommentMultiline
		case strings.IndexByte(sx.quotes, c) >= 0:
			j, cls = sx.str(code, i)
		case isDigit(c) || c == '.' && i+1 < n && isDigit(code[i+1]):
			for j < n && (isIdent(code[j]) || code[j] == '.') {
				j++
			}
			cls = clsNumber
		case isIdentStart(c):
			for j < n && isIdent(code[j]) {
				j++
			}
			w := code[i:j]
			if sx.caseFold {
				w = strings.ToLower(w)
			}
			cls = sx.word(w)
			if cls == clsText && prev != "" && sx.next != nil {
				cls = sx.next(prev)
			}
			t.add(cls, i, j)
			prev = w
			i = j
			continue
		case c == '@' && sx.decorators && i+1 < n && isIdentStart(code[i+1]):
			for j < n && (isIdent(code[j]) || code[j] == '.') {
				j++
			}
			cls = clsNameDecorator
		case c < 0x80 && strings.IndexByte(sx.operators, c) >= 0:
			cls = clsOperator
		case c < 0x80 && strings.IndexByte("()[]{},;:.", c) >= 0:
			cls = clsPunctuation
		}
		t.add(cls, i, j)
		prev = ""
		i = j
	}
	t.flush()
}

func (sx *codeSyntax) isLineComment(code string, i int) bool {
	for _, p := range sx.lineComments {
		if strings.HasPrefix(code[i:], p) {
			return true
		}
	}
	return false
}

// str scans the string starting at i and returns its end and class.
func (sx *codeSyntax) str(code string, i int) (int, string) {
	q := code[i]
	cls := clsStringDouble
	switch {
	case q == '\'' && sx.rawQuote != 0:
		cls = clsStringChar // Go's rune literals
	case q == '\'':
		cls = clsStringSingle
	case q == '`':
		cls = clsString
	case q == '"' && sx.doubledQuotes:
		cls = clsStringSymbol // SQL's quoted names
	}
	n := len(code)
	if q == sx.rawQuote {
		if k := strings.IndexByte(code[i+1:], q); k >= 0 {
			return i + 1 + k + 1, cls
		}
		return n, cls
	}
	if sx.tripleQuotes && i+2 < n && code[i+1] == q && code[i+2] == q {
		if k := strings.Index(code[i+3:], code[i:i+3]); k >= 0 {
			return i + 3 + k + 3, cls
		}
		return n, cls
	}
	for j := i + 1; j < n; j++ {
		switch code[j] {
		case '\\':
			if !sx.doubledQuotes {
				j++
			}
		case '\n':
			return j, cls // unterminated: the string ends with its line
		case q:
			if sx.doubledQuotes && j+1 < n && code[j+1] == q {
				j++
				continue
			}
			return j + 1, cls
		}
	}
	return n, cls
}

// pythonWord classifies a Python word.
func pythonWord(w string) string {
	switch w {
	case "True", "False", "None":
		return clsKeywordConstant
	case "import", "from":
		return clsKeywordNamespace
	case "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else",
		"except", "finally", "for", "global", "if", "in", "is", "lambda", "nonlocal", "not", "or", "pass",
		"raise", "return", "try", "while", "with", "yield":
		return clsKeyword
	case "self", "cls":
		return clsNameBuiltinPseudo
	case "abs", "all", "any", "bool", "bytes", "dict", "enumerate", "filter", "float", "format", "getattr",
		"hasattr", "int", "isinstance", "iter", "len", "list", "map", "max", "min", "next", "open", "print",
		"range", "repr", "round", "set", "setattr", "sorted", "str", "sum", "super", "tuple", "type", "zip":
		return clsNameBuiltin
	}
	return clsText
}

// pythonNext names what follows def, class and import.
func pythonNext(prev string) string {
	switch prev {
	case "def":
		return clsNameFunction
	case "class":
		return clsNameClass
	case "import", "from":
		return clsNameNamespace
	}
	return clsText
}

// goWord classifies a Go word.
func goWord(w string) string {
	switch w {
	case "package", "import":
		return clsKeywordNamespace
	case "var", "const", "func", "type", "struct", "interface", "map", "chan":
		return clsKeywordDeclaration
	case "break", "case", "continue", "default", "defer", "else", "fallthrough", "for", "go", "goto", "if",
		"range", "return", "select", "switch":
		return clsKeyword
	case "true", "false", "nil", "iota":
		return clsKeywordConstant
	case "any", "bool", "byte", "complex64", "complex128", "error", "float32", "float64", "int", "int8",
		"int16", "int32", "int64", "rune", "string", "uint", "uint8", "uint16", "uint32", "uint64", "uintptr":
		return clsKeywordType
	case "append", "cap", "clear", "close", "complex", "copy", "delete", "imag", "len", "make", "max", "min",
		"new", "panic", "print", "println", "real", "recover":
		return clsNameBuiltin
	}
	return clsText
}

// goNext names what follows func and package.
func goNext(prev string) string {
	switch prev {
	case "func":
		return clsNameFunction
	case "package":
		return clsNameNamespace
	}
	return clsText
}

// sqlWord classifies a lower-case SQL word.
func sqlWord(w string) string {
	switch w {
	case "null", "true", "false":
		return clsKeywordConstant
	case "add", "all", "alter", "analyze", "and", "as", "asc", "begin", "between", "by", "cascade", "case",
		"check", "column", "commit", "constraint", "create", "cross", "database", "default", "delete", "desc",
		"distinct", "drop", "else", "end", "exists", "explain", "foreign", "from", "full", "function", "grant",
		"group", "having", "if", "in", "index", "inner", "insert", "into", "is", "join", "key", "left", "like",
		"limit", "not", "offset", "on", "or", "order", "outer", "primary", "procedure", "references", "replace",
		"returning", "revoke", "right", "rollback", "schema", "select", "set", "table", "then", "to",
		"transaction", "trigger", "truncate", "union", "unique", "update", "using", "vacuum", "values", "view",
		"when", "where", "with":
		return clsKeyword
	case "bigint", "boolean", "bytea", "char", "date", "decimal", "double", "float", "int", "integer", "interval",
		"json", "jsonb", "numeric", "real", "serial", "smallint", "text", "time", "timestamp", "timestamptz",
		"uuid", "varchar":
		return clsNameBuiltin
	}
	return clsText
}

// yamlTokens is a line-based YAML lexer: comments, document markers, keys,
// list items, anchors, aliases and tags, and scalars (constants, numbers,
// quoted strings and plain literals).
func yamlTokens(code string, emit emitFunc) {
	t := &tokens{code: code, emit: emit}
	n := len(code)
	for i := 0; i < n; {
		end := lineEnd(code, i)
		j := i
		for j < end && (code[j] == ' ' || code[j] == '\t') {
			j++
		}
		t.add(clsWhitespace, i, j)
		i = j
		if strings.HasPrefix(code[i:end], "---") || strings.HasPrefix(code[i:end], "...") {
			t.add(clsNameNamespace, i, i+3)
			i += 3
		}
		yamlLine(t, code, i, end)
		if end < n {
			t.add(clsWhitespace, end, end+1)
		}
		i = end + 1
	}
	t.flush()
}

// yamlLine tokenises code[i:end], a line's content after its indentation.
func yamlLine(t *tokens, code string, i, end int) {
	for i < end {
		c := code[i]
		switch {
		case c == ' ' || c == '\t':
			j := i + 1
			for j < end && (code[j] == ' ' || code[j] == '\t') {
				j++
			}
			t.add(clsWhitespace, i, j)
			i = j
		case c == '#':
			t.add(clsComment, i, end)
			return
		case c == '-' && (i+1 == end || code[i+1] == ' '):
			t.add(clsPunctuation, i, i+1)
			i++
		case c == '&' || c == '*' || c == '!':
			j := i + 1
			for j < end && !isBlank(code[j]) {
				j++
			}
			t.add(clsCommentPreproc, i, j)
			i = j
		case c == '"' || c == '\'':
			j := i + 1
			for j < end && code[j] != c {
				if code[j] == '\\' && c == '"' {
					j++
				}
				j++
			}
			j = min(j+1, end)
			cls := clsStringDouble
			if c == '\'' {
				cls = clsStringSingle
			}
			if k := yamlKeyEnd(code, j, end); k > j {
				cls = clsNameTag
			}
			t.add(cls, i, j)
			i = j
		case strings.IndexByte("{}[],?:", c) >= 0:
			t.add(clsPunctuation, i, i+1)
			i++
		case c == '|' || c == '>':
			t.add(clsPunctuation, i, i+1)
			i++
		default:
			// A key (up to ": " or a final ':') or a plain scalar (up to
			// a comment or the end of the line).
			j := i
			for j < end {
				if code[j] == ':' && (j+1 == end || code[j+1] == ' ' || code[j+1] == '\t') {
					break
				}
				if code[j] == '#' && j > i && (code[j-1] == ' ' || code[j-1] == '\t') {
					break
				}
				j++
			}
			if j < end && code[j] == ':' {
				t.add(clsNameTag, i, j)
				t.add(clsPunctuation, j, j+1)
				i = j + 1
				continue
			}
			k := j
			for k > i && (code[k-1] == ' ' || code[k-1] == '\t') {
				k--
			}
			t.add(yamlScalar(code[i:k]), i, k)
			t.add(clsWhitespace, k, j)
			i = j
		}
	}
}

// yamlKeyEnd returns the index after the ':' of a key ending at j, or j.
func yamlKeyEnd(code string, j, end int) int {
	if j < end && code[j] == ':' && (j+1 == end || code[j+1] == ' ' || code[j+1] == '\t') {
		return j + 1
	}
	return j
}

// yamlScalar classifies a plain YAML scalar.
func yamlScalar(s string) string {
	switch s {
	case "true", "True", "TRUE", "false", "False", "FALSE", "null", "Null", "NULL", "~", "yes", "Yes", "YES",
		"no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF":
		return clsKeywordConstant
	}
	if isNumeric(s) {
		return clsNumber
	}
	return clsLiteral
}

// isNumeric reports whether s is a decimal number: digits with at most one
// '.', an optional sign.
func isNumeric(s string) bool {
	s = strings.TrimLeft(s, "+-")
	dot := false
	for i := 0; i < len(s); i++ {
		switch {
		case isDigit(s[i]):
		case s[i] == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return s != "" && s != "."
}

// jsonTokens is a JSON lexer: keys, strings, numbers, constants and
// punctuation.
func jsonTokens(code string, emit emitFunc) {
	t := &tokens{code: code, emit: emit}
	n := len(code)
	for i := 0; i < n; {
		c := code[i]
		j := i + 1
		cls := clsText
		switch {
		case c == '"':
			for j < n && code[j] != '"' && code[j] != '\n' {
				if code[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, n)
			cls = clsStringDouble
			k := j
			for k < n && isBlank(code[k]) {
				k++
			}
			if k < n && code[k] == ':' {
				cls = clsNameTag
			}
		case c == '-' || isDigit(c):
			for j < n && (isDigit(code[j]) || strings.IndexByte(".eE+-", code[j]) >= 0) {
				j++
			}
			cls = clsNumber
		case isIdentStart(c):
			for j < n && isIdent(code[j]) {
				j++
			}
			switch code[i:j] {
			case "true", "false", "null":
				cls = clsKeywordConstant
			}
		case strings.IndexByte("{}[],:", c) >= 0:
			cls = clsPunctuation
		}
		t.add(cls, i, j)
		i = j
	}
	t.flush()
}

// diffTokens highlights a unified diff line by line.
func diffTokens(code string, emit emitFunc) {
	t := &tokens{code: code, emit: emit}
	n := len(code)
	for i := 0; i < n; {
		end := min(lineEnd(code, i)+1, n)
		line := code[i:end]
		cls := clsText
		switch {
		case strings.HasPrefix(line, "+++") || strings.HasPrefix(line, "---") ||
			strings.HasPrefix(line, "diff ") || strings.HasPrefix(line, "index ") || strings.HasPrefix(line, "Index: "):
			cls = clsGenericHeading
		case strings.HasPrefix(line, "+"):
			cls = clsGenericInserted
		case strings.HasPrefix(line, "-"):
			cls = clsGenericDeleted
		case strings.HasPrefix(line, "@"):
			cls = clsGenericSubheading
		}
		t.add(cls, i, end)
		i = end
	}
	t.flush()
}

// iniTokens highlights INI, TOML and systemd unit files: comments,
// [sections], keys, '=' and values.
func iniTokens(code string, emit emitFunc) {
	t := &tokens{code: code, emit: emit}
	n := len(code)
	for i := 0; i < n; {
		end := lineEnd(code, i)
		j := i
		for j < end && (code[j] == ' ' || code[j] == '\t') {
			j++
		}
		t.add(clsText, i, j)
		switch {
		case j == end:
		case code[j] == '#' || code[j] == ';':
			t.add(clsCommentSingle, j, end)
		case code[j] == '[':
			t.add(clsKeyword, j, end)
		default:
			eq := strings.IndexAny(code[j:end], "=:")
			if eq < 0 {
				t.add(clsText, j, end)
				break
			}
			eq += j
			k := eq
			for k > j && (code[k-1] == ' ' || code[k-1] == '\t') {
				k--
			}
			t.add(clsNameAttribute, j, k)
			t.add(clsText, k, eq)
			t.add(clsOperator, eq, eq+1)
			v := eq + 1
			for v < end && (code[v] == ' ' || code[v] == '\t') {
				v++
			}
			t.add(clsText, eq+1, v)
			t.add(iniValue(code[v:end]), v, end)
		}
		t.add(clsText, end, min(end+1, n))
		i = end + 1
	}
	t.flush()
}

// iniValue classifies a value.
func iniValue(v string) string {
	switch {
	case v == "true" || v == "false":
		return clsKeywordConstant
	case isNumeric(v):
		return clsNumber
	}
	return clsString
}

// dockerfileTokens highlights a Dockerfile: comments, instructions and
// their arguments as shell.
func dockerfileTokens(code string, emit0 emitFunc) {
	emit := func(cls, s string) {
		if s != "" {
			emit0(cls, s)
		}
	}
	n := len(code)
	for i := 0; i < n; {
		// A logical line runs on over lines ending in a backslash.
		end := lineEnd(code, i)
		for end < n && end > i && code[end-1] == '\\' {
			end = lineEnd(code, end+1)
		}
		j := i
		for j < end && (code[j] == ' ' || code[j] == '\t') {
			j++
		}
		emit(clsText, code[i:j])
		switch {
		case j < end && code[j] == '#':
			emit(clsComment, code[j:end])
		default:
			k := j
			for k < end && isIdent(code[k]) {
				k++
			}
			if k > j && dockerInstruction(strings.ToUpper(code[j:k])) {
				emit(clsKeyword, code[j:k])
				j = k
			}
			shellTokens(code[j:end], emit)
		}
		if end < n {
			emit(clsText, "\n")
		}
		i = end + 1
	}
}

// dockerInstruction reports whether w is a Dockerfile instruction.
func dockerInstruction(w string) bool {
	switch w {
	case "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
		"MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR":
		return true
	}
	return false
}
