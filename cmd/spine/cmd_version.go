package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); otherwise
// the module version from the build info is used.
var version = ""

// buildVersion returns the version and the VCS commit spine was built from.
func buildVersion() (ver, commit string) {
	ver, commit = version, "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if ver == "" {
			ver = "devel"
		}
		return ver, commit
	}
	if ver == "" {
		ver = info.Main.Version
		if ver == "" || ver == "(devel)" {
			ver = "devel"
		}
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				commit += "-dirty"
			}
		}
	}
	return ver, commit
}

// receiptVersion returns the version receipts record (spine_version):
// recordedVersion of buildVersion's.
func receiptVersion() string { return recordedVersion(buildVersion()) }

// recordedVersion returns ver, and for a development build whose commit
// is known, that commit too ("devel+0123456789ab", "-dirty" kept), so
// that a receipt says which build wrote it.
func recordedVersion(ver, commit string) string {
	if ver != "devel" || commit == "" || commit == "unknown" {
		return ver
	}
	short, dirty := strings.CutSuffix(commit, "-dirty")
	if len(short) > 12 {
		short = short[:12]
	}
	if dirty {
		short += "-dirty"
	}
	return ver + "+" + short
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print spine's version and the commit it was built from",
		Long:  "Print spine's version and the commit it was built from.",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ver, commit := buildVersion()
			fmt.Fprintf(a.stdout, "spine %s (commit %s)\n", ver, commit)
			return nil
		},
	}
}
