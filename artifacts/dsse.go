package artifacts

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/spinehq/spine/internal/fsx"
	"github.com/spinehq/spine/internal/par"
)

// Signed receipts: beside receipt.json, a host that has a signing key
// writes receipt.dsse.json, an in-toto Statement v1 about the run's files
// (receipt.json, output.log, the artifacts) whose predicate is the receipt,
// wrapped in a DSSE envelope signed with the host's ed25519 key.
const (
	// DSSEFile is the envelope's file name inside the run folder.
	DSSEFile = "receipt.dsse.json"
	// StatementType is the in-toto Statement v1 type.
	StatementType = "https://in-toto.io/Statement/v1"
	// ReceiptPredicateType is the predicate type of a spine receipt.
	ReceiptPredicateType = "https://spinehq.dev/receipt/v1"
	// InTotoPayloadType is the DSSE payload type of an in-toto statement.
	InTotoPayloadType = "application/vnd.in-toto+json"
	// PublishedKeysFile is the repository file `spine keygen --publish`
	// adds the host's public key to: one or more PEM "PUBLIC KEY" blocks,
	// usable as `spine verify --keys receipt-keys.pem`.
	PublishedKeysFile = "receipt-keys.pem"
)

// maxEnvelopeSize bounds the receipt.dsse.json files read.
const maxEnvelopeSize = 2 * MaxReceiptSize // base64 grows the receipt by a third

// Subject is one in-toto subject: a file and its digests.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Statement is an in-toto Statement v1 whose predicate is a receipt.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Envelope is a DSSE envelope.
type Envelope struct {
	PayloadType string              `json:"payloadType"`
	Payload     string              `json:"payload"`
	Signatures  []EnvelopeSignature `json:"signatures"`
}

// EnvelopeSignature is one signature of a DSSE envelope.
type EnvelopeSignature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// PAE is the DSSE v1 pre-authentication encoding of a payload: what is
// signed, so that neither the type nor the body can be swapped.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// KeyID returns the key id of an ed25519 public key: the lower-case hex
// SHA-256 of its 32 bytes.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])
}

// Signer signs receipts with a host's ed25519 key. It is immutable and safe
// for concurrent use.
type Signer struct {
	key ed25519.PrivateKey
	id  string
}

// NewSigner returns a Signer for key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, id: KeyID(key.Public().(ed25519.PublicKey))}
}

// PublicKey returns the signer's public key.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// KeyID returns the signer's key id (KeyID of its public key).
func (s *Signer) KeyID() string { return s.id }

// GenerateKey makes a new ed25519 key from rnd (crypto/rand.Reader when nil).
func GenerateKey(rnd io.Reader) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rnd)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return priv, nil
}

// MarshalPrivateKey encodes key as a PEM "PRIVATE KEY" (PKCS #8) block.
func MarshalPrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey decodes a PEM "PRIVATE KEY" block holding an ed25519 key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("signing key: no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key: a %T, not an ed25519 key", k)
	}
	return priv, nil
}

// LoadSigner reads a private key file made by `spine keygen`. It refuses a
// file that others than its owner may read or write, as ssh does: a
// signing key anyone on the host can read proves nothing.
func LoadSigner(file string) (*Signer, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("signing key %s: not a regular file", file)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s: mode %04o lets others read or write it; chmod 600 it", file, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", file, err)
	}
	priv, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return NewSigner(priv), nil
}

// MarshalPublicKey encodes pub as a PEM "PUBLIC KEY" (PKIX) block preceded
// by a comment line naming its key id and label.
func MarshalPublicKey(pub ed25519.PublicKey, label string) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# spine receipt signing key %s keyid %s\n", strconv.Quote(label), KeyID(pub))
	b.Write(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	return b.Bytes(), nil
}

// ParsePublicKeys decodes every PEM "PUBLIC KEY" block of data (text
// between blocks, such as comments, is ignored). Each must be an ed25519
// key; at least one is required. The result maps key ids to keys.
func ParsePublicKeys(data []byte) (map[string]ed25519.PublicKey, error) {
	keys := map[string]ed25519.PublicKey{}
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("public keys: block %d is a %q, not a PUBLIC KEY", n, block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public keys: block %d: %w", n, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public keys: block %d is a %T, not an ed25519 key", n, k)
		}
		keys[KeyID(pub)] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("public keys: no PEM PUBLIC KEY block")
	}
	return keys, nil
}

