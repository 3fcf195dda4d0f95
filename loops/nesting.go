package loops

// MaxNesting is how deep block quotes and lists may nest in a document
// spine reads. Markdown's block parser (goldmark) takes time in the square
// of the depth: a line of 100,000 `>` took it seconds, 400,000 minutes,
// and no loop ran until it was done. Real documents nest a few levels.
const MaxNesting = 100

// Nesting returns the deepest nesting of containers a line of src opens:
// block quote markers and list item markers, plus one level for every two
// columns of indentation before the first of them (nested lists indent);
// and the 1-based line it is on. It is a bound, not Markdown's reading
// (an indented code block counts its indentation too).
func Nesting(src []byte) (depth, line int) {
	ln := 1
	for i := 0; i < len(src); {
		d, cols := 0, 0
		j := i
	prefix:
		for j < len(src) {
			switch c := src[j]; {
			case c == ' ' || c == '\t':
				switch {
				case d > 0:
				case c == ' ':
					cols++
				default:
					cols += 4
				}
				j++
			case c == '>':
				d++
				j++
			case (c == '-' || c == '*' || c == '+') && j+1 < len(src) && (src[j+1] == ' ' || src[j+1] == '\t'):
				d++
				j++
			case c >= '0' && c <= '9':
				k := j
				for k < len(src) && k-j < 9 && src[k] >= '0' && src[k] <= '9' {
					k++
				}
				if k+1 < len(src) && (src[k] == '.' || src[k] == ')') && (src[k+1] == ' ' || src[k+1] == '\t') {
					d++
					j = k + 1
					continue
				}
				break prefix
			default:
				break prefix
			}
		}
		if d += cols / 2; d > depth {
			depth, line = d, ln
		}
		// The rest of the line.
		for j < len(src) && src[j] != '\n' {
			j++
		}
		i = j + 1
		ln++
	}
	return depth, line
}
