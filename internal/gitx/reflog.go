package gitx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// refLogMode is core.logAllRefUpdates: which references get a log
// (.git/logs/<ref>) when they move and have none yet. A reference whose
// log exists always gets its line, whatever the mode, as in git.
type refLogMode int

const (
	// refLogUnset: git's default, refLogNormal in a repository with a
	// working tree and refLogNone in a bare one.
	refLogUnset refLogMode = iota
	// refLogNone (false): no log is created.
	refLogNone
	// refLogNormal (true): logs are created for HEAD and for branches,
	// remote-tracking branches and notes.
	refLogNormal
	// refLogAlways (always): for every reference.
	refLogAlways
)

// parseRefLogMode parses a value of core.logAllRefUpdates; a value git
// would reject is unset (git's default).
func parseRefLogMode(v string) refLogMode {
	if strings.EqualFold(strings.TrimSpace(v), "always") {
		return refLogAlways
	}
	b, ok := parseGitBool(v)
	switch {
	case !ok:
		return refLogUnset
	case b:
		return refLogNormal
	}
	return refLogNone
}

// creates reports whether a reference name with no log yet gets one.
func (m refLogMode) creates(name plumbing.ReferenceName) bool {
	switch m {
	case refLogAlways:
		return true
	case refLogNormal:
		n := string(name)
		return name == plumbing.HEAD || strings.HasPrefix(n, "refs/heads/") ||
			strings.HasPrefix(n, "refs/remotes/") || strings.HasPrefix(n, "refs/notes/")
	}
	return false
}

// refLog is the line a reference update adds to the reference's log, as
// git adds one for each of its own updates: so that `git reflog` shows
// spine's commits and moves beside the operators', and a branch moved by
// mistake can be found again where it was.
type refLog struct {
	// who moved the reference, and when.
	who object.Signature
	// msg says why ("commit: <subject>"); white space is collapsed as git
	// does (copy_reflog_msg).
	msg string
	// head: the reference is the branch HEAD names, so HEAD's log gets
	// the line too.
	head bool
	// mode is core.logAllRefUpdates (refLogUnset: read it, which takes
	// the index cache's lock: CommitFiles, which holds that lock, sets it).
	mode refLogMode
	// from, when set, is where the move started, if not where the
	// reference is now: go-git's push moved the remote-tracking branch
	// already, unlogged.
	from *plumbing.Hash
}

// commitLog is the log entry of moving a branch (or a detached HEAD) to
// a new commit whose message is msg, as `git commit` words it: "commit:"
// and the first line of the message, "commit (initial):" for a branch's
// first commit.
func commitLog(who object.Signature, msg string, initial bool) refLog {
	subject, _, _ := strings.Cut(strings.TrimLeftFunc(msg, unicode.IsSpace), "\n")
	what := "commit"
	if initial {
		what = "commit (initial)"
	}
	return refLog{who: who, msg: what + ": " + subject}
}

// ident returns who spine moves references as when no commit says it
// (a tracking branch after a push, a kept ref, a move to another commit):
// the identity it commits as (Signature), with GIT_COMMITTER_NAME and
// GIT_COMMITTER_EMAIL over it, as git takes the committer for its logs.
func (g *Repo) ident(now time.Time) object.Signature {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	sig := g.Signature(host, now)
	if v := os.Getenv("GIT_COMMITTER_NAME"); v != "" {
		sig.Name = v
	}
	if v := os.Getenv("GIT_COMMITTER_EMAIL"); v != "" {
		sig.Email = v
	}
	return sig
}

// refLogMode returns core.logAllRefUpdates as git finds it, resolved for
// this repository (unset: refLogNone in a bare repository, else
// refLogNormal). It is read with the split index settings and cached with
// them.
func (g *Repo) refLogMode() (refLogMode, error) {
	gitDir, _, err := g.dirs()
	if err != nil {
		return refLogUnset, err
	}
	g.index.mu.Lock()
	defer g.index.mu.Unlock()
	pol, err := g.splitPolicy(gitDir)
	return pol.logRefs, err
}

// formatRefLog returns the log line of a move of a reference from old to
// new, in git's format: old and new object names, the identity with its
// time in seconds and zone, a tab and the message.
func formatRefLog(old, new plumbing.Hash, l refLog) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s <%s> %d %s", old, new, cleanIdent(l.who.Name), cleanIdent(l.who.Email), l.who.When.Unix(), l.who.When.Format("-0700"))
	if msg := cleanRefLogMsg(l.msg); msg != "" {
		b.WriteByte('\t')
		b.WriteString(msg)
	}
	b.WriteByte('\n')
	return b.String()
}

// cleanIdent drops what would break an identity in a log line: the angle
// brackets and line breaks git strips from names and addresses.
func cleanIdent(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		switch r {
		case '<', '>', '\n', '\r', 0:
			return -1
		}
		return r
	}, s))
}

// cleanRefLogMsg collapses every run of white space (line breaks
// included) to one space and trims the ends, as git's copy_reflog_msg:
// a log entry is one line.
func cleanRefLogMsg(msg string) string {
	return strings.Join(strings.Fields(msg), " ")
}

// appendRefLogs adds line to the log of name (file: the reference's own
// file, whose log is the same path under logs/) and, when l.head, to
// HEAD's log, creating a log only where l.mode wants one (a log that
// exists always gets the line). It runs under the reference's lock,
// before the lock is renamed over the reference: as in git, a log that
// cannot be written fails the update, and the reference does not move.
func (g *Repo) appendRefLogs(name plumbing.ReferenceName, line string, l refLog) error {
	gitDir, commonDir, err := g.dirs()
	if err != nil {
		return err
	}
	mode := l.mode
	if mode == refLogUnset {
		if mode, err = g.refLogMode(); err != nil {
			return err
		}
	}
	type target struct {
		name plumbing.ReferenceName
		file string
	}
	var targets []target
	if name == plumbing.HEAD {
		targets = append(targets, target{name, filepath.Join(gitDir, "logs", "HEAD")})
	} else {
		targets = append(targets, target{name, filepath.Join(commonDir, "logs", filepath.FromSlash(string(name)))})
		if l.head {
			targets = append(targets, target{plumbing.HEAD, filepath.Join(gitDir, "logs", "HEAD")})
		}
	}
	for _, t := range targets {
		if err := appendRefLog(t.file, line, mode.creates(t.name)); err != nil {
			return fmt.Errorf("update %s: log %s: %w", name, t.file, err)
		}
	}
	return nil
}

// appendRefLog appends line to the log file, creating it (and its
// folders) only when create is set; a log that does not exist and is not
// to be created is no error.
func appendRefLog(file, line string, create bool) error {
	flags := os.O_WRONLY | os.O_APPEND
	if create {
		if err := os.MkdirAll(filepath.Dir(file), 0o777); err != nil {
			return err
		}
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(file, flags, 0o666)
	if !create && errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
