package site_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spinehq/spine/artifacts"
)

// addReceipt writes a receipt (chained to the last one of its loop) and its
// output log into the repository at repo.
func addReceipt(t testing.TB, repo string, s receiptSpec) {
	t.Helper()
	k, err := artifacts.ParseRunKey(s.key)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(repo, "receipts", k.Time.Format("2006/01/02"), s.key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if s.corrupt != "" {
		writeFile(t, filepath.Join(dir, "receipt.json"), s.corrupt)
		return
	}
	entries, err := (&artifacts.Store{Root: repo}).List()
	if err != nil {
		t.Fatal(err)
	}
	r := &artifacts.Receipt{RunKey: s.key, LoopID: s.loop, Stage: s.stage, Step: s.step, Capability: "step." + s.step,
		Command: s.command, CommandSHA256: artifacts.CommandSHA256(s.command), Host: s.host, User: "ops", Workdir: "/srv",
		StartedAt: k.Time.Format(time.RFC3339), FinishedAt: k.Time.Add(2 * time.Second).Format(time.RFC3339), DurationMS: 2000,
		Status: s.status, Gate: s.gate, Note: s.note, Summary: s.summary, SpineVersion: "test", Prev: artifacts.ChainTips(entries)[s.loop]}
	switch s.status {
	case artifacts.StatusFail:
		r.ExitCode = 1
	case artifacts.StatusBlocked:
		r.ExitCode, r.DurationMS = -1, 0 // as spine writes it: nothing ran
	}
	for _, c := range s.checks {
		r.Checks = append(r.Checks, artifacts.CheckResult{ID: c, Title: c, Status: "fail", ExitCode: 1})
	}
	if s.artifact != "" {
		sum, size, err := artifacts.HashFile(filepath.Join(repo, filepath.FromSlash(s.artifact)))
		if err != nil {
			t.Fatal(err)
		}
		r.Artifacts = []artifacts.ArtifactRef{{Path: s.artifact, SHA256: sum, Size: size}}
	}
	if s.output != "" {
		writeFile(t, filepath.Join(dir, "output.log"), s.output)
		r.OutputSHA256 = artifacts.HashBytes([]byte(s.output))
	}
	data, err := artifacts.MarshalReceipt(r)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "receipt.json"), string(data))
}
