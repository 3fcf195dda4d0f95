package pipeline

import (
	"strings"

	"github.com/spinehq/spine/artifacts"
)

// StoredCommand returns the command text a receipt records for a step's
// command, and how many values were redacted from it: the values of the
// run's secret environment variables (policy.secret_env) and the well-known
// token shapes become artifacts.Redacted, exactly as in output.log.
//
// A secret belongs in the environment, not in a loop document: the document
// itself is committed by its author, so spine cannot keep a secret written
// there out of git. What spine guarantees is that it never copies one into
// anything it writes — receipt.json (command, command_sha256 is the hash of
// the stored, redacted text, so `spine verify` checks what is stored),
// output.log, artifacts, the journal, the evidence block, the site.
func StoredCommand(cmd string, red *artifacts.Redactor) (string, int) {
	return red.RedactString(cmd)
}

// CommandMatches reports whether cmd, a step's current text, is the command
// a receipt recorded: its command_sha256 is the hash of cmd as written (a
// receipt from before commands were redacted), or of cmd redacted with this
// run's secrets (StoredCommand). When neither matches and the recorded text
// has redacted values (stored returns it; nil when unknown), cmd matches if
// it equals the recorded text with each artifacts.Redacted standing for any
// text: a run without the secret's value in its environment must not take an
// unchanged step for an edited one (which would re-run a failed or
// interrupted step). A change of a redacted value alone is therefore not an
// edit.
func CommandMatches(recordedSHA, cmd string, red *artifacts.Redactor, stored func() (string, bool)) bool {
	if recordedSHA == "" || recordedSHA == artifacts.CommandSHA256(cmd) {
		return true
	}
	if s, n := StoredCommand(cmd, red); n > 0 && recordedSHA == artifacts.CommandSHA256(s) {
		return true
	}
	if stored == nil {
		return false
	}
	text, ok := stored()
	if !ok || artifacts.CommandSHA256(text) != recordedSHA || !strings.Contains(text, artifacts.Redacted) {
		return false
	}
	return matchRedacted(text, cmd)
}

// matchRedacted reports whether cmd equals pattern with every
// artifacts.Redacted in pattern standing for any text.
func matchRedacted(pattern, cmd string) bool {
	parts := strings.Split(pattern, artifacts.Redacted)
	if !strings.HasPrefix(cmd, parts[0]) {
		return false
	}
	rest := cmd[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return len(parts) > 1 && strings.HasSuffix(rest, last)
}

// sameCommand reports whether cmd is the command run recorded
// (CommandMatches), reading the recorded text from the run's receipt only
// when the hashes alone do not decide.
func (p *Planner) sameCommand(run *Run, cmd string) bool {
	return CommandMatches(run.CommandSHA, cmd, p.Redactor, func() (string, bool) {
		if p.Root == "" || run.Dir == "" {
			return "", false
		}
		full, err := artifacts.SafeJoin(p.Root, run.Dir+"/"+artifacts.ReceiptFile)
		if err != nil {
			return "", false
		}
		rc, err := artifacts.ReadReceipt(full)
		if err != nil {
			return "", false
		}
		return rc.Command, true
	})
}
