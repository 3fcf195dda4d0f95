package pipeline

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// person is someone who commits to the test repository, with an OpenPGP
// key made for the test (no private key is ever stored in a fixture).
type person struct {
	name, email string
	key         *openpgp.Entity
}

func newPerson(t *testing.T, name, email string) person {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return person{name: name, email: email, key: e}
}

// armoredPublic returns the person's public key, armored.
func (p person) armoredPublic(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.key.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String() + "\n"
}

// gitCommit writes files and commits them with go-git as author, signed
// with signer's key when signer is not nil.
func (r *testRepo) gitCommit(author person, signer *person, msg string, files map[string]string) {
	r.t.Helper()
	for rel, c := range files {
		r.write(rel, c)
	}
	repo, err := git.PlainOpen(r.root)
	if err != nil {
		r.t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	for rel := range files {
		if _, err := wt.Add(rel); err != nil {
			r.t.Fatal(err)
		}
	}
	sig := &object.Signature{Name: author.name, Email: author.email, When: time.Now()}
	opts := &git.CommitOptions{Author: sig, Committer: sig}
	if signer != nil {
		opts.SignKey = signer.key
	}
	if _, err := wt.Commit(msg, opts); err != nil {
		r.t.Fatal(err)
	}
}

// thisHost is the host name the tests' runs have (runOpts).
const thisHost = "testhost"

// stepChange is a commit that sets a gated step's command.
type stepChange struct {
	author person
	cmd    string
	// attrs replaces the step's attributes after name= (default: the
	// approved step's, "gate=ALLOW_X destructive=true").
	attrs string
}

// TestApprovalPolicies checks who may open a gate by a committed approval:
// only approvers, with policy.require_signed only with a good signature by
// the author's own key, and with policy.forbid_self_approval never the
// author of the step's last change; and that an approval covers the step
// as it was approved: a later change runs only when an approver's commit
// made it, under the same rules.
func TestApprovalPolicies(t *testing.T) {
	lead := newPerson(t, "Lead", "lead@example.com")
	second := newPerson(t, "Second", "second@example.com")
	intruder := newPerson(t, "Intruder", "intruder@example.com")
	operator := person{name: "Operator", email: "op@example.com"}
	signer := func(p person) *person { return &p }
	type approval struct {
		author person
		signer *person
	}
	for _, tc := range []struct {
		name string
		// policy is spine.yaml's policy block (keys: keys/*.asc).
		policy string
		// keys are the key files committed: path -> people.
		keys map[string][]person
		// stepAuthor commits the gated step (after the setup).
		stepAuthor person
		approval   approval
		// changes are commits after the approval, each setting the
		// step's command.
		changes    []stepChange
		wantRun    bool
		wantReason string
		// wantBy is who the receipt records as approving, when not the
		// approval's author.
		wantBy *person
	}{
		{
			name:       "approver, unsigned, signatures not required",
			policy:     "approvers: [lead@example.com]",
			stepAuthor: operator, approval: approval{author: lead}, wantRun: true,
		},
		{
			name:       "not an approver",
			policy:     "approvers: [lead@example.com]",
			stepAuthor: operator, approval: approval{author: intruder}, wantReason: "not in policy.approvers",
		},
		{
			name:       "not an approver, with a good signature",
			policy:     "approvers: [lead@example.com]\n  require_signed: true\n  signing_keys: [keys/all.asc]",
			keys:       map[string][]person{"keys/all.asc": {lead, intruder}},
			stepAuthor: operator, approval: approval{author: intruder, signer: signer(intruder)}, wantReason: "not in policy.approvers",
		},
		{
			name:       "require_signed, unsigned",
			policy:     "approvers: [lead@example.com]\n  require_signed: true\n  signing_keys: [keys/lead.asc]",
			keys:       map[string][]person{"keys/lead.asc": {lead}},
			stepAuthor: operator, approval: approval{author: lead}, wantReason: "is not signed",
		},
		{
			name:       "require_signed, signed with a key not in signing_keys",
			policy:     "approvers: [lead@example.com]\n  require_signed: true\n  signing_keys: [keys/lead.asc]",
			keys:       map[string][]person{"keys/lead.asc": {lead}},
			stepAuthor: operator, approval: approval{author: lead, signer: signer(intruder)}, wantReason: "bad signature",
		},
		{
			name:       "require_signed, correctly signed",
			policy:     "approvers: [lead@example.com]\n  require_signed: true\n  signing_keys: [keys/lead.asc]",
			keys:       map[string][]person{"keys/lead.asc": {lead}},
			stepAuthor: operator, approval: approval{author: lead, signer: signer(lead)}, wantRun: true,
		},
		{
			name:       "require_signed, the second of two key files",
			policy:     "approvers: [lead@example.com, second@example.com]\n  require_signed: true\n  signing_keys: [keys/lead.asc, keys/second.asc]",
			keys:       map[string][]person{"keys/lead.asc": {lead}, "keys/second.asc": {second}},
			stepAuthor: operator, approval: approval{author: second, signer: signer(second)}, wantRun: true,
		},
		{
			name:       "require_signed, signed by another approver's key than the author's",
			policy:     "approvers: [lead@example.com, second@example.com]\n  require_signed: true\n  signing_keys: [keys/all.asc]",
			keys:       map[string][]person{"keys/all.asc": {lead, second}},
			stepAuthor: operator, approval: approval{author: second, signer: signer(lead)}, wantReason: "not the author",
		},
		{
			name:       "require_signed, no signing_keys",
			policy:     "approvers: [lead@example.com]\n  require_signed: true",
			stepAuthor: operator, approval: approval{author: lead, signer: signer(lead)}, wantReason: "no policy.signing_keys",
		},
		{
			name:       "forbid_self_approval, the step's author approves",
			policy:     "approvers: [lead@example.com, second@example.com]\n  forbid_self_approval: true",
			stepAuthor: lead, approval: approval{author: lead}, wantReason: "cannot approve it",
		},
		{
			name:       "forbid_self_approval, another approver approves",
			policy:     "approvers: [lead@example.com, second@example.com]\n  forbid_self_approval: true",
			stepAuthor: lead, approval: approval{author: second}, wantRun: true,
		},
		{
			name:       "forbid_self_approval with signatures, the step's author signs as another approver",
			policy:     "approvers: [lead@example.com, second@example.com]\n  require_signed: true\n  signing_keys: [keys/all.asc]\n  forbid_self_approval: true",
			keys:       map[string][]person{"keys/all.asc": {lead, second}},
			stepAuthor: lead, approval: approval{author: second, signer: signer(lead)}, wantReason: "not the author",
		},
		{
			name:       "forbid_self_approval with signatures, another approver signs",
			policy:     "approvers: [lead@example.com, second@example.com]\n  require_signed: true\n  signing_keys: [keys/all.asc]\n  forbid_self_approval: true",
			keys:       map[string][]person{"keys/all.asc": {lead, second}},
			stepAuthor: lead, approval: approval{author: second, signer: signer(second)}, wantRun: true,
		},
		{
			name:       "the step changed after the approval by somebody else",
			policy:     "approvers: [lead@example.com]",
			stepAuthor: operator, approval: approval{author: lead},
			changes:    []stepChange{{author: intruder, cmd: "echo swapped"}},
			wantReason: "after the approval",
		},
		{
			name:       "the step changed after the approval by an approver",
			policy:     "approvers: [lead@example.com, second@example.com]",
			stepAuthor: operator, approval: approval{author: lead},
			changes: []stepChange{{author: second, cmd: "echo fixed"}},
			wantRun: true, wantBy: &second,
		},
		{
			name:       "the step's host changed after the approval by somebody else",
			policy:     "approvers: [lead@example.com]",
			stepAuthor: operator, approval: approval{author: lead},
			changes:    []stepChange{{author: intruder, cmd: "echo run", attrs: "gate=ALLOW_X destructive=true host=" + thisHost}},
			wantReason: "was changed (host=) in commit",
		},
		{
			name:       "the step made not destructive after the approval by somebody else",
			policy:     "approvers: [lead@example.com]",
			stepAuthor: operator, approval: approval{author: lead},
			changes:    []stepChange{{author: intruder, cmd: "echo run", attrs: "gate=ALLOW_X"}},
			wantReason: "was changed (destructive=) in commit",
		},
		{
			name:       "the step's command and timeout changed after the approval by somebody else",
			policy:     "approvers: [lead@example.com]",
			stepAuthor: operator, approval: approval{author: lead},
			changes:    []stepChange{{author: intruder, cmd: "echo swapped", attrs: "gate=ALLOW_X destructive=true timeout=1h"}},
			wantReason: "was changed (command, timeout=) in commit",
		},
		{
			name:       "the step's attributes written differently, the same step",
			policy:     "approvers: [lead@example.com]",
			stepAuthor: operator, approval: approval{author: lead},
			changes: []stepChange{{author: intruder, cmd: "echo run", attrs: `destructive="true" gate='ALLOW_X'`}},
			wantRun: true,
		},
		{
			name:       "the step's host changed after the approval by an approver",
			policy:     "approvers: [lead@example.com, second@example.com]",
			stepAuthor: operator, approval: approval{author: lead},
			changes: []stepChange{{author: second, cmd: "echo run", attrs: "gate=ALLOW_X destructive=true host=" + thisHost}},
			wantRun: true, wantBy: &second,
		},
		{
			name:       "the step changed after the approval and back",
			policy:     "approvers: [lead@example.com]",
			stepAuthor: operator, approval: approval{author: lead},
			changes: []stepChange{{author: intruder, cmd: "echo swapped"}, {author: intruder, cmd: "echo run"}},
			wantRun: true,
		},
		{
			name:       "require_signed, an approver changes the step after the approval, unsigned",
			policy:     "approvers: [lead@example.com, second@example.com]\n  require_signed: true\n  signing_keys: [keys/all.asc]",
			keys:       map[string][]person{"keys/all.asc": {lead, second}},
			stepAuthor: operator, approval: approval{author: lead, signer: signer(lead)},
			changes:    []stepChange{{author: second, cmd: "echo fixed"}},
			wantReason: ", which changed the step after the approval, is not signed",
		},
		{
			name:       "forbid_self_approval, an approver changes the step after the approval",
			policy:     "approvers: [lead@example.com, second@example.com]\n  forbid_self_approval: true",
			stepAuthor: operator, approval: approval{author: lead},
			changes:    []stepChange{{author: second, cmd: "echo fixed"}},
			wantReason: "cannot approve it",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			count := counter(t)
			files := map[string]string{"spine.yaml": "policy:\n  " + tc.policy + "\n"}
			for path, people := range tc.keys {
				var b strings.Builder
				for _, p := range people {
					b.WriteString(p.armoredPublic(t))
				}
				files[path] = b.String()
			}
			r.commit("setup", files)
			const approvedAttrs = "gate=ALLOW_X destructive=true"
			step := func(cmd, attrs string) string {
				return fmt.Sprintf("## Stage 1: Provision\n\n```sh {name=provision %s}\n%s >> %s\n```\n", attrs, cmd, count)
			}
			r.gitCommit(tc.stepAuthor, nil, "the gated step", map[string]string{"loops/a.md": loopDoc("LOOP-A", step("echo run", approvedAttrs))})
			approved := strings.Replace(loopDoc("LOOP-A", step("echo run", approvedAttrs)), "status: active\n", "status: active\napprovals: [ALLOW_X]\n", 1)
			r.gitCommit(tc.approval.author, tc.approval.signer, "approve ALLOW_X", map[string]string{"loops/a.md": approved})
			for _, ch := range tc.changes {
				attrs := ch.attrs
				if attrs == "" {
					attrs = approvedAttrs
				}
				doc := strings.Replace(loopDoc("LOOP-A", step(ch.cmd, attrs)), "status: active\n", "status: active\napprovals: [ALLOW_X]\n", 1)
				r.gitCommit(ch.author, nil, "change the step", map[string]string{"loops/a.md": doc})
			}

			it := r.plan(nil, "LOOP-A", "provision")
			if tc.wantRun != (it.State == StatePending) || (tc.wantReason != "" && !strings.Contains(it.Reason, tc.wantReason)) {
				t.Fatalf("plan: %s %q; want run=%v reason %q", it.State, it.Reason, tc.wantRun, tc.wantReason)
			}
			out := r.run(nil)
			if n := countLines(t, count); (n == 1) != tc.wantRun || n > 1 {
				t.Fatalf("the gated step ran %d times, want run=%v", n, tc.wantRun)
			}
			if !tc.wantRun {
				if got := r.stepReceipts("provision"); len(got) != 1 || got[0] != "blocked" {
					t.Fatalf("receipts %v, want one blocked", got)
				}
				return
			}
			rc := out.Receipts[len(out.Receipts)-1]
			by := tc.approval.author
			if tc.wantBy != nil {
				by = *tc.wantBy
			}
			wantAuthor := by.name + " <" + by.email + ">"
			if rc.Approval == nil || rc.Approval.Source != "git" || rc.Approval.Author != wantAuthor || len(rc.Approval.Commit) != 40 {
				t.Fatalf("receipt approval %+v, want git by %s", rc.Approval, wantAuthor)
			}
		})
	}
}

