package main

import (
	"os"
	"os/user"
	"path/filepath"
	"time"
	"unicode"

	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/internal/termtext"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/pipeline"
)

// runFlags are the flags shared by commands that plan or run.
type runFlags struct {
	host string
}

// hostName returns --host, or the machine's host name.
func (f *runFlags) hostName() string {
	if f.host != "" {
		return f.host
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// stateDir is where the journal, lock and caches live: $SPINE_STATE_DIR or
// the git folder's spine/ (.git/spine; a linked working tree's own git
// folder, whose .git is a file).
func stateDir(root string) string {
	if d := os.Getenv("SPINE_STATE_DIR"); d != "" {
		return d
	}
	dotGit := filepath.Join(root, ".git")
	if fi, err := os.Stat(dotGit); err == nil && !fi.IsDir() {
		if d, err := gitx.GitDirOf(root); err == nil {
			return filepath.Join(d, "spine")
		}
	}
	return filepath.Join(dotGit, "spine")
}

// ledgerDir returns the folder of the ledger of destructive runs: the
// state folder of the repository's main working tree, shared by its
// linked working trees (pipeline.Options.LedgerDir); "" for the state
// folder itself.
func ledgerDir(root string) string {
	if os.Getenv("SPINE_STATE_DIR") != "" {
		return ""
	}
	if fi, err := os.Stat(filepath.Join(root, ".git")); err != nil || fi.IsDir() {
		return ""
	}
	d, err := gitx.GitDirOf(root)
	if err != nil {
		return ""
	}
	common, err := gitx.CommonDirOf(d)
	if err != nil || common == d {
		return ""
	}
	return filepath.Join(common, "spine")
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// pipelineOptions builds the pipeline's options for the repository.
func (a *app) pipelineOptions(rc *repoContext, f *runFlags) (pipeline.Options, error) {
	if err := checkHostFlag(f.host); err != nil {
		return pipeline.Options{}, err
	}
	g, err := gitx.Open(rc.root)
	if err != nil {
		return pipeline.Options{}, exitf(exitUsage, "%v", err)
	}
	ver := receiptVersion()
	// The capability registry is read once per command; its policy
	// (gates, default timeouts) is looked up by name while planning.
	reg, _, err := pipeline.LoadCommittedCapabilities(g, rc.root, rc.cfg)
	if err != nil {
		return pipeline.Options{}, exitf(exitUsage, "%v", err)
	}
	capGate, capTimeout := pipeline.CapabilityPolicy(reg)
	var supervisor []string
	if exe, err := os.Executable(); err == nil {
		supervisor = []string{exe, supervisorCmd}
	}
	// Rehearse a crash: $SPINE_FAULT=<point>[@N] dies at the named point.
	fault := faultHook()
	signer, err := loadSigner(rc.root, rc.cfg)
	if err != nil {
		return pipeline.Options{}, exitf(exitUsage, "%v", err)
	}
	return pipeline.Options{
		Signer:     signer,
		Fault:      fault,
		Supervisor: supervisor,
		Root:       rc.root, Config: rc.cfg, Set: rc.set, Git: g,
		StateDir: stateDir(rc.root), LedgerDir: ledgerDir(rc.root), Host: f.hostName(), User: currentUser(),
		Env: os.Environ(), LookupEnv: os.LookupEnv, Clock: time.Now,
		Log: a.logger(), Version: ver,
		CapGate: capGate, CapTimeout: capTimeout, CapGates: pipeline.RegistryGates(reg),
		StepUmask: a.stepUmask,
	}, nil
}

// unsafeRune reports whether r has no place in a flag's value that ends
// up in a commit, a ledger or a path: a control character, or one that
// reorders text (termtext.IsBidiControl).
func unsafeRune(r rune) bool { return unicode.IsControl(r) || termtext.IsBidiControl(r) }

// checkHostFlag refuses a --host that is not one host name: it is matched
// against host= and written into receipts and key labels.
func checkHostFlag(host string) error {
	if host != "" && !loops.ValidHostName(host) {
		return exitf(exitUsage, "--host %q: one host name, of letters, digits, '.', '_' and '-'", host)
	}
	return nil
}
