// Package finding is the one shape of a located finding that every spine
// reader reports (loop documents, the gap ledger, capability registries,
// verify packs), so that lint output, JSON and the site treat them alike.
package finding

import "fmt"

// Level is the severity of a finding.
type Level string

// Finding levels. What an error-level finding blocks is up to the reader
// that reports it (a loop with one does not run; `spine lint` exits 2).
const (
	LevelError   Level = "error"
	LevelWarning Level = "warning"
)

// Problem is one finding, located at a file and 1-based line.
type Problem struct {
	Path    string `json:"path"`
	Line    int    `json:"line"`
	Level   Level  `json:"level"`
	Message string `json:"message"`
}

// String formats the finding as `file:line: level: message`, or `file:
// level: message` for one about the whole file (no line).
func (p Problem) String() string {
	if p.Line <= 0 {
		return fmt.Sprintf("%s: %s: %s", p.Path, p.Level, p.Message)
	}
	return fmt.Sprintf("%s:%d: %s: %s", p.Path, p.Line, p.Level, p.Message)
}

// HasErrors reports whether any of the findings is error-level.
func HasErrors(problems []Problem) bool {
	for _, p := range problems {
		if p.Level == LevelError {
			return true
		}
	}
	return false
}