// TestSigningKeysStayInRepo checks that policy.signing_keys outside the
// repository are not read: the approval is refused, not verified against
// an attacker's file.
func TestSigningKeysStayInRepo(t *testing.T) {
	lead := newPerson(t, "Lead", "lead@example.com")
	outside := filepath.Join(t.TempDir(), "keys.asc")
	if err := os.WriteFile(outside, []byte(lead.armoredPublic(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRepo(t)
	if err := os.Symlink(outside, filepath.Join(r.root, "keys.asc")); err != nil {
		t.Fatal(err)
	}
	r.commit("setup", map[string]string{"spine.yaml": "policy:\n  approvers: [lead@example.com]\n  require_signed: true\n  signing_keys: [keys.asc]\n"})
	count := counter(t)
	doc := loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: P\n\n```sh {name=p gate=ALLOW_X}\necho run >> %s\n```\n", count))
	r.commit("step", map[string]string{"loops/a.md": doc})
	r.gitCommit(lead, &lead, "approve", map[string]string{"loops/a.md": strings.Replace(doc, "status: active\n", "status: active\napprovals: [ALLOW_X]\n", 1)})
	if it := r.plan(nil, "LOOP-A", "p"); it.State != StateBlocked {
		t.Fatalf("a key file symlinked out of the repository was used: %s %q", it.State, it.Reason)
	}
}

// TestApprovalDoesNotCoverALaterStep: a gated step somebody else added
// after the approval, under the approved gate, is blocked, and the step
// that was approved still runs.
func TestApprovalDoesNotCoverALaterStep(t *testing.T) {
	lead := newPerson(t, "Lead", "lead@example.com")
	intruder := newPerson(t, "Intruder", "intruder@example.com")
	r := newRepo(t)
	count := counter(t)
	r.commit("setup", map[string]string{"spine.yaml": "policy:\n  approvers: [lead@example.com]\n"})
	gated := func(name string) string {
		return fmt.Sprintf("```sh {name=%s gate=ALLOW_X destructive=true}\necho %s >> %s\n```\n\n", name, name, count)
	}
	doc := func(body string) string {
		return strings.Replace(loopDoc("LOOP-A", "## Stage 1: Provision\n\n"+body), "status: active\n", "status: active\napprovals: [ALLOW_X]\n", 1)
	}
	r.gitCommit(lead, nil, "the gated step, approved", map[string]string{"loops/a.md": doc(gated("provision"))})
	r.gitCommit(intruder, nil, "another step", map[string]string{"loops/a.md": doc(gated("provision") + gated("extra"))})

	if it := r.plan(nil, "LOOP-A", "provision"); it.State != StatePending {
		t.Fatalf("provision: %s %q, want pending", it.State, it.Reason)
	}
	r.run(nil)
	if got := r.stepReceipts("extra"); len(got) != 1 || got[0] != "blocked" {
		t.Fatalf("extra's receipts %v, want one blocked", got)
	}
	it := r.plan(nil, "LOOP-A", "extra")
	if !strings.Contains(it.Reason, `step "extra" was added in commit`) || !strings.Contains(it.Reason, "intruder@example.com") {
		t.Errorf("extra: %s %q; want blocked, naming the commit that added it", it.State, it.Reason)
	}
	data, err := os.ReadFile(count)
	if err != nil || string(data) != "provision\n" {
		t.Fatalf("ran %q (%v), want provision alone", data, err)
	}
}

// TestApprovalPolicyIsCommitted: gates answer to the policy HEAD holds,
// and an approval to the approver list from before it. An approver added
// in the working tree (not committed), or by the approving commit itself,
// opens nothing; nor does a signing key only the working tree has. A list
// committed before the approval does.
func TestApprovalPolicyIsCommitted(t *testing.T) {
	lead := newPerson(t, "Lead", "lead@example.com")
	op := newPerson(t, "Op", "op@example.com")
	const policy = "policy:\n  approvers: [lead@example.com]\n"
	const withOp = "policy:\n  approvers: [lead@example.com, op@example.com]\n"
	for _, tc := range []struct {
		name string
		// approve commits the approval (the loop's own text is given).
		approve    func(r *testRepo, approved string)
		wantReason string
	}{
		{"the approver list edited, not committed", func(r *testRepo, approved string) {
			r.gitCommit(op, nil, "approve", map[string]string{"loops/a.md": approved})
			r.write("spine.yaml", withOp)
		}, "who is not in policy.approvers"},
		{"added to the approvers by the approving commit", func(r *testRepo, approved string) {
			r.gitCommit(op, nil, "approve", map[string]string{"loops/a.md": approved, "spine.yaml": withOp})
		}, "was not in policy.approvers before it"},
		{"a signing key in the working tree only", func(r *testRepo, approved string) {
			r.gitCommit(lead, nil, "require signatures", map[string]string{"spine.yaml": policy + "  require_signed: true\n  signing_keys: [keys/lead.asc]\n"})
			r.gitCommit(lead, &lead, "approve", map[string]string{"loops/a.md": approved})
			r.write("keys/lead.asc", lead.armoredPublic(t))
		}, "no policy.signing_keys to verify with"},
		{"added to the approvers before approving", func(r *testRepo, approved string) {
			r.gitCommit(lead, nil, "add op", map[string]string{"spine.yaml": withOp})
			r.gitCommit(op, nil, "approve", map[string]string{"loops/a.md": approved})
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			count := counter(t)
			doc := loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Provision\n\n```sh {name=provision gate=ALLOW_X destructive=true}\necho run >> %s\n```\n", count))
			r.gitCommit(lead, nil, "setup", map[string]string{"spine.yaml": policy, "loops/a.md": doc})
			tc.approve(r, strings.Replace(doc, "status: active\n", "status: active\napprovals: [ALLOW_X]\n", 1))
			it := r.plan(nil, "LOOP-A", "provision")
			if tc.wantReason == "" {
				if it.State != StatePending {
					t.Fatalf("plan: %s %q, want pending", it.State, it.Reason)
				}
				return
			}
			if it.State != StateBlocked || !strings.Contains(it.Reason, tc.wantReason) {
				t.Fatalf("plan: %s %q; want blocked, %q", it.State, it.Reason, tc.wantReason)
			}
			r.run(nil)
			if _, err := os.Stat(count); err == nil {
				t.Fatal("the gated step ran")
			}
		})
	}
}

// TestApprovalThroughAMerge: an approval committed on a branch and merged
// is its author's, not the merger's (as git blame has it): an approver's
// approval merged by somebody else opens the gate, naming the approver;
// a non-approver's merged by an approver does not.
func TestApprovalThroughAMerge(t *testing.T) {
	for _, tc := range []struct {
		name             string
		approver, merger [2]string
		wantBy           string
	}{
		{"an approver's, merged by another", [2]string{"Bob", "bob@example.com"}, [2]string{"Alice", "alice@example.com"}, "Bob <bob@example.com>"},
		{"a non-approver's, merged by an approver", [2]string{"Alice", "alice@example.com"}, [2]string{"Bob", "bob@example.com"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			count := counter(t)
			doc := loopDoc("LOOP-M", fmt.Sprintf("## Stage 1: Change\n\n```sh {name=g gate=ALLOW_G}\necho g >> %s\n```\n", count))
			r.commitAs("Alice", "alice@example.com", "setup", map[string]string{"spine.yaml": "policy:\n  approvers: [bob@example.com]\n", "loops/m.md": doc})
			r.git("checkout", "-q", "-b", "approve")
			r.write("loops/m.md", strings.Replace(doc, "status: active\n", "status: active\napprovals: [ALLOW_G]\n", 1))
			r.gitAs(tc.approver[0], tc.approver[1], "commit", "-q", "-am", "approve ALLOW_G")
			r.git("checkout", "-q", "main")
			r.commitAs("Alice", "alice@example.com", "unrelated", map[string]string{"README.md": "x\n"})
			r.gitAs(tc.merger[0], tc.merger[1], "merge", "-q", "--no-ff", "approve", "-m", "Merge branch approve")
			it := r.plan(nil, "LOOP-M", "g")
			if tc.wantBy == "" {
				if it.State != StateBlocked || !strings.Contains(it.Reason, "is by Alice <alice@example.com>, who is not in policy.approvers") {
					t.Fatalf("plan: %s %q; want blocked, the approval Alice's", it.State, it.Reason)
				}
				return
			}
			if it.State != StatePending || it.Decision == nil || it.Decision.Approval == nil || it.Decision.Approval.Author != tc.wantBy {
				t.Fatalf("plan: %s %q %+v; want pending, approved by %s", it.State, it.Reason, it.Decision, tc.wantBy)
			}
		})
	}
}

// TestMergesDoNotLaunderApprovals: a merge by somebody else that brings
// back an approval revoked since (its other parent the old approval) is
// the merger's approval, not the approver's; and a non-approver's change
// of the gated step, merged by an approver, is the non-approver's change.
func TestMergesDoNotLaunderApprovals(t *testing.T) {
	newLoop := func(t *testing.T) (*testRepo, string) {
		r := newRepo(t)
		count := counter(t)
		doc := loopDoc("LOOP-M", fmt.Sprintf("## Stage 1: Change\n\n```sh {name=g gate=ALLOW_G}\necho g >> %s\n```\n", count))
		r.commitAs("App", "app@example.com", "setup", map[string]string{"spine.yaml": "policy:\n  approvers: [app@example.com]\n", "loops/m.md": doc})
		r.commitAs("App", "app@example.com", "approve", map[string]string{"loops/m.md": strings.Replace(doc, "status: active\n", "status: active\napprovals: [ALLOW_G]\n", 1)})
		return r, doc
	}
	t.Run("a revoked approval merged back", func(t *testing.T) {
		r, doc := newLoop(t)
		approval := strings.TrimSpace(r.git("rev-parse", "HEAD"))
		r.commitAs("App", "app@example.com", "revoke", map[string]string{"loops/m.md": doc})
		r.write("loops/m.md", strings.Replace(doc, "status: active\n", "status: active\napprovals: [ALLOW_G]\n", 1))
		r.git("add", "loops/m.md")
		tree := strings.TrimSpace(r.git("write-tree"))
		merge := strings.TrimSpace(r.gitAs("Mal", "mal@example.com", "commit-tree", tree, "-p", "HEAD", "-p", approval, "-m", "merge"))
		r.git("reset", "-q", "--hard", merge)
		if it := r.plan(nil, "LOOP-M", "g"); it.State != StateBlocked || !strings.Contains(it.Reason, "Mal <mal@example.com>") {
			t.Fatalf("plan: %s %q; want blocked, the approval the merger's", it.State, it.Reason)
		}
	})
	t.Run("a non-approver's change merged by an approver", func(t *testing.T) {
		r, _ := newLoop(t)
		r.git("checkout", "-q", "-b", "feat")
		r.write("loops/m.md", strings.Replace(r.read("loops/m.md"), "echo g >>", "echo EVIL >>", 1))
		r.gitAs("Mal", "mal@example.com", "commit", "-q", "-am", "mal edits the step")
		r.git("checkout", "-q", "main")
		r.gitAs("App", "app@example.com", "merge", "-q", "--no-ff", "feat", "-m", "merge feat")
		if it := r.plan(nil, "LOOP-M", "g"); it.State != StateBlocked || !strings.Contains(it.Reason, "by Mal <mal@example.com> after the approval") {
			t.Fatalf("plan: %s %q; want blocked, naming Mal's change", it.State, it.Reason)
		}
	})
}

// TestApprovalCoversAVerifyStepsPack: a gated verify step runs its pack's
// checks, so the approval covers the pack as it was approved: a change of
// the pack file by a non-approver, or of the step's pack= to another
// pack, blocks it; a change by an approver is the approval.
func TestApprovalCoversAVerifyStepsPack(t *testing.T) {
	r := newRepo(t)
	count := counter(t)
	pack := func(word string) string {
		return fmt.Sprintf("pack: p\nchecks:\n  - id: C1\n    run: echo %s >> %s\n", word, count)
	}
	doc := loopDoc("LOOP-V", "## Stage 1: Check\n\n```verify {name=vp gate=G pack=p}\n```\n")
	approved := strings.Replace(doc, "status: active\n", "status: active\napprovals: [G]\n", 1)
	r.commitAs("App", "app@example.com", "setup", map[string]string{
		"spine.yaml": "policy:\n  approvers: [app@example.com]\n", "verify/p.yaml": pack("safe"),
		"verify/q.yaml": "pack: q\nchecks:\n  - id: Q1\n    run: echo other >> " + count + "\n", "loops/v.md": doc,
	})
	r.commitAs("App", "app@example.com", "approve", map[string]string{"loops/v.md": approved})
	if it := r.plan(nil, "LOOP-V", "vp"); it.State != StatePending {
		t.Fatalf("approved: %s %q", it.State, it.Reason)
	}
	r.commitAs("Mal", "mal@example.com", "tweak the pack", map[string]string{"verify/p.yaml": pack("MALICIOUS")})
	if it := r.plan(nil, "LOOP-V", "vp"); it.State != StateBlocked || !strings.Contains(it.Reason, "pack verify/p.yaml changed in commit") || !strings.Contains(it.Reason, "Mal <mal@example.com>") {
		t.Fatalf("after Mal's pack change: %s %q; want blocked, naming the pack and Mal", it.State, it.Reason)
	}
	r.run(nil)
	if _, err := os.Stat(count); err == nil {
		t.Fatal("the changed pack ran")
	}
	r.commitAs("App", "app@example.com", "fix the pack", map[string]string{"verify/p.yaml": pack("fixed")})
	if it := r.plan(nil, "LOOP-V", "vp"); it.State != StatePending {
		t.Fatalf("after App's pack change: %s %q, want pending", it.State, it.Reason)
	}
	r.commitAs("Mal", "mal@example.com", "switch the pack", map[string]string{"loops/v.md": strings.Replace(approved, "pack=p", "pack=q", 1)})
	if it := r.plan(nil, "LOOP-V", "vp"); it.State != StateBlocked || !strings.Contains(it.Reason, `step "vp" was changed`) {
		t.Fatalf("after Mal switched pack=: %s %q; want blocked", it.State, it.Reason)
	}
}

// TestForbidSelfApprovalCoversAVerifyStepsPack: with forbid_self_approval,
// the approver who last changed a gated verify step's pack cannot approve
// it; another approver can.
func TestForbidSelfApprovalCoversAVerifyStepsPack(t *testing.T) {
	for _, tc := range []struct {
		name, approver string
		want           State
	}{
		{"the pack's author approves", "lead@example.com", StateBlocked},
		{"another approver approves", "second@example.com", StatePending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			doc := loopDoc("LOOP-V", "## Stage 1: Check\n\n```verify {name=vp gate=G pack=p}\n```\n")
			r.commitAs("Ops", "ops@example.com", "setup", map[string]string{
				"spine.yaml": "policy:\n  approvers: [lead@example.com, second@example.com]\n  forbid_self_approval: true\n", "loops/v.md": doc,
			})
			r.commitAs("Lead", "lead@example.com", "the pack", map[string]string{"verify/p.yaml": "pack: p\nchecks:\n  - id: C1\n    run: \"true\"\n"})
			r.commitAs("Approver", tc.approver, "approve", map[string]string{"loops/v.md": strings.Replace(doc, "status: active\n", "status: active\napprovals: [G]\n", 1)})
			it := r.plan(nil, "LOOP-V", "vp")
			if it.State != tc.want || (tc.want == StateBlocked && !strings.Contains(it.Reason, "wrote verify/p.yaml, the pack of step \"vp\"")) {
				t.Fatalf("plan: %s %q, want %s", it.State, it.Reason, tc.want)
			}
		})
	}
}

// TestApprovalCoversTheHost: a gated step approved to run on a staging
// host, then pointed at this host by somebody who is not an approver
// (its host=, or the loop's host: for a step without one), is blocked
// here, naming what changed and who changed it: the approval is not
// carried to production. Writing the same host on the step instead of
// the loop is no change.
func TestApprovalCoversTheHost(t *testing.T) {
	lead := newPerson(t, "Lead", "lead@example.com")
	intruder := newPerson(t, "Intruder", "intruder@example.com")
	type where struct{ loopHost, attrs string }
	for _, tc := range []struct {
		name              string
		approved, changed where
		wantReason        string // "": still approved for staging
	}{
		{name: "the step's host= moved to this host", approved: where{attrs: " host=staging"}, changed: where{attrs: " host=" + thisHost}, wantReason: "was changed (host=) in commit"},
		{name: "the loop moved to this host", approved: where{loopHost: "staging"}, changed: where{loopHost: thisHost}, wantReason: "was changed (host:) in commit"},
		{name: "the same host, written on the step", approved: where{loopHost: "staging"}, changed: where{attrs: " host=STAGING"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			count := counter(t)
			r.commit("setup", map[string]string{"spine.yaml": "policy:\n  approvers: [lead@example.com]\n"})
			doc := func(w where) string {
				body := fmt.Sprintf("## Stage 1: Wipe\n\n```sh {name=wipe gate=ALLOW_WIPE destructive=true%s}\necho wiped >> %s\n```\n", w.attrs, count)
				meta := "status: active\napprovals: [ALLOW_WIPE]\n"
				if w.loopHost != "" {
					meta += "host: " + w.loopHost + "\n"
				}
				return strings.Replace(loopDoc("LOOP-A", body), "status: active\n", meta, 1)
			}
			// Approved for staging, the step waits here for its host.
			waiting := func(when string) {
				t.Helper()
				if it := r.plan(nil, "LOOP-A", "wipe"); it.State != StateWaiting || !strings.Contains(it.Reason, "runs on host") {
					t.Fatalf("%s: %s %q, want waiting for its host", when, it.State, it.Reason)
				}
			}
			r.gitCommit(lead, nil, "wipe staging, approved", map[string]string{"loops/a.md": doc(tc.approved)})
			waiting("approved for staging")
			r.gitCommit(intruder, nil, "move it", map[string]string{"loops/a.md": doc(tc.changed)})
			if tc.wantReason == "" {
				waiting("after the change")
				return
			}
			it := r.plan(nil, "LOOP-A", "wipe")
			if it.State != StateBlocked || !strings.Contains(it.Reason, tc.wantReason) || !strings.Contains(it.Reason, "intruder@example.com") {
				t.Fatalf("%s %q, want blocked with %q, naming the commit's author", it.State, it.Reason, tc.wantReason)
			}
			r.run(nil)
			if n := countLines(t, count); n != 0 {
				t.Fatalf("the step ran %d times on a host it was not approved for", n)
			}
		})
	}
}

// TestApprovalFollowsADocumentMoved: git mv of a loop document does not
// make the approvals: it holds the mover's. An approval an intruder wrote
// stays refused after an approver moved the document; one an approver
// wrote stays theirs after anybody moved it (also with an edit in the
// same commit, as git mv and a fix would be).
func TestApprovalFollowsADocumentMoved(t *testing.T) {
	lead := newPerson(t, "Lead", "lead@example.com")
	intruder := newPerson(t, "Intruder", "intruder@example.com")
	for _, tc := range []struct {
		name            string
		approver, mover person
		edit            bool
		wantRun         bool
	}{
		{name: "an intruder's approval, moved by an approver", approver: intruder, mover: lead},
		{name: "an intruder's approval, moved and edited by an approver", approver: intruder, mover: lead, edit: true},
		{name: "an approver's approval, moved by an intruder", approver: lead, mover: intruder, wantRun: true},
		{name: "an approver's approval, moved and edited by an intruder", approver: lead, mover: intruder, edit: true, wantRun: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			count := counter(t)
			r.commit("setup", map[string]string{"spine.yaml": "policy:\n  approvers: [lead@example.com]\n"})
			doc := loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: P\n\n```sh {name=p gate=ALLOW_X destructive=true}\necho run >> %s\n```\n", count))
			r.gitCommit(intruder, nil, "the step", map[string]string{"loops/a.md": doc})
			approved := strings.Replace(doc, "status: active\n", "status: active\napprovals: [ALLOW_X]\n", 1)
			r.gitCommit(tc.approver, nil, "approve", map[string]string{"loops/a.md": approved})
			if err := os.MkdirAll(filepath.Join(r.root, "loops", "2026"), 0o755); err != nil {
				t.Fatal(err)
			}
			r.gitAs(tc.mover.name, tc.mover.email, "mv", "loops/a.md", "loops/2026/a.md")
			if tc.edit {
				r.write("loops/2026/a.md", approved+"\nMoved to the year's folder.\n")
				r.gitAs(tc.mover.name, tc.mover.email, "add", "loops/2026/a.md")
			}
			r.gitAs(tc.mover.name, tc.mover.email, "commit", "-qm", "file by year")
			// A dry run keeps the walks it made (approvals.idx.json); a
			// later commit carries them on, the move included.
			r.run(nil, func(o *Options) { o.DryRun = true })
			if kept, err := os.ReadFile(filepath.Join(r.root, ".git", "spine", approvalsIndexName)); err != nil || !strings.Contains(string(kept), `"p":"loops/a.md"`) {
				t.Fatalf("kept walks %s (%v), want one that followed the move", kept, err)
			}
			r.commit("elsewhere", map[string]string{"README.md": "ops\n"})
			it := r.plan(nil, "LOOP-A", "p")
			if tc.wantRun {
				if it.State != StatePending {
					t.Fatalf("%s %q, want pending", it.State, it.Reason)
				}
				out := r.run(nil)
				rc := out.Receipts[len(out.Receipts)-1]
				if rc.Approval == nil || !strings.Contains(rc.Approval.Author, lead.email) {
					t.Fatalf("receipt approval %+v, want the approver's", rc.Approval)
				}
				return
			}
			if it.State != StateBlocked || !strings.Contains(it.Reason, "intruder@example.com") {
				t.Fatalf("%s %q, want blocked naming the intruder", it.State, it.Reason)
			}
			r.run(nil)
			if n := countLines(t, count); n != 0 {
				t.Fatalf("the step ran %d times on an intruder's approval", n)
			}
		})
	}
}

// TestApprovalFollowsTheLoopNotThePath: the history of an approval, or of
// a gated step, is the loop's (its loop id), across moves on either side
// of a merge, a move that changes the loop id or lands on another
// document's path; and a new loop put at a moved loop's old path does not
// inherit its approvals.
func TestApprovalFollowsTheLoopNotThePath(t *testing.T) {
	lead := newPerson(t, "Lead", "lead@example.com")
	intruder := newPerson(t, "Intruder", "intruder@example.com")
	const gated = "## Stage 1: Wipe\n\n```sh {name=wipe gate=ALLOW_X destructive=true}\necho %s >> %s\n```\n"
	doc := func(id, cmd, count string, approved bool) string {
		d := loopDoc(id, fmt.Sprintf(gated, cmd, count))
		if approved {
			d = strings.Replace(d, "status: active\n", "status: active\napprovals: [ALLOW_X]\n", 1)
		}
		return d
	}
	as := func(r *testRepo, p person, args ...string) { r.t.Helper(); r.gitAs(p.name, p.email, args...) }
	for _, tc := range []struct {
		name string
		// steps runs after the intruder committed LOOP-A at loops/a.md.
		steps func(r *testRepo, count string)
		// loop is the loop checked.
		loop    string
		wantRun bool
	}{
		{
			name: "a command changed on a branch, merged after an approver moved the document",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				as(r, intruder, "checkout", "-qb", "evil")
				r.gitCommit(intruder, nil, "swap", map[string]string{"loops/a.md": doc("LOOP-A", "swapped", count, true)})
				as(r, lead, "checkout", "-q", "main")
				as(r, lead, "mv", "loops/a.md", "loops/b.md")
				as(r, lead, "commit", "-qm", "move")
				as(r, lead, "merge", "-q", "--no-edit", "evil")
			},
			loop: "LOOP-A",
		},
		{
			name: "an approval written on a branch, merged after an approver moved the document",
			steps: func(r *testRepo, count string) {
				as(r, intruder, "checkout", "-qb", "evil")
				r.gitCommit(intruder, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				as(r, lead, "checkout", "-q", "main")
				as(r, lead, "mv", "loops/a.md", "loops/b.md")
				as(r, lead, "commit", "-qm", "move")
				as(r, lead, "merge", "-q", "--no-edit", "evil")
			},
			loop: "LOOP-A",
		},
		{
			name: "an intruder's approval, moved by an approver who gave the loop a new id",
			steps: func(r *testRepo, count string) {
				r.gitCommit(intruder, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				as(r, lead, "rm", "-q", "loops/a.md")
				r.gitCommit(lead, nil, "rename", map[string]string{"loops/b.md": doc("LOOP-B", "wiped", count, true)})
			},
			loop: "LOOP-B",
		},
		{
			name: "an intruder's approval, moved by an approver onto another document",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "another", map[string]string{"loops/old.md": loopDoc("LOOP-OLD", "## Stage 1: X\n\n```sh {name=x}\ntrue\n```\n")})
				r.gitCommit(intruder, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				as(r, lead, "mv", "-f", "loops/a.md", "loops/old.md")
				as(r, lead, "commit", "-qm", "move over")
			},
			loop: "LOOP-A",
		},
		{
			name: "an approver's approval, moved by an intruder who put a new loop at the old path: the moved loop keeps it",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				as(r, intruder, "mv", "loops/a.md", "loops/b.md")
				r.gitCommit(intruder, nil, "move, and a new loop", map[string]string{"loops/a.md": doc("LOOP-NEW", "wiped", count, true)})
			},
			loop: "LOOP-A", wantRun: true,
		},
		{
			// The same step in a new loop: only the loop's identity tells.
			name: "an approver's approval, moved by an intruder who put a new loop at the old path: the new loop does not inherit it",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				as(r, intruder, "mv", "loops/a.md", "loops/b.md")
				r.gitCommit(intruder, nil, "move, and a new loop", map[string]string{"loops/a.md": doc("LOOP-NEW", "wiped", count, true)})
			},
			loop: "LOOP-NEW",
		},
		{
			name: "an intruder's own approval, the loop's host then set by an approver",
			steps: func(r *testRepo, count string) {
				r.gitCommit(intruder, nil, "self-approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				r.gitCommit(lead, nil, "host", map[string]string{"loops/a.md": strings.Replace(doc("LOOP-A", "wiped", count, true), "status: active\n", "status: active\nhost: "+thisHost+"\n", 1)})
			},
			loop: "LOOP-A",
		},
		{
			name: "an intruder's command, a confirmation then added before it by an approver",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				r.gitCommit(intruder, nil, "swap", map[string]string{"loops/a.md": doc("LOOP-A", "swapped", count, true)})
				r.gitCommit(lead, nil, "a check", map[string]string{"loops/a.md": strings.Replace(doc("LOOP-A", "swapped", count, true), "## Stage 1: Wipe\n\n", "## Stage 1: Wipe\n\n- [x] the ticket is open\n\n", 1)})
			},
			loop: "LOOP-A",
		},
		{
			name: "a command changed on a branch, merged cleanly with a change of the steps before it",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				as(r, intruder, "checkout", "-qb", "evil")
				r.gitCommit(intruder, nil, "swap", map[string]string{"loops/a.md": doc("LOOP-A", "swapped", count, true)})
				as(r, lead, "checkout", "-q", "main")
				r.gitCommit(lead, nil, "a baseline", map[string]string{"loops/a.md": strings.Replace(doc("LOOP-A", "wiped", count, true), "## Stage 1: Wipe\n\n", "## Stage 0: Look\n\n```sh {name=baseline}\ntrue\n```\n\n## Stage 1: Wipe\n\n", 1)})
				as(r, lead, "merge", "-q", "--no-edit", "evil")
			},
			loop: "LOOP-A",
		},
		{
			name: "a revoked approval brought back by a merge that kept it",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				approved := strings.TrimSpace(r.git("rev-parse", "HEAD"))
				r.gitCommit(lead, nil, "revoke", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, false)})
				as(r, intruder, "checkout", "-qb", "x", approved)
				r.gitCommit(intruder, nil, "unrelated", map[string]string{"notes.txt": "hi\n"})
				as(r, intruder, "merge", "-q", "-s", "ours", "--no-edit", "main")
				as(r, intruder, "checkout", "-q", "main")
				as(r, intruder, "merge", "-q", "--ff-only", "x")
			},
			loop: "LOOP-A",
		},
		{
			name: "a copy made, then given a new id: the copy does not inherit the approval",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				r.gitCommit(intruder, nil, "copy", map[string]string{"loops/z.md": doc("LOOP-A", "wiped", count, true), "loops/a.md": doc("LOOP-A", "wiped", count, true) + "\nA note.\n"})
				r.gitCommit(intruder, nil, "rename the copy", map[string]string{"loops/z.md": doc("LOOP-Z", "wiped", count, true)})
			},
			loop: "LOOP-Z",
		},
		{
			name: "a loop given a new id and copied in one commit: neither inherits",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				r.gitCommit(intruder, nil, "split", map[string]string{"loops/a.md": doc("LOOP-Q", "wiped", count, true), "loops/z.md": doc("LOOP-Z", "wiped", count, true)})
			},
			loop: "LOOP-Z",
		},
		{
			name: "two loops joined into one: it inherits neither",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "A approved, B a draft", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true), "loops/b.md": doc("LOOP-B", "swapped", count, false)})
				as(r, intruder, "rm", "-q", "loops/a.md", "loops/b.md")
				r.gitCommit(intruder, nil, "join", map[string]string{"loops/c.md": doc("LOOP-C", "swapped", count, true)})
			},
			loop: "LOOP-C",
		},
		{
			name: "a confirmation before the step ticked and annotated: still approved",
			steps: func(r *testRepo, count string) {
				check := func(item string) string {
					return strings.Replace(doc("LOOP-A", "wiped", count, true), "## Stage 1: Wipe\n\n", "## Stage 1: Wipe\n\n"+item+"\n\n", 1)
				}
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": check("- [ ] confirm the disk WWNs")})
				r.gitCommit(intruder, nil, "ticked", map[string]string{"loops/a.md": check("- [x] confirm the disk WWNs (checked by op, ticket OPS-12)")})
			},
			loop: "LOOP-A", wantRun: true,
		},
		{
			name: "a revoked approval kept by a merge, after another merge kept it and the walk was kept",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				r.gitCommit(intruder, nil, "unrelated", map[string]string{"notes.txt": "hi\n"})
				for _, b := range []string{"x", "y"} {
					as(r, intruder, "checkout", "-qb", b, "main")
					r.gitCommit(intruder, nil, "revoke on "+b, map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, false)})
				}
				as(r, lead, "checkout", "-q", "main")
				for _, m := range []struct {
					by     person
					branch string
				}{{lead, "x"}, {intruder, "y"}} {
					as(r, m.by, "merge", "-q", "--no-ff", "--no-commit", m.branch)
					as(r, m.by, "checkout", "HEAD", "--", "loops/a.md")
					as(r, m.by, "commit", "-qm", "keep the approval")
					// A dry run keeps the walks (approvals.idx.json).
					r.run(nil, func(o *Options) { o.DryRun = true })
				}
			},
			loop: "LOOP-A",
		},
		{
			name: "a loop renamed, then its old id back in another document, after the walk was kept",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				r.gitCommit(intruder, nil, "rename", map[string]string{"loops/a.md": doc("LOOP-NEW", "wiped", count, true)})
				r.run(nil, func(o *Options) { o.DryRun = true })
				r.gitCommit(intruder, nil, "the old id back", map[string]string{"loops/b.md": loopDoc("LOOP-A", "## Stage 1: X\n\n```sh {name=x}\ntrue\n```\n")})
			},
			loop: "LOOP-NEW",
		},
		{
			name: "a change approved again on its branch by an approver, merged with a merge commit",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				as(r, intruder, "checkout", "-qb", "pr")
				r.gitCommit(intruder, nil, "change", map[string]string{"loops/a.md": doc("LOOP-A", "changed", count, true)})
				r.gitCommit(lead, nil, "withdraw", map[string]string{"loops/a.md": doc("LOOP-A", "changed", count, false)})
				r.gitCommit(lead, nil, "approve again", map[string]string{"loops/a.md": doc("LOOP-A", "changed", count, true)})
				as(r, lead, "checkout", "-q", "main")
				r.gitCommit(lead, nil, "elsewhere", map[string]string{"notes.txt": "main moved on\n"})
				as(r, lead, "merge", "-q", "--no-ff", "--no-edit", "pr")
			},
			loop: "LOOP-A", wantRun: true,
		},
		{
			name: "a change approved again on its branch by an intruder, merged with a merge commit",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				as(r, intruder, "checkout", "-qb", "pr")
				r.gitCommit(intruder, nil, "change", map[string]string{"loops/a.md": doc("LOOP-A", "changed", count, true)})
				r.gitCommit(intruder, nil, "withdraw", map[string]string{"loops/a.md": doc("LOOP-A", "changed", count, false)})
				r.gitCommit(intruder, nil, "approve again", map[string]string{"loops/a.md": doc("LOOP-A", "changed", count, true)})
				as(r, lead, "checkout", "-q", "main")
				r.gitCommit(lead, nil, "elsewhere", map[string]string{"notes.txt": "main moved on\n"})
				as(r, lead, "merge", "-q", "--no-ff", "--no-edit", "pr")
			},
			loop: "LOOP-A",
		},
		{
			name: "a change approved again on its branch, merged, then changed on main by an intruder",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				as(r, intruder, "checkout", "-qb", "pr")
				r.gitCommit(intruder, nil, "change", map[string]string{"loops/a.md": doc("LOOP-A", "changed", count, true)})
				r.gitCommit(lead, nil, "withdraw", map[string]string{"loops/a.md": doc("LOOP-A", "changed", count, false)})
				r.gitCommit(lead, nil, "approve again", map[string]string{"loops/a.md": doc("LOOP-A", "changed", count, true)})
				as(r, lead, "checkout", "-q", "main")
				r.gitCommit(lead, nil, "elsewhere", map[string]string{"notes.txt": "main moved on\n"})
				as(r, lead, "merge", "-q", "--no-ff", "--no-edit", "pr")
				r.gitCommit(intruder, nil, "swap", map[string]string{"loops/a.md": doc("LOOP-A", "swapped", count, true)})
			},
			loop: "LOOP-A",
		},
		{
			name: "an approval revoked on main, brought back through a branch that merged it before",
			steps: func(r *testRepo, count string) {
				as(r, lead, "branch", "side")
				r.gitCommit(lead, nil, "approve evil", map[string]string{"loops/a.md": doc("LOOP-A", "evil", count, true)})
				a1 := strings.TrimSpace(r.git("rev-parse", "HEAD"))
				r.gitCommit(lead, nil, "revoke", map[string]string{"loops/a.md": doc("LOOP-A", "evil", count, false)})
				r.gitCommit(lead, nil, "back", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, false)})
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				as(r, intruder, "checkout", "-q", "side")
				r.gitCommit(intruder, nil, "unrelated", map[string]string{"notes.txt": "side\n"})
				as(r, intruder, "merge", "-q", "--no-ff", "--no-edit", a1)
				as(r, intruder, "checkout", "-q", "main")
				r.gitCommit(intruder, nil, "evil", map[string]string{"loops/a.md": doc("LOOP-A", "evil", count, true)})
				as(r, intruder, "merge", "-q", "--no-ff", "--no-edit", "side")
			},
			loop: "LOOP-A",
		},
		{
			name: "a command an approver replaced on main, brought back through two merges",
			steps: func(r *testRepo, count string) {
				as(r, lead, "branch", "side")
				r.gitCommit(lead, nil, "a draft", map[string]string{"loops/a.md": doc("LOOP-A", "evil", count, false)})
				draft := strings.TrimSpace(r.git("rev-parse", "HEAD"))
				r.gitCommit(lead, nil, "back", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, false)})
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				as(r, intruder, "checkout", "-q", "side")
				r.gitCommit(intruder, nil, "unrelated", map[string]string{"notes.txt": "side\n"})
				as(r, intruder, "merge", "-q", "--no-ff", "--no-edit", draft)
				as(r, intruder, "checkout", "-q", "main")
				as(r, intruder, "merge", "-q", "--no-ff", "--no-commit", "side")
				r.write("loops/a.md", doc("LOOP-A", "evil", count, true))
				as(r, intruder, "add", "loops/a.md")
				as(r, intruder, "commit", "-qm", "merge side")
			},
			loop: "LOOP-A",
		},
		{
			name: "a branch's revoked approval kept by an intruder's merge on the branch",
			steps: func(r *testRepo, count string) {
				as(r, lead, "checkout", "-qb", "feat")
				r.gitCommit(lead, nil, "approve evil", map[string]string{"loops/a.md": doc("LOOP-A", "evil", count, true)})
				b1 := strings.TrimSpace(r.git("rev-parse", "HEAD"))
				r.gitCommit(lead, nil, "revoke", map[string]string{"loops/a.md": doc("LOOP-A", "evil", count, false)})
				as(r, intruder, "checkout", "-qb", "feat2", b1)
				r.gitCommit(intruder, nil, "unrelated", map[string]string{"notes.txt": "feat2\n"})
				as(r, intruder, "merge", "-q", "--no-ff", "--no-edit", "-s", "ours", "feat")
				as(r, lead, "checkout", "-q", "main")
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				r.gitCommit(intruder, nil, "evil", map[string]string{"loops/a.md": doc("LOOP-A", "evil", count, true)})
				as(r, intruder, "merge", "-q", "--no-ff", "--no-edit", "feat2")
			},
			loop: "LOOP-A",
		},
		{
			name: "another loop's approval merged from a branch that never had this loop",
			steps: func(r *testRepo, count string) {
				as(r, lead, "branch", "other", "HEAD~1")
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				r.gitCommit(intruder, nil, "evil", map[string]string{"loops/a.md": doc("LOOP-A", "evil", count, true)})
				as(r, lead, "checkout", "-q", "other")
				r.gitCommit(lead, nil, "loop B", map[string]string{"loops/b.md": doc("LOOP-B", "evil", count, true)})
				as(r, intruder, "checkout", "-q", "main")
				as(r, intruder, "merge", "-q", "--no-ff", "--no-commit", "other")
				as(r, intruder, "rm", "-qf", "loops/b.md")
				as(r, intruder, "commit", "-qm", "merge other")
			},
			loop: "LOOP-A",
		},
		{
			name: "an approver's clean merge of an intruder's branch, based where the approval was dropped",
			steps: func(r *testRepo, count string) {
				r.gitCommit(lead, nil, "approve", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, true)})
				as(r, intruder, "checkout", "-qb", "rv")
				r.gitCommit(intruder, nil, "revoke on a branch", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, false)})
				dropped := strings.TrimSpace(r.git("rev-parse", "HEAD"))
				as(r, intruder, "checkout", "-q", "main")
				as(r, intruder, "merge", "-q", "--no-edit", "-s", "ours", "rv")
				as(r, intruder, "checkout", "-qb", "feat", dropped)
				r.gitCommit(intruder, nil, "evil", map[string]string{"loops/a.md": doc("LOOP-A", "evil", count, false)})
				as(r, lead, "checkout", "-q", "main")
				as(r, lead, "merge", "-q", "--no-ff", "--no-edit", "feat")
			},
			loop: "LOOP-A",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			count := counter(t)
			r.commit("setup", map[string]string{"spine.yaml": "policy:\n  approvers: [lead@example.com]\n"})
			r.gitCommit(intruder, nil, "the step", map[string]string{"loops/a.md": doc("LOOP-A", "wiped", count, false)})
			tc.steps(r, count)
			it := r.plan(nil, tc.loop, "wipe")
			if tc.wantRun {
				if it.State != StatePending {
					t.Fatalf("%s %q, want pending", it.State, it.Reason)
				}
				return
			}
			if it.State != StateBlocked || !strings.Contains(it.Reason, intruder.email) {
				t.Fatalf("%s %q, want blocked naming the intruder", it.State, it.Reason)
			}
			for _, rc := range r.run(nil).Receipts {
				if rc.LoopID == tc.loop && rc.Step == "wipe" && rc.Status != "blocked" {
					t.Fatalf("%s's step ran on an intruder's change: %s", tc.loop, rc.Status)
				}
			}
		})
	}
}

