package render

import (
	"bytes"
	"html"
	"strings"
)

// RefKind is the kind of a cross-reference found in text.
type RefKind int

// Reference kinds.
const (
	RefRunKey RefKind = iota + 1
	RefGap
	RefLoop
)

// String returns the kind's name as used in CSS classes.
func (k RefKind) String() string {
	switch k {
	case RefRunKey:
		return "run"
	case RefGap:
		return "gap"
	case RefLoop:
		return "loop"
	}
	return "ref"
}

// Ref is one cross-reference found in text: src[Start:End] is the id.
type Ref struct {
	Kind       RefKind
	Start, End int
}

// FindRefs returns the run keys, gap ids and loop ids in src, in order and
// without overlaps. It follows the rules of the loops package: run keys
// match (CAP-|S)NNNNNNNN-NNNNNN__capability__Rid, gap ids GAP-XX-N, loop ids
// LOOP- followed by upper-case words and digits joined by dashes.
func FindRefs(src []byte) []Ref {
	var refs []Ref
	if bytes.Contains(src, []byte("__R")) {
		refs = appendRunKeys(refs, src)
	}
	if bytes.Contains(src, []byte("GAP-")) {
		refs = appendGapIDs(refs, src)
	}
	if bytes.Contains(src, []byte("LOOP-")) {
		refs = appendLoopIDs(refs, src)
	}
	if len(refs) < 2 {
		return refs
	}
	// Order by start; drop any reference overlapping an earlier one.
	sortRefs(refs)
	out := refs[:1]
	for _, r := range refs[1:] {
		if r.Start >= out[len(out)-1].End {
			out = append(out, r)
		}
	}
	return out
}

func sortRefs(refs []Ref) {
	// Insertion sort: the lists are short and nearly sorted per kind.
	for i := 1; i < len(refs); i++ {
		for j := i; j > 0 && (refs[j].Start < refs[j-1].Start ||
			refs[j].Start == refs[j-1].Start && refs[j].End > refs[j-1].End); j-- {
			refs[j], refs[j-1] = refs[j-1], refs[j]
		}
	}
}

func appendRunKeys(refs []Ref, src []byte) []Ref {
	for i := 0; ; {
		j := bytes.Index(src[i:], []byte("__"))
		if j < 0 {
			return refs
		}
		j += i
		start, ok := runKeyStart(src, j)
		if !ok {
			i = j + 1
			continue
		}
		end, ok := runKeyEnd(src, j+2)
		if !ok {
			i = j + 1
			continue
		}
		refs = append(refs, Ref{Kind: RefRunKey, Start: start, End: end})
		i = end
	}
}

// runKeyStart checks that src[:j] ends with (CAP-|S)NNNNNNNN-NNNNNN and
// returns where the key starts.
func runKeyStart(src []byte, j int) (int, bool) {
	const tsLen = 15
	if j < tsLen+1 {
		return 0, false
	}
	for k, c := range src[j-tsLen : j] {
		if k == 8 {
			if c != '-' {
				return 0, false
			}
		} else if c < '0' || c > '9' {
			return 0, false
		}
	}
	p := j - tsLen
	if src[p-1] == 'S' {
		return p - 1, true
	}
	if p >= 4 && string(src[p-4:p]) == "CAP-" {
		return p - 4, true
	}
	return 0, false
}

func isCapByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// runKeyEnd finds the end of `capability__Rid` starting at i: the
// capability extends to the last `__R<alnum>` in the run of capability
// characters, as a greedy regular expression would.
func runKeyEnd(src []byte, i int) (int, bool) {
	runEnd := i
	for runEnd < len(src) && isCapByte(src[runEnd]) {
		runEnd++
	}
	for k := runEnd - 4; k >= i+1; k-- {
		if src[k] == '_' && src[k+1] == '_' && src[k+2] == 'R' && isAlnum(src[k+3]) {
			e := k + 3
			for e < len(src) && isAlnum(src[e]) {
				e++
			}
			return e, true
		}
	}
	return 0, false
}

