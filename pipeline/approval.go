package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
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
	// GitOnly ignores NAME=yes in the environment: only a committed
	// approval opens a gate (a hook's run, which a push cannot give an
	// environment), and the refusal says so.
	GitOnly bool
	// PackFile, when set, returns the repository-relative file of the
	// verify pack named pack ("" when unknown): an approval covers a
	// verify step's pack as it was approved.
	PackFile func(pack string) string
	// StateDir, when set, keeps the results of approval history walks
	// between processes (approvals.idx.json; see approvalcache.go).
	StateDir string
	// LoopExists, when set, reports whether a loop id has a document in
	// the working tree: a loop renamed in a commit keeps its history only
	// when the old id is gone (else the new one is a copy).
	LoopExists func(loopID string) bool
	// HistoryLimit bounds the commits a history walk reads
	// (maxApprovalHistory when 0): an approval older than that is
	// refused, as its author cannot be told.
	HistoryLimit int

	histOnce sync.Once
	hist     *historyCache
}

// limit is the most commits a history walk reads.
func (g *Gates) limit() int {
	if g.HistoryLimit > 0 {
		return g.HistoryLimit
	}
	return maxApprovalHistory
}

// history returns the gates' history walk cache.
func (g *Gates) history() *historyCache {
	g.histOnce.Do(func() { g.hist = newHistoryCache(g.Git, g.StateDir, g.LoopExists) })
	return g.hist
}

// SaveCache writes what approval lookups learnt to the state folder, for
// the next process (nothing without StateDir or when nothing is new).
func (g *Gates) SaveCache() error {
	if g.Git == nil {
		return nil
	}
	return g.history().save()
}

// Decision is the outcome of a gate check.
type Decision struct {
	Approved bool
	Approval *artifacts.Approval
	// Reason explains a refusal in one line.
	Reason string
}

// envYes reports whether an environment value approves a gate: "yes" in
// any ASCII case, with ASCII blanks around it. Nothing else: not Unicode
// case folding ("yeſ"), nor other spaces (the workflow's filter of the
// step environment, which must not let one through, reads values so).
func envYes(v string) bool {
	v = strings.Trim(v, " \t\r\n")
	// b|0x20 is the lower case of an ASCII letter, and 'y', 'e' or 's'
	// only for that letter in either case.
	return len(v) == 3 && v[0]|0x20 == 'y' && v[1]|0x20 == 'e' && v[2]|0x20 == 's'
}

// Check decides the gate for step in doc. A nil step is a governance
// action's (spine loop close, gap file or close): an approver's committed
// approval opens it, with nothing of a step to have changed since.
func (g *Gates) Check(doc *loops.Document, step *loops.Step, gate string) Decision {
	if v, ok := g.Env(gate); ok && !g.GitOnly && envYes(v) {
		return Decision{Approved: true, Approval: &artifacts.Approval{Source: "env", Author: gate + "=yes"}}
	}
	if !hasApproval(doc.Meta, gate) {
		if g.GitOnly {
			return Decision{Reason: fmt.Sprintf("gate %s not approved (add it to approvals: in a commit by an approver, and push)", gate)}
		}
		return Decision{Reason: fmt.Sprintf("gate %s not approved (set %s=yes, or add it to approvals: in a commit by an approver)", gate, gate)}
	}
	if g.Git == nil {
		return Decision{Reason: fmt.Sprintf("gate %s: approvals need a git repository", gate)}
	}
	c, rel, err := g.approvalCommit(doc, gate)
	if err != nil {
		return Decision{Reason: fmt.Sprintf("gate %s: %v", gate, g.historyErr(err))}
	}
	if c == nil {
		return Decision{Reason: fmt.Sprintf("gate %s: approval is not committed yet", gate)}
	}
	dec, changed := g.decide(doc, step, gate, c, rel)
	if changed {
		// The first parent's approval does not cover the step as it is:
		// one given on a branch merged since may (a merge request
		// approved again on its branch, then merged).
		for _, b := range g.branchApprovals(doc, gate, c) {
			if d, _ := g.decide(doc, step, gate, b.c, b.rel); d.Approved {
				return d
			}
		}
	}
	return dec
}