// TestApprovalCoversWhatRunsBefore: the steps before a gated step (a
// manual confirmation, a baseline) are part of what was approved: moving
// the step ahead of them, or removing one, after the approval blocks it;
// so does adding one (the approved order changed).
func TestApprovalCoversWhatRunsBefore(t *testing.T) {
	lead := newPerson(t, "Lead", "lead@example.com")
	intruder := newPerson(t, "Intruder", "intruder@example.com")
	const (
		confirm = "- [ ] operator confirms the disk WWNs\n\n"
		wipe    = "```sh {name=wipe gate=ALLOW_X destructive=true}\necho wiped >> %s\n```\n\n"
		look    = "```sh {name=look}\ntrue\n```\n\n"
	)
	for _, tc := range []struct {
		name   string
		stage0 string // the body of stage 0 after the change
		stage1 string // of stage 1
	}{
		{"the step moved ahead of the confirmation", look + wipe, confirm},
		{"the confirmation removed", look, wipe},
		// (The confirmation ticked: the step would run now.)
		{"a step added before it", look + "```sh {name=extra}\ntrue\n```\n\n", strings.Replace(confirm, "[ ]", "[x]", 1) + wipe},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			count := counter(t)
			r.commit("setup", map[string]string{"spine.yaml": "policy:\n  approvers: [lead@example.com]\n"})
			doc := func(s0, s1 string) string {
				d := loopDoc("LOOP-A", strings.ReplaceAll("## Stage 0: Look\n\n"+s0+"## Stage 1: Wipe\n\n"+s1, "%s", count))
				return strings.Replace(d, "status: active\n", "status: active\napprovals: [ALLOW_X]\n", 1)
			}
			r.gitCommit(lead, nil, "approved", map[string]string{"loops/a.md": doc(look, confirm+wipe)})
			if it := r.plan(nil, "LOOP-A", "wipe"); it.State != StateWaiting {
				t.Fatalf("before the change: %s %q, want waiting for the confirmation", it.State, it.Reason)
			}
			r.gitCommit(intruder, nil, "change", map[string]string{"loops/a.md": doc(tc.stage0, tc.stage1)})
			it := r.plan(nil, "LOOP-A", "wipe")
			if it.State != StateBlocked || !strings.Contains(it.Reason, "changed (steps before it: ") {
				t.Fatalf("%s %q, want blocked naming the steps before it", it.State, it.Reason)
			}
			r.run(nil)
			if n := countLines(t, count); n != 0 {
				t.Fatalf("the step ran %d times", n)
			}
		})
	}
}

