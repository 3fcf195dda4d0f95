package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/internal/scaffold"
)

func newInitCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Write spine's starting files into an existing git repository",
		Long: `Write spine's starting files into the git repository (--repo, or the
current one): a commented spine.yaml, an example loop (loops/LOOP-EXAMPLE.md,
status draft), a verify pack (verify/example.yaml), an empty gap ledger
(gaps.yaml), the GitHub Actions workflow that calls spine's reusable
workflow (.github/workflows/spine.yml), and a .gitignore of the built site
(public/) where the repository has no .gitignore. It refuses to overwrite
anything and commits nothing: review, then commit.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			root, err := a.repoRoot()
			if err != nil {
				return err
			}
			// The workflow runs on pushes to the branch checked out now
			// (main when there is none yet).
			branch := ""
			if g, err := gitx.Open(root); err == nil {
				branch, _ = g.CurrentBranch()
			}
			written, err := scaffold.Init(root, time.Now(), branch)
			if errors.Is(err, scaffold.ErrExists) {
				return exitf(exitUsage, "%v", err)
			}
			if err != nil {
				return exitf(exitUsage, "%v", err)
			}
			for _, p := range written {
				fmt.Fprintf(a.stdout, "wrote %s\n", p)
			}
			if !scaffold.IgnoresSite(root) {
				fmt.Fprintf(a.stdout, "\n.gitignore does not ignore public/, where spine site build writes the site: add /public/ to it, or the site is committed with git add -A\n")
			}
			self := "spine"
			if a.repo != "" {
				self = "spine --repo " + a.repo
			}
			fmt.Fprintf(a.stdout, "\nIn .github/workflows/spine.yml, set host: to your self-hosted runner's label before you commit it (or leave the file out).\n")
			if branch == "" {
				fmt.Fprintf(a.stdout, "HEAD is on no branch: the workflow runs on pushes to main; change branches: in it if your branch is another.\n")
			}
			fmt.Fprintf(a.stdout, "\nNext:\n  %s lint                                  # check the documents\n  git add -A && git commit -m \"spine init\"      # spine runs only committed loops\n  %s plan                                  # what would run, and why (set status: active to run the example)\n", self, self)
			return nil
		},
	}
}
