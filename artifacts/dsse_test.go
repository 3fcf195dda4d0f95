package artifacts

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dsseTestKey derives a deterministic ed25519 key from a label.
func dsseTestKey(label string) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, label)
	return ed25519.NewKeyFromSeed(seed)
}

func TestPAEMatchesTheSpecVector(t *testing.T) {
	// The example of the DSSE v1 protocol description.
	got := string(PAE("http://example.com/HelloWorld", []byte("hello world")))
	if want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"; got != want {
		t.Fatalf("PAE = %q, want %q", got, want)
	}
	if got := string(PAE("", nil)); got != "DSSEv1 0  0 " {
		t.Fatalf("PAE of empty = %q", got)
	}
}

// signedRun writes one receipt with output and an artifact into a temp
// repository and returns the root, the run folder and its receipt.json.
func signedRun(t *testing.T) (root, dir string, receipt []byte) {
	t.Helper()
	root = t.TempDir()
	key, err := NewRunKey(time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC), "step.wipe", bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "artifacts/loop-a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "artifacts/loop-a/01-x.txt"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rc := &Receipt{
		RunKey: key, LoopID: "LOOP-A", Stage: "Stage 1: Wipe", Step: "wipe", Command: "echo <x> & y",
		Status: StatusPass, StartedAt: "2026-03-01T10:15:00Z",
		Artifacts: []ArtifactRef{{Path: "artifacts/loop-a/01-x.txt", SHA256: HashBytes([]byte("x\n")), Size: 2}},
	}
	st := &Store{Root: root}
	res, err := st.Write(rc, strings.NewReader("2026-03-01T10:15:00.000Z [out] hi\n"))
	if err != nil {
		t.Fatal(err)
	}
	receipt, err = os.ReadFile(filepath.Join(root, res.Dir, ReceiptFile))
	if err != nil {
		t.Fatal(err)
	}
	return root, res.Dir, receipt
}

func TestSignedReceiptVerifies(t *testing.T) {
	root, dir, receipt := signedRun(t)
	s := NewSigner(dsseTestKey("host-a"))
	rel, err := s.WriteSignature(root, dir)
	if err != nil {
		t.Fatal(err)
	}
	if rel != dir+"/"+DSSEFile {
		t.Fatalf("envelope path %s", rel)
	}
	env, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]ed25519.PublicKey{s.KeyID(): s.PublicKey()}
	id, err := VerifyEnvelope(dir, env, receipt, keys)
	if err != nil || id != s.KeyID() {
		t.Fatalf("VerifyEnvelope = %q, %v", id, err)
	}
	// The envelope is what the contract names.
	var e Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.StdEncoding.DecodeString(e.Payload)
	var st Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sub := range st.Subject {
		names = append(names, sub.Name)
	}
	if e.PayloadType != "application/vnd.in-toto+json" || st.Type != "https://in-toto.io/Statement/v1" ||
		st.PredicateType != "https://spinehq.dev/receipt/v1" || len(e.Signatures) != 1 || e.Signatures[0].KeyID != KeyID(s.PublicKey()) ||
		strings.Join(names, " ") != dir+"/receipt.json "+dir+"/output.log artifacts/loop-a/01-x.txt" {
		t.Fatalf("envelope = %+v, statement = %+v", e, st)
	}
	if !strings.Contains(string(st.Predicate), `"command":"echo <x> & y"`) {
		t.Fatalf("predicate is not the receipt: %s", st.Predicate)
	}
	// Signing again keeps the first envelope.
	if _, err := NewSigner(dsseTestKey("other")).WriteSignature(root, dir); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(root, rel)); !bytes.Equal(again, env) {
		t.Fatal("an existing envelope was replaced")
	}
}