// TestApprovalInAShallowCloneSaysSo: in a shallow clone (a CI checkout's
// default) the approval's commit may be missing: the gate stays closed,
// and the reason says the clone is shallow and how to fetch the history.
func TestApprovalInAShallowCloneSaysSo(t *testing.T) {
	lead := newPerson(t, "Lead", "lead@example.com")
	src := newRepo(t)
	src.commit("setup", map[string]string{"spine.yaml": "policy:\n  approvers: [lead@example.com]\n"})
	doc := loopDoc("LOOP-A", "## Stage 1: P\n\n```sh {name=p gate=ALLOW_X}\ntrue\n```\n")
	src.gitCommit(lead, nil, "approved", map[string]string{"loops/a.md": strings.Replace(doc, "status: active\n", "status: active\napprovals: [ALLOW_X]\n", 1)})
	src.commit("later", map[string]string{"README.md": "ops\n"})
	r := &testRepo{t: t, root: filepath.Join(t.TempDir(), "shallow")}
	src.git("clone", "-q", "--depth", "1", "file://"+src.root, r.root)
	it := r.plan(nil, "LOOP-A", "p")
	if it.State != StateBlocked || !strings.Contains(it.Reason, "this clone is shallow") || !strings.Contains(it.Reason, "git fetch --unshallow") {
		t.Fatalf("%s %q, want blocked, saying the clone is shallow", it.State, it.Reason)
	}
	r.git("fetch", "-q", "--unshallow")
	if it := r.plan(nil, "LOOP-A", "p"); it.State != StatePending {
		t.Fatalf("after --unshallow: %s %q, want pending", it.State, it.Reason)
	}
}

