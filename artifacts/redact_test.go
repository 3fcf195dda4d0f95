package artifacts

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Fake credentials shaped like real ones.
var (
	tok36    = "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5" // 36 alphanumerics
	ghpToken = "ghp_" + tok36
	patToken = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzAB"
)

const (
	rsaKey = "-----BEGIN RSA PRIVATE KEY-----\n" +
		"MIIEowIBAAKCAQEAvR2X3Jc0m7d7y2Zp1TqX0eJqS9a0b1c2d3e4f5g6h7i8j9k0\n" +
		"l1m2n3o4p5q6r7s8t9u0v1w2x3y4z5A6B7C8D9E0F1G2H3I4J5K6L7M8N9O0P1Q2\n" +
		"-----END RSA PRIVATE KEY-----\n"
	rsaKeyRedacted = "-----BEGIN RSA PRIVATE KEY-----\n[REDACTED]\n-----END RSA PRIVATE KEY-----\n"
)

func TestRedact(t *testing.T) {
	red := NewRedactor([]string{"hunter2-secret", "abc", "", "multi\nline-secret-2\r\n  \n", "aaaa", ghpToken})
	tests := []struct {
		name  string
		in    string
		want  string
		count int
	}{
		{"nothing", "zpool list -v\nNAME SIZE\n", "zpool list -v\nNAME SIZE\n", 0},
		{"empty", "", "", 0},
		// GitHub
		{"ghp", "token " + ghpToken + " end", "token [REDACTED] end", 1},
		{"gho", "gho_" + tok36, "[REDACTED]", 1},
		{"ghs", "x=ghs_" + tok36 + "ZZ", "x=[REDACTED]", 1},
		{"ghu", "(ghu_" + tok36 + ")", "([REDACTED])", 1},
		{"ghr", "ghr_" + tok36, "[REDACTED]", 1},
		{"gh 35 chars", "ghp_" + tok36[:35], "ghp_" + tok36[:35], 0},
		{"ghx not a prefix", "ghx_" + tok36, "ghx_" + tok36, 0},
		{"github_pat", "GH_TOKEN=" + patToken + "\n", "GH_TOKEN=[REDACTED]\n", 1},
		{"github_pat short", "github_pat_abcdefghijklmnopqrstu", "github_pat_abcdefghijklmnopqrstu", 0},
		// AWS
		{"AKIA", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", "aws_access_key_id = [REDACTED]\n", 1},
		{"ASIA", "ASIAY34FZKBOKMUTVV7A:", "[REDACTED]:", 1},
		{"AKIA lower case", "AKIAiosfodnn7example", "AKIAiosfodnn7example", 0},
		{"AKIA 15", "AKIAIOSFODNN7EXAMP", "AKIAIOSFODNN7EXAMP", 0},
		// Bearer
		{"Bearer", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc-_~+/==\r\n", "Authorization: Bearer [REDACTED]\r\n", 1},
		{"bearer lower", "authorization: bearer abcdefgh12345678", "authorization: bearer [REDACTED]", 1},
		{"BEARER tab", "BEARER\tabcdefgh1 x", "BEARER\t[REDACTED] x", 1},
		{"Bearer prose", "a Bearer token is needed", "a Bearer token is needed", 0},
		{"Bearer no space", "Bearer:abcdefghijk", "Bearer:abcdefghijk", 0},
		{"cupbearer", "cupbearer abcdefghijk", "cupbearer abcdefghijk", 0},
		{"Bearer at end", "Bearer", "Bearer", 0},
		// prefixed tokens, JWT, Basic
		{"GitLab token", "token glpat-abcdefghij1234567890\n", "token [REDACTED]\n", 1},
		{"GitLab prefix inside a word", "xglpat-abcdefghij1234567890", "xglpat-abcdefghij1234567890", 0},
		{"Slack bot token", "SLACK=xoxb-123456789012-abcdefghijk\n", "SLACK=[REDACTED]\n", 1},
		{"Stripe live key", "sk_live_" + tok36[:24] + " x", "[REDACTED] x", 1},
		{"npm token", "//registry.npmjs.org/:_authToken=npm_" + tok36 + "\n", "//registry.npmjs.org/:_authToken=[REDACTED]\n", 1},
		{"Google API key", "key=AIza" + tok36[:35] + "&q=1", "key=[REDACTED]&q=1", 1},
		{"JWT", "id_token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_abc-123\n", "id_token: [REDACTED]\n", 1},
		{"not a JWT", "eyJhbGciOiJIUzI1NiJ9 alone", "eyJhbGciOiJIUzI1NiJ9 alone", 0},
		{"Basic", "Authorization: Basic dXNlcjpwYXNzd29yZA==\r\n", "Authorization: Basic [REDACTED]\r\n", 1},
		{"basic prose", "a basic test of basics", "a basic test of basics", 0},
		// password: (JSON, YAML)
		{"JSON password", `{"password": "hunter22", "user": "a"}` + "\n", `{"password": "[REDACTED]", "user": "a"}` + "\n", 1},
		{"YAML password", "db:\n  password: hunter22\n", "db:\n  password: [REDACTED]\n", 1},
		{"YAML upper-case name", "DB_PASSWORD: s3cret\n", "DB_PASSWORD: [REDACTED]\n", 1},
		{"YAML list item", "- client_secret: abc123\n", "- client_secret: [REDACTED]\n", 1},
		{"password: in prose", "the password: see above", "the password: see above", 0},
		{"AWS credentials file", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", "aws_secret_access_key = [REDACTED]\n", 1},
		// password=
		{"query password", "GET /login?user=a&password=hunter22&x=1", "GET /login?user=a&password=[REDACTED]&x=1", 1},
		{"env PGPASSWORD", "PGPASSWORD=s3cr3t psql", "PGPASSWORD=[REDACTED] psql", 1},
		{"pwd flag", "mysql --pwd=abc;next", "mysql --pwd=[REDACTED];next", 1},
		{"Passwd quoted", "passwd='two words' x", "passwd='[REDACTED]' x", 1},
		{"password double quoted unterminated", "password=\"abc def\nnext", "password=\"[REDACTED]\nnext", 1},
		{"password empty", "password= x", "password= x", 0},
		{"password empty quotes", "password='' x", "password='' x", 0},
		{"cwd", "cwd=/tmp", "cwd=/tmp", 0},
		{"password at end", "password=", "password=", 0},
		// userinfo
		{"git clone", "git clone https://user:tok3n@github.com/x.git", "git clone https://user:[REDACTED]@github.com/x.git", 1},
		{"postgres", "postgres://app:p%40ss@db:5432/app", "postgres://app:[REDACTED]@db:5432/app", 1},
		{"at in password", "https://user:p@ss@host/", "https://user:[REDACTED]@host/", 1},
		{"no password", "ssh://git@host/repo", "ssh://git@host/repo", 0},
		{"port only", "https://host:8443/x?mail=a@b", "https://host:8443/x?mail=a@b", 0},
		{"empty password", "https://u:@h", "https://u:@h", 0},
		{"no scheme", "://u:pw@h", "://u:pw@h", 0},
		// values
		{"secret value", "echo hunter2-secret; done", "echo [REDACTED]; done", 1},
		{"short value ignored", "abc abc", "abc abc", 0},
		{"multi-line value parts", "multi and line-secret-2", "[REDACTED] and [REDACTED]", 2},
		{"overlapping occurrences", "aaaaaa", "[REDACTED]", 1},
		{"adjacent occurrences", "hunter2-secrethunter2-secret", "[REDACTED][REDACTED]", 2},
		{"value equals a token shape", "x " + ghpToken, "x [REDACTED]", 1},
		{"several on one line", "curl -H 'Authorization: Bearer abcdefghijk' 'https://u:pw12@h?password=zz'",
			"curl -H 'Authorization: Bearer [REDACTED]' 'https://u:[REDACTED]@h?password=[REDACTED]'", 3},
		{"binary around", "\x00\xff" + ghpToken + "\x00\xfe", "\x00\xff[REDACTED]\x00\xfe", 1},
		// private keys
		{"pem block", "before\n" + rsaKey + "after\n", "before\n" + rsaKeyRedacted + "after\n", 1},
		{"pem no trailing newline", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----",
			"-----BEGIN OPENSSH PRIVATE KEY-----\n[REDACTED]\n-----END OPENSSH PRIVATE KEY-----", 1},
		{"pem inline json", `{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n", "x": 1}`,
			`{"private_key": "-----BEGIN PRIVATE KEY-----[REDACTED]-----END PRIVATE KEY-----\n", "x": 1}`, 1},
		{"pgp block", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----\n",
			"-----BEGIN PGP PRIVATE KEY BLOCK-----\n[REDACTED]\n-----END PGP PRIVATE KEY BLOCK-----\n", 1},
		{"pem body on marker lines", "k: -----BEGIN EC PRIVATE KEY-----AAAA\nBBBB\nCCCC-----END EC PRIVATE KEY----- tail\n",
			"k: -----BEGIN EC PRIVATE KEY-----[REDACTED]\n-----END EC PRIVATE KEY----- tail\n", 1},
		{"pem unterminated", "-----BEGIN EC PRIVATE KEY-----\nAAAA\nBBBB\n", "-----BEGIN EC PRIVATE KEY-----\n[REDACTED]\n", 1},
		{"pem empty body", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", 0},
		{"two keys", rsaKey + "mid\n" + rsaKey, rsaKeyRedacted + "mid\n" + rsaKeyRedacted, 2},
		{"pem then token", rsaKey + ghpToken + "\n", rsaKeyRedacted + "[REDACTED]\n", 2},
		{"certificate kept", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", 0},
		{"lower-case label is no marker", "-----BEGIN rsa PRIVATE KEY-----\nAAAA\n", "-----BEGIN rsa PRIVATE KEY-----\nAAAA\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := red.Redact([]byte(tt.in))
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("Redact(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if n != tt.count {
				t.Errorf("Redact(%q) count = %d, want %d", tt.in, n, tt.count)
			}
			s, n2 := red.RedactString(tt.in)
			if s != tt.want || n2 != tt.count {
				t.Errorf("RedactString(%q) = %q, %d", tt.in, s, n2)
			}
			// Line by line through an OutputWriter gives the same result.
			if !strings.HasSuffix(tt.in, "\n") {
				return
			}
			var log strings.Builder
			o := NewOutput(&log, fixedClock, 0, red)
			o.Stream(StreamStdout).Write([]byte(tt.in))
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(prefixLines(tt.want, "out"), log.String()); diff != "" {
				t.Errorf("OutputWriter mismatch (-want +got):\n%s", diff)
			}
			if o.Redactions() != tt.count {
				t.Errorf("OutputWriter.Redactions() = %d, want %d", o.Redactions(), tt.count)
			}
		})
	}
}

func TestRedactNil(t *testing.T) {
	var red *Redactor
	got, n := red.Redact([]byte("x " + ghpToken + " hunter2-secret"))
	if string(got) != "x [REDACTED] hunter2-secret" || n != 1 {
		t.Errorf("nil Redactor: %q, %d", got, n)
	}
	in := []byte("plain")
	out, n := NewRedactor(nil).Redact(in)
	if &out[0] != &in[0] || n != 0 {
		t.Error("Redact without a match should return its input")
	}
}

// TestRedactTrimsASecret: a secret value with surrounding blanks is also
// found without them, as an unquoted $VAR prints it.
func TestRedactTrimsASecret(t *testing.T) {
	red := NewRedactor([]string{"  hunter2hunter2 \t"})
	for in, want := range map[string]string{
		"echo hunter2hunter2 done":     "echo " + Redacted + " done",
		"quoted '  hunter2hunter2 \t'": "quoted '" + Redacted + "'",
		"no secret in hunter2 hunter2": "no secret in hunter2 hunter2",
	} {
		if got, _ := red.RedactString(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRedactIgnoresABlankSecret: a secret value of blanks only would blank
// out ordinary output: it is not redacted.
func TestRedactIgnoresABlankSecret(t *testing.T) {
	red := NewRedactor([]string{"    ", "\t\t\t\t"})
	in := "value: x and     indented\t\t\t\tend"
	if got, n := red.RedactString(in); got != in || n != 0 {
		t.Errorf("Redact(%q) = %q, %d; want it unchanged", in, got, n)
	}
}
