package pipeline

import (
	"errors"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// armorBegin starts each armored OpenPGP public key block.
const armorBegin = "-----BEGIN PGP PUBLIC KEY BLOCK-----"

// verifyApproval checks the signature of an approval commit against every
// armored key block of armored (policy.signing_keys files, concatenated: a
// key ring reader stops after the first block) and returns the key that
// made it.
func verifyApproval(c *object.Commit, armored string) (*openpgp.Entity, error) {
	var firstErr error
	parts := strings.Split(armored, armorBegin)
	for _, p := range parts[1:] {
		e, err := c.Verify(armorBegin + p)
		if err == nil {
			return e, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = errors.New("no armored public key block in policy.signing_keys")
	}
	return nil, firstErr
}

// keyOf reports whether the key has a user id with the given email: an
// approval must be signed by its author's own key, or any approver could
// approve in another's name (and get around policy.forbid_self_approval).
func keyOf(e *openpgp.Entity, email string) bool {
	for _, id := range e.Identities {
		if id.UserId != nil && sameEmail(id.UserId.Email, email) {
			return true
		}
	}
	return false
}

// keyEmails lists the emails of a key's user ids, for messages.
func keyEmails(e *openpgp.Entity) string {
	var out []string
	for _, id := range e.Identities {
		if id.UserId != nil && id.UserId.Email != "" {
			out = append(out, id.UserId.Email)
		}
	}
	if len(out) == 0 {
		return "a key without an email"
	}
	return "the key of " + strings.Join(out, ", ")
}
