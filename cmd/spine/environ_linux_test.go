package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/spinehq/spine/internal/gitx"
)

// TestHideEnvironWithTheToken: holding $SPINE_GIT_TOKEN, spine makes
// itself not dumpable, so its /proc/<pid>/environ (where the token is,
// whatever its steps' environment lacks) belongs to root and a step of
// the same user cannot read it; without the token it stays as it was.
// Each case runs in a child process of its own: the setting is for life.
func TestHideEnvironWithTheToken(t *testing.T) {
	if os.Getenv("SPINE_TEST_HIDE_ENVIRON") == "1" {
		hideEnviron()
		v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		fmt.Printf("dumpable=%d err=%v\n", v, err)
		return
	}
	for _, tc := range []struct {
		token string
		want  string
	}{
		{"tok-secret", "dumpable=0 err=<nil>"},
		{"", "dumpable=1 err=<nil>"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHideEnvironWithTheToken$")
		cmd.Env = append(os.Environ(), "SPINE_TEST_HIDE_ENVIRON=1", gitx.TokenEnv+"="+tc.token)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("token %q: %v\n%s\nwant %q", tc.token, err, out, tc.want)
		}
	}
}
