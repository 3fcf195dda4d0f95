package pipeline

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/spinehq/spine/artifacts"

	"github.com/google/go-cmp/cmp"
)

// randHex returns n random bytes as lower-case hex.
func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// secretShape is one kind of secret a step prints. The loop document never
// holds the value: the step reads it from the environment or assembles it
// from pieces at run time.
type secretShape struct {
	name string
	// value is what must never be found (the whole secret, or the part of
	// it that is secret).
	value string
	// env is set in spine's environment (NAME=value).
	env []string
	// script prints the secret on stdout once.
	script string
}

// secretShapes returns every kind of secret the redaction promise covers,
// with fresh random values.
func secretShapes(t *testing.T) []secretShape {
	h := randHex(t, 16) // 32 hex digits
	upper := strings.ToUpper(h)
	gh := h + "abcd" // 36 alphanumerics
	pem1, pem2 := "MIIEowIBAAKCAQEA"+h, "q83Hd"+upper+"/+Zx="
	urlPass := "hunter2-" + h[:12]
	return []secretShape{
		{name: "policy.secret_env value", value: "db-" + h + "-Pa55", env: []string{"DB_PASSWORD=db-" + h + "-Pa55"}, script: `echo "db password: $DB_PASSWORD"`},
		{name: "second secret_env value", value: "tok" + h[:20] + "XyZ", env: []string{"API_TOKEN=tok" + h[:20] + "XyZ"}, script: `printf 'X-Api-Key: %s\n' "$API_TOKEN"`},
		{name: "GitHub classic token", value: "ghp_" + gh, script: fmt.Sprintf(`A=gh; B=p_%s; echo "token ${A}${B}"`, gh)},
		{name: "GitHub fine-grained token", value: "github_pat_" + h[:22] + "_" + upper[:10], script: fmt.Sprintf(`A=github; B=_pat_%s_%s; echo "GH=${A}${B}"`, h[:22], upper[:10])},
		{name: "AWS access key id", value: "AKIA" + upper[:16], script: fmt.Sprintf(`A=AK; B=IA%s; echo "aws_access_key_id = ${A}${B}"`, upper[:16])},
		{name: "Bearer token", value: "eyJ" + h + ".sig", script: fmt.Sprintf(`A=eyJ; B=%s.sig; echo "Authorization: Bearer ${A}${B}"`, h)},
		{name: "PEM private key", value: pem1, script: fmt.Sprintf(`K=KEY; echo "-----BEGIN RSA PRIVATE ${K}-----"; P=MIIE; echo "${P}%s"; Q=q83H; echo "${Q}%s"; echo "-----END RSA PRIVATE ${K}-----"`, strings.TrimPrefix(pem1, "MIIE"), strings.TrimPrefix(pem2, "q83H"))},
		{name: "PEM private key, second line", value: pem2},
		{name: "password in URL userinfo", value: urlPass, env: []string{"URL_PW=" + urlPass}, script: `echo "connecting to postgres://admin:$URL_PW@db.example.com:5432/app"`},
		{name: "password= in a query string", value: "qs" + h[:14], env: []string{"QS_PW=qs" + h[:14]}, script: `echo "GET https://api.example.com/login?user=ops&password=$QS_PW&x=1"`},
		// Printed in pieces a reader sees joined (the site drops escape
		// sequences and control bytes): grep --color, a NUL in a value.
		{name: "GitHub token split by colour codes", value: upper[:4] + h, script: fmt.Sprintf(`A=%s; B=%s; printf 'token=\033[01;31m\033[Kghp_\033[m\033[K%%s%%s\n' "$A" "$B"`, upper[:4]+h[:10], h[10:])},
		{name: "secret_env value split by a NUL", value: "nul-" + h[:20] + "-Z", env: []string{"NUL_SECRET=nul-" + h[:20] + "-Z"}, script: fmt.Sprintf(`printf 'value: nul-%s\000%s-Z\n'`, h[:10], h[10:20])},
	}
}

