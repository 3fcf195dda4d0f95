package render

import (
	"bytes"
	"cmp"
	"slices"
	"strings"

	"github.com/spinehq/spine/loops"
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
	// Stable, as the insertion sort it replaces was: that one took time in
	// the square of the references (80,000 loop ids before 80,000 gap ids
	// in one frontmatter value: 17 s).
	slices.SortStableFunc(refs, func(a, b Ref) int {
		if a.Start != b.Start {
			return cmp.Compare(a.Start, b.Start)
		}
		return cmp.Compare(b.End, a.End)
	})
}

func appendRunKeys(refs []Ref, src []byte) []Ref {
	loops.RunKeySpans(src, func(start, end int) { refs = append(refs, Ref{Kind: RefRunKey, Start: start, End: end}) })
	return refs
}

func appendGapIDs(refs []Ref, src []byte) []Ref {
	loops.GapIDSpans(src, func(start, end int) { refs = append(refs, Ref{Kind: RefGap, Start: start, End: end}) })
	return refs
}

func appendLoopIDs(refs []Ref, src []byte) []Ref {
	loops.LoopIDSpans(src, func(start, end int) { refs = append(refs, Ref{Kind: RefLoop, Start: start, End: end}) })
	return refs
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
		_, _ = w.WriteString(EscapeText(id))
		_, _ = w.WriteString(`</span>`)
		return
	}
	href, ok := resolve(l, kind, id)
	if !ok {
		_, _ = w.WriteString(`<span class="ref ref-` + kind.String() + ` missing" title="` + missingTitle(kind) + `">`)
		_, _ = w.WriteString(EscapeText(id))
		_, _ = w.WriteString(`</span>`)
		return
	}
	_, _ = w.WriteString(`<a class="ref ref-` + kind.String() + `" href="`)
	_, _ = w.WriteString(EscapeText(href))
	_, _ = w.WriteString(`">`)
	_, _ = w.WriteString(EscapeText(id))
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
		return EscapeText(text)
	}
	var b strings.Builder
	b.Grow(len(text) + 64*len(refs))
	last := 0
	for _, r := range refs {
		b.WriteString(EscapeText(text[last:r.Start]))
		writeRef(&b, l, r.Kind, text[r.Start:r.End], self)
		last = r.End
	}
	b.WriteString(EscapeText(text[last:]))
	return b.String()
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
