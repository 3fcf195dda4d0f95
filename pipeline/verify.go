package pipeline

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/packs"
)

// PackRunner runs verify packs from the repository's verify folder: the
// built-in capability verify.pack.run.
type PackRunner struct {
	// Dir is the verify folder (absolute).
	Dir string
	// Root is the working directory of the checks.
	Root string
	// Umask, when set, is the umask the checks run under (see
	// Options.StepUmask).
	Umask *fs.FileMode
	// Committed, when set, says why a pack file (its path relative to
	// Root, and its bytes) may not run: it is not what HEAD holds. The
	// bytes checked are the bytes run.
	Committed func(rel string, data []byte) error
}

// RunPack loads verify/<pack>.yaml and runs its checks in order (once
// Committed, when set, has passed its bytes).
func (p *PackRunner) RunPack(ctx context.Context, pack string, out io.Writer, env []string) ([]artifacts.CheckResult, string, bool, error) {
	all, problems := packs.LoadDir(p.Dir)
	if packs.HasErrors(problems) {
		for _, pr := range problems {
			if pr.Level == packs.LevelError && filepath.Base(pr.Path) == pack+".yaml" {
				return nil, "", true, fmt.Errorf("%s", pr.String())
			}
		}
	}
	pk, ok := packs.Lookup(all, pack)
	if !ok {
		return nil, "", true, fmt.Errorf("no verify pack %q in %s", pack, p.Dir)
	}
	if p.Committed != nil {
		data, err := os.ReadFile(pk.Path)
		if err != nil {
			return nil, "", true, err
		}
		rel, err := filepath.Rel(p.Root, pk.Path)
		if err != nil {
			return nil, "", true, err
		}
		if err := p.Committed(filepath.ToSlash(rel), data); err != nil {
			return nil, "", true, err
		}
		read, problems, err := packs.Parse(pk.Path, data)
		if err != nil || packs.HasErrors(problems) || read.Name != pack {
			return nil, "", true, fmt.Errorf("%s changed while it was read; run again", rel)
		}
		pk = read
	}
	res := packs.Run(ctx, pk, packs.RunOptions{Dir: p.Root, Env: env, Output: out, Umask: p.Umask})
	return res.Checks, res.Summary, res.Failed, nil
}