// findSecrets reports every file under dir holding one of the values.
func findSecrets(t *testing.T, dir string, values []string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, v := range values {
			if bytes.Contains(data, []byte(v)) {
				hits = append(hits, fmt.Sprintf("%s holds %q", p, v))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestSecretsNeverReachRepoOrSite runs steps that print every kind of
// secret on stdout, on stderr and into an artifact, then searches every
// file of the working tree (spine's local state included), every git
// object and the built site for the values.
func TestSecretsNeverReachRepoOrSite(t *testing.T) {
	r := newRepo(t)
	shapes := secretShapes(t)
	var env, values []string
	var stdout, stderr strings.Builder
	printed := 0
	for _, s := range shapes {
		env = append(env, s.env...)
		values = append(values, s.value)
		if s.script != "" {
			stdout.WriteString(s.script + "\n")
			stderr.WriteString("{ " + s.script + "; } >&2\n")
			printed++
		}
	}
	body := "## Stage 1: Leak\n\n```sh {name=leak-stdout artifact=leak.txt}\n" + stdout.String() + "```\n\n" +
		"```sh {name=leak-stderr}\n" + stderr.String() + "```\n\n" +
		"## Stage 2: Fail loudly\n\n```sh {name=leak-and-fail allow_failure=true}\n" + stdout.String() + "exit 7\n```\n"
	r.commit("loop", map[string]string{
		"spine.yaml": "policy:\n  secret_env: [DB_PASSWORD, API_TOKEN, NUL_SECRET]\n",
		"loops/a.md": loopDoc("LOOP-SECRET", body),
	})
	if doc := r.read("loops/a.md"); findIn(doc, values) != "" {
		t.Fatalf("test bug: the loop document holds %q", findIn(doc, values))
	}
	key, keys := signingKey(t)
	out, code := r.spine(context.Background(), append(env, "SPINE_SIGNING_KEY="+key), "run")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	if v := findIn(out, values); v != "" {
		t.Errorf("spine's own output shows %q", v)
	}
	for _, rc := range r.receipts() {
		if rc.Redactions < printed {
			t.Errorf("%s: redactions = %d, want at least %d", rc.Step, rc.Redactions, printed)
		}
	}
	if !strings.Contains(r.read("artifacts/loop-secret/leak.txt"), artifacts.Redacted) {
		t.Error("the artifact is not redacted")
	}
	// The working tree and spine's local state (journal, logs).
	for _, h := range findSecrets(t, r.root, values) {
		t.Error(h)
	}
	// Every git object, decompressed.
	objs := r.git("cat-file", "--batch-all-objects", "--batch")
	if v := findIn(objs, values); v != "" {
		t.Errorf("a git object holds %q", v)
	}
	// The site.
	site := filepath.Join(t.TempDir(), "public")
	if out, code := r.spine(context.Background(), env, "site", "build", "--out", site); code != 0 {
		t.Fatalf("site build: exit %d\n%s", code, out)
	}
	for _, h := range findSecrets(t, site, values) {
		t.Error(h)
	}
	if out, code := r.spine(context.Background(), nil, "verify", "--keys", keys); code != 0 {
		t.Errorf("verify: exit %d\n%s", code, out)
	}
}

// findIn returns the first of values found in s, or "".
func findIn(s string, values []string) string {
	for _, v := range values {
		if strings.Contains(s, v) {
			return v
		}
	}
	return ""
}

// TestSecretInCommandTextIsRedacted covers a secret written literally in
// a step's command (the loop document holds it: that is its author's
// commit, not spine's). spine must not copy it: receipt.json stores the
// command redacted, command_sha256 is the hash of what is stored (so verify
// passes), the receipt counts the redaction, and planning does not take
// the step for edited — with or without the secret in the environment — so
// a passed step is not reported edited and a failed one is not re-run.
func TestSecretInCommandTextIsRedacted(t *testing.T) {
	r := newRepo(t)
	secret := "lit-" + randHex(t, 12)
	okCount, failCount := counter(t), counter(t)
	passDoc := loopDoc("LOOP-LIT", fmt.Sprintf("## Stage 1: Use\n\n```sh {name=use-key}\necho run >> %s\necho 'X-Key: %s' > /dev/null\n```\n", okCount, secret))
	failDoc := func(extra string) string {
		return loopDoc("LOOP-LITFAIL", fmt.Sprintf("## Stage 1: Use\n\n```sh {name=bad-key}\necho run >> %s\n%stest '%s' = nope\n```\n", failCount, extra, secret))
	}
	r.commit("loops", map[string]string{
		"spine.yaml": "policy:\n  secret_env: [DB_PASSWORD]\n",
		"loops/a.md": passDoc,
		"loops/b.md": failDoc(""),
	})
	withSecret := []string{"DB_PASSWORD=" + secret}
	if out, code := r.spine(context.Background(), withSecret, "run"); code != 1 {
		t.Fatalf("run: exit %d, want 1 (bad-key fails)\n%s", code, out)
	}
	for _, rc := range r.receipts() {
		if strings.Contains(rc.Command, secret) || !strings.Contains(rc.Command, artifacts.Redacted) {
			t.Errorf("%s: command %q not redacted", rc.Step, rc.Command)
		}
		if rc.CommandSHA256 != artifacts.CommandSHA256(rc.Command) {
			t.Errorf("%s: command_sha256 is not the hash of the stored command", rc.Step)
		}
		if rc.Redactions < 1 {
			t.Errorf("%s: redactions = %d", rc.Step, rc.Redactions)
		}
	}
	for _, h := range findSecrets(t, filepath.Join(r.root, "receipts"), []string{secret}) {
		t.Error(h)
	}
	if out, code := r.spine(context.Background(), nil, "verify"); code != 0 {
		t.Errorf("verify: exit %d\n%s", code, out)
	}
	for _, env := range [][]string{withSecret, nil} {
		name := "with the secret"
		if env == nil {
			name = "without the secret"
		}
		plan, _ := r.spine(context.Background(), env, "plan", "--json")
		var items []Item
		if err := json.Unmarshal([]byte(plan), &items); err != nil {
			t.Fatalf("plan --json: %v\n%s", err, plan)
		}
		for _, it := range items {
			if it.Name == "use-key" || (it.Name == "bad-key" && it.State != StateFailed) {
				t.Errorf("plan %s: %s is %s (%s)", name, it.Name, it.State, it.Reason)
			}
		}
		r.spine(context.Background(), env, "run")
		if a, b := countLines(t, okCount), countLines(t, failCount); a != 1 || b != 1 {
			t.Errorf("run %s: use-key ran %d times, bad-key %d times; want once each", name, a, b)
		}
	}
	// A real edit is still an edit.
	r.commit("edit", map[string]string{"loops/b.md": failDoc("echo edited\n")})
	if it := r.plan(map[string]string{"DB_PASSWORD": secret}, "LOOP-LITFAIL", "bad-key"); it.State != StatePending {
		t.Errorf("edited failed step: %s (%s), want pending", it.State, it.Reason)
	}
	r.commit("edit", map[string]string{"loops/a.md": strings.Replace(passDoc, "> /dev/null", ">/dev/null", 1)})
	if it := r.plan(nil, "LOOP-LIT", "use-key"); it.State != StateEdited {
		t.Errorf("edited passed step: %s (%s), want edited", it.State, it.Reason)
	}
}

// TestMatchRedacted checks the wildcard match planning uses for commands
// stored redacted.
func TestMatchRedacted(t *testing.T) {
	R := artifacts.Redacted
	for _, tc := range []struct {
		pattern, cmd string
		want         bool
	}{
		{"echo " + R, "echo s3cret", true},
		{"a " + R + " b " + R + " c", "a x b y c", true},
		{"a " + R + " b", "a x c", false},
		{R + " tail", "head tail", true},
		{"ab" + R + "ba", "aba", false},
		{"echo " + R, "echo", false},
		{"echo " + R + "!", "echo x", false},
	} {
		if got := matchRedacted(tc.pattern, tc.cmd); got != tc.want {
			t.Errorf("matchRedacted(%q, %q) = %v, want %v", tc.pattern, tc.cmd, got, tc.want)
		}
	}
}

// TestUnsafeNamesRefused puts path and shell payloads in every name a loop
// document gives spine: each is a lint error naming file:line, nothing runs,
// and nothing is written outside the repository (or the site's folder).
func TestUnsafeNamesRefused(t *testing.T) {
	type tc struct {
		name string
		// doc builds the document from the sentinel a shell payload would
		// create and the folder outside the repository.
		doc      func(sentinel, outside string) string
		wantLine int
		wantText string
	}
	step := func(attrs string) func(string, string) string {
		return func(sentinel, outside string) string {
			return "---\nloop_id: LOOP-U\nstatus: active\n---\n\n# Loop Scope: LOOP-U\n\n## Stage 1: X\n\n```sh {" + attrs + "}\necho ran > " + sentinel + ".ran\n```\n"
		}
	}
	loopID := func(id string) func(string, string) string {
		return func(sentinel, outside string) string {
			return "---\nloop_id: " + id + "\nstatus: active\n---\n\n# Loop Scope\n\n## Stage 1: X\n\n```sh {name=x artifact=x.txt}\necho ran > " + sentinel + ".ran\n```\n"
		}
	}
	cases := []tc{
		{"loop id with ../", loopID(`"../../outside/pwn"`), 2, "loop id"},
		{"absolute loop id", loopID(`"/tmp/pwn"`), 2, "loop id"},
		{"loop id with newline", loopID(`"a\nb"`), 2, "loop"},
		{"loop id with NUL", loopID(`"a\0b"`), 2, "loop"},
		{"loop id with command substitution", loopID(`"$(touch SENTINEL)"`), 2, "loop id"},
		{"loop id with ;", loopID(`"a;touch SENTINEL"`), 2, "loop id"},
		{"step name with ../", step(`name=../../outside/pwn`), 10, "step name"},
		{"absolute step name", step(`name=/tmp/pwn`), 10, "step name"},
		{"step name with command substitution", step(`name="$(touch SENTINEL)"`), 10, "step name"},
		// CommonMark: a backtick fence's info string holds no backtick, so
		// this is no code block at all: nothing to run, nothing to refuse.
		{"step name with backticks", step("name=\"`touch SENTINEL`\""), 0, ""},
		{"step name with ;", step(`name="a;touch SENTINEL"`), 10, "step name"},
		{"artifact with ../", step(`name=x artifact=../../outside/pwn.txt`), 10, "artifact"},
		{"absolute artifact", step(`name=x artifact=/tmp/pwn.txt`), 10, "artifact"},
		{"artifact with NUL", step("name=x artifact=\"a\x00b\""), 10, "nul"},
		{"artifact with command substitution", step(`name=x artifact="$(touch SENTINEL)"`), 10, "artifact"},
		{"cap with ../", step(`name=x cap=../../outside`), 10, "cap"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			r := &testRepo{t: t, root: filepath.Join(base, "repo")}
			if err := os.MkdirAll(r.root, 0o755); err != nil {
				t.Fatal(err)
			}
			r.git("init", "-q", "-b", "main")
			outside := filepath.Join(base, "outside")
			if err := os.MkdirAll(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			sentinel := filepath.Join(base, "sentinel")
			doc := strings.ReplaceAll(c.doc(sentinel, outside), "SENTINEL", sentinel)
			r.commit("loop", map[string]string{"loops/u.md": doc})
			out, code := r.spine(context.Background(), nil, "lint")
			want := fmt.Sprintf("loops/u.md:%d: error", c.wantLine)
			if c.wantLine > 0 && (code != 2 || !strings.Contains(out, want) || !strings.Contains(strings.ToLower(out), c.wantText)) {
				t.Errorf("lint: exit %d, want 2 and %q naming %s\n%s", code, want, c.wantText, out)
			}
			r.spine(context.Background(), nil, "run")
			if _, err := os.Stat(sentinel + ".ran"); err == nil {
				t.Error("the step ran")
			}
			if _, err := os.Stat(sentinel); err == nil {
				t.Error("a shell payload ran")
			}
			site := filepath.Join(base, "site")
			if out, code := r.spine(context.Background(), nil, "site", "build", "--out", site); code != 0 {
				t.Errorf("site build: exit %d\n%s", code, out)
			}
			// Only the repository, the (empty) outside folder and the site.
			entries, _ := os.ReadDir(base)
			for _, e := range entries {
				if n := e.Name(); n != "repo" && n != "outside" && n != "site" {
					t.Errorf("written outside the repository: %s", filepath.Join(base, n))
				}
			}
			if entries, _ := os.ReadDir(outside); len(entries) > 0 {
				t.Errorf("written to the outside folder: %v", entries)
			}
			if _, err := os.Stat("/tmp/pwn"); err == nil {
				t.Error("/tmp/pwn exists")
			}
		})
	}
}

// TestForgedReceiptStaysInside commits a receipt whose run_key and paths
// try to leave the repository: verify names it, and neither a run nor the
// site writes outside.
func TestForgedReceiptStaysInside(t *testing.T) {
	base := t.TempDir()
	r := &testRepo{t: t, root: filepath.Join(base, "repo")}
	if err := os.MkdirAll(r.root, 0o755); err != nil {
		t.Fatal(err)
	}
	r.git("init", "-q", "-b", "main")
	key := "CAP-20260301-101500__step.x__Rabcdefghij"
	forged := fmt.Sprintf(`{"run_key": "../../../../outside/pwn", "loop_id": "../../outside/loop", "step": "x", "status": "pass", "command": "", "command_sha256": "%s", "artifacts": [{"path": "../outside/artifact", "sha256": "00", "size": 1}], "prev": ""}`, artifacts.CommandSHA256(""))
	r.commit("forged", map[string]string{
		"receipts/2026/03/01/" + key + "/receipt.json": forged,
		"gaps.yaml":  "gaps:\n  - id: ../../outside/gap\n    status: open\n    title: x\n",
		"loops/a.md": loopDoc("LOOP-A", "## Stage 1: X\n\n```sh {name=x}\ntrue\n```\n"),
	})
	out, code := r.spine(context.Background(), nil, "verify")
	if code != 1 || !strings.Contains(out, key) {
		t.Errorf("verify: exit %d, want 1 naming %s\n%s", code, key, out)
	}
	r.spine(context.Background(), nil, "run")
	site := filepath.Join(base, "site")
	r.spine(context.Background(), nil, "site", "build", "--out", site)
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		if n := e.Name(); n != "repo" && n != "site" {
			t.Errorf("written outside the repository: %s", n)
		}
	}
}

// TestSymlinksNotFollowed replaces spine's folders by symbolic links to a
// folder outside the repository: the step's artifact and receipts must not
// land there, the step must not run, and the refusal must say why.
func TestSymlinksNotFollowed(t *testing.T) {
	year := time.Now().UTC().Format("2006")
	for _, tc := range []struct {
		name, link string
	}{
		{"artifacts/<slug>", "artifacts/loop-a"},
		{"artifacts", "artifacts"},
		{"receipts/YYYY", "receipts/" + year},
		{"receipts", "receipts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			count := counter(t)
			outside := t.TempDir()
			r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: X\n\n```sh {name=x artifact=01-x.txt}\necho run >> %s\necho artifact\n```\n", count))})
			link := filepath.Join(r.root, filepath.FromSlash(tc.link))
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, link); err != nil {
				t.Fatal(err)
			}
			r.git("add", "-A")
			r.git("commit", "-q", "-m", "a link")
			out, code := r.spine(context.Background(), nil, "run")
			if code == 0 {
				t.Errorf("run went ahead through a symlinked %s:\n%s", tc.link, out)
			}
			if !strings.Contains(out, "symbolic link") {
				t.Errorf("the refusal does not name the symbolic link:\n%s", out)
			}
			if n := countLines(t, count); n != 0 {
				t.Errorf("the step ran %d times", n)
			}
			if entries, _ := os.ReadDir(outside); len(entries) > 0 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("written through the link: %v", names)
			}
		})
	}
}

