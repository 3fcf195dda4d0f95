package gitx

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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

// gitConfig looks configuration values up as git does: the environment's
// (commandLineConfig) first, then the repository's own configuration,
// then the files of userConfigPaths, latest first. A user file that is
// missing or does not parse is skipped.
type gitConfig struct {
	files []*config.Config // in git's reading order; the last wins
}

// config reads the repository's configuration, the user's and the
// environment's.
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
	// The environment's configuration (GIT_CONFIG_COUNT, git -c) last.
	if pairs := commandLineConfig(); len(pairs) > 0 {
		env := config.NewConfig()
		for _, kv := range pairs {
			section, sub, name := splitConfigKey(kv[0])
			switch {
			case section == "" || name == "":
			case sub == "":
				env.Raw.Section(section).AddOption(name, kv[1])
			default:
				env.Raw.Section(section).Subsection(sub).AddOption(name, kv[1])
			}
		}
		c.files = append(c.files, env)
	}
	return c, nil
}

// get returns section.key (no subsection) from the last file that sets it.
// ConfigBool reports whether git's setting section.key (as git finds it:
// the repository's configuration, the user's, the environment's) is a
// true boolean ("true", "yes", "on", "1", or a key without a value).
func (g *Repo) ConfigBool(section, key string) (bool, error) {
	c, err := g.config()
	if err != nil {
		return false, err
	}
	v, ok := c.get(section, key)
	if !ok {
		return false, nil
	}
	b, ok := parseGitBool(v)
	return ok && b, nil
}

func (c *gitConfig) get(section, key string) (string, bool) {
	for i := len(c.files) - 1; i >= 0; i-- {
		if s := c.files[i].Raw.Section(section); s.Options.Has(key) {
			return s.Options.Get(key), true
		}
	}
	return "", false
}

// commandLineConfig returns the configuration git takes from its
// environment, which it reads after the files and which wins over them:
// the GIT_CONFIG_COUNT, GIT_CONFIG_KEY_<n> and GIT_CONFIG_VALUE_<n> pairs,
// then GIT_CONFIG_PARAMETERS (what `git -c` hands its subprocesses, such
// as hooks). Keys are lower-cased but for a subsection, as git compares
// them. Pairs git would refuse (a count or key that does not parse, a
// missing value) end the list there: git refuses to run at all.
func commandLineConfig() [][2]string {
	var out [][2]string
	if s := os.Getenv("GIT_CONFIG_COUNT"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return out
		}
		for i := range n {
			k, okK := os.LookupEnv("GIT_CONFIG_KEY_" + strconv.Itoa(i))
			v, okV := os.LookupEnv("GIT_CONFIG_VALUE_" + strconv.Itoa(i))
			if !okK || !okV || k == "" {
				return out
			}
			out = append(out, [2]string{canonicalConfigKey(k), v})
		}
	}
	pairs, _ := parseConfigParameters(os.Getenv("GIT_CONFIG_PARAMETERS"))
	return append(out, pairs...)
}

// parseConfigParameters reads GIT_CONFIG_PARAMETERS: words in single
// quotes, each 'key'='value' (git 2.31 and later; a key alone, without a
// value, is left out) or 'key=value' (before); a quote inside a word is
// closed, written backslash-quote, and opened again, as the shell reads
// it. ok is false where the text does not parse; the pairs before that
// are returned.
func parseConfigParameters(s string) (pairs [][2]string, ok bool) {
	// word reads one quoted word at s[i] (a quote), returning it and the
	// index after it.
	word := func(i int) (string, int, bool) {
		if i >= len(s) || s[i] != '\'' {
			return "", i, false
		}
		var b strings.Builder
		for i++; ; {
			j := strings.IndexByte(s[i:], '\'')
			if j < 0 {
				return "", i, false
			}
			b.WriteString(s[i : i+j])
			i += j + 1
			// A backslash and a quote or '!' between quotes continue the
			// word with that character.
			if i+2 < len(s) && s[i] == '\\' && (s[i+1] == '\'' || s[i+1] == '!') && s[i+2] == '\'' {
				b.WriteByte(s[i+1])
				i += 3
				continue
			}
			return b.String(), i, true
		}
	}
	i := 0
	for {
		for i < len(s) && isConfigSpace(s[i]) {
			i++
		}
		if i == len(s) {
			return pairs, true
		}
		key, next, good := word(i)
		if !good {
			return pairs, false
		}
		i = next
		switch {
		case i == len(s) || isConfigSpace(s[i]):
			// 'key=value', or a key without a value.
			if k, v, found := strings.Cut(key, "="); found {
				pairs = append(pairs, [2]string{canonicalConfigKey(k), v})
			}
		case s[i] == '=':
			i++
			if i == len(s) || isConfigSpace(s[i]) {
				continue // 'key'= : no value
			}
			v, next, good := word(i)
			if !good {
				return pairs, false
			}
			i = next
			pairs = append(pairs, [2]string{canonicalConfigKey(key), v})
		default:
			return pairs, false
		}
	}
}

// isConfigSpace is the white space between GIT_CONFIG_PARAMETERS' words.
func isConfigSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

// canonicalConfigKey lower-cases a key's section and name, keeping its
// subsection as written.
func canonicalConfigKey(k string) string {
	section, sub, name := splitConfigKey(k)
	if sub != "" {
		return section + "." + sub + "." + name
	}
	if name == "" && section == "" {
		return strings.ToLower(strings.TrimSpace(k))
	}
	return section + "." + name
}

// splitConfigKey splits a key into its section and name, lower-cased, and
// its subsection (between the first and the last dot) as written; section
// and name are empty for a key without a dot.
func splitConfigKey(k string) (section, sub, name string) {
	k = strings.TrimSpace(k)
	first, last := strings.IndexByte(k, '.'), strings.LastIndexByte(k, '.')
	if first < 0 {
		return "", "", ""
	}
	section, name = strings.ToLower(k[:first]), strings.ToLower(k[last+1:])
	if first < last {
		sub = k[first+1 : last]
	}
	return section, sub, name
}
