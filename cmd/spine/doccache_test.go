package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDocumentCache: the read-only commands keep parsed documents in the
// state folder's document cache and print exactly what they print without
// it; an edited document is read again; `spine run` never uses the cache
// (what it executes is parsed from the bytes it executes).
func TestDocumentCache(t *testing.T) {
	const doc = "---\nloop_id: LOOP-C\nstatus: active\n---\n\n# Loop Scope: LOOP-C\n\n## Stage 1: A\n\n```sh {name=a}\ntrue\n```\n\n```sh {name=b gate=ALLOW_B}\ntrue\n```\n"
	dir := loopRepo(t, doc)
	cache := filepath.Join(dir, ".git", "spine", docCacheName)
	commands := [][]string{{"status", "--json"}, {"plan", "--json"}, {"lint", "--json"}}
	outputs := func() []string {
		t.Helper()
		var outs []string
		for _, args := range commands {
			out, errOut, _ := spine(t, append([]string{"--repo", dir}, args...)...)
			outs = append(outs, out+errOut)
		}
		return outs
	}
	cold := outputs()
	if _, err := os.Stat(cache); err != nil {
		t.Fatalf("no document cache after status, plan and lint: %v", err)
	}
	if diff := cmp.Diff(cold, outputs()); diff != "" {
		t.Errorf("output with the cache differs (-cold +warm):\n%s", diff)
	}
	os.Remove(cache)
	if diff := cmp.Diff(cold, outputs()); diff != "" {
		t.Errorf("output after the cache was removed differs (-cold +again):\n%s", diff)
	}

	// An edit (not committed) shows at once.
	edited := strings.Replace(doc, "{name=b gate=ALLOW_B}", "{name=b2}", 1)
	if err := os.WriteFile(filepath.Join(dir, "loops", "a.md"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, _ := spine(t, "--repo", dir, "status", "--json")
	if !strings.Contains(out, `"name": "b2"`) || strings.Contains(out, `"name": "b"`) {
		t.Errorf("status after an edit does not show it:\n%s", out)
	}
	gitCmd(t, dir, "checkout", "--", "loops/a.md")

	// A cache file that is garbage is ignored and replaced.
	if err := os.WriteFile(cache, []byte("spine-docs-cache 1\ngarbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cold, outputs()); diff != "" {
		t.Errorf("output with a damaged cache differs (-cold +damaged):\n%s", diff)
	}

	// spine run parses, and neither reads nor writes the cache.
	os.Remove(cache)
	if _, errOut, code := spine(t, "--repo", dir, "run"); code != 0 && code != 3 {
		t.Fatalf("run: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(cache); err == nil {
		t.Error("spine run wrote the document cache")
	}
}
