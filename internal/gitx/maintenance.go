package gitx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// git's defaults for its automatic housekeeping (git-gc(1)): gc.auto loose
// objects, gc.autoPackLimit packs.
const (
	defaultGCAuto      = 6700
	defaultGCPackLimit = 50
)

// NeedsHousekeeping reports whether git's automatic housekeeping would
// find work in the repository, judged as `git gc --auto` judges it: more
// loose objects than gc.auto (estimated from the objects/17 folder, as git
// does), or more packs without a .keep than gc.autoPackLimit. It is false
// when gc.auto is 0 or maintenance.auto is false (the operator turned the
// housekeeping off). It reads two folders: cheap enough for every run.
func (g *Repo) NeedsHousekeeping() (bool, error) {
	cfg, err := g.config()
	if err != nil {
		return false, err
	}
	if v, ok := cfg.get("maintenance", "auto"); ok {
		if b, ok := parseGitBool(v); ok && !b {
			return false, nil
		}
	}
	limit := func(key string, def int) int {
		if v, ok := cfg.get("gc", key); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return n
			}
		}
		return def
	}
	auto, packLimit := limit("auto", defaultGCAuto), limit("autoPackLimit", defaultGCPackLimit)
	if auto <= 0 {
		return false, nil
	}
	objects, err := g.objectsDir()
	if err != nil {
		return false, err
	}
	// git: more than DIV_ROUND_UP(gc.auto, 256) loose objects in objects/17.
	names, err := readNames(filepath.Join(objects, "17"))
	if err != nil {
		return false, err
	}
	loose := 0
	for _, n := range names {
		if _, ok := parseHash("17" + n); ok {
			loose++
		}
	}
	if loose > (auto+255)/256 {
		return true, nil
	}
	if packLimit <= 0 {
		return false, nil
	}
	names, err = readNames(filepath.Join(objects, "pack"))
	if err != nil {
		return false, err
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	packs := 0
	for _, n := range names {
		if base, ok := strings.CutSuffix(n, ".pack"); ok && strings.HasPrefix(n, "pack-") && !have[base+".keep"] {
			packs++
		}
	}
	return packs > packLimit, nil
}

// readNames lists the folder dir (none when it does not exist).
func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// Housekeep runs git's automatic housekeeping in the repository, as `git
// commit` does after every commit: `git maintenance run --auto --quiet`
// (`git gc --auto --quiet` for a git without maintenance). git decides
// what to do and whether to do it in the background (gc.autoDetach,
// true by default: it returns at once). spine commits with go-git, which
// runs none, so without this a clone that only spine commits to gathers
// packs and loose objects for ever. Call it when NeedsHousekeeping says
// so. git runs in the repository whatever the environment names
// (GIT_DIR and the other variables git scopes to one repository are
// removed: a post-receive hook sets GIT_DIR to the repository pushed
// to). It returns exec.ErrNotFound when no git is installed.
func (g *Repo) Housekeep(ctx context.Context) error {
	git, err := exec.LookPath("git")
	if err != nil {
		return err
	}
	run := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, git, append([]string{"-C", g.Root}, args...)...)
		cmd.Env = repoFreeEnv(os.Environ())
		return cmd.CombinedOutput()
	}
	out, err := run("maintenance", "run", "--auto", "--quiet")
	if err != nil && bytes.Contains(out, []byte("is not a git command")) {
		out, err = run("gc", "--auto", "--quiet")
	}
	if err != nil {
		return fmt.Errorf("git housekeeping in %s: %w: %s", g.Root, err, bytes.TrimSpace(out))
	}
	return nil
}

// repoPointerEnv are the variables that point git at one repository, its
// objects, index or work tree (`git rev-parse --local-env-vars` less the
// configuration ones, repoConfigEnv).
var repoPointerEnv = []string{
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE",
	"GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE", "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS",
	"GIT_REPLACE_REF_BASE", "GIT_PREFIX", "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE",
	"GIT_COMMON_DIR", "GIT_NAMESPACE",
}

// repoConfigEnv are the variables that pass git configuration on (with
// the GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n pairs GIT_CONFIG_COUNT
// counts): git removes them too before it runs a command in another
// repository.
var repoConfigEnv = []string{"GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT"}

// repoFreeEnv returns env without the variables git removes before it
// runs a command in another repository (repoPointerEnv, repoConfigEnv):
// for git's housekeeping in the repository, whatever a hook's environment
// names.
func repoFreeEnv(env []string) []string { return withoutGitEnv(env, true) }

// RepoPointerFreeEnv returns env without the variables that point git at
// one repository (repoPointerEnv), keeping the configuration passed on
// (a proxy, url.*.insteadOf): for a step's git commands, which must find
// the repository they run in, a spine started from a git alias or hook
// being given GIT_DIR.
func RepoPointerFreeEnv(env []string) []string { return withoutGitEnv(env, false) }

// withoutGitEnv returns env without repoPointerEnv's variables, and with
// config, repoConfigEnv's too.
func withoutGitEnv(env []string, config bool) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		drop := slices.Contains(repoPointerEnv, name) ||
			config && (slices.Contains(repoConfigEnv, name) || strings.HasPrefix(name, "GIT_CONFIG_KEY_") || strings.HasPrefix(name, "GIT_CONFIG_VALUE_"))
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}