// decide decides the gate for step in doc given c, the commit that
// approved it, with the document at rel there. changed reports a refusal
// for a part of the step changed since c: another approval may cover it.
func (g *Gates) decide(doc *loops.Document, step *loops.Step, gate string, c *object.Commit, rel string) (dec Decision, changed bool) {
	// An approval covers the step as the approver saw it (stepFields).
	// Each part of it changed since (or every part, for a step added since)
	// must have been given its present value by an approver's commit: that
	// commit approves the part, under the same rules as the approval. An
	// approver's edit of one part (the loop's host:, a confirmation before
	// the step) vouches for that part, not for another's.
	//
	// A nil step is a governance action's (a loop closed, a gap filed or
	// closed): nothing of it is in the document, the approval is all.
	vouch := []*object.Commit{c}
	var changes []fieldChange
	if step != nil {
		var err error
		if changes, err = g.history().stepSince(c, rel, doc, step); err != nil {
			return Decision{Reason: fmt.Sprintf("gate %s: %v", gate, g.historyErr(err))}, false
		}
	}
	var refused []fieldChange // the parts no approver gave their value
	var by *object.Commit     // the commit that gave the first of them its value
	for _, ch := range changes {
		fc := g.fieldCommit(doc, step, ch.field)
		switch {
		case fc != nil && g.isApprover(fc.Author):
			vouch = append(vouch, fc)
		case len(refused) == 0:
			refused, by = append(refused, ch), fc
		case (fc == nil) == (by == nil) && (fc == nil || fc.Hash == by.Hash):
			refused = append(refused, ch)
		}
	}
	if len(refused) > 0 {
		what := "added"
		if !refused[0].added {
			parts := make([]string, len(refused))
			for i, ch := range refused {
				parts[i] = ch.part
			}
			what = "changed (" + strings.Join(parts, ", ") + ")"
		}
		if by != nil {
			what += fmt.Sprintf(" in commit %s by %s <%s>", by.Hash.String()[:12], by.Author.Name, by.Author.Email)
		}
		return Decision{Reason: fmt.Sprintf("gate %s: step %q was %s after the approval in commit %s; an approver approves it again by committing approvals: without %s, then with it", gate, step.Name, what, c.Hash.String()[:12], gate)}, true
	}
	// A verify step runs its pack's checks: the pack file is part of what
	// was approved. packRel is the file; packLast finds the commit that
	// last changed it (once, and only when asked: it walks the history).
	var packRel string
	if step != nil && step.Kind == loops.KindVerify && g.PackFile != nil {
		packRel = g.PackFile(step.Pack)
	}
	var last *object.Commit
	looked := false
	packLast := func() *object.Commit {
		if !looked {
			looked = true
			last, _ = g.history().fileSince(packRel, g.limit())
		}
		return last
	}
	if packRel != "" {
		same, err := g.history().sameFile(c, packRel)
		if err != nil {
			return Decision{Reason: fmt.Sprintf("gate %s: %v", gate, g.historyErr(err))}, false
		}
		if !same {
			changed := packLast()
			if changed == nil || !g.isApprover(changed.Author) {
				what := packRel + " changed"
				if changed != nil {
					what = fmt.Sprintf("%s changed in commit %s by %s <%s>", packRel, changed.Hash.String()[:12], changed.Author.Name, changed.Author.Email)
				}
				return Decision{Reason: fmt.Sprintf("gate %s: verify step %q's pack %s after the approval in commit %s; an approver approves it again by committing approvals: without %s, then with it", gate, step.Name, what, c.Hash.String()[:12], gate)}, true
			}
			vouch = append(vouch, changed)
		}
	}
	// Every commit that approves a part answers to the same rules; the
	// receipt names the last (the approval's, or the last part's).
	seen := map[plumbing.Hash]bool{}
	var approving []*object.Commit
	for _, v := range vouch {
		if seen[v.Hash] {
			continue
		}
		seen[v.Hash] = true
		label := "approval commit " + v.Hash.String()[:12]
		if v.Hash != vouch[0].Hash {
			label = "commit " + v.Hash.String()[:12] + ", which changed the step after the approval,"
		}
		if why := g.approves(v, gate, label); why != "" {
			return Decision{Reason: why}, false
		}
		approving = append(approving, v)
	}
	c = approving[len(approving)-1]
	author := fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email)
	if g.Policy.ForbidSelfApproval && step != nil {
		// Nobody approves what they wrote: no commit that approves the
		// step, or a part of it, is by the author of a part of it (what
		// runs before it is not the step).
		type part struct{ email, what string }
		var wrote []part
		for i, f := range stepFields(doc, step) {
			if i == stepsBeforeField {
				continue
			}
			if fc := g.fieldCommit(doc, step, i); fc != nil {
				wrote = append(wrote, part{fc.Author.Email, fmt.Sprintf("step %q's %s", step.Name, strings.TrimSuffix(f[0], "="))})
			}
		}
		// A verify step's pack is part of it, as above.
		if packRel != "" && packLast() != nil {
			wrote = append(wrote, part{packLast().Author.Email, fmt.Sprintf("%s, the pack of step %q,", packRel, step.Name)})
		}
		for _, v := range approving {
			for _, p := range wrote {
				if sameEmail(p.email, v.Author.Email) {
					return Decision{Reason: fmt.Sprintf("gate %s: %s <%s> wrote %s and cannot approve it (policy.forbid_self_approval)", gate, v.Author.Name, v.Author.Email, p.what)}, false
				}
			}
		}
	}
	return Decision{Approved: true, Approval: &artifacts.Approval{Source: "git", Commit: c.Hash.String(), Author: author}}, false
}

