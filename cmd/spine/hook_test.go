package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The hook's worker keeps only the allowed variables of the push's
// environment (a pusher's ALLOW_X=yes must not open a gate, GIT_DIR must
// not leak into git commands), plus the lines of BARE/spine/env.
func TestWorkerEnvKeepsOnlyAllowedVariables(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte("# steps\nexport DB_PASSWORD=s3cret\n\nNOT A VAR\nAPI_URL=https://x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := workerEnv([]string{
		"PATH=/usr/bin", "HOME=/root", "LC_ALL=C", "GIT_DIR=.", "GIT_QUARANTINE_PATH=/x",
		"ALLOW_PROVISION=yes", "SPINE_STATE_DIR=/tmp/x", "SPINE_GIT_TOKEN=t", "GIT_CONFIG_GLOBAL=/dev/null",
	}, envFile)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/usr/bin", "HOME=/root", "LC_ALL=C", "SPINE_GIT_TOKEN=t", "GIT_CONFIG_GLOBAL=/dev/null", "DB_PASSWORD=s3cret", "API_URL=https://x"}
	if !slices.Equal(got, want) {
		t.Fatalf("env = %v\nwant  %v", got, want)
	}
	if _, err := workerEnv(nil, filepath.Join(t.TempDir(), "absent")); err != nil {
		t.Fatalf("absent env file: %v", err)
	}
}

func TestHookScriptQuotesAndEmbedsTheBinary(t *testing.T) {
	h := &hookSetup{bare: "/srv/git/it's.git", branch: "main", worktree: "/srv/wt"}
	s := hookScript("/opt/spine bin/spine", h)
	for _, want := range []string{
		"#!/bin/sh\n" + hookMarker + "\n",
		`SPINE='/opt/spine bin/spine'`,
		`STATE='/srv/git/it'\''s.git/spine'`,
		`'--repo' '/srv/git/it'\''s.git'`,
		"post-receive.spine-chained",
		"setsid ",
	} {
		if !strings.Contains(s, want) {
			t.Fatalf("script lacks %q:\n%s", want, s)
		}
	}
	if !isSpineHook([]byte(s)) || isSpineHook([]byte("#!/bin/sh\necho mine\n")) {
		t.Fatal("isSpineHook is wrong")
	}
}
