package gitx

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestConfigAsGitFindsIt checks that the author spine commits as and the
// split-index setting come from the files git itself reads, with git as
// the judge: for each layout of configuration files and variables, `git
// config user.name` and Signature agree.
func TestConfigAsGitFindsIt(t *testing.T) {
	needGit(t)
	const unset = "(unset)"
	type file struct{ path, name string } // path under the case's folder; "" name: no user section
	cases := []struct {
		name  string
		files []file
		env   map[string]string // values may name the case's folder as {d}
		want  string
	}{
		{"home", []file{{"home/.gitconfig", "Home"}}, nil, "Home"},
		{"xdg default folder", []file{{"home/.config/git/config", "Xdg"}}, nil, "Xdg"},
		{"home wins over xdg", []file{{"xdg/git/config", "Xdg"}, {"home/.gitconfig", "Home"}},
			map[string]string{"XDG_CONFIG_HOME": "{d}/xdg"}, "Home"},
		{"GIT_CONFIG_GLOBAL alone", []file{{"home/.gitconfig", "Home"}, {"ci.gitconfig", "CI job"}},
			map[string]string{"GIT_CONFIG_GLOBAL": "{d}/ci.gitconfig"}, "CI job"},
		{"repository wins", []file{{"ci.gitconfig", "CI job"}, {"repo/.git/config", "Repo"}},
			map[string]string{"GIT_CONFIG_GLOBAL": "{d}/ci.gitconfig"}, "Repo"},
		{"system", []file{{"system.gitconfig", "System"}},
			map[string]string{"GIT_CONFIG_SYSTEM": "{d}/system.gitconfig", "GIT_CONFIG_NOSYSTEM": ""}, "System"},
		{"user wins over system", []file{{"system.gitconfig", "System"}, {"home/.gitconfig", "Home"}},
			map[string]string{"GIT_CONFIG_SYSTEM": "{d}/system.gitconfig", "GIT_CONFIG_NOSYSTEM": ""}, "Home"},
		{"GIT_CONFIG_GLOBAL empty: no user file", []file{{"home/.gitconfig", "Home"}},
			map[string]string{"GIT_CONFIG_GLOBAL": ""}, ""},
		{"GIT_CONFIG_SYSTEM empty: no system file", []file{{"etc/gitconfig", "System"}},
			map[string]string{"GIT_CONFIG_SYSTEM": "", "GIT_CONFIG_NOSYSTEM": ""}, ""},
		{"GIT_CONFIG_NOSYSTEM", []file{{"system.gitconfig", "System"}},
			map[string]string{"GIT_CONFIG_SYSTEM": "{d}/system.gitconfig", "GIT_CONFIG_NOSYSTEM": "true"}, ""},
		{"git -c wins over the repository", []file{{"repo/.git/config", "Repo"}},
			map[string]string{"GIT_CONFIG_PARAMETERS": "'user.name'='Dash C' 'user.email'='Dash.C@example.com' 'core.splitIndex'='true'"}, "Dash C"},
		{"GIT_CONFIG_COUNT wins over the files", []file{{"home/.gitconfig", "Home"}},
			map[string]string{"GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "user.name", "GIT_CONFIG_VALUE_0": "Env Pair",
				"GIT_CONFIG_KEY_1": "User.Email", "GIT_CONFIG_VALUE_1": "Env.Pair@example.com"}, "Env Pair"},
		{"git -c wins over GIT_CONFIG_COUNT", []file{{"home/.gitconfig", "Home"}},
			map[string]string{"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "user.name", "GIT_CONFIG_VALUE_0": "Env Pair",
				"GIT_CONFIG_PARAMETERS": "'user.name'='Home'"}, "Home"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			repo := filepath.Join(d, "repo")
			if out, err := exec.Command("git", "init", "-q", repo).CombinedOutput(); err != nil {
				t.Fatal(err, string(out))
			}
			env := map[string]string{"HOME": d + "/home", "XDG_CONFIG_HOME": unset, "GIT_CONFIG_GLOBAL": unset,
				"GIT_CONFIG_SYSTEM": d + "/none", "GIT_CONFIG_NOSYSTEM": "1",
				"GIT_AUTHOR_NAME": unset, "GIT_AUTHOR_EMAIL": unset,
				"GIT_CONFIG_PARAMETERS": unset, "GIT_CONFIG_COUNT": unset}
			for k, v := range tc.env {
				env[k] = v
			}
			for k, v := range env {
				t.Setenv(k, strings.ReplaceAll(v, "{d}", d)) // restored after the test
				if v == unset {
					os.Unsetenv(k)
				}
			}
			for _, f := range tc.files {
				p := filepath.Join(d, filepath.FromSlash(f.path))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				old, _ := os.ReadFile(p) // the repository's own config
				cfg := string(old) + "[user]\n\tname = " + f.name + "\n\temail = " + strings.ReplaceAll(f.name, " ", ".") + "@example.com\n"
				if strings.HasSuffix(f.path, "ci.gitconfig") {
					cfg += "[core]\n\tsplitIndex = true\n"
				}
				if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("git", "config", "user.name")
			cmd.Dir = repo
			out, _ := cmd.Output() // exit 1 when unset
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Fatalf("the case is wrong: git config user.name = %q, want %q", got, tc.want)
			}

			g, err := Open(repo)
			if err != nil {
				t.Fatal(err)
			}
			sig := g.Signature("host1", time.Unix(0, 0))
			wantName, wantEmail := tc.want, strings.ReplaceAll(tc.want, " ", ".")+"@example.com"
			if tc.want == "" {
				wantName, wantEmail = "spine", "spine@host1"
			}
			if sig.Name != wantName || sig.Email != wantEmail {
				t.Errorf("Signature = %s <%s>, want %s <%s> (as git)", sig.Name, sig.Email, wantName, wantEmail)
			}
			pol, err := g.readSplitPolicy()
			if err != nil {
				t.Fatal(err)
			}
			cmd = exec.Command("git", "config", "--type=bool", "core.splitIndex")
			cmd.Dir = repo
			out, _ = cmd.Output()
			if wantSplit := strings.TrimSpace(string(out)) == "true"; (pol.mode == splitAlways) != wantSplit {
				t.Errorf("split policy mode %v, git says core.splitIndex=%q", pol.mode, strings.TrimSpace(string(out)))
			}
		})
	}
}

