// Package demo holds the example governed repository embedded in spine and
// the walk-through `spine demo` runs on it: a storage capacity loop in the
// shape of a real one, with harmless stand-ins for zpool, wipefs, zfs and
// rsync, run end to end through the real pipeline.
package demo

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/pipeline"
)

//go:embed all:repo
var files embed.FS

// LoopID is the demo loop's id.
const LoopID = "LOOP-MD1400-CAPACITY-DEMO"

// Gate is the demo's approval gate.
const Gate = "ALLOW_MD1400_PROVISION"

// Write copies the example repository into dir (which must be empty or
// absent) and commits it as the demo operator.
func Write(dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty; the demo needs a new folder", dir)
	}
	if err := os.MkdirAll(dir, fsx.DirMode); err != nil {
		return err
	}
	var paths []string
	err := fs.WalkDir(files, "repo", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, "repo/")
		if rel == "gitignore" {
			rel = ".gitignore"
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		mode := fsx.FileMode
		if path.Dir(rel) == "bin" {
			mode = fsx.ExecMode
		}
		full := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(full), fsx.DirMode); err != nil {
			return err
		}
		paths = append(paths, rel)
		return os.WriteFile(full, data, mode)
	})
	if err != nil {
		return fmt.Errorf("write demo repository: %w", err)
	}
	if _, err := git.PlainInit(dir, false); err != nil {
		return fmt.Errorf("git init %s: %w", dir, err)
	}
	g, err := gitx.Open(dir)
	if err != nil {
		return err
	}
	sig := object.Signature{Name: "Dana Lead", Email: "dana@demo-lab.example", When: time.Now()}
	if _, _, err := g.CommitFiles(paths, "Import the MD1400 capacity loop\n", sig); err != nil {
		return fmt.Errorf("initial commit: %w", err)
	}
	return nil
}

// Options configure a demo run.
type Options struct {
	// Dir is the demo repository (created).
	Dir string
	// Out receives the walk-through.
	Out io.Writer
	// Reporter shows the runs' progress (nil: none).
	Reporter pipeline.Reporter
	// Supervisor is spine's background supervisor argv.
	Supervisor []string
	// Version is spine's version, recorded in receipts.
	Version string
	// Host names this machine in receipts.
	Host string
	// BuildSite builds the evidence site of root and returns the path of
	// its index page.
	BuildSite func(ctx context.Context, root string) (string, error)
}

// Result says what the demo produced.
type Result struct {
	Receipts int
	Site     string
	Elapsed  time.Duration
}

// Run writes the example repository and takes it through a change: a run
// that stops at the gate, an approved run that provisions and starts the
// background copy, a run that records the copy and closes out, and the
// evidence site.
func Run(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	say := func(format string, args ...any) { fmt.Fprintf(o.Out, format+"\n", args...) }
	if err := Write(o.Dir); err != nil {
		return nil, err
	}
	say("spine demo: a governed repository in %s\n", o.Dir)
	say("1/5 First run. The baseline stage is read-only and runs; the provision stage is gated.")
	out, err := o.run(ctx, nil)
	if err != nil {
		return nil, err
	}
	for _, h := range out.Held {
		if h.State == pipeline.StateBlocked {
			say("\n    → %s is blocked: %s.\n      An operator approves with %s=yes in the environment (what the demo does next),\n      or by committing approvals: [%s] to the loop (an approver from spine.yaml).\n", h.Name, h.Gate, h.Gate, h.Gate)
			break
		}
	}
	say("2/5 Second run, approved through the environment: %s=yes.", Gate)
	if _, err := o.run(ctx, map[string]string{Gate: "yes"}); err != nil {
		return nil, err
	}
	say("\n3/5 The copy runs in the background under spine's supervisor; waiting for it to finish...")
	if err := o.waitBackground(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	say("4/5 Third run: records the finished copy and runs the closeout checks.")
	if _, err := o.run(ctx, map[string]string{Gate: "yes"}); err != nil {
		return nil, err
	}
	rep, err := artifacts.Verify(o.Dir, nil)
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		return nil, fmt.Errorf("demo receipts do not verify: %v", rep.Problems)
	}
	res := &Result{Receipts: rep.Receipts}
	say("\n    %d receipts written and committed; spine verify: hashes and chain match.", rep.Receipts)
	if o.BuildSite != nil {
		say("5/5 Building the evidence site.")
		idx, err := o.BuildSite(ctx, o.Dir)
		if err != nil {
			return nil, fmt.Errorf("build site: %w", err)
		}
		res.Site = idx
		say("    %s", idx)
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// env returns the environment of the demo's steps: the stand-ins first on
// PATH, the demo state inside the repository, and no approvals inherited
// from the caller's shell.
func (o Options) env(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ALLOW_") || strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "GIT_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PATH="+filepath.Join(o.Dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"SPINE_DEMO_STATE="+filepath.Join(o.Dir, ".demo-state"))
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// opts builds pipeline options for one run over the current documents.
func (o Options) opts(extra map[string]string) (pipeline.Options, error) {
	cfg, err := config.Load(o.Dir)
	if err != nil {
		return pipeline.Options{}, err
	}
	paths, err := loops.Discover(o.Dir, cfg.Loops, cfg.Exclude, []string{cfg.Receipts, cfg.Artifacts, cfg.Site.Out})
	if err != nil {
		return pipeline.Options{}, err
	}
	g, err := gitx.Open(o.Dir)
	if err != nil {
		return pipeline.Options{}, err
	}
	host := o.Host
	if host == "" {
		host = "demo-host"
	}
	return pipeline.Options{
		Root: o.Dir, Config: cfg, Set: loops.Load(o.Dir, paths), Git: g,
		StateDir: filepath.Join(o.Dir, ".git", "spine"), Host: host, User: "dana",
		Env: o.env(extra),
		LookupEnv: func(k string) (string, bool) {
			v, ok := extra[k]
			return v, ok
		},
		Reporter: o.Reporter, Supervisor: o.Supervisor, Version: o.Version,
	}, nil
}

func (o Options) run(ctx context.Context, extra map[string]string) (*pipeline.Outcome, error) {
	opts, err := o.opts(extra)
	if err != nil {
		return nil, err
	}
	out, err := pipeline.NewRunner(opts).Run(ctx)
	if err != nil {
		return nil, err
	}
	if out.Failed {
		return nil, errors.New("a demo step failed; see the output above")
	}
	return out, nil
}

// waitBackground polls the plan until no step of the demo loop is running.
func (o Options) waitBackground(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		opts, err := o.opts(nil)
		if err != nil {
			return err
		}
		p, err := pipeline.Plan(opts)
		if err != nil {
			return err
		}
		running := ""
		for _, it := range p.PlanLoop(opts.Set.ByID(LoopID)) {
			if it.State == pipeline.StateRunning {
				running = it.Reason
			}
		}
		if running == "" {
			return nil
		}
		fmt.Fprintf(o.Out, "    %s\n", running)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("the background copy did not finish within %s", limit)
}
