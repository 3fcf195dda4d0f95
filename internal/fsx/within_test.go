package fsx

import "testing"

func TestWithin(t *testing.T) {
	tests := []struct {
		dir, p string
		want   bool
	}{
		{"/repo", "/repo", true},
		{"/repo", "/repo/public", true},
		{"/repo", "/repo/a/b/../c", true},
		{"/repo/", "/repo/x", true},
		{"/repo", "/repo/..state", true},
		{"/repo", "/repository", false},
		{"/repo", "/", false},
		{"/repo", "/repo/..", false},
		{"/repo", "/repo/../other", false},
		{"/repo/x", "/repo", false},
		{"repo", "repo/x", true},
		{"repo", "/repo/x", false},
	}
	for _, tc := range tests {
		if got := Within(tc.dir, tc.p); got != tc.want {
			t.Errorf("Within(%q, %q) = %v, want %v", tc.dir, tc.p, got, tc.want)
		}
	}
}