// TestApprovalCoversAVerifyPackMergedFromABranch: a verify step's pack
// changed on a branch is its author's when an approver merges it, as a
// command would be.
func TestApprovalCoversAVerifyPackMergedFromABranch(t *testing.T) {
	r := newRepo(t)
	doc := loopDoc("LOOP-V", "## Stage 1: Check\n\n```verify {name=vp gate=G pack=p}\n```\n")
	r.commitAs("Ops", "ops@example.com", "setup", map[string]string{
		"spine.yaml": "policy:\n  approvers: [lead@example.com]\n", "loops/v.md": doc,
		"verify/p.yaml": "pack: p\nchecks:\n  - id: C1\n    run: \"true\"\n",
	})
	r.commitAs("Lead", "lead@example.com", "approve", map[string]string{"loops/v.md": strings.Replace(doc, "status: active\n", "status: active\napprovals: [G]\n", 1)})
	r.gitAs("Intruder", "intruder@example.com", "checkout", "-qb", "feat")
	r.commitAs("Intruder", "intruder@example.com", "the pack", map[string]string{"verify/p.yaml": "pack: p\nchecks:\n  - id: C1\n    run: \"echo evil; true\"\n"})
	r.gitAs("Lead", "lead@example.com", "checkout", "-q", "main")
	r.gitAs("Lead", "lead@example.com", "merge", "-q", "--no-ff", "-m", "merge", "feat")
	if it := r.plan(nil, "LOOP-V", "vp"); it.State != StateBlocked || !strings.Contains(it.Reason, "intruder@example.com") {
		t.Fatalf("plan: %s %q, want blocked naming the pack's author", it.State, it.Reason)
	}
}

