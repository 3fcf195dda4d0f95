package artifacts

import (
	"bytes"
	"slices"
	"strings"
)

// Redacted is the text that replaces a secret.
const Redacted = "[REDACTED]"

// MinSecretLen is the shortest secret value redacted; shorter values would
// blank out ordinary output.
const MinSecretLen = 4

// minBearerLen is the shortest token after "Bearer " that is redacted, so
// prose such as "a Bearer token" stays readable.
const minBearerLen = 8

// Redactor replaces secrets in step output with Redacted: the literal
// values it was built with, and well-known credential shapes:
//
//   - GitHub tokens: ghp_, gho_, ghs_, ghu_, ghr_ followed by 36 or more
//     letters and digits, and github_pat_ followed by 22 or more [A-Za-z0-9_];
//   - AWS access key ids: AKIA or ASIA followed by 16 [0-9A-Z];
//   - GitLab (glpat-), Slack (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-), Stripe
//     live (sk_live_, rk_live_), npm (npm_) tokens and Google API keys
//     (AIza), each as the start of a word;
//   - JSON web tokens (eyJ….eyJ….signature);
//   - "Bearer <token>" and "Basic <credentials>" (any case; the word is
//     kept);
//   - values of password=, passwd=, pwd= and secret_access_key= (any
//     case, also as the end of a longer name such as DB_PASSWORD=; blanks
//     around the '=' as in an AWS credentials file), up to '&', ';',
//     whitespace or a quote, or the whole quoted value when it starts
//     with a quote;
//   - values of password:, passwd:, secret_access_key: and client_secret:
//     when the key is quoted (JSON) or starts its line (YAML);
//   - the password in URL userinfo, scheme://user:password@host;
//   - the body of PEM private keys, between "-----BEGIN ... PRIVATE KEY-----"
//     and "-----END ... PRIVATE KEY-----" (also PGP "PRIVATE KEY BLOCK"),
//     spanning lines: the markers are kept and the body becomes one
//     Redacted line.
//
// Patterns never span lines except private keys, so output can be redacted
// line by line. A Redactor is immutable and safe for concurrent use. A nil
// *Redactor redacts the well-known shapes only.
type Redactor struct {
	secrets [][]byte
}

// NewRedactor returns a Redactor for the given secret values (typically the
// values of the environment variables named in policy.secret_env), each
// also without surrounding spaces, tabs and carriage returns. Values
// shorter than 4 bytes are ignored. A value spanning several lines is
// redacted line by line: each of its lines of 4 bytes or more (ignoring
// surrounding spaces, tabs and carriage returns) becomes a secret of its own.
func NewRedactor(secrets []string) *Redactor {
	seen := make(map[string]bool)
	var out [][]byte
	add := func(s string) {
		if len(s) < MinSecretLen || seen[s] {
			return
		}
		seen[s] = true
		out = append(out, []byte(s))
	}
	for _, s := range secrets {
		if strings.TrimSpace(s) == "" {
			continue // blanks only: it would blank out ordinary output
		}
		if !strings.ContainsAny(s, "\n") {
			add(s)
			// An unquoted $VAR prints it without surrounding blanks.
			add(strings.Trim(s, " \t\r"))
			continue
		}
		for _, line := range strings.Split(s, "\n") {
			add(strings.Trim(line, " \t\r"))
		}
	}
	// Longest first: the order does not change the result (spans are
	// merged), but long values are the likelier and cheaper misses.
	slices.SortFunc(out, func(a, b []byte) int { return len(b) - len(a) })
	return &Redactor{secrets: out}
}

// Redact returns b with every secret replaced by Redacted, and the number
// of replacements. When nothing is redacted it returns b itself; otherwise a
// new slice. b may hold many lines, binary data or invalid UTF-8: bytes are
// matched as they are and nothing else is changed.
func (r *Redactor) Redact(b []byte) ([]byte, int) {
	out, n := r.redactBytes(b)
	if !hasHidden(out) {
		return out, n
	}
	// Line by line, as a reader sees each (redactVisible).
	segs := bytes.SplitAfter(out, newline)
	var joined []byte
	for i, seg := range segs {
		line, nl := bytes.CutSuffix(seg, newline)
		red, m := r.redactVisible(line)
		switch {
		case m > 0:
			if joined == nil {
				joined = bytes.Join(segs[:i], nil)
			}
			joined, n = append(joined, red...), n+m
			if nl {
				joined = append(joined, '\n')
			}
		case joined != nil:
			joined = append(joined, seg...)
		}
	}
	if joined == nil {
		return out, n
	}
	return joined, n
}

