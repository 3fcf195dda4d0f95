package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/gitx"
)

// Exit codes, as DESIGN.md "Command line" defines them.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitWaiting = 3
	exitLocked  = 75
	// exitBrokenPipe is 128+SIGPIPE: the output's reader went away.
	exitBrokenPipe = 141
)

// exitStatusHelp is appended to every command's help.
const exitStatusHelp = `
EXIT STATUS
  0   ok
  1   a step failed in this run, the run was stopped by a signal, a step's
      output or a commit could not be stored, or verification failed
  2   bad usage, an invalid document, or a repository spine will not work
      in (another user's; an invalid core.sharedRepository)
  3   nothing failed, but something waits for an operator
  75  another run holds the lock
  141 the reader of the output went away (spine gap list | head)`

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// exitf returns an error that makes spine exit with code after printing msg.
func exitf(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// app holds what every command shares: output streams, the repository flag,
// and the exit code a command sets without failing.
type app struct {
	stdout, stderr io.Writer
	repo           string
	verbose        bool
	exit           int
	// shared is set once the repository's core.sharedRepository has been
	// applied to the process (applyShared), sharedRepo is the setting;
	// stepUmask is then the umask spine was started with, when the
	// setting changed it: steps run under it.
	shared     bool
	sharedRepo gitx.SharedRepository
	stepUmask  *fs.FileMode
	// trusted is a repository root taken without the ownership check
	// (openRoot): the hook worker's clone, part of the bare repository
	// that passed it.
	trusted string
	// giveBack, when set, gives what root made in the repository back
	// to the user who ran sudo (gitx.SudoOwner; see giveBackNow).
	giveBack *giveBack
}

// giveBack is the user who owns a repository spine runs in as root
// through sudo, and the folders to give back to them.
type giveBack struct {
	uid, gid int
	dirs     []string
}

func newApp(stdout, stderr io.Writer) *app {
	return &app{stdout: stdout, stderr: stderr}
}

// logger returns the structured logger for diagnostics on stderr.
func (a *app) logger() *slog.Logger {
	level := slog.LevelWarn
	if a.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

// repoRoot resolves the git repository enclosing --repo, or the working
// directory: the nearest folder, going up, that holds a git directory (as
// git -C finds it), so that --repo may name a folder inside the
// repository, and a folder in no repository is refused before anything is
// written.
func (a *app) repoRoot() (string, error) {
	start := ""
	if a.repo != "" {
		abs, err := filepath.Abs(a.repo)
		if err != nil {
			return "", err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return "", exitf(exitUsage, "--repo %s: not a directory", a.repo)
		}
		if start, err = realDir(abs); err != nil {
			return "", err
		}
	} else {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		start = wd
	}
	for dir := start; ; {
		if hasGitDir(dir) {
			root, err := realDir(dir)
			if err != nil {
				return "", err
			}
			return a.openRoot(root)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			if a.repo != "" {
				if isBareRepo(start) {
					return "", exitf(exitUsage, "--repo %s is a bare repository: spine works in a clone of it (git clone %s); spine hook install --repo takes the bare one", a.repo, a.repo)
				}
				return "", exitf(exitUsage, "--repo %s: not inside a git repository (git init makes one)", a.repo)
			}
			return "", exitf(exitUsage, "not inside a git repository (git init makes one here; or --repo DIR)")
		}
		dir = parent
	}
}

// isBareRepo reports whether dir looks like a bare git repository: HEAD,
// objects and refs in it.
func isBareRepo(dir string) bool {
	for _, name := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// hasGitDir reports whether dir is a working tree's top: its .git is a
// file (a linked working tree's, a submodule's) or a folder with a HEAD.
// A .git folder without one (say, what an older spine left in a folder
// given as --repo) is not a repository.
func hasGitDir(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, ".git"))
	if err != nil {
		return false
	}
	if !fi.IsDir() {
		return true
	}
	_, err = os.Stat(filepath.Join(dir, ".git", "HEAD"))
	return err == nil
}

// openRoot checks that the repository at root may be worked in (its owner,
// as git checks it: gitx.CheckOwnership) and applies its
// core.sharedRepository (applyShared).
func (a *app) openRoot(root string) (string, error) {
	if root != a.trusted {
		if err := gitx.CheckOwnership(root); err != nil {
			return "", exitf(exitUsage, "%v", err)
		}
	}
	a.noteSudoOwner(root)
	if left := gitx.RootLeftovers(root); len(left) > 0 {
		fmt.Fprintf(a.stderr, "spine: warning: root owns %s (a run through sudo stopped before it gave the repository back?): what spine cannot write there fails with \"permission denied\"; the next `sudo spine` command gives it back, or run: sudo chown -R %d:%d %s\n",
			strings.Join(left, ", "), os.Getuid(), os.Getgid(), root)
	}
	return root, a.applyShared(root)
}

// noteSudoOwner records, for spine run as root through sudo in the
// repository at dir of the user who ran it, that what root makes there is
// to be given back to them when the command ends (giveBackNow). Only the
// first repository counts: one process works for one.
func (a *app) noteSudoOwner(dir string) {
	if uid, gid, dirs, ok := gitx.SudoOwner(dir); ok && a.giveBack == nil {
		a.giveBack = &giveBack{uid: uid, gid: gid, dirs: dirs}
	}
}

// giveBackNow gives everything under the repository's folders that
// belongs to root to the user who ran sudo (fsx.GiveBack): spine's
// objects, refs, index, state folder and lock, receipts and artifacts,
// the loop documents it rewrote, and what steps made there. It runs when
// a command ends (a watch: after each cycle too); one killed before that
// leaves root's files until the next run through sudo. A failure is told
// on stderr with the command that mends it.
func (a *app) giveBackNow() {
	g := a.giveBack
	if g == nil {
		return
	}
	for _, d := range g.dirs {
		if _, err := fsx.GiveBack(d, g.uid, g.gid); err != nil {
			fmt.Fprintf(a.stderr, "spine: warning: could not give %s back to uid %d (it ran as root through sudo): %v; run: sudo chown -R %d:%d %s\n", d, g.uid, err, g.uid, g.gid, d)
		}
	}
}

// applyShared gives spine's process the umask under which what it creates
// in the repository at dir (a working tree's root or a bare repository)
// gets the modes git gives it there: with core.sharedRepository set,
// git makes the repository's folders and files writable by the group
// (`git init --shared`) whatever the umask of the operator running it,
// and so must spine, or the next operator's git and spine fail on a
// folder or file spine made 0755 or 0644. The umask spine was started
// with is kept for steps (stepUmask). Only the first call counts: one
// process works for one repository.
func (a *app) applyShared(dir string) error {
	if a.shared {
		return nil
	}
	a.shared = true
	s, err := gitx.ReadSharedRepository(dir)
	if err != nil {
		return exitf(exitUsage, "%v", err)
	}
	a.sharedRepo = s
	if s == gitx.SharedUmask {
		return nil
	}
	cur, ok := fsx.Umask()
	if !ok {
		cur = fsx.SetUmask(0)
		fsx.SetUmask(cur)
	}
	if want := s.Umask(cur); want != cur {
		fsx.SetUmask(want)
		if a.stepUmask == nil {
			a.stepUmask = &cur
		}
	}
	return nil
}

// ctx returns the context commands run under.
func (a *app) ctx() context.Context { return context.Background() }

// config loads spine.yaml from the repository root.
func (a *app) config(root string) (*config.Config, error) {
	cfg, err := config.Load(root)
	if err != nil {
		return nil, exitf(exitUsage, "%v", err)
	}
	return cfg, nil
}

// withExitStatus makes every command's help end with the EXIT STATUS
// section (the usage template is inherited by sub-commands).
func withExitStatus(c *cobra.Command) *cobra.Command {
	c.SetUsageTemplate(c.UsageTemplate() + exitStatusHelp + "\n")
	return c
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "spine",
		Short: "Run loop documents from git, receipt every step, render the evidence",
		Long: `spine reads loop documents (Markdown with YAML frontmatter) from a git
repository, runs the stages still pending on this host under approval gates,
commits receipts, artifacts and the updated documents back to git, and
renders a static evidence site.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.repo, "repo", "", "repository `DIR` (default: the enclosing git repository)")
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log diagnostics to stderr")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exitf(exitUsage, "%v (%s --help says what it takes)", err, c.CommandPath())
	})
	root.AddCommand(
		newVersionCmd(a),
		newStatusCmd(a),
		newLintCmd(a),
		newPlanCmd(a),
		newRunCmd(a),
		newVerifyCmd(a),
		newResolveCmd(a),
		newSuperviseCmd(a),
		newDemoCmd(a),
		newInitCmd(a),
		newSiteCmd(a),
		newGapCmd(a),
		newPackCmd(a),
		newCapCmd(a),
		newLoopCmd(a),
		newHookCmd(a),
		newWatchCmd(a),
		newKeygenCmd(a),
	)
	// The completion command cobra adds at Execute, added now so that it
	// refuses an unknown shell as the other groups do.
	root.InitDefaultCompletionCmd()
	refuseUnknownSubcommands(root)
	refuseUnknownHelpTopics(root)
	return withExitStatus(root)
}

// refuseUnknownSubcommands makes every command group below c (site, gap,
// loop, …) refuse a word that names none of its commands, with exit 2,
// as spine does an unknown command: cobra would print the group's help
// and exit 0, and a typo in a script (spine site buidl) would pass.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
		if !sub.HasSubCommands() || sub.Runnable() {
			continue
		}
		sub.Args = cobra.ArbitraryArgs
		sub.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return exitf(exitUsage, "unknown command %q for %q (%s --help lists its commands)", args[0], cmd.CommandPath(), cmd.CommandPath())
			}
			return cmd.Help()
		}
	}
}

// refuseUnknownHelpTopics makes `spine help WORD` exit 2 when WORD names
// no command, as the command itself would: cobra prints the usage and
// exits 0, so a script checking `spine help sitebuild` would pass.
func refuseUnknownHelpTopics(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	for _, h := range root.Commands() {
		if h.Name() != "help" {
			continue
		}
		h.RunE = func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || cmd == nil || (len(rest) > 0 && cmd.HasSubCommands()) {
				return exitf(exitUsage, "unknown help topic %q (spine help lists the commands)", strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		}
	}
}

// realDir resolves the symbolic links in a repository root. Walking a root
// that is itself a link (/srv/ops -> /data/ops) would not descend into it,
// and spine would find no loop documents at all.
func realDir(dir string) (string, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("repository %s: %w", dir, err)
	}
	return real, nil
}
