package main

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/spinehq/spine/internal/gitx"
)

// hideEnviron makes this process's /proc/<pid>/environ unreadable to the
// steps it runs (which run as the same user) when it holds the push
// credential ($SPINE_GIT_TOKEN): a step that read its parent's environment
// would find the token there, though its own environment lacks it. Not
// dumpable, the process's /proc files belong to root.
func hideEnviron() {
	if os.Getenv(gitx.TokenEnv) != "" {
		_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	}
}
