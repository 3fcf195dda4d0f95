package finding

import "testing"

func TestProblem(t *testing.T) {
	p := Problem{Path: "loops/a.md", Line: 7, Level: LevelError, Message: "frontmatter: bad"}
	if got, want := p.String(), "loops/a.md:7: error: frontmatter: bad"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	tests := []struct {
		name string
		in   []Problem
		want bool
	}{
		{"none", nil, false},
		{"warnings only", []Problem{{Level: LevelWarning}, {Level: LevelWarning}}, false},
		{"one error", []Problem{{Level: LevelWarning}, {Level: LevelError}}, true},
	}
	for _, tt := range tests {
		if got := HasErrors(tt.in); got != tt.want {
			t.Errorf("%s: HasErrors = %v, want %v", tt.name, got, tt.want)
		}
	}
}
