package loops

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestExecutableIdentityIsTheRunningImage: a process whose executable is
// replaced while it runs (an upgrade under a long spine site serve) keeps
// its own identity, not the new file's: else it would write its parse in
// the document cache as the new binary's, and the new binary would answer
// from it.
func TestExecutableIdentityIsTheRunningImage(t *testing.T) {
	if os.Getenv("SPINE_IDENTITY_CHILD") != "" {
		before := ExecutableIdentity()
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		// Another "binary" at the same path: the running one plus a byte.
		data, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exe+".new", append(data, 0), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(exe+".new", exe); err != nil {
			t.Fatal(err)
		}
		if after := ExecutableIdentity(); after != before {
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
	copyExe := filepath.Join(t.TempDir(), "loops.test")
	if err := os.WriteFile(copyExe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(copyExe, "-test.run=^TestExecutableIdentityIsTheRunningImage$", "-test.v")
	cmd.Env = append(os.Environ(), "SPINE_IDENTITY_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
