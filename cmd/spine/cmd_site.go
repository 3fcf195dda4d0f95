package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/gcbudget"
	"github.com/spinehq/spine/internal/hugeheap"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/site"
)

func newSiteCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "site",
		Short: "Build or serve the evidence site",
		Long: `Build or serve the static evidence site: loops, stages, receipts, gaps,
verify packs, a timeline, an Atom feed and a search index.`,
	}
	c.AddCommand(newSiteBuildCmd(a), newSiteServeCmd(a))
	return c
}

// siteOptions reads the repository and returns the options of a build;
// once is set when the process builds the site once and exits.
func (a *app) siteOptions(out, baseURL string, once bool) (site.Options, error) {
	opts, wait, err := a.siteOptionsAsync(out, baseURL, once)
	wait()
	return opts, err
}

// siteOptionsAsync is siteOptions with the step states planned on another
// goroutine while the build starts (the build asks for them once it has
// read the templates, the manifest and the receipts, and while it reads
// the gap ledger): for 2,000 loops, planning is 50 ms the build no longer
// waits for first. wait, never nil, waits for the planning; call it before
// the process exits.
func (a *app) siteOptionsAsync(out, baseURL string, once bool) (opts site.Options, wait func(), err error) {
	wait = func() {}
	if err := config.CheckBaseURL(baseURL); err != nil {
		return site.Options{}, wait, exitf(exitUsage, "--base-url: %v", err)
	}
	rc, err := a.openRepoForSite(once)
	if err != nil {
		return site.Options{}, wait, err
	}
	return a.siteOptionsFrom(rc, out, baseURL)
}

// siteOptionsFrom is siteOptionsAsync for a repository already read.
func (a *app) siteOptionsFrom(rc *repoContext, out, baseURL string) (opts site.Options, wait func(), err error) {
	opts = site.Options{Root: rc.root, Out: out, Config: rc.cfg, Set: rc.set, BaseURL: baseURL, Logger: a.logger(), StateDir: stateDir(rc.root)}
	if give := rc.giveReceipts; give != nil {
		// The receipt history takes the receipts the build reads
		// (openOptions.shareReceipts). A build that fails before it read
		// them never hands them over: waiting then lets the history read
		// them itself, so that nothing waits for ever.
		opts.ReceiptsRead = func(lookup func(string) (*artifacts.Receipt, string, bool)) { give(lookup) }
		// The receipt index is written once the history is handed over,
		// while the states are planned (HistoryOptions.SaveLater): wait
		// for it too.
		settle := rc.historySettle
		defer func() {
			planned := wait
			wait = func() { give(nil); planned(); settle() }
		}()
	}
	// Step states come from the pipeline's planner. Where it cannot run
	// (no git repository), the site derives them from the receipts.
	states, reasons, wait, err := a.stepStatesAsync(rc, "")
	if err != nil {
		a.logger().Warn("site: step states from receipts only", "err", err)
		return opts, func() {}, nil
	}
	opts.StepState = func(d *loops.Document, s *loops.Step) string {
		if st := states(d, s); st != "" {
			return st
		}
		return "unknown"
	}
	opts.StepReason = reasons
	return opts, wait, nil
}

// siteMemoryLimit is the soft memory limit of a site build or server
// (runtime/debug.SetMemoryLimit) unless $GOMEMLIMIT sets one. The garbage
// collector's usual pacing lets the heap grow to twice what is live, which
// for a site of 10,000 loops and 58,000 receipts took the build to 830 MB;
// below the limit nothing changes (a site of 2,000 loops and 20,000
// receipts stays well under it), above it the collector runs more often.
const siteMemoryLimit = 384 << 20

// siteHeapBudget is the heap a site build or server lets grow before the
// garbage collector runs, unless $GOGC is set (gcbudget): a build whose
// live heap is small (a repository of 2,000 loops without receipts:
// about 45 MB) collects as if GOGC were 300 or more, one whose live heap
// is over half of it (2,000 loops and 20,000 receipts: about 110 MB) as
// by default, so that its peak memory does not grow.
const siteHeapBudget = 128 << 20

// limitSiteMemory applies siteMemoryLimit and siteHeapBudget. (A lower GC
// percentage was tried: on a quiet 2-core machine it cut the peak memory
// of a build of 2,000 loops and 20,000 receipts from 240 to 182 MB at the
// same time, but made a build of 2,000 loops alone 6% slower. A fixed
// higher one made small builds faster but took that build over 300 MB:
// bench/RESULTS.md, session 21.)
func limitSiteMemory() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(siteMemoryLimit)
	}
	_, gogc := os.LookupEnv("GOGC")
	gcbudget.Start(siteHeapBudget, gogc)
}

func newSiteBuildCmd(a *app) *cobra.Command {
	var out, baseURL string
	var full bool
	c := &cobra.Command{
		Use:   "build",
		Short: "Write the evidence site (default: public/)",
		Long: `Write the static evidence site to --out (default: site.out in spine.yaml,
else public/). The output is byte-identical for the same input and the
build is incremental: only files whose content changed are rewritten, and
pages of deleted loops or receipts are removed. The output folder is
spine's: an incremental build goes by its manifest (.spine-manifest.json)
and does not look at files changed or removed there by hand; --full
writes every file again. A build stopped halfway makes the next one write
every file again by itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			limitSiteMemory()
			// A one-shot build: its heap on huge pages (see hugeheap;
			// best effort, a refusal changes nothing but speed).
			_ = hugeheap.Reserve(siteMemoryLimit)
			opts, wait, err := a.siteOptionsAsync(out, baseURL, true)
			defer wait()
			if err != nil {
				return err
			}
			opts.Full = full
			start := time.Now()
			stats, err := site.Build(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "site: %d files in %s (%d written, %d unchanged, %d removed, %d warnings) in %s\n",
				stats.Files, site.OutDir(opts), stats.Written, stats.Unchanged, stats.Removed, len(stats.Warnings), time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "output `DIR` (default: site.out from spine.yaml, else public)")
	c.Flags().StringVar(&baseURL, "base-url", "", "public `URL` of the site, for absolute links in the Atom feed")
	c.Flags().BoolVar(&full, "full", false, "write every file again, whatever the last build's manifest says")
	return c
}

func newSiteServeCmd(a *app) *cobra.Command {
	var out, baseURL, addr string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Build the site, serve it on 127.0.0.1 and rebuild on change",
		Long: `Build the evidence site, serve it over HTTP (default 127.0.0.1:8080) and
rebuild it when loop documents, receipts, the gap ledger, verify packs or
spine.yaml change. On Linux it watches these with inotify and a rebuild
reads again only what changed; elsewhere, or when watching fails (the
reason is logged), it checks modification times every 500 ms and rebuilds
in full. Open pages reload by themselves after a rebuild that changed
anything. Stop with Ctrl-C (SIGINT) or SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.CheckBaseURL(baseURL); err != nil {
				return exitf(exitUsage, "--base-url: %v", err)
			}
			limitSiteMemory()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return a.serve(ctx, &siteLoader{a: a, out: out, baseURL: baseURL}, addr)
		},
	}
	c.Flags().StringVar(&out, "out", "", "output `DIR` (default: site.out from spine.yaml, else public)")
	c.Flags().StringVar(&baseURL, "base-url", "", "public `URL` of the site, for absolute links in the Atom feed")
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "`HOST:PORT` to listen on")
	return c
}