func TestVerifyEnvelopeRefuses(t *testing.T) {
	_, dir, receipt := signedRun(t)
	s := NewSigner(dsseTestKey("host-a"))
	good, err := s.SignReceipt(dir, receipt)
	if err != nil {
		t.Fatal(err)
	}
	trusted := map[string]ed25519.PublicKey{s.KeyID(): s.PublicKey()}
	other := NewSigner(dsseTestKey("intruder"))
	otherEnv, _ := other.SignReceipt(dir, receipt)
	edit := func(f func(*Envelope)) []byte {
		var e Envelope
		if err := json.Unmarshal(good, &e); err != nil {
			t.Fatal(err)
		}
		f(&e)
		b, _ := json.Marshal(e)
		return b
	}
	resign := func(payload []byte) []byte {
		return edit(func(e *Envelope) {
			e.Payload = base64.StdEncoding.EncodeToString(payload)
			e.Signatures[0].Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(dsseTestKey("host-a"), PAE(InTotoPayloadType, payload)))
		})
	}
	statement := func(f func(*Statement)) []byte {
		st, err := ReceiptStatement(dir, receipt)
		if err != nil {
			t.Fatal(err)
		}
		f(st)
		b, _ := marshalStatement(st)
		return b
	}
	editedReceipt := bytes.Replace(receipt, []byte(`"exit_code": 0`), []byte(`"exit_code": 1`), 1)
	for _, tc := range []struct {
		name     string
		env      []byte
		receipt  []byte
		keys     map[string]ed25519.PublicKey
		wantErr  string
		wantGood bool
	}{
		{name: "good", env: good, receipt: receipt, keys: trusted, wantGood: true},
		{name: "keyid left out", env: edit(func(e *Envelope) { e.Signatures[0].KeyID = "" }), receipt: receipt, keys: trusted, wantGood: true},
		{name: "receipt edited after signing", env: good, receipt: editedReceipt, keys: trusted, wantErr: "edited after signing"},
		{name: "another run's envelope", env: resign(statement(func(s *Statement) {
			s.Subject[0].Name = "receipts/2026/03/01/CAP-20260301-000000__step.other__Rother/receipt.json"
		})), receipt: receipt, keys: trusted, wantErr: "receipt.dsse.json signs another run's receipt (receipts/2026/03/01/CAP-20260301-000000__step.other__Rother/receipt.json)"},
		{name: "untrusted key", env: otherEnv, receipt: receipt, keys: trusted, wantErr: "not among the trusted keys"},
		{name: "keyid of a trusted key, signature of another", env: edit(func(e *Envelope) {
			var o Envelope
			_ = json.Unmarshal(otherEnv, &o)
			e.Signatures[0].Sig = o.Signatures[0].Sig
		}), receipt: receipt, keys: trusted, wantErr: "bad signature"},
		{name: "payload swapped", env: edit(func(e *Envelope) {
			e.Payload = base64.StdEncoding.EncodeToString([]byte(`{"_type":"x"}`))
		}), receipt: receipt, keys: trusted, wantErr: "bad signature"},
		{name: "payload type swapped", env: edit(func(e *Envelope) { e.PayloadType = "text/plain" }), receipt: receipt, keys: trusted, wantErr: "payloadType"},
		{name: "no signatures", env: edit(func(e *Envelope) { e.Signatures = nil }), receipt: receipt, keys: trusted, wantErr: "no signature"},
		{name: "signature not base64", env: edit(func(e *Envelope) { e.Signatures[0].Sig = "!!" }), receipt: receipt, keys: trusted, wantErr: "bad signature"},
		{name: "not JSON", env: []byte("{"), receipt: receipt, keys: trusted, wantErr: "does not parse"},
		{name: "other predicate type", env: resign(statement(func(s *Statement) { s.PredicateType = "https://slsa.dev/provenance/v1" })), receipt: receipt, keys: trusted, wantErr: "not a spine receipt"},
		{name: "subject digest changed", env: resign(statement(func(s *Statement) { s.Subject[1].Digest["sha256"] = strings.Repeat("0", 64) })), receipt: receipt, keys: trusted, wantErr: "subjects"},
		{name: "subject dropped", env: resign(statement(func(s *Statement) { s.Subject = s.Subject[:2] })), receipt: receipt, keys: trusted, wantErr: "subjects"},
		{name: "statement of another run folder", env: good, receipt: receipt, keys: trusted, wantErr: "signs another run's receipt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dir
			if tc.name == "statement of another run folder" {
				d = "receipts/2026/03/02/CAP-20260302-000000__x__Rabcdefghij"
			}
			_, err := VerifyEnvelope(d, tc.env, tc.receipt, tc.keys)
			switch {
			case tc.wantGood && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.wantGood && err == nil:
				t.Fatal("accepted")
			case !tc.wantGood && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestVerifySignaturesReportsUnsignedAndTampered(t *testing.T) {
	root, dir, _ := signedRun(t)
	st := &Store{Root: root}
	s := NewSigner(dsseTestKey("host-a"))
	keys := map[string]ed25519.PublicKey{s.KeyID(): s.PublicKey()}
	rep, err := VerifySignatures(st, keys)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Receipts != 1 || rep.Signed != 0 || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Problem, "unsigned") {
		t.Fatalf("unsigned receipt: %+v", rep)
	}
	if _, err := s.WriteSignature(root, dir); err != nil {
		t.Fatal(err)
	}
	if rep, _ := VerifySignatures(st, keys); rep.Signed != 1 || len(rep.Problems) != 0 {
		t.Fatalf("signed receipt: %+v", rep)
	}
	// A symlinked envelope is not followed.
	envPath := filepath.Join(root, dir, DSSEFile)
	data, _ := os.ReadFile(envPath)
	outside := filepath.Join(t.TempDir(), "env.json")
	os.WriteFile(outside, data, 0o644)
	os.Remove(envPath)
	if err := os.Symlink(outside, envPath); err != nil {
		t.Fatal(err)
	}
	if rep, _ := VerifySignatures(st, keys); rep.Signed != 0 || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Problem, "symbolic link") {
		t.Fatalf("symlinked envelope: %+v", rep)
	}
}

func TestKeysRoundTrip(t *testing.T) {
	priv := dsseTestKey("host-a")
	pemKey, err := MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePrivateKey(pemKey)
	if err != nil || !back.Equal(priv) {
		t.Fatalf("private key round trip: %v", err)
	}
	a, _ := MarshalPublicKey(priv.Public().(ed25519.PublicKey), "host-a")
	b, _ := MarshalPublicKey(dsseTestKey("host-b").Public().(ed25519.PublicKey), "host-b")
	keys, err := ParsePublicKeys(append(append([]byte("# trusted hosts\n"), a...), b...))
	if err != nil || len(keys) != 2 {
		t.Fatalf("ParsePublicKeys = %d keys, %v", len(keys), err)
	}
	if _, ok := keys[KeyID(priv.Public().(ed25519.PublicKey))]; !ok {
		t.Fatal("key id of host-a missing")
	}
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "no PEM PUBLIC KEY"},
		{"private key instead", string(pemKey), "not a PUBLIC KEY"},
		{"garbage block", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "block 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParsePublicKeys([]byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLoadSignerRefusesReadableKey(t *testing.T) {
	dir := t.TempDir()
	pemKey, _ := MarshalPrivateKey(dsseTestKey("host-a"))
	for _, tc := range []struct {
		name string
		mode os.FileMode
		ok   bool
	}{
		{"owner only", 0o600, true},
		{"owner read only", 0o400, true},
		{"group readable", 0o640, false},
		{"world readable", 0o644, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(p, pemKey, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tc.mode); err != nil {
				t.Fatal(err)
			}
			s, err := LoadSigner(p)
			if tc.ok && (err != nil || s.KeyID() != KeyID(dsseTestKey("host-a").Public().(ed25519.PublicKey))) {
				t.Fatalf("LoadSigner: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "chmod 600")) {
				t.Fatalf("LoadSigner accepted mode %o: %v", tc.mode, err)
			}
		})
	}
}

// FuzzVerifyEnvelope feeds arbitrary envelopes to VerifyEnvelope: it must
// never panic, and never accept anything but the envelope signed by the
// trusted key.
func FuzzVerifyEnvelope(f *testing.F) {
	dir := "receipts/2026/03/01/CAP-20260301-101500__step.x__Rabcdefghij"
	receipt := []byte("{\n  \"run_key\": \"CAP-20260301-101500__step.x__Rabcdefghij\",\n  \"loop_id\": \"L\",\n  \"status\": \"pass\",\n  \"output_sha256\": \"\",\n  \"artifacts\": []\n}\n")
	s := NewSigner(dsseTestKey("host-a"))
	good, err := s.SignReceipt(dir, receipt)
	if err != nil {
		f.Fatal(err)
	}
	keys := map[string]ed25519.PublicKey{s.KeyID(): s.PublicKey()}
	f.Add(good)
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"","signatures":[{"keyid":"","sig":""}]}`))
	f.Add([]byte(`{"signatures":[null]}`))
	f.Fuzz(func(t *testing.T, env []byte) {
		if _, err := VerifyEnvelope(dir, env, receipt, keys); err == nil {
			var a, b Envelope
			if json.Unmarshal(env, &a) != nil || json.Unmarshal(good, &b) != nil || a.Payload != b.Payload || a.PayloadType != b.PayloadType {
				t.Fatalf("accepted an envelope that is not the signed one: %s", env)
			}
		}
	})
}

func TestSignatureState(t *testing.T) {
	root, dir, _ := signedRun(t)
	s := NewSigner(dsseTestKey("host-a"))
	keys := map[string]ed25519.PublicKey{s.KeyID(): s.PublicKey()}
	if got := SignatureState(root, dir, keys); got != "unsigned" {
		t.Fatalf("before signing: %q", got)
	}
	if _, err := s.WriteSignature(root, dir); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		keys map[string]ed25519.PublicKey
		want string
	}{
		{"trusted", keys, "signed, verified (key " + s.KeyID()[:12] + ")"},
		{"no keys", nil, "signed (no trusted keys"},
		{"other key", map[string]ed25519.PublicKey{"x": NewSigner(dsseTestKey("b")).PublicKey()}, "not among the trusted keys"},
	} {
		if got := SignatureState(root, dir, tc.keys); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
