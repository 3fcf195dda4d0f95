package gitx

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/config"
)

// userConfigPaths returns the configuration files outside the repository
// that git reads, in its order (a value in a later file wins): the system
// file ($GIT_CONFIG_SYSTEM when set, else /etc/gitconfig; none with
// GIT_CONFIG_NOSYSTEM true), then the user's ($GIT_CONFIG_GLOBAL alone
// when it is set, else $XDG_CONFIG_HOME/git/config, or
// ~/.config/git/config, and ~/.gitconfig). go-git's own GlobalScope knows
// neither variable and reads only the first user file that exists: a
// hook or a CI job that points GIT_CONFIG_GLOBAL at its own file would
// commit as somebody else.
func userConfigPaths() []string {
	var files []string
	noSystem := false
	if v := os.Getenv("GIT_CONFIG_NOSYSTEM"); v != "" {
		noSystem, _ = parseGitBool(v)
	}
	if !noSystem {
		if p, ok := os.LookupEnv("GIT_CONFIG_SYSTEM"); !ok {
			files = append(files, "/etc/gitconfig")
		} else if p != "" {
			files = append(files, p)
		}
	}
	if p, ok := os.LookupEnv("GIT_CONFIG_GLOBAL"); ok {
		// Set but empty: no user file at all, as in git.
		if p != "" {
			files = append(files, p)
		}
		return files
	}
	home, _ := os.UserHomeDir()
	xdg := os.Getenv("XDG_CONFIG_HOME")
	if xdg == "" && home != "" {
		xdg = filepath.Join(home, ".config")
	}
	if xdg != "" {
		files = append(files, filepath.Join(xdg, "git", "config"))
	}
	if home != "" {
		files = append(files, filepath.Join(home, ".gitconfig"))
	}
	return files
}

// gitConfig looks configuration values up as git does: the repository's
// own configuration first, then the files of userConfigPaths, latest
// first. A user file that is missing or does not parse is skipped.
type gitConfig struct {
	files []*config.Config // in git's reading order; the last wins
}

// config reads the repository's configuration and the user's.
func (g *Repo) config() (*gitConfig, error) {
	c := &gitConfig{}
	for _, p := range userConfigPaths() {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if f, err := config.ReadConfig(bytes.NewReader(b)); err == nil {
			c.files = append(c.files, f)
		}
	}
	local, err := g.R.Storer.Config()
	if err != nil {
		return nil, fmt.Errorf("read git config: %w", err)
	}
	c.files = append(c.files, local)
	return c, nil
}

// get returns section.key (no subsection) from the last file that sets it.
func (c *gitConfig) get(section, key string) (string, bool) {
	for i := len(c.files) - 1; i >= 0; i-- {
		if s := c.files[i].Raw.Section(section); s.Options.Has(key) {
			return s.Options.Get(key), true
		}
	}
	return "", false
}