// FuzzParseConfigParameters: GIT_CONFIG_PARAMETERS never panics, and the
// pairs it reads, quoted again as git quotes them, read back the same.
func FuzzParseConfigParameters(f *testing.F) {
	for _, s := range []string{
		"'safe.directory'='/srv/ops'",
		"'safe.directory=/srv/ops' 'core.bare'='false'",
		`'user.name'='O'\''Brien' 'a.b'`,
		"'x.y'= 'a.b'='c'",
		"'unterminated",
		"",
	} {
		f.Add(s)
	}
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	f.Fuzz(func(t *testing.T, s string) {
		pairs, ok := parseConfigParameters(s)
		if !ok {
			return
		}
		var b strings.Builder
		for _, kv := range pairs {
			b.WriteString(quote(kv[0]) + "=" + quote(kv[1]) + " ")
		}
		again, ok := parseConfigParameters(b.String())
		if !ok || !slices.Equal(again, pairs) {
			t.Fatalf("%q read %q; quoted again %q read %q (ok %v)", s, pairs, b.String(), again, ok)
		}
	})
}

func TestParseConfigParameters(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [][2]string
		ok   bool
	}{
		{"", nil, true},
		{"'safe.directory'='/srv/ops'", [][2]string{{"safe.directory", "/srv/ops"}}, true},
		{"'Safe.Directory=/srv/ops'", [][2]string{{"safe.directory", "/srv/ops"}}, true},
		{`'user.name'='O'\''Brien'`, [][2]string{{"user.name", "O'Brien"}}, true},
		{"'Remote.Origin.URL'='x'", [][2]string{{"remote.Origin.url", "x"}}, true},
		{"'core.bare' 'a.b'='c'", [][2]string{{"a.b", "c"}}, true},
		{"'a.b'='c' 'unterminated", [][2]string{{"a.b", "c"}}, false},
		{"a.b=c", nil, false},
	} {
		got, ok := parseConfigParameters(tc.in)
		if ok != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("parseConfigParameters(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