// TestForbidSelfApprovalCoversEveryPart: with forbid_self_approval, the
// author of any part of a gated step cannot approve it, nor a change of
// it: not when somebody else changed another part last, nor when the
// commit that changed it claims an older date.
func TestForbidSelfApprovalCoversEveryPart(t *testing.T) {
	const policy = "policy:\n  approvers: [lead@example.com, second@example.com]\n  forbid_self_approval: true\n"
	step := func(attrs, cmd string) string {
		return loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: P\n\n```sh {name=p gate=G%s}\n%s\n```\n", attrs, cmd))
	}
	approved := func(d string) string {
		return strings.Replace(d, "status: active\n", "status: active\napprovals: [G]\n", 1)
	}
	t.Run("the command's author approves, after another attribute changed", func(t *testing.T) {
		r := newRepo(t)
		r.commit("setup", map[string]string{"spine.yaml": policy})
		r.commitAs("Lead", "lead@example.com", "the step", map[string]string{"loops/a.md": step("", "echo lead")})
		r.commitAs("Intruder", "intruder@example.com", "a timeout", map[string]string{"loops/a.md": step(" timeout=10m", "echo lead")})
		r.commitAs("Lead", "lead@example.com", "approve", map[string]string{"loops/a.md": approved(step(" timeout=10m", "echo lead"))})
		if it := r.plan(nil, "LOOP-A", "p"); it.State != StateBlocked || !strings.Contains(it.Reason, "wrote step \"p\"'s command and cannot approve it") {
			t.Fatalf("plan: %s %q, want blocked", it.State, it.Reason)
		}
	})
	t.Run("an approver changes the command with an old committer date", func(t *testing.T) {
		r := newRepo(t)
		r.commit("setup", map[string]string{"spine.yaml": policy})
		r.commitAs("Ops", "ops@example.com", "the step", map[string]string{"loops/a.md": step("", "echo ops")})
		r.commitAs("Second", "second@example.com", "approve", map[string]string{"loops/a.md": approved(step("", "echo ops"))})
		r.write("loops/a.md", approved(step("", "echo lead")))
		cmd := exec.Command("git", "commit", "-qam", "backdated")
		cmd.Dir = r.root
		cmd.Env = append(gitEnv("Lead", "lead@example.com"), "GIT_COMMITTER_DATE=2020-01-01T00:00:00Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("commit: %v\n%s", err, out)
		}
		if it := r.plan(nil, "LOOP-A", "p"); it.State != StateBlocked || !strings.Contains(it.Reason, "cannot approve it") {
			t.Fatalf("plan: %s %q, want blocked", it.State, it.Reason)
		}
	})
}