// compactJSON returns data without insignificant white space.
func compactJSON(data []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ReceiptStatement builds the in-toto statement of a receipt: its subjects
// are receipt.json itself, output.log (when the receipt has one) and each
// artifact, named by repository-relative path with their sha256 digests
// as the receipt records them; its predicate is the receipt (receipt.json
// without white space). dir is the run folder, repository-relative.
func ReceiptStatement(dir string, receiptJSON []byte) (*Statement, error) {
	r, err := DecodeReceipt(receiptJSON)
	if err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	pred, err := compactJSON(receiptJSON)
	if err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	st := &Statement{Type: StatementType, PredicateType: ReceiptPredicateType, Predicate: pred}
	st.Subject = append(st.Subject, Subject{Name: dir + "/" + ReceiptFile, Digest: map[string]string{"sha256": ChainHash(receiptJSON)}})
	if r.OutputSHA256 != "" {
		st.Subject = append(st.Subject, Subject{Name: dir + "/" + OutputFile, Digest: map[string]string{"sha256": r.OutputSHA256}})
	}
	for _, a := range r.Artifacts {
		st.Subject = append(st.Subject, Subject{Name: a.Path, Digest: map[string]string{"sha256": a.SHA256}})
	}
	return st, nil
}

// marshalStatement encodes a statement as the envelope's payload: compact,
// HTML characters as they are.
func marshalStatement(st *Statement) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(st); err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// SignReceipt returns the receipt.dsse.json bytes for the receipt.json
// bytes of the run folder dir (repository-relative).
func (s *Signer) SignReceipt(dir string, receiptJSON []byte) ([]byte, error) {
	st, err := ReceiptStatement(dir, receiptJSON)
	if err != nil {
		return nil, err
	}
	payload, err := marshalStatement(st)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(s.key, PAE(InTotoPayloadType, payload))
	env := Envelope{
		PayloadType: InTotoPayloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []EnvelopeSignature{{KeyID: s.id, Sig: base64.StdEncoding.EncodeToString(sig)}},
	}
	out, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return append(out, '\n'), nil
}

// WriteSignature signs the receipt of the run folder dir (repository-
// relative, under root) and writes receipt.dsse.json beside it, atomically
// and without following symlinks. An envelope already there is kept (a
// receipt is signed once, like it is written once). It returns the
// envelope's repository-relative path.
func (s *Signer) WriteSignature(root, dir string) (string, error) {
	rel := dir + "/" + DSSEFile
	full, err := SafeJoin(root, rel)
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", dir, err)
	}
	if _, err := os.Lstat(full); err == nil {
		return rel, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("sign %s: %w", dir, err)
	}
	data, err := readNoFollow(filepath.Join(filepath.Dir(full), ReceiptFile), MaxReceiptSize)
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", dir, err)
	}
	env, err := s.SignReceipt(dir, data)
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", dir, err)
	}
	if err := WriteFileAtomic(full, env, fsx.FileMode); err != nil {
		return "", fmt.Errorf("sign %s: %w", dir, err)
	}
	return rel, nil
}

// VerifyEnvelope checks a receipt.dsse.json against the receipt.json bytes
// of the run folder dir (repository-relative) and trusted keys (by key
// id): a signature by one of the keys over the DSSE encoding of the
// payload, an in-toto statement of the receipt predicate type, whose
// predicate is this receipt and whose subjects are exactly this receipt's
// files and digests. It returns the key id that verified.
func VerifyEnvelope(dir string, envelopeJSON, receiptJSON []byte, keys map[string]ed25519.PublicKey) (string, error) {
	var env Envelope
	if err := json.Unmarshal(envelopeJSON, &env); err != nil {
		return "", fmt.Errorf("envelope does not parse: %w", err)
	}
	if env.PayloadType != InTotoPayloadType {
		return "", fmt.Errorf("envelope payloadType is %q, want %q", env.PayloadType, InTotoPayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return "", fmt.Errorf("envelope payload is not base64: %w", err)
	}
	if len(env.Signatures) == 0 {
		return "", errors.New("envelope has no signature")
	}
	msg := PAE(env.PayloadType, payload)
	keyID := ""
	var unknown []string
	for _, sg := range env.Signatures {
		sig, err := base64.StdEncoding.DecodeString(sg.Sig)
		if err != nil || len(sig) != ed25519.SignatureSize {
			continue
		}
		cands := map[string]ed25519.PublicKey{}
		if k, ok := keys[sg.KeyID]; ok {
			cands[sg.KeyID] = k
		} else if sg.KeyID == "" {
			cands = keys
		} else {
			unknown = append(unknown, sg.KeyID)
			continue
		}
		for id, k := range cands {
			if ed25519.Verify(k, msg, sig) {
				keyID = id
				break
			}
		}
		if keyID != "" {
			break
		}
	}
	if keyID == "" {
		if len(unknown) == len(env.Signatures) {
			return "", fmt.Errorf("signed by key %s, which is not among the trusted keys", short(unknown[0]))
		}
		return "", errors.New("bad signature: no signature verifies with a trusted key")
	}
	var st Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return keyID, fmt.Errorf("signed statement does not parse: %w", err)
	}
	if st.Type != StatementType || st.PredicateType != ReceiptPredicateType {
		return keyID, fmt.Errorf("signed statement is a %q of %q, not a spine receipt", st.Type, st.PredicateType)
	}
	want, err := ReceiptStatement(dir, receiptJSON)
	if err != nil {
		return keyID, err
	}
	if len(st.Subject) > 0 && len(want.Subject) > 0 && st.Subject[0].Name != want.Subject[0].Name {
		// Not an edit: the envelope is another run's (copied here).
		return keyID, fmt.Errorf("receipt.dsse.json signs another run's receipt (%s), not this one: an envelope copied from another run folder", st.Subject[0].Name)
	}
	if !bytes.Equal(st.Predicate, want.Predicate) {
		return keyID, errors.New("receipt.json is not the receipt that was signed (edited after signing)")
	}
	if !slices.EqualFunc(st.Subject, want.Subject, func(a, b Subject) bool {
		return a.Name == b.Name && a.Digest["sha256"] == b.Digest["sha256"] && len(a.Digest) == len(b.Digest)
	}) {
		return keyID, errors.New("the signed subjects are not this run's files and digests")
	}
	return keyID, nil
}