// approves says why commit c cannot approve gate (its author is not an
// approver, was not one before it, or it is not signed as the policy
// requires), "" when it can. label names c in the reason ("approval
// commit <hash>", or a commit that changed the step since).
func (g *Gates) approves(c *object.Commit, gate, label string) string {
	author := fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email)
	if !g.isApprover(c.Author) {
		return fmt.Sprintf("gate %s: %s is by %s, who is not in policy.approvers", gate, label, author)
	}
	// The approver list the approval answers to is the one before it: a
	// commit that adds its own author to policy.approvers approves nothing.
	if ok, err := g.approverBefore(c); err != nil {
		return fmt.Sprintf("gate %s: %v", gate, g.historyErr(err))
	} else if !ok {
		return fmt.Sprintf("gate %s: %s is by %s, who was not in policy.approvers before it (an approver list changed in the approving commit does not count)", gate, label, author)
	}
	if g.Policy.RequireSigned {
		if c.PGPSignature == "" {
			return fmt.Sprintf("gate %s: %s is not signed (policy.require_signed)", gate, label)
		}
		if strings.TrimSpace(g.ArmoredKeys) == "" {
			return fmt.Sprintf("gate %s: policy.require_signed but no policy.signing_keys to verify with", gate)
		}
		signer, err := verifyApproval(c, g.ArmoredKeys)
		if err != nil {
			return fmt.Sprintf("gate %s: %s has a bad signature: %v", gate, label, err)
		}
		if !keyOf(signer, c.Author.Email) {
			return fmt.Sprintf("gate %s: %s is signed with %s, not the author %s's", gate, label, keyEmails(signer), author)
		}
	}
	return ""
}

// historyErr adds to err, an error reading the history an approval is
// checked against, why a commit is missing when the clone is shallow
// (a CI checkout's default): the approval cannot be checked, and the gate
// stays closed, until the history is there.
func (g *Gates) historyErr(err error) error {
	if !errors.Is(err, plumbing.ErrObjectNotFound) || g.Git == nil {
		return err
	}
	dir, derr := gitx.GitDirOf(g.Git.Root)
	if derr != nil {
		return err
	}
	if _, serr := os.Stat(filepath.Join(dir, "shallow")); serr != nil {
		return err
	}
	return fmt.Errorf("%w: this clone is shallow, and the approval is checked against the loop's history: fetch it (git fetch --unshallow; actions/checkout with fetch-depth: 0)", err)
}

// hasApproval reports whether approvals: lists gate.
func hasApproval(m loops.Meta, gate string) bool {
	return slices.Contains(m.Approvals(), gate)
}

// approvalCommit finds the commit that added gate to the document's
// approvals: walking back from HEAD while the approval is present, the
// oldest such commit (across moves of the document: see walk), and the
// document's path there.
func (g *Gates) approvalCommit(doc *loops.Document, gate string) (*object.Commit, string, error) {
	pred := func(d *loops.Document) bool { return hasApproval(d.Meta, gate) }
	c, rel, err := g.history().walk(doc.Path, approvalKey(gate), doc, g.limit(), true, pred)
	if err != nil || c == nil {
		return c, rel, err
	}
	return g.introducer(c, rel, doc, true, pred)
}

// branchApproval is an approval given on a branch merged since: its
// commit, and the document's path there.
type branchApproval struct {
	c   *object.Commit
	rel string
}