// TestApprovalOlderThanTheHistoryLimit: an approval further back than the
// history spine reads cannot be told an approver's: it is refused, saying
// so, not taken for the commit where the reading stopped.
func TestApprovalOlderThanTheHistoryLimit(t *testing.T) {
	lead := newPerson(t, "Lead", "lead@example.com")
	intruder := newPerson(t, "Intruder", "intruder@example.com")
	for _, tc := range []struct {
		name       string
		approver   person
		later      int
		wantReason string
	}{
		{"an intruder's approval within the limit", intruder, 3, "is by Intruder"},
		{"an intruder's approval beyond it", intruder, 12, "older than the last 10 commits of the branch"},
		{"an approver's approval beyond it", lead, 12, "older than the last 10 commits of the branch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			r.commit("setup", map[string]string{"spine.yaml": "policy:\n  approvers: [lead@example.com]\n"})
			doc := loopDoc("LOOP-A", "## Stage 1: P\n\n```sh {name=p gate=G}\ntrue\n```\n")
			r.gitCommit(tc.approver, nil, "approve", map[string]string{"loops/a.md": strings.Replace(doc, "status: active\n", "status: active\napprovals: [G]\n", 1)})
			for i := range tc.later {
				r.gitCommit(lead, nil, "later", map[string]string{"notes.txt": strconv.Itoa(i)})
			}
			p, err := Plan(func() Options { o := r.runOpts(nil); o.ApprovalHistory = 10; return o }())
			if err != nil {
				t.Fatal(err)
			}
			it := p.PlanLoop(r.runOpts(nil).Set.ByID("LOOP-A"))[0]
			if it.State != StateBlocked || !strings.Contains(it.Reason, tc.wantReason) {
				t.Fatalf("plan: %s %q, want blocked with %q", it.State, it.Reason, tc.wantReason)
			}
		})
	}
}

