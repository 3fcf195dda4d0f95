package loops

import (
	"bytes"
	"slices"
)

// FindRunKeys returns the distinct run keys in src, sorted. A run key is
// anything of the shape (CAP-|S)NNNNNNNN-NNNNNN__capability__Rid, wherever
// it appears: prose, code spans, tables, or inside a receipt folder name
// such as RCAP-…. It is equivalent to scanning with the regular expression
// `(CAP-|S)[0-9]{8}-[0-9]{6}__[A-Za-z0-9._-]+__R[A-Za-z0-9]+`, without the
// cost of one.
func FindRunKeys(src []byte) []string {
	var set []string
	RunKeySpans(src, func(start, end int) { set = append(set, string(src[start:end])) })
	return sortedKeys(set)
}

// RunKeySpans calls fn with the byte range of every run key in src, in
// order and without overlaps (the matches FindRunKeys collects). The
// renderer links them in place.
func RunKeySpans(src []byte, fn func(start, end int)) {
	i := 0
	for {
		j := bytes.Index(src[i:], []byte("__"))
		if j < 0 {
			break
		}
		j += i // src[j:j+2] == "__"; the timestamp must end at j
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
		fn(start, end)
		i = end
	}
}

// runKeyStart checks that src[:j] ends with (CAP-|S)NNNNNNNN-NNNNNN and
// returns where the key starts.
func runKeyStart(src []byte, j int) (int, bool) {
	const tsLen = 15 // NNNNNNNN-NNNNNN
	if j < tsLen+1 {
		return 0, false
	}
	ts := src[j-tsLen : j]
	for k, c := range ts {
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
		// "CAP-" also ends in a character other than S, so S wins only
		// when it directly precedes the digits.
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

// runKeyEnd finds the end of `capability__Rid` starting at i, with the
// regular expression's greedy semantics: the capability extends to the last
// `__R<alnum>` in the run of capability characters.
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

// FindGapIDs returns the distinct gap ids (GAP-XX-N) in src, sorted.
func FindGapIDs(src []byte) []string {
	var set []string
	GapIDSpans(src, func(start, end int) { set = append(set, string(src[start:end])) })
	return sortedKeys(set)
}

// GapIDSpans calls fn with the byte range of every gap id in src, in order.
func GapIDSpans(src []byte, fn func(start, end int)) {
	for i := 0; ; {
		j := bytes.Index(src[i:], []byte("GAP-"))
		if j < 0 {
			break
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
				fn(j, e)
				i = e
				continue
			}
		}
		i = j + 4
	}
}

// FindLoopIDs returns the distinct loop ids (LOOP-…, upper-case words joined
// by dashes) in src, sorted.
func FindLoopIDs(src []byte) []string {
	var set []string
	LoopIDSpans(src, func(start, end int) { set = append(set, string(src[start:end])) })
	return sortedKeys(set)
}

// LoopIDSpans calls fn with the byte range of every loop id in src, in
// order.
func LoopIDSpans(src []byte, fn func(start, end int)) {
	isWord := func(c byte) bool { return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; ; {
		j := bytes.Index(src[i:], []byte("LOOP-"))
		if j < 0 {
			break
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
			fn(j, e)
		}
		i = e
	}
}

// sortedKeys sorts found and drops repeats; it never returns nil.
func sortedKeys(found []string) []string {
	if len(found) == 0 {
		return []string{}
	}
	slices.Sort(found)
	return slices.Compact(found)
}
