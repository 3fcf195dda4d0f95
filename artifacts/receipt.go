// Package artifacts owns what a step run leaves behind: run keys, receipts,
// output logs, artifact files, their hashes and the per-loop receipt chain.
package artifacts

import (
	"fmt"
	"strings"
)

// Receipt status values, as written in receipt.json.
const (
	StatusPass        = "pass"
	StatusFail        = "fail"
	StatusBlocked     = "blocked"
	StatusInterrupted = "interrupted"
	StatusSkipped     = "skipped"
)

// Approval records how a gated step was approved.
type Approval struct {
	// Source is "env" or "git".
	Source string `json:"source"`
	// Commit is the hash of the approving commit (git approvals only).
	Commit string `json:"commit,omitempty"`
	// Author is the approving commit's author (git), or the environment
	// variable that approved the run (env).
	Author string `json:"author,omitempty"`
}

// ArtifactRef names one artifact file a step wrote, with its content hash.
type ArtifactRef struct {
	// Path is repository-relative, with forward slashes.
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// CheckResult is one verify-pack check as recorded in a verify step's receipt.
type CheckResult struct {
	ID         string `json:"id"`
	Title      string `json:"title,omitempty"`
	Status     string `json:"status"`
	ExitCode   int    `json:"exit_code"`
	DurationMS int64  `json:"duration_ms"`
	Blocking   bool   `json:"blocking"`
	// Command is the check's run text as it ran (with the run's secrets
	// redacted, as a step's command), and CommandSHA256 its hash: what
	// the pack ran, whatever the pack file says later.
	Command       string `json:"command,omitempty"`
	CommandSHA256 string `json:"command_sha256,omitempty"`
}

// Receipt is the immutable record of one step run, stored as
// receipts/YYYY/MM/DD/<RUN_KEY>/receipt.json. Field names are part of the
// DESIGN.md contract: scripts and other tools read them.
type Receipt struct {
	RunKey        string        `json:"run_key"`
	LoopID        string        `json:"loop_id"`
	Stage         string        `json:"stage"`
	Step          string        `json:"step"`
	Capability    string        `json:"capability"`
	Command       string        `json:"command"`
	CommandSHA256 string        `json:"command_sha256"`
	Host          string        `json:"host"`
	User          string        `json:"user"`
	Workdir       string        `json:"workdir"`
	StartedAt     string        `json:"started_at"`
	FinishedAt    string        `json:"finished_at"`
	DurationMS    int64         `json:"duration_ms"`
	ExitCode      int           `json:"exit_code"`
	Status        string        `json:"status"`
	AllowFailure  bool          `json:"allow_failure"`
	Gate          string        `json:"gate"`
	Approval      *Approval     `json:"approval"`
	SourceCommit  string        `json:"source_commit"`
	Artifacts     []ArtifactRef `json:"artifacts"`
	OutputSHA256  string        `json:"output_sha256"`
	SpineVersion  string        `json:"spine_version"`
	Prev          string        `json:"prev"`

	// Note is a one-line human explanation (why blocked, what was resolved).
	Note string `json:"note,omitempty"`
	// OutputTruncated is set when output beyond the capture limit was cut.
	OutputTruncated bool `json:"output_truncated,omitempty"`
	// OutputBytes is the size of the captured output before truncation.
	OutputBytes int64 `json:"output_bytes,omitempty"`
	// Redactions counts the secret values replaced by [REDACTED].
	Redactions int `json:"redactions,omitempty"`
	// Checks and Summary are set for verify-pack runs.
	Checks  []CheckResult `json:"checks,omitempty"`
	Summary string        `json:"summary,omitempty"`
}

// ResolvedNote starts the note of a receipt `spine resolve` wrote: an
// operator's verdict on a step, recorded without running anything.
const ResolvedNote = "resolved by "

// Resolved reports whether r records an operator's verdict (spine
// resolve) rather than a run of its command.
func (r *Receipt) Resolved() bool { return strings.HasPrefix(r.Note, ResolvedNote) }

// CommandMismatch says which command r records does not match its hash:
// the step's, or that of a pack check that records one (receipts of
// earlier versions record none); "" when all match.
func (r *Receipt) CommandMismatch() string {
	if want := CommandSHA256(r.Command); r.CommandSHA256 != want {
		return fmt.Sprintf("command_sha256 %s does not match the command (%s)", short(r.CommandSHA256), short(want))
	}
	for _, c := range r.Checks {
		if c.Command == "" && c.CommandSHA256 == "" {
			continue
		}
		if want := CommandSHA256(c.Command); c.CommandSHA256 != want {
			return fmt.Sprintf("check %s: command_sha256 %s does not match its command (%s)", c.ID, short(c.CommandSHA256), short(want))
		}
	}
	return ""
}