// branchApprovals returns the approvals of gate given on branches merged
// into the first-parent run from HEAD down to c (the first parent's
// approval), newest merge first: at each merge whose other parent has the
// approval, the commit of that branch that gave it, when it is not on the
// first parent's line (the branch approved again, rather than kept the
// approval it started from). Not kept between processes: it is only
// looked for when c's approval does not cover the step.
func (g *Gates) branchApprovals(doc *loops.Document, gate string, c *object.Commit) []branchApproval {
	pred := func(d *loops.Document) bool { return hasApproval(d.Meta, gate) }
	hc := g.history()
	head, err := g.Git.Head()
	if err != nil {
		return nil
	}
	type merge struct {
		c   *object.Commit
		rel string
	}
	var merges []merge
	hc.mu.Lock()
	cur := doc.Path
	var child *object.Commit
	var childDoc *loops.Document
	for h, n := head, 0; !h.IsZero() && h != c.Hash && n < g.limit(); n++ {
		mc, err := hc.commit(h)
		if err != nil {
			break
		}
		from, d, ok := hc.docIn(mc, child, cur, childDoc, doc, true, pred)
		if !ok || !pred(d) {
			break // the run of the approval ended
		}
		cur = from
		if len(mc.ParentHashes) > 1 {
			merges = append(merges, merge{mc, cur})
		}
		child, childDoc = mc, d
		if len(mc.ParentHashes) == 0 {
			break
		}
		h = mc.ParentHashes[0]
	}
	hc.mu.Unlock()
	var out []branchApproval
	for _, m := range merges {
		for _, p := range m.c.ParentHashes[1:] {
			b, brel, err := hc.walkFrom(p, m.c, m.rel, doc, g.limit(), true, pred)
			if err != nil || b == nil {
				continue
			}
			if b, brel, err = g.introducer(b, brel, doc, true, pred); err != nil {
				continue
			}
			// What the first parent's line had (an approval revoked
			// there since) is no branch's approval.
			if on, err := g.Git.IsAncestor(b.Hash, m.c.ParentHashes[0]); err != nil || on {
				continue
			}
			out = append(out, branchApproval{b, brel})
		}
	}
	return out
}

// introducer returns the commit that wrote what pred sees, and the
// document's path there, given c, the oldest commit of the first-parent
// run from HEAD that has it, with the document at rel. A merge
// that brought it in from a branch did not write it: the branch's commit
// that did is (as git blame has it), so that it is its author's, not the
// merger's. Unless that commit was already in the merge's first parent's
// history (an approval revoked since, which a crafted merge would bring
// back): then the merge wrote it again, and it is the merger's.
func (g *Gates) introducer(c *object.Commit, rel string, doc *loops.Document, revocable bool, pred func(*loops.Document) bool) (*object.Commit, string, error) {
	// The merges hopped through, outermost first: what a branch's commit
	// wrote is on none of their first parents' lines, else the merge
	// whose first parent had it brought it back.
	type hop struct {
		merge *object.Commit
		rel   string
	}
	var hops []hop
	for len(c.ParentHashes) > 1 && len(hops) < g.limit() {
		var from *object.Commit
		fromRel := rel
		for _, p := range c.ParentHashes[1:] {
			f, fr, err := g.history().walkFrom(p, c, rel, doc, g.limit(), revocable, pred)
			if err != nil {
				return c, rel, err
			}
			if f != nil {
				from, fromRel = f, fr
				break
			}
		}
		if from == nil {
			break // the merge itself wrote it (a conflict resolved so)
		}
		hops = append(hops, hop{c, rel})
		for _, h := range hops {
			if on, err := g.Git.IsAncestor(from.Hash, h.merge.ParentHashes[0]); err != nil || on {
				// On that merge's first parent's line before: the merge
				// brings it back.
				return h.merge, h.rel, err
			}
		}
		c, rel = from, fromRel
	}
	return c, rel, nil
}

// fieldCommit returns the commit that gave part i of the step's approved
// form (stepFields) its present value (nil when HEAD's document does not
// hold it so).
func (g *Gates) fieldCommit(doc *loops.Document, step *loops.Step, i int) *object.Commit {
	want := stepFields(doc, step)[i][1]
	pred := func(d *loops.Document) bool {
		_, s := d.Step(step.Name)
		return s != nil && stepFields(d, s)[i][1] == want
	}
	c, rel, _ := g.history().walk(doc.Path, stepKey(step.Name, strconv.Itoa(i)+"\x00"+want), doc, g.limit(), false, pred)
	if c == nil {
		return nil
	}
	// A change merged from a branch is its author's, as an approval is.
	c, _, _ = g.introducer(c, rel, doc, false, pred)
	return c
}