// TestFailedGatedStepSaysARetryWouldBeBlocked: a failed gated step's
// --retry hint says when its gate would block the retry (its approval no
// longer covers it), rather than promise a run.
func TestFailedGatedStepSaysARetryWouldBeBlocked(t *testing.T) {
	lead := newPerson(t, "Lead", "lead@example.com")
	intruder := newPerson(t, "Intruder", "intruder@example.com")
	r := newRepo(t)
	r.commit("setup", map[string]string{"spine.yaml": "policy:\n  approvers: [lead@example.com]\n"})
	doc := func(timeout string) string {
		return strings.Replace(loopDoc("LOOP-A", "## Stage 1: P\n\n```sh {name=p gate=G timeout="+timeout+"}\nexit 3\n```\n"), "status: active\n", "status: active\napprovals: [G]\n", 1)
	}
	r.gitCommit(lead, nil, "approved", map[string]string{"loops/a.md": doc("1m")})
	r.run(nil)
	if it := r.plan(nil, "LOOP-A", "p"); it.State != StateFailed || strings.Contains(it.Reason, "would be blocked") {
		t.Fatalf("after the failure: %s %q, want failed, a retry allowed", it.State, it.Reason)
	}
	r.gitCommit(intruder, nil, "longer", map[string]string{"loops/a.md": doc("10m")})
	if it := r.plan(nil, "LOOP-A", "p"); it.State != StateFailed || !strings.Contains(it.Reason, "--retry p") || !strings.Contains(it.Reason, "a retry would be blocked: gate G: step \"p\" was changed (timeout=)") {
		t.Fatalf("after a change: %s %q, want failed, saying a retry would be blocked", it.State, it.Reason)
	}
}

// TestListedByEmail: an approval's author is an approver when the email
// of an approvers entry is theirs, however the entry writes the name.
func TestListedByEmail(t *testing.T) {
	sig := object.Signature{Name: "Lead, Dana", Email: "Dana@X.example"}
	for _, tc := range []struct {
		approvers []string
		want      bool
	}{
		{[]string{"Lead, Dana <dana@x.example>"}, true},
		{[]string{"dana@x.example"}, true},
		{[]string{"Dana Lead <dana@x.example>"}, true},
		{[]string{"Lead, Dana <eve@x.example>"}, false},
		{[]string{"Lead, Dana"}, false},
	} {
		if got := listed(tc.approvers, sig); got != tc.want {
			t.Errorf("listed(%q) = %v, want %v", tc.approvers, got, tc.want)
		}
	}
}

// TestEnvYes: NAME=yes opens a gate in any ASCII case, with ASCII blanks
// around it; nothing else does, not a value Unicode folds to yes ("yeſ",
// U+017F) nor one padded with other spaces, which the reusable workflow's
// filter of the step environment would not take for yes either.
func TestEnvYes(t *testing.T) {
	for v, want := range map[string]bool{
		"yes": true, "YES": true, "Yes": true, " yes ": true, "yes\n": true, "\tyes\r\n": true,
		"": false, "y": false, "true": false, "1": false, "ye s": false, "yes;": false, "yess": false,
		"ye\u017f": false, "yes\v": false, "yes\f": false, "yes\u00a0": false, "\u00a0yes": false, "ＹＥＳ": false,
	} {
		if got := envYes(v); got != want {
			t.Errorf("envYes(%q) = %v, want %v", v, got, want)
		}
	}
}