func appendGapIDs(refs []Ref, src []byte) []Ref {
	for i := 0; ; {
		j := bytes.Index(src[i:], []byte("GAP-"))
		if j < 0 {
			return refs
		}
		j += i
		k := j + 4
		for k < len(src) && src[k] >= 'A' && src[k] <= 'Z' {
			k++
		}
		if k > j+4 && k < len(src) && src[k] == '-' {
			e := k + 1
			for e < len(src) && src[e] >= '0' && src[e] <= '9' {
				e++
			}
			if e > k+1 {
				refs = append(refs, Ref{Kind: RefGap, Start: j, End: e})
				i = e
				continue
			}
		}
		i = j + 4
	}
}

func appendLoopIDs(refs []Ref, src []byte) []Ref {
	isWord := func(c byte) bool { return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; ; {
		j := bytes.Index(src[i:], []byte("LOOP-"))
		if j < 0 {
			return refs
		}
		j += i
		e := j + 5
		for e < len(src) {
			if isWord(src[e]) {
				e++
				continue
			}
			if src[e] == '-' && e+1 < len(src) && isWord(src[e+1]) {
				e++
				continue
			}
			break
		}
		if e > j+5 && (j == 0 || !isAlnum(src[j-1])) {
			refs = append(refs, Ref{Kind: RefLoop, Start: j, End: e})
		}
		i = e
	}
}

// resolve returns the URL of a reference and whether it has a page.
func resolve(l Linker, kind RefKind, id string) (string, bool) {
	switch kind {
	case RefRunKey:
		return l.RunKey(id)
	case RefGap:
		return l.Gap(id)
	case RefLoop:
		return l.Loop(id)
	}
	return "", false
}

// missingTitle explains why a reference is not linked.
func missingTitle(kind RefKind) string {
	switch kind {
	case RefRunKey:
		return "no receipt for this run key in this repository"
	case RefGap:
		return "no such gap in the gap ledger"
	case RefLoop:
		return "no loop document with this id in this repository"
	}
	return "not in this site"
}

// writeRef writes one reference as a link, as a missing marker, or (for
// the document's own loop id) as plain text.
func writeRef(w interface {
	WriteString(string) (int, error)
}, l Linker, kind RefKind, id, self string) {
	if kind == RefLoop && id == self {
		_, _ = w.WriteString(`<span class="ref ref-self">`)
		_, _ = w.WriteString(html.EscapeString(id))
		_, _ = w.WriteString(`</span>`)
		return
	}
	href, ok := resolve(l, kind, id)
	if !ok {
		_, _ = w.WriteString(`<span class="ref ref-` + kind.String() + ` missing" title="` + missingTitle(kind) + `">`)
		_, _ = w.WriteString(html.EscapeString(id))
		_, _ = w.WriteString(`</span>`)
		return
	}
	_, _ = w.WriteString(`<a class="ref ref-` + kind.String() + `" href="`)
	_, _ = w.WriteString(html.EscapeString(href))
	_, _ = w.WriteString(`">`)
	_, _ = w.WriteString(html.EscapeString(id))
	_, _ = w.WriteString(`</a>`)
}

// LinkText returns text as escaped HTML with every run key, gap id and loop
// id linked through l (or marked missing). References to self, a loop id,
// are left unlinked. The result is safe to embed in HTML element content.
func LinkText(text string, l Linker, self string) string {
	if l == nil {
		l = NoLinks{}
	}
	src := []byte(text)
	refs := FindRefs(src)
	if len(refs) == 0 {
		return html.EscapeString(text)
	}
	var b strings.Builder
	b.Grow(len(text) + 64*len(refs))
	last := 0
	for _, r := range refs {
		b.WriteString(html.EscapeString(text[last:r.Start]))
		writeRef(&b, l, r.Kind, text[r.Start:r.End], self)
		last = r.End
	}
	b.WriteString(html.EscapeString(text[last:]))
	return b.String()
}