// cspMeta finds the Content-Security-Policy meta tag of a page.
var cspMeta = regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`)

// TestSiteIsInert builds the site of a real run whose loop document and
// step output carry script payloads: every page has a Content-Security-Policy
// allowing no inline script and no remote origin, and no payload is live
// markup.
func TestSiteIsInert(t *testing.T) {
	r := newRepo(t)
	payloads := "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) <a href=\"javascript:alert(4)\">x</a> <svg onload=alert(5)>"
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-XSS", payloads+"\n\n## Stage 1: "+strings.ReplaceAll(payloads, "\n", " ")+"\n\n```sh {name=x artifact=x.html}\ncat <<'EOF'\n"+payloads+"\nEOF\ncat <<'EOF' >&2\n"+payloads+"\nEOF\n```\n")})
	if out, code := r.spine(context.Background(), nil, "run"); code != 0 {
		t.Fatalf("run: %d\n%s", code, out)
	}
	site := filepath.Join(t.TempDir(), "public")
	if out, code := r.spine(context.Background(), nil, "site", "build", "--out", site); code != 0 {
		t.Fatalf("site build: %d\n%s", code, out)
	}
	pages := 0
	err := filepath.WalkDir(site, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".html") {
			return err
		}
		pages++
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		m := cspMeta.FindSubmatch(data)
		if m == nil {
			t.Errorf("%s: no Content-Security-Policy meta tag", p)
			return nil
		}
		csp := map[string]string{}
		for _, d := range strings.Split(string(m[1]), ";") {
			f := strings.Fields(d)
			if len(f) > 0 {
				csp[f[0]] = strings.Join(f[1:], " ")
			}
		}
		if csp["default-src"] != "'self'" {
			t.Errorf("%s: default-src is %q", p, csp["default-src"])
		}
		if s, ok := csp["script-src"]; ok && s != "'self'" && !regexp.MustCompile(`^'self'( 'sha(256|384|512)-[A-Za-z0-9+/=]+')*$`).MatchString(s) {
			t.Errorf("%s: script-src %q allows more than 'self' and hashes", p, s)
		}
		for dir, v := range csp {
			if strings.Contains(v, "unsafe-inline") || strings.Contains(v, "unsafe-eval") || strings.Contains(v, "http:") || strings.Contains(v, "https:") || strings.Contains(v, "*") {
				t.Errorf("%s: %s %q allows inline code or a remote origin", p, dir, v)
			}
		}
		for _, bad := range liveMarkup(data) {
			t.Errorf("%s: live markup: %s", p, bad)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages < 3 {
		t.Fatalf("only %d pages built", pages)
	}
}

// liveMarkup tokenizes an HTML page and returns what a browser would run:
// inline scripts, event handler attributes, javascript: URLs.
func liveMarkup(page []byte) []string {
	var bad []string
	z := html.NewTokenizer(bytes.NewReader(page))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return bad
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			hasSrc := false
			for _, a := range tok.Attr {
				v := strings.ToLower(strings.Map(func(r rune) rune {
					if r <= ' ' {
						return -1
					}
					return r
				}, a.Val))
				switch {
				case strings.HasPrefix(a.Key, "on"):
					bad = append(bad, fmt.Sprintf("<%s %s=%q>", tok.Data, a.Key, a.Val))
				case strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "vbscript:"):
					bad = append(bad, fmt.Sprintf("<%s %s=%q>", tok.Data, a.Key, a.Val))
				case a.Key == "src":
					hasSrc = true
					if strings.Contains(v, "//") {
						bad = append(bad, fmt.Sprintf("<%s src=%q> from another origin", tok.Data, a.Val))
					}
				}
			}
			if tok.Data == "script" && !hasSrc {
				bad = append(bad, "an inline <script>")
			}
		}
	}
}

// TestKeygenAndSignedRun makes a host key with spine keygen, publishes it,
// runs with it, and checks spine verify --keys: every receipt signed, a
// tampered receipt and an unsigned one named.
func TestKeygenAndSignedRun(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: X\n\n```sh {name=one artifact=one.txt}\necho 1\n```\n\n```sh {name=two}\necho 2\n```\n")})
	cfgHome := t.TempDir()
	env := []string{"XDG_CONFIG_HOME=" + cfgHome}
	out, code := r.spine(context.Background(), env, "keygen", "--publish", "--host", "testhost")
	keyPath := filepath.Join(cfgHome, "spine", "host.key")
	if code != 0 || !strings.Contains(out, keyPath) || !strings.Contains(out, "BEGIN PUBLIC KEY") {
		t.Fatalf("keygen: exit %d\n%s", code, out)
	}
	fi, err := os.Stat(keyPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi)
	}
	if strings.Contains(r.read(artifacts.PublishedKeysFile), "PRIVATE") {
		t.Fatal("the published key file holds a private key")
	}
	// keygen never replaces a key, and never writes one into the repository.
	if out, code := r.spine(context.Background(), env, "keygen"); code != 2 || !strings.Contains(out, "--force") {
		t.Errorf("second keygen: exit %d\n%s", code, out)
	}
	if out, code := r.spine(context.Background(), env, "keygen", "--out", filepath.Join(r.root, "host.key")); code != 2 || !strings.Contains(out, "inside the repository") {
		t.Errorf("keygen into the repository: exit %d\n%s", code, out)
	}
	r.commit("publish the host key", map[string]string{artifacts.PublishedKeysFile: r.read(artifacts.PublishedKeysFile)})
	// Configured by spine.yaml.
	r.commit("sign", map[string]string{"spine.yaml": "signing:\n  key: " + keyPath + "\n"})
	if out, code := r.spine(context.Background(), nil, "run"); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	r.clean()
	keys := filepath.Join(r.root, artifacts.PublishedKeysFile)
	out, code = r.spine(context.Background(), nil, "verify", "--keys", keys)
	if code != 0 || !strings.Contains(out, "2 of 2 receipt(s) signed") {
		t.Fatalf("verify --keys: exit %d\n%s", code, out)
	}
	rcs := r.receipts()
	store := &artifacts.Store{Root: r.root}
	dir0, _ := store.RelDir(rcs[0].RunKey)
	dir1, _ := store.RelDir(rcs[1].RunKey)
	// Tamper with the first receipt's artifact (verify names it either
	// way) and remove the second's signature.
	if err := os.Remove(filepath.Join(r.root, dir1, artifacts.DSSEFile)); err != nil {
		t.Fatal(err)
	}
	envPath := filepath.Join(r.root, dir0, artifacts.DSSEFile)
	env0, _ := os.ReadFile(envPath)
	var e artifacts.Envelope
	if err := json.Unmarshal(env0, &e); err != nil {
		t.Fatal(err)
	}
	e.Signatures[0].Sig = e.Signatures[1%len(e.Signatures)].Sig[:10] + strings.Repeat("A", len(e.Signatures[0].Sig)-10)
	bad, _ := json.Marshal(e)
	if err := os.WriteFile(envPath, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = r.spine(context.Background(), nil, "verify", "--keys", keys)
	if code != 1 || !strings.Contains(out, rcs[0].RunKey) || !strings.Contains(out, "bad signature") || !strings.Contains(out, rcs[1].RunKey) || !strings.Contains(out, "unsigned") {
		t.Fatalf("verify --keys after tampering: exit %d\n%s", code, out)
	}
	// A key readable by others is refused, loudly.
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := r.spine(context.Background(), nil, "run"); code != 2 || !strings.Contains(out, "chmod 600") {
		t.Errorf("run with a world-readable key: exit %d\n%s", code, out)
	}
}

// TestUnsafeArgumentsRefused passes path and shell payloads as the names
// the command line takes (loop ids, gap ids, pack and step names, folders):
// each is refused, and nothing is written outside the repository.
func TestUnsafeArgumentsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"loop", "new", "../../outside/pwn", "--objective", "x"},
		{"loop", "new", "/tmp/pwn-abs", "--objective", "x"},
		{"loop", "new", "LOOP-OK", "--objective", "x", "--dir", "../outside"},
		{"loop", "new", "LOOP-OK", "--objective", "x", "--dir", "/tmp"},
		{"loop", "new", "$(touch SENTINEL)", "--objective", "x"},
		{"loop", "close", "../../outside/pwn"},
		{"gap", "file", "--loop", "../../outside/pwn", "--title", "t", "--severity", "low", "--type", "x"},
		{"gap", "close", "../../outside/pwn", "--fixed-in", "LOOP-A"},
		{"gap", "close", "GAP-1\nGAP-2", "--fixed-in", "LOOP-A"},
		{"pack", "run", "../../outside/pwn"},
		{"resolve", "../../outside/pwn", "--as", "pass", "--note", "n"},
		{"resolve", "a;touch SENTINEL", "--as", "pass", "--note", "n"},
		{"run", "--loop", "../../outside/pwn"},
		// A name to release, never a path or shell text: unknown, it is
		// refused.
		{"run", "--retry", "$(touch SENTINEL)", "--retry", "../../outside/pwn"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			r := &testRepo{t: t, root: filepath.Join(base, "repo")}
			if err := os.MkdirAll(filepath.Join(base, "outside"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(r.root, 0o755); err != nil {
				t.Fatal(err)
			}
			r.git("init", "-q", "-b", "main")
			r.commit("loop", map[string]string{
				"loops/a.md": loopDoc("LOOP-A", "## Stage 1: X\n\n```sh {name=x}\ntrue\n```\n"),
				"gaps.yaml":  "gaps: []\n",
			})
			sentinel := filepath.Join(base, "sentinel")
			for i := range args {
				args[i] = strings.ReplaceAll(args[i], "SENTINEL", sentinel)
			}
			out, code := r.spine(context.Background(), nil, args...)
			unsafe := false
			for _, a := range args {
				if strings.Contains(a, "..") || strings.HasPrefix(a, "/") || strings.ContainsAny(a, "$;\n") {
					unsafe = true
				}
			}
			if unsafe && code == 0 {
				t.Errorf("accepted (exit 0):\n%s", out)
			}
			entries, _ := os.ReadDir(base)
			for _, e := range entries {
				if n := e.Name(); n != "repo" && n != "outside" {
					t.Errorf("written outside the repository: %s", n)
				}
			}
			if entries, _ := os.ReadDir(filepath.Join(base, "outside")); len(entries) > 0 {
				t.Errorf("written to the outside folder: %v", entries)
			}
			if strings.Contains(r.git("ls-files", "--others", "--exclude-standard"), "pwn") {
				t.Error("a file named by the payload was written in the repository")
			}
			for _, p := range []string{"/tmp/pwn-abs", "/tmp/pwn-abs.md", "/tmp/LOOP-OK.md"} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
		})
	}
}

// TestPushTokenNotGivenToSteps: $SPINE_GIT_TOKEN, spine's own push
// credential, is not in a step's environment, and its value, wherever a
// step prints it, is redacted like a policy.secret_env value.
func TestPushTokenNotGivenToSteps(t *testing.T) {
	r := newRepo(t)
	const token = "tok-zq81Xv0supersecret"
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-T", "## Stage 1: Look\n\n```sh {name=look}\necho \"env:${SPINE_GIT_TOKEN:-unset}\"\ncat \"$TOKEN_FILE\"\n```\n")})
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := r.spine(context.Background(), []string{"SPINE_GIT_TOKEN=" + token, "TOKEN_FILE=" + file}, "run")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	if strings.Contains(out, token) {
		t.Errorf("the run's output holds the token:\n%s", out)
	}
	logs, _ := filepath.Glob(filepath.Join(r.root, "receipts", "*", "*", "*", "*", "output.log"))
	if len(logs) != 1 {
		t.Fatalf("%d output logs", len(logs))
	}
	data, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "env:unset") || strings.Contains(string(data), token) || !strings.Contains(string(data), artifacts.Redacted) {
		t.Errorf("output.log: want env:unset and the token's value redacted:\n%s", data)
	}
}

