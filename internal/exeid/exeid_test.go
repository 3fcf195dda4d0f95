package exeid

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestIdentityTellsBuildsApart: the running executable's identity is its
// Go build ID, stable, and another build (the go command) has another; a
// file without a build ID is known by its content, not its size or times.
func TestIdentityTellsBuildsApart(t *testing.T) {
	self := Identity()
	if !strings.HasPrefix(self, "buildid:") || Identity() != self {
		t.Fatalf("Identity = %q, want a stable Go build ID", self)
	}
	if goCmd, err := exec.LookPath("go"); err == nil {
		if resolved, err := filepath.EvalSymlinks(goCmd); err == nil {
			goCmd = resolved
		}
		if other := Of(goCmd); !strings.HasPrefix(other, "buildid:") || other == self {
			t.Errorf("identity of the go command = %q, this one's %q", other, self)
		}
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("#!/bin/sh\necho one\n"), 0o755)
	os.WriteFile(b, []byte("#!/bin/sh\necho two\n"), 0o755) // same size
	if Of(a) == Of(b) || !strings.HasPrefix(Of(a), "sha256:") {
		t.Errorf("files of the same size: %q, %q", Of(a), Of(b))
	}
	if got := Of(filepath.Join(dir, "none")); got != "" {
		t.Errorf("identity of no file = %q", got)
	}
}

// TestIdentityIsTheRunningImage: a process whose executable is replaced
// while it runs (an upgrade under a long spine site serve) keeps its own
// identity, not the new file's.
func TestIdentityIsTheRunningImage(t *testing.T) {
	if os.Getenv("SPINE_EXEID_CHILD") != "" {
		before := Identity()
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		// Another "build" at the same path: no build ID, other bytes.
		if err := os.WriteFile(exe+".new", []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(exe+".new", exe); err != nil {
			t.Fatal(err)
		}
		if after := Identity(); after != before {
			t.Fatalf("identity after the executable was replaced:\n%q\nwant the running image's:\n%q", after, before)
		}
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("/proc/self/exe is Linux's")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	copyExe := filepath.Join(t.TempDir(), "exeid.test")
	if err := os.WriteFile(copyExe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(copyExe, "-test.run=^TestIdentityIsTheRunningImage$", "-test.v")
	cmd.Env = append(os.Environ(), "SPINE_EXEID_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