// redactBytes is Redact without the visible-text pass.
func (r *Redactor) redactBytes(b []byte) ([]byte, int) {
	var sc redactScratch
	var st pemState
	sc.spans = r.findSpans(b, sc.spans[:0])
	if !bytes.Contains(b, pemBegin) {
		if len(sc.spans) == 0 {
			return b, 0
		}
		return applySpans(make([]byte, 0, len(b)), b, sc.spans)
	}
	out := make([]byte, 0, len(b))
	total := 0
	for len(b) > 0 {
		line, rest, nl := bytes.Cut(b, newline)
		b = rest
		red, n, keep := r.redactLine(line, &st, &sc)
		total += n
		if !keep {
			continue
		}
		out = append(out, red...)
		if nl {
			out = append(out, '\n')
		}
	}
	return out, total
}

// RedactString is Redact for strings.
func (r *Redactor) RedactString(s string) (string, int) {
	out, n := r.Redact([]byte(s))
	if n == 0 {
		return s, 0
	}
	return string(out), n
}

// span is a byte range [start, end) to replace with Redacted.
type span struct{ start, end int }

// redactScratch holds reusable buffers; each concurrent user has its own.
type redactScratch struct {
	spans []span
	pem   []byte
	out   []byte
}

// pemState carries a private-key block across lines.
type pemState struct {
	inKey  bool // inside a key body
	marked bool // a Redacted placeholder was already emitted for this body
}

var (
	newline  = []byte{'\n'}
	pemBegin = []byte("-----BEGIN ")
	pemEnd   = []byte("-----END ")
)

// redactLine redacts one line (without its '\n'), advancing the private-key
// state. keep is false when the line lies inside a key body whose
// placeholder was already emitted: it must be dropped. out aliases line
// when nothing changed, else scratch memory valid until the next call.
func (r *Redactor) redactLine(line []byte, st *pemState, sc *redactScratch) (out []byte, n int, keep bool) {
	if st.inKey || bytes.Contains(line, pemBegin) {
		var drop bool
		line, n, drop = redactPEMLine(line, st, sc)
		if drop {
			return nil, 0, false
		}
	}
	sc.spans = r.findSpans(line, sc.spans[:0])
	if len(sc.spans) == 0 {
		return line, n, true
	}
	var m int
	sc.out, m = applySpans(sc.out[:0], line, sc.spans)
	return sc.out, n + m, true
}

// redactPEMLine handles private-key markers in one line. It returns the
// line with key bodies replaced, the number of replacements, and drop=true
// when the whole line is key body after an already emitted placeholder.
func redactPEMLine(line []byte, st *pemState, sc *redactScratch) ([]byte, int, bool) {
	out := sc.pem[:0]
	n, pos := 0, 0
	if st.inKey {
		es, ee := findPEMMarker(line, 0, pemEnd)
		if es < 0 {
			if st.marked {
				return nil, 0, true
			}
			st.marked = true
			out = append(out, Redacted...)
			sc.pem = out
			return out, 1, false
		}
		if es > 0 && !st.marked {
			out = append(out, Redacted...)
			n++
		}
		out = append(out, line[es:ee]...)
		pos = ee
		st.inKey, st.marked = false, false
	}
	for {
		bs, be := findPEMMarker(line, pos, pemBegin)
		if bs < 0 {
			out = append(out, line[pos:]...)
			break
		}
		out = append(out, line[pos:be]...)
		es, ee := findPEMMarker(line, be, pemEnd)
		if es >= 0 {
			if es > be {
				out = append(out, Redacted...)
				n++
			}
			out = append(out, line[es:ee]...)
			pos = ee
			continue
		}
		st.inKey = true
		st.marked = be < len(line)
		if st.marked {
			out = append(out, Redacted...)
			n++
		}
		break
	}
	sc.pem = out
	return out, n, false
}