func (g *Gates) isApprover(sig object.Signature) bool {
	return listed(g.Policy.Approvers, sig)
}

// approverBefore reports whether the author of commit c is in the
// policy.approvers of spine.yaml at c's first parent (none for a root
// commit, or a parent without the file).
func (g *Gates) approverBefore(c *object.Commit) (bool, error) {
	if len(c.ParentHashes) == 0 {
		return false, nil
	}
	approvers, err := g.history().approversAt(c.ParentHashes[0])
	if err != nil {
		return false, err
	}
	return listed(approvers, c.Author), nil
}

// listed reports whether sig's email is one of approvers (emails, or
// "Name <email>").
func listed(approvers []string, sig object.Signature) bool {
	for _, a := range approvers {
		if email, ok := config.ApproverEmail(a); ok && sameEmail(email, sig.Email) {
			return true
		}
	}
	return false
}

func sameEmail(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// stepFields lists what an approval of step s of document d covers, each
// part with its name as a reader knows it ("command", an attribute's
// name) and its value: what it runs (its language and command), after
// what (the steps before it), where (its host=, else the loop's host:)
// and how (every other attribute, as parsed: destructive=, pack=,
// timeout=, ...). A step changed after its approval is approved again: an
// approval given for one host does not carry over to another, nor one for
// a step that runs once to one that may run again.
func stepFields(d *loops.Document, s *loops.Step) [][2]string {
	flag := func(b bool) string { return strconv.FormatBool(b) }
	host, hostName := s.Host, "host="
	if host == "" {
		host, hostName = d.Meta.String("host"), "host:"
	}
	return [][2]string{
		{"steps before it", stepsBefore(d, s.Name)},
		{"command", s.Command},
		{"language", strings.ToLower(s.Lang)},
		{hostName, strings.ToLower(host)},
		{"destructive=", flag(s.Destructive)},
		{"gate=", s.Gate},
		{"cap=", s.Cap},
		{"pack=", s.Pack},
		{"idempotent=", flag(s.Idempotent)},
		{"allow_failure=", flag(s.AllowFailure)},
		{"background=", flag(s.Background)},
		{"timeout=", s.Timeout.String()},
		{"artifact=", s.Artifact},
		{"after=", s.After},
	}
}

// stepsBefore lists the steps before the step named name in d, in order:
// what runs first (a confirmation, a baseline) is part of what an approval
// covers, as the plan runs steps in this order. A manual step counts by
// its place, not its text, which operators annotate as they tick it.
func stepsBefore(d *loops.Document, name string) string {
	var b strings.Builder
	for si := range d.Stages {
		for _, s := range d.Stages[si].Steps {
			if s.Name == name {
				return b.String()
			}
			if s.Kind == loops.KindManual {
				b.WriteString(manualStep)
			} else {
				b.WriteString(s.Name)
			}
			b.WriteByte(0)
		}
	}
	return b.String()
}

// manualStep stands for a manual step in stepsBefore.
const manualStep = "(a manual step)"

// stepsBeforeField is the index of stepsBefore in stepFields.
const stepsBeforeField = 0

// listChange describes how the list of steps before a step changed, from
// was to is (stepsBefore): the steps added and removed, or "reordered".
func listChange(was, is string) string {
	split := func(s string) []string { return strings.FieldsFunc(s, func(r rune) bool { return r == 0 }) }
	a, b := split(was), split(is)
	count := func(l []string) map[string]int {
		m := map[string]int{}
		for _, x := range l {
			m[x]++
		}
		return m
	}
	ca, cb := count(a), count(b)
	var parts []string
	for _, x := range b {
		if cb[x] > ca[x] {
			parts = append(parts, "+"+x)
			cb[x]--
		}
	}
	ca, cb = count(a), count(b)
	for _, x := range a {
		if ca[x] > cb[x] {
			parts = append(parts, "-"+x)
			ca[x]--
		}
	}
	if len(parts) == 0 {
		return "reordered"
	}
	return strings.Join(parts, ", ")
}