// SignatureReport is the result of VerifySignatures.
type SignatureReport struct {
	// Receipts is the number of run folders checked.
	Receipts int `json:"receipts"`
	// Signed is the number whose signature verified.
	Signed int `json:"signed"`
	// Problems lists unsigned receipts and bad signatures, in run order.
	Problems []Problem `json:"problems"`
}

// VerifySignatures checks the receipt.dsse.json of every receipt listed
// by the store with VerifyEnvelope against keys. A receipt without one is
// reported as unsigned; a run folder whose receipt.json cannot be read is
// left to Verify.
func VerifySignatures(st *Store, keys map[string]ed25519.PublicKey) (*SignatureReport, error) {
	entries, err := st.List()
	if err != nil {
		return nil, fmt.Errorf("verify signatures: %w", err)
	}
	rep := &SignatureReport{Problems: []Problem{}}
	problems := make([]*Problem, len(entries))
	par.Do(len(entries), 0, func(i int) {
		e := &entries[i]
		if e.Err != nil {
			return
		}
		dirAbs := filepath.Join(st.Root, filepath.FromSlash(e.Dir))
		rel := e.Dir + "/" + DSSEFile
		fail := func(format string, args ...any) {
			problems[i] = &Problem{RunKey: e.RunKey, Path: rel, Problem: fmt.Sprintf(format, args...)}
		}
		receipt, err := readNoFollow(filepath.Join(dirAbs, ReceiptFile), MaxReceiptSize)
		if err != nil {
			fail("receipt.json: %v", err)
			return
		}
		env, err := readNoFollow(filepath.Join(dirAbs, DSSEFile), maxEnvelopeSize)
		if errors.Is(err, fs.ErrNotExist) {
			fail("unsigned: no %s", DSSEFile)
			return
		}
		if err != nil {
			fail("%v", err)
			return
		}
		// The statement names files by repository-relative path; the
		// store's folder is relative to its root, which is the repository.
		if _, err := VerifyEnvelope(path.Clean(e.Dir), env, receipt, keys); err != nil {
			fail("%v", err)
		}
	})
	for i := range entries {
		if entries[i].Err != nil {
			continue
		}
		rep.Receipts++
		if problems[i] != nil {
			rep.Problems = append(rep.Problems, *problems[i])
		} else {
			rep.Signed++
		}
	}
	return rep, nil
}

// SignatureState describes, in a few words for a page or a report, the
// signature of the run folder dir (repository-relative, under root)
// checked against keys: "unsigned", "signed, verified (key …)", "signed by
// key … (not a trusted key)", or what is wrong. With no keys it only says
// whether an envelope is present.
func SignatureState(root, dir string, keys map[string]ed25519.PublicKey) string {
	base, err := SafeJoin(root, dir)
	if err != nil {
		return fmt.Sprintf("cannot check: %v", err)
	}
	env, err := readNoFollow(filepath.Join(base, DSSEFile), maxEnvelopeSize)
	if errors.Is(err, fs.ErrNotExist) {
		return "unsigned"
	}
	if err != nil {
		return fmt.Sprintf("cannot check: %v", err)
	}
	if len(keys) == 0 {
		return "signed (no trusted keys to check it with)"
	}
	receipt, err := readNoFollow(filepath.Join(base, ReceiptFile), MaxReceiptSize)
	if err != nil {
		return fmt.Sprintf("cannot check: %v", err)
	}
	id, err := VerifyEnvelope(path.Clean(dir), env, receipt, keys)
	if err != nil {
		return err.Error()
	}
	return "signed, verified (key " + short(id) + ")"
}
