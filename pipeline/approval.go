package pipeline

import (
	"fmt"
	"net/mail"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/loops"
)

// maxApprovalHistory bounds how far back a document's history is searched
// for the commit that added an approval.
const maxApprovalHistory = 5000

// Gates decides whether a gate is approved for a step, by the environment
// or by an approval committed to git by an approver.
type Gates struct {
	// Env looks up environment variables (os.LookupEnv in production).
	Env    func(string) (string, bool)
	Policy config.Policy
	Git    *gitx.Repo
	// ArmoredKeys are the OpenPGP public keys (armored, concatenated) that
	// approval commit signatures must verify against when the policy
	// requires signatures.
	ArmoredKeys string
}

// Decision is the outcome of a gate check.
type Decision struct {
	Approved bool
	Approval *artifacts.Approval
	// Reason explains a refusal in one line.
	Reason string
}

// Check decides the gate for step in doc.
func (g *Gates) Check(doc *loops.Document, step *loops.Step, gate string) Decision {
	if v, ok := g.Env(gate); ok && strings.EqualFold(strings.TrimSpace(v), "yes") {
		return Decision{Approved: true, Approval: &artifacts.Approval{Source: "env", Author: gate + "=yes"}}
	}
	if !hasApproval(doc.Meta, gate) {
		return Decision{Reason: fmt.Sprintf("gate %s not approved (set %s=yes, or add it to approvals: in a commit by an approver)", gate, gate)}
	}
	if g.Git == nil {
		return Decision{Reason: fmt.Sprintf("gate %s: approvals need a git repository", gate)}
	}
	c, err := g.approvalCommit(doc.Path, gate)
	if err != nil {
		return Decision{Reason: fmt.Sprintf("gate %s: %v", gate, err)}
	}
	if c == nil {
		return Decision{Reason: fmt.Sprintf("gate %s: approval is not committed yet", gate)}
	}
	author := fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email)
	if !g.isApprover(c.Author) {
		return Decision{Reason: fmt.Sprintf("gate %s: approval commit %s is by %s, who is not in policy.approvers", gate, c.Hash.String()[:12], author)}
	}
	if g.Policy.RequireSigned {
		if c.PGPSignature == "" {
			return Decision{Reason: fmt.Sprintf("gate %s: approval commit %s is not signed (policy.require_signed)", gate, c.Hash.String()[:12])}
		}
		if strings.TrimSpace(g.ArmoredKeys) == "" {
			return Decision{Reason: fmt.Sprintf("gate %s: policy.require_signed but no policy.signing_keys to verify with", gate)}
		}
		signer, err := verifyApproval(c, g.ArmoredKeys)
		if err != nil {
			return Decision{Reason: fmt.Sprintf("gate %s: approval commit %s has a bad signature: %v", gate, c.Hash.String()[:12], err)}
		}
		if !keyOf(signer, c.Author.Email) {
			return Decision{Reason: fmt.Sprintf("gate %s: approval commit %s is signed with %s, not the author %s's", gate, c.Hash.String()[:12], keyEmails(signer), author)}
		}
	}
	if g.Policy.ForbidSelfApproval {
		if last := g.lastStepAuthor(doc.Path, step); last != "" && sameEmail(last, c.Author.Email) {
			return Decision{Reason: fmt.Sprintf("gate %s: %s last changed step %q and cannot approve it (policy.forbid_self_approval)", gate, author, step.Name)}
		}
	}
	return Decision{Approved: true, Approval: &artifacts.Approval{Source: "git", Commit: c.Hash.String(), Author: author}}
}

// hasApproval reports whether approvals: lists gate.
func hasApproval(m loops.Meta, gate string) bool {
	v, ok := m.Get("approvals")
	if !ok {
		return false
	}
	switch x := v.(type) {
	case string:
		for _, f := range strings.FieldsFunc(x, func(r rune) bool { return r == ',' || r == ' ' || r == '[' || r == ']' }) {
			if f == gate {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && strings.TrimSpace(s) == gate {
				return true
			}
		}
	}
	return false
}

// approvalCommit finds the commit that added gate to the document's
// approvals: walking back from HEAD while the approval is present, the
// oldest such commit.
func (g *Gates) approvalCommit(rel, gate string) (*object.Commit, error) {
	var found *object.Commit
	err := g.Git.FileHistory(rel, maxApprovalHistory, func(c *object.Commit, content []byte) bool {
		if content == nil {
			return false
		}
		if !hasApproval(loops.Parse(rel, content).Meta, gate) {
			return false
		}
		found = c
		return true
	})
	return found, err
}

// lastStepAuthor returns the email of the author of the commit that last
// changed the step's command.
func (g *Gates) lastStepAuthor(rel string, step *loops.Step) string {
	want := step.Command
	var author string
	_ = g.Git.FileHistory(rel, maxApprovalHistory, func(c *object.Commit, content []byte) bool {
		if content == nil {
			return false
		}
		_, s := loops.Parse(rel, content).Step(step.Name)
		if s == nil || s.Command != want {
			return false
		}
		author = c.Author.Email
		return true
	})
	return author
}

func (g *Gates) isApprover(sig object.Signature) bool {
	for _, a := range g.Policy.Approvers {
		a = strings.TrimSpace(a)
		if addr, err := mail.ParseAddress(a); err == nil {
			if sameEmail(addr.Address, sig.Email) {
				return true
			}
			continue
		}
		if sameEmail(a, sig.Email) {
			return true
		}
	}
	return false
}

func sameEmail(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}