// TestResolveNoteIsRedacted: the note of spine resolve is the operator's
// free text, stored in the receipt, the evidence block and the commit,
// and shown by the site: a secret_env value or a token shape typed into
// it is redacted like a step's output, in every file and git object.
func TestResolveNoteIsRedacted(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{
		"spine.yaml": "policy:\n  secret_env: [DB_PASSWORD]\n",
		"loops/a.md": loopDoc("LOOP-A", "## Stage 1: Try\n\n```sh {name=try}\nfalse\n```\n"),
	})
	r.run(nil)
	shapes := secretShapes(t)
	secret, token := shapes[0].value, shapes[2].value
	env := map[string]string{"DB_PASSWORD": secret}
	rc, err := NewRunner(r.runOpts(env)).Resolve(context.Background(), "LOOP-A", "try", artifacts.StatusPass, "rotated "+secret+" and "+token)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rc.Note, "rotated "+artifacts.Redacted+" and "+artifacts.Redacted) || rc.Redactions != 2 {
		t.Errorf("note %q, redactions %d; want both values redacted", rc.Note, rc.Redactions)
	}
	r.noSecrets(secret, token)
}

// TestGapTextIsRedacted: the title and description of spine gap file, and
// the note of spine gap close, go into the ledger, the commit message and
// the site; a secret_env value or a token shape in them is redacted there
// as in the receipts, in every file and git object.
func TestGapTextIsRedacted(t *testing.T) {
	r := newRepo(t)
	r.commit("fixture", map[string]string{
		"spine.yaml":      "policy:\n  secret_env: [DB_PASSWORD]\n",
		"loops/LOOP-G.md": loopDoc("LOOP-G", "## Stage 0: Go\n\n```sh {name=hello}\necho hi\n```\n"),
		"gaps.yaml":       "gaps: []\n",
	})
	shapes := secretShapes(t)
	secret, token := shapes[0].value, shapes[2].value
	env := map[string]string{"DB_PASSWORD": secret}
	ed, err := NewRunner(r.runOpts(env)).FileGap(context.Background(), GapFiling{
		Loop: "LOOP-G", Title: "push fails with " + token, Description: "the password " + secret + " leaked",
		Severity: "low", Type: "runtime-bug", Command: "spine gap file"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ed.Gap.Title, artifacts.Redacted) || !strings.Contains(ed.Gap.Description, artifacts.Redacted) {
		t.Errorf("filed gap %q / %q; want both redacted", ed.Gap.Title, ed.Gap.Description)
	}
	if _, err := NewRunner(r.runOpts(env)).CloseGap(context.Background(), ed.Gap.ID, "LOOP-G", "rotated "+secret, "spine gap close"); err != nil {
		t.Fatal(err)
	}
	r.noSecrets(secret, token)
}

// TestSecretEnvWarnings: a policy.secret_env variable that is not set
// while one of the same name in another case is, or whose value is too
// short to redact, is named before a run; a set, long value is not.
func TestSecretEnvWarnings(t *testing.T) {
	env := []string{"DB_PASSWORD=long-enough", "SHORT=k9Z", "PAD=  ab ", "OK=fine-secret", "BLANK=    "}
	lookup := func(name string) (string, bool) {
		for _, kv := range env {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				return v, true
			}
		}
		return "", false
	}
	got := secretEnvWarnings([]string{"db_password", "SHORT", "PAD", "OK", "UNSET", "BLANK"}, lookup, env)
	want := []string{
		"policy.secret_env lists db_password, which is not set; DB_PASSWORD is (names are case-sensitive): its value is not redacted",
		"policy.secret_env SHORT: its value is shorter than 4 bytes and is not redacted (it would blank ordinary output); use a longer secret",
		"policy.secret_env PAD: its value is shorter than 4 bytes and is not redacted (it would blank ordinary output); use a longer secret",
		"policy.secret_env BLANK: its value is blanks only and is not redacted (it would blank ordinary output)",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("warnings (-want +got):\n%s", d)
	}
}

// noSecrets fails the test when a file of the working tree (spine's state
// included) or a git object holds one of the values.
func (r *testRepo) noSecrets(values ...string) {
	r.t.Helper()
	for _, h := range findSecrets(r.t, r.root, values) {
		r.t.Error(h)
	}
	if v := findIn(r.git("cat-file", "--batch-all-objects", "--batch"), values); v != "" {
		r.t.Errorf("a git object holds %q", v)
	}
}