// findPEMMarker finds, at or after from, a marker that starts with prefix
// ("-----BEGIN " or "-----END "), continues with a label of [A-Z0-9 ]
// ending in "PRIVATE KEY" or "PRIVATE KEY BLOCK", and ends with "-----". It
// returns the marker's [start, end), or -1, -1.
func findPEMMarker(line []byte, from int, prefix []byte) (int, int) {
	const maxLabel = 64
	for from < len(line) {
		i := bytes.Index(line[from:], prefix)
		if i < 0 {
			return -1, -1
		}
		start := from + i
		j := start + len(prefix)
		k := j
		for k < len(line) && k-j <= maxLabel && (line[k] >= 'A' && line[k] <= 'Z' || line[k] >= '0' && line[k] <= '9' || line[k] == ' ') {
			k++
		}
		label := line[j:k]
		if bytes.HasPrefix(line[k:], []byte("-----")) &&
			(bytes.HasSuffix(label, []byte("PRIVATE KEY")) || bytes.HasSuffix(label, []byte("PRIVATE KEY BLOCK"))) {
			return start, k + 5
		}
		from = start + 1
	}
	return -1, -1
}

// applySpans appends b to dst with the spans replaced by Redacted
// (overlapping spans merged), returning the number of replacements.
func applySpans(dst, b []byte, spans []span) ([]byte, int) {
	slices.SortFunc(spans, func(x, y span) int { return x.start - y.start })
	n, pos := 0, 0
	for i := 0; i < len(spans); {
		s, e := spans[i].start, spans[i].end
		for i++; i < len(spans) && spans[i].start < e; i++ {
			e = max(e, spans[i].end)
		}
		dst = append(dst, b[pos:s]...)
		dst = append(dst, Redacted...)
		pos = e
		n++
	}
	return append(dst, b[pos:]...), n
}

// findSpans appends the ranges of b to redact (single-line shapes and
// secret values; private keys are handled by redactPEMLine).
func (r *Redactor) findSpans(b []byte, spans []span) []span {
	if r != nil {
		for _, s := range r.secrets {
			for off := 0; ; {
				i := bytes.Index(b[off:], s)
				if i < 0 {
					break
				}
				spans = append(spans, span{off + i, off + i + len(s)})
				off += i + 1
			}
		}
	}
	spans = findGitHub(b, spans)
	spans = findAWS(b, spans, []byte("AKIA"))
	spans = findAWS(b, spans, []byte("ASIA"))
	spans = findBearer(b, spans, []byte("earer"))
	spans = findBearer(b, spans, []byte("EARER"))
	spans = findBasic(b, spans)
	for _, t := range prefixedTokens {
		spans = findPrefixed(b, spans, t)
	}
	spans = findJWT(b, spans)
	spans = findKeyColon(b, spans)
	spans = findPassword(b, spans)
	spans = findUserinfo(b, spans)
	return spans
}

// redactVisible redacts the secrets that line, already redacted, holds
// only as a reader sees it (TerminalText, VisibleText: pieces joined by
// dropped escape sequences and control bytes, or by overwrites), and
// returns that view redacted and their number; 0 when there are none
// (the line is then kept as it is).
func (r *Redactor) redactVisible(line []byte) ([]byte, int) {
	// A line with no hidden byte but a trailing carriage return (CRLF
	// output) reads as itself: the redaction of its bytes saw it all.
	if !hasHidden(bytes.TrimSuffix(line, []byte{'\r'})) {
		return line, 0
	}
	// Stored as a terminal leaves it, redacted; else, when only the
	// site's view joins a secret (a cursor move between its pieces), as
	// the site shows it.
	term := TerminalText(line)
	if spans := r.secretSpans(term); len(spans) > 0 {
		return applySpans(make([]byte, 0, len(term)), term, spans)
	}
	if site := VisibleText(line); !bytes.Equal(site, term) {
		if spans := r.secretSpans(site); len(spans) > 0 {
			return applySpans(make([]byte, 0, len(site)), site, spans)
		}
	}
	return line, 0
}

