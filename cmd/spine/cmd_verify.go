package main

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/gitx"
	"github.com/spinehq/spine/internal/termtext"
	"github.com/spinehq/spine/pipeline"
)

func newVerifyCmd(a *app) *cobra.Command {
	var asJSON bool
	var keyFiles []string
	c := &cobra.Command{
		Use:   "verify",
		Short: "Recompute every receipt's hashes and each loop's receipt chain",
		Long: `Recompute the hashes of every receipt: its output.log (output_sha256), its
artifacts (sha256 and size), its command (command_sha256); check that each
receipt sits in the folder its run key names; and check each loop's hash
chain (every receipt's prev is the sha256 of the loop's previous
receipt.json). Each mismatch is named: a changed output.log, an edited
receipt, a receipt removed from the middle of a chain. Every run that a loop
document's evidence block records must have its receipt.json: a receipt
removed from the end of a chain is named that way. On the host that ran
them, every destructive run its state folder's ledger records must have its
receipt unless a later run of the step does (spine's commit undone). spine
follows no symbolic link in the receipts folder: one where a folder of
receipts belongs is named, and the runs behind it count as missing. In a
clone with core.autocrlf true a note says that git's checkout rewrote the
files' line endings.

With --keys FILE (repeatable; each FILE holds one or more PEM public keys,
such as receipt-keys.pem written by spine keygen --publish), every receipt
must also carry a receipt.dsse.json signed by one of those keys, over exactly
this receipt.json, output.log and artifacts: unsigned receipts, signatures by
other keys and receipts edited after signing are named.

Exit status 1 when anything does not match.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			root, err := a.repoRoot()
			if err != nil {
				return err
			}
			cfg, err := a.config(root)
			if err != nil {
				return err
			}
			st := &artifacts.Store{Root: root, Dir: cfg.Receipts}
			rep, err := artifacts.Verify(root, st)
			if err != nil {
				return exitf(exitFailed, "%v", err)
			}
			rc, err := a.openRepoReadOnly()
			if err != nil {
				return err
			}
			rep.Problems = append(rep.Problems, pipeline.CheckEvidence(rc.set.Docs, st)...)
			sd := stateDir(root)
			hist, err := pipeline.LoadHistory(root, cfg.Receipts, sd)
			if err != nil {
				return exitf(exitFailed, "%v", err)
			}
			rep.Problems = append(rep.Problems, pipeline.CheckEvidenceRuns(rc.set.Docs, hist)...)
			where := filepath.Join(sd, "destructive.log")
			if rel, err := filepath.Rel(root, where); err == nil && filepath.IsLocal(rel) {
				where = filepath.ToSlash(rel)
			}
			ledger, err := pipeline.CheckLedger(pipeline.LedgerDirs(sd, ledgerDir(root)), where, hist, st, rc.set.Docs)
			if err != nil {
				return exitf(exitFailed, "%v", err)
			}
			rep.Problems = append(rep.Problems, ledger...)
			if err := pipeline.ExplainUnrecorded(sd, rep.Problems); err != nil {
				return exitf(exitFailed, "%v", err)
			}
			if rep.Problems == nil {
				rep.Problems = []artifacts.Problem{}
			}
			sigs, err := verifySignatures(root, cfg.Receipts, keyFiles)
			if err != nil {
				return exitf(exitUsage, "%v", err)
			}
			if sigs != nil {
				rep.Problems = append(rep.Problems, sigs.Problems...)
			}
			if asJSON {
				out := struct {
					*artifacts.VerifyReport
					Signed *int `json:"signed,omitempty"`
				}{VerifyReport: rep}
				if sigs != nil {
					out.Signed = &sigs.Signed
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(out); err != nil {
					return err
				}
			} else {
				for _, p := range rep.Problems {
					fmt.Fprintln(a.stdout, termtext.Safe(p.String()))
				}
				if len(rep.Problems) > 0 && autocrlf(root) {
					// Not tampering, most likely: git rewrote the
					// files' line endings at checkout.
					fmt.Fprintln(a.stdout, "note: core.autocrlf is true in this clone: git writes CRLF line endings at checkout, which changes the bytes of receipts, output logs and artifacts and so their hashes; verify a clone made without it: git clone -c core.autocrlf=false REPO DIR && spine --repo DIR verify")
				}
				if sigs != nil {
					fmt.Fprintf(a.stdout, "%d of %d receipt(s) signed by a trusted key\n", sigs.Signed, sigs.Receipts)
				}
				if rep.OK() {
					fmt.Fprintf(a.stdout, "%d receipt(s) verified: hashes and chains match\n", rep.Receipts)
				} else {
					fmt.Fprintf(a.stdout, "%d problem(s) in %d receipt(s)\n", len(rep.Problems), rep.Receipts)
				}
			}
			if !rep.OK() {
				a.exit = exitFailed
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	c.Flags().StringArrayVar(&keyFiles, "keys", nil, "also check every receipt's signature against the public keys in `FILE` (repeatable)")
	return c
}

// verifySignatures checks the receipts' signatures against the public keys
// of keyFiles (nil report when none are given).
func verifySignatures(root, receiptsDir string, keyFiles []string) (*artifacts.SignatureReport, error) {
	if len(keyFiles) == 0 {
		return nil, nil
	}
	keys := map[string]ed25519.PublicKey{}
	for _, f := range keyFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--keys: %w", err)
		}
		ks, err := artifacts.ParsePublicKeys(data)
		if err != nil {
			return nil, fmt.Errorf("--keys %s: %w", f, err)
		}
		maps.Copy(keys, ks)
	}
	rep, err := artifacts.VerifySignatures(&artifacts.Store{Root: root, Dir: receiptsDir}, keys)
	if err != nil {
		return nil, fmt.Errorf("verify signatures: %w", err)
	}
	return rep, nil
}

// autocrlf reports whether the clone at root has core.autocrlf true (its
// checkout rewrites line endings; verify's mismatches are then likely
// that, not an edit).
func autocrlf(root string) bool {
	g, err := gitx.Open(root)
	if err != nil {
		return false
	}
	on, err := g.ConfigBool("core", "autocrlf")
	return err == nil && on
}