// secretSpans returns the sorted spans of b to redact, leaving out the
// placeholders an earlier redaction wrote (Bearer [REDACTED] matches
// again).
func (r *Redactor) secretSpans(b []byte) []span {
	spans := slices.DeleteFunc(r.findSpans(b, nil), func(sp span) bool { return string(b[sp.start:sp.end]) == Redacted })
	sortSpans(spans)
	return spans
}

// minCutOverlap is the least cutOverlap: longer than any token shape
// seen in practice and than a private key's marker line.
const minCutOverlap = 4 << 10

// cutKeyContext is how many bytes before a secret's span a cut keeps
// with it: room for the key that makes a value a secret.
const cutKeyContext = 128

// cutOverlap is how many bytes past a cut of a long line the cut looks
// at (cutAt): a secret value or token starting before the cut and no
// longer than this is seen whole.
func (r *Redactor) cutOverlap() int {
	n := minCutOverlap
	if r != nil && len(r.secrets) > 0 {
		n = max(n, len(r.secrets[0])+1) // longest first
	}
	return n
}

// cutAt returns where to cut window, a long line's first bytes, near c:
// at c, or before a secret, token or private key marker that c would
// cut in two (each piece is redacted alone), or after one that starts
// the window.
func (r *Redactor) cutAt(window []byte, c int, sc *redactScratch) int {
	sc.spans = r.findSpans(window, sc.spans[:0])
	// A span is the value alone for some shapes (after "Bearer ",
	// "DB_PASSWORD=", "https://user:"): a piece that ends with the key
	// and one that starts with the value match nothing. The key's bytes
	// before it are kept with it.
	for i := range sc.spans {
		sc.spans[i].start = max(0, sc.spans[i].start-cutKeyContext)
	}
	for _, m := range [][]byte{pemBegin, pemEnd} {
		for off := 0; ; {
			i := bytes.Index(window[off:], m)
			if i < 0 {
				break
			}
			end := off + i + len(m)
			if j := bytes.Index(window[end:], []byte("-----")); j >= 0 {
				end += j + len("-----")
			} else {
				end = len(window)
			}
			sc.spans = append(sc.spans, span{off + i, end})
			off += i + 1
		}
	}
	for moved := true; moved; {
		moved = false
		for _, sp := range sc.spans {
			if sp.start < c && c < sp.end {
				c, moved = sp.start, true
				if c == 0 {
					// One secret longer than a piece: cut after it.
					return min(sp.end, len(window))
				}
			}
		}
	}
	return c
}

// isBlank accepts a space or a tab.
func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// runLenBack counts the bytes of b before i that satisfy ok.
func runLenBack(b []byte, i int, ok func(byte) bool) int {
	n := 0
	for i-n > 0 && ok(b[i-n-1]) {
		n++
	}
	return n
}

// runLen counts the bytes of b from i on that satisfy ok.
func runLen(b []byte, i int, ok func(byte) bool) int {
	j := i
	for j < len(b) && ok(b[j]) {
		j++
	}
	return j - i
}

// isUpperAlnum reports whether c is in [0-9A-Z].
func isUpperAlnum(c byte) bool { return 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' }

// isWordByte reports whether c is in [A-Za-z0-9_].
func isWordByte(c byte) bool { return isAlnum(c) || c == '_' }

// isB64Token reports whether c may appear in an RFC 6750 b64token.
func isB64Token(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}

// findGitHub finds gh[pousr]_ + 36 or more alphanumerics and github_pat_ +
// 22 or more [A-Za-z0-9_].
func findGitHub(b []byte, spans []span) []span {
	for off := 0; off < len(b); {
		i := bytes.Index(b[off:], []byte("gh"))
		if i < 0 {
			break
		}
		i += off
		off = i + 2
		if i+4 <= len(b) && b[i+3] == '_' && strings.IndexByte("pousr", b[i+2]) >= 0 {
			if n := runLen(b, i+4, isAlnum); n >= 36 {
				spans = append(spans, span{i, i + 4 + n})
				off = i + 4 + n
			}
		}
	}
	const pat = "github_pat_"
	for off := 0; off < len(b); {
		i := bytes.Index(b[off:], []byte(pat))
		if i < 0 {
			break
		}
		i += off
		off = i + len(pat)
		if n := runLen(b, off, isWordByte); n >= 22 {
			spans = append(spans, span{i, off + n})
			off += n
		}
	}
	return spans
}

// findAWS finds prefix (AKIA or ASIA) followed by 16 [0-9A-Z].
func findAWS(b []byte, spans []span, prefix []byte) []span {
	for off := 0; off < len(b); {
		i := bytes.Index(b[off:], prefix)
		if i < 0 {
			break
		}
		i += off
		off = i + 1
		if runLen(b, i+4, isUpperAlnum) >= 16 {
			spans = append(spans, span{i, i + 20})
			off = i + 20
		}
	}
	return spans
}

// prefixedToken is a credential shape: a fixed prefix, as the start of a
// word, and at least min bytes that ok accepts.
type prefixedToken struct {
	prefix   string
	find     string
	lead     int
	variants string
	ok       func(byte) bool
	min      int
}

// isTokenByte accepts letters, digits, '_' and '-'.
func isTokenByte(c byte) bool { return isWordByte(c) || c == '-' }

// prefixedTokens are the well-known token shapes found by their prefix:
// GitLab personal tokens, Slack tokens, Stripe live keys, npm tokens and
// Google API keys.
//
// Each is looked for by its rarest part (find: an upper-case letter, an
// underscore; a scan for a common letter costs more than the rest of the
// redaction), at lead bytes after its start; lead is where the prefix's
// variants differ (x: any of those bytes).
var prefixedTokens = []prefixedToken{
	{prefix: "glpat-", find: "glpat-", ok: isTokenByte, min: 20},
	{prefix: "xoxX-", find: "xox", variants: "baprs", ok: isTokenByte, min: 10},
	{prefix: "Xk_live_", find: "k_live_", lead: 1, variants: "sr", ok: isAlnum, min: 24},
	{prefix: "npm_", find: "pm_", lead: 1, ok: isAlnum, min: 36},
	{prefix: "AIza", find: "AIza", ok: isTokenByte, min: 35},
}

// findPrefixed finds t: its prefix at the start of a word, and its body.
func findPrefixed(b []byte, spans []span, t prefixedToken) []span {
	for off := 0; off < len(b); {
		k := bytes.Index(b[off:], []byte(t.find))
		if k < 0 {
			break
		}
		k += off
		off = k + len(t.find)
		i := k - t.lead
		end := i + len(t.prefix)
		if i < 0 || end > len(b) || i > 0 && isAlnum(b[i-1]) || !t.matches(b[i:end]) {
			continue
		}
		if n := runLen(b, end, t.ok); n >= t.min {
			spans = append(spans, span{i, end + n})
			off = end + n
		}
	}
	return spans
}

// matches reports whether p, as long as t.prefix, is one of its variants:
// each 'X' of the prefix stands for any byte of t.variants.
func (t prefixedToken) matches(p []byte) bool {
	for j := range len(p) {
		switch c := t.prefix[j]; {
		case c == 'X' && t.variants != "":
			if strings.IndexByte(t.variants, p[j]) < 0 {
				return false
			}
		case p[j] != c:
			return false
		}
	}
	return true
}

// isB64URL accepts the base64url alphabet.
func isB64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

// findJWT finds JSON web tokens: "eyJ" header and payload (base64url of
// a JSON object) and a signature, joined by dots.
func findJWT(b []byte, spans []span) []span {
	for off := 0; off < len(b); {
		// By the header's 'J', rare in output, where "eyJ" or "." are not.
		p := bytes.IndexByte(b[off:], 'J')
		if p < 0 {
			break
		}
		p += off
		off = p + 1
		i := p - 2
		if i < 0 || b[i] != 'e' || b[i+1] != 'y' || i > 0 && isB64URL(b[i-1]) {
			continue
		}
		j := i
		parts := 0
		for parts < 3 {
			n := runLen(b, j, isB64URL)
			if n < 4 || parts == 1 && !bytes.HasPrefix(b[j:], []byte("eyJ")) {
				break
			}
			j += n
			parts++
			if parts < 3 {
				if j >= len(b) || b[j] != '.' {
					break
				}
				j++
			}
		}
		if parts == 3 {
			spans = append(spans, span{i, j})
			off = j
		}
	}
	return spans
}

// colonKeys are the names whose values are redacted after ':' (lower
// case), in JSON ("password": "x") or as a YAML or header line's key.
var colonKeys = [][]byte{[]byte("password"), []byte("passwd"), []byte("secret_access_key"), []byte("client_secret")}

// findKeyColon finds the values of colonKeys followed by ':': a quoted key
// ("password": "x", JSON) or a key that starts its line after spaces, tabs
// or a list's "- " (password: x, YAML). Prose ("the password: see
// above") has neither.
func findKeyColon(b []byte, spans []span) []span {
	for off := 0; off < len(b); {
		i := bytes.IndexByte(b[off:], ':')
		if i < 0 {
			break
		}
		i += off
		off = i + 1
		k := i
		quoted := k > 0 && (b[k-1] == '"' || b[k-1] == '\'')
		if quoted {
			k--
		}
		var key []byte
		for _, c := range colonKeys {
			if k >= len(c) && bytes.EqualFold(b[k-len(c):k], c) {
				key = c
				break
			}
		}
		if key == nil {
			continue
		}
		start := k - len(key)
		if quoted {
			if start == 0 || b[start-1] != b[k] {
				continue
			}
		} else {
			// The key's word starts a line: a whole name (db_password,
			// AWS_SECRET_ACCESS_KEY), then only blanks or "- " before it.
			for start > 0 && isWordByte(b[start-1]) {
				start--
			}
			ls := start
			for ls > 0 && (b[ls-1] == ' ' || b[ls-1] == '\t' || b[ls-1] == '-') {
				ls--
			}
			if ls > 0 && b[ls-1] != '\n' && b[ls-1] != '\r' {
				continue
			}
		}
		var sp span
		var ok bool
		sp, off, ok = valueSpan(b, i+1+runLen(b, i+1, isBlank), func(c byte) bool { return isValueEnd(c) || c == ',' || c == '}' })
		if ok {
			spans = append(spans, sp)
		}
	}
	return spans
}

// findBasic finds "Basic", "basic" or "BASIC" as a word followed by
// blanks and credentials, as findBearer finds Bearer (by the whole word:
// its tail "asic" is common in output).
func findBasic(b []byte, spans []span) []span {
	for _, w := range []string{"Basic", "basic", "BASIC"} {
		for off := 0; off < len(b); {
			i := bytes.Index(b[off:], []byte(w))
			if i < 0 {
				break
			}
			i += off
			off = i + len(w)
			if i > 0 && isAlnum(b[i-1]) {
				continue
			}
			if sp, ok := authToken(b, off); ok {
				spans = append(spans, sp)
				off = sp.end
			}
		}
	}
	return spans
}

// authToken returns the credentials after an authorization scheme's word
// that ends at j: blanks, then at least minBearerLen b64token bytes (plus
// '=' padding).
func authToken(b []byte, j int) (span, bool) {
	ws := runLen(b, j, isBlank)
	if ws == 0 {
		return span{}, false
	}
	j += ws
	n := runLen(b, j, isB64Token)
	if n < minBearerLen {
		return span{}, false
	}
	n += runLen(b, j+n, func(c byte) bool { return c == '=' })
	return span{j, j + n}, true
}

// findBearer finds "Bearer" (any case; located by its tail "earer" or
// "EARER") as a word, followed by spaces or tabs and a token of at least
// minBearerLen b64token bytes (plus '=' padding). Only the token is
// redacted.
func findBearer(b []byte, spans []span, tail []byte) []span {
	for off := 0; off < len(b); {
		i := bytes.Index(b[off:], tail)
		if i < 0 {
			break
		}
		i += off
		off = i + len(tail)
		if i == 0 || b[i-1]|0x20 != 'b' {
			continue
		}
		if i >= 2 && isAlnum(b[i-2]) {
			continue
		}
		sp, ok := authToken(b, i+len(tail))
		if !ok {
			continue
		}
		spans = append(spans, sp)
		off = sp.end
	}
	return spans
}

// passwordKeys are the names whose "=" values are redacted (lower case).
var passwordKeys = [][]byte{[]byte("password"), []byte("passwd"), []byte("pwd"), []byte("secret_access_key")}

// isValueEnd reports whether c ends an unquoted password value.
func isValueEnd(c byte) bool {
	switch c {
	case '&', ';', ' ', '\t', '\n', '\r', '\v', '\f', '"', '\'', '`', '<', '>':
		return true
	}
	return false
}

// findPassword finds the values of password=, passwd= and pwd=.
func findPassword(b []byte, spans []span) []span {
	for off := 0; off < len(b); {
		i := bytes.IndexByte(b[off:], '=')
		if i < 0 {
			break
		}
		i += off
		off = i + 1
		// key = value, as in an AWS credentials file: blanks on both
		// sides of the '=' (password= x is an empty value).
		k := i - runLenBack(b, i, isBlank)
		// Every key ends in 'd' or 'y': a cheap filter before the real
		// check.
		if k == 0 || b[k-1]|0x20 != 'd' && b[k-1]|0x20 != 'y' {
			continue
		}
		matched := false
		for _, key := range passwordKeys {
			if k >= len(key) && bytes.EqualFold(b[k-len(key):k], key) {
				matched = true
				break
			}
		}
		if !matched {
			continue
		}
		j := i + 1
		if k < i {
			j += runLen(b, j, isBlank)
		}
		var sp span
		var ok bool
		sp, off, ok = valueSpan(b, j, isValueEnd)
		if ok {
			spans = append(spans, sp)
		}
	}
	return spans
}

// valueSpan returns the span of the value that starts at b[j]: inside its
// quotes when it starts with one (a backslash escapes the next byte; the
// line's end ends it too), else up to a byte stop accepts. ok is false for
// an empty value; end is where the scan stopped.
func valueSpan(b []byte, j int, stop func(byte) bool) (sp span, end int, ok bool) {
	if j < len(b) && (b[j] == '"' || b[j] == '\'') {
		q := b[j]
		end = j + 1
		for end < len(b) && b[end] != q && b[end] != '\n' {
			if b[end] == '\\' && end+1 < len(b) && b[end+1] != '\n' {
				end++
			}
			end++
		}
		return span{j + 1, end}, end, end > j+1
	}
	end = j
	for end < len(b) && !stop(b[end]) {
		end++
	}
	return span{j, end}, end, end > j
}

// isAuthorityEnd reports whether c ends a URL's authority.
func isAuthorityEnd(c byte) bool {
	switch c {
	case '/', '?', '#', ' ', '\t', '\n', '\r', '\v', '\f', '"', '\'', '`', '<', '>':
		return true
	}
	return false
}

// findUserinfo finds the password in scheme://user:password@host.
func findUserinfo(b []byte, spans []span) []span {
	for off := 0; off < len(b); {
		i := bytes.Index(b[off:], []byte("://"))
		if i < 0 {
			break
		}
		i += off
		off = i + 3
		if i == 0 || !(isAlnum(b[i-1]) || b[i-1] == '+' || b[i-1] == '-' || b[i-1] == '.') {
			continue
		}
		j := i + 3
		end := j
		at := -1
		for end < len(b) && !isAuthorityEnd(b[end]) {
			if b[end] == '@' {
				at = end
			}
			end++
		}
		if at < 0 {
			continue
		}
		colon := bytes.IndexByte(b[j:at], ':')
		if colon >= 0 && j+colon+1 < at {
			spans = append(spans, span{j + colon + 1, at})
		}
		off = end
	}
	return spans
}
