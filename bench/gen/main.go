// Command gen writes a benchmark repository: N realistic loop documents
// (internal/gen), M receipts that complete their steps, and a gap ledger,
// committed in one git commit.
//
//	go run ./bench/gen -loops 5000 -receipts 50000 -out /tmp/spine-bench
//
// Receipts are the real artifacts.Receipt shape written by artifacts.Store
// (DeferSync: the repository is made durable once, by git). For each loop,
// in document order, every command step gets one passing receipt, chained
// with prev, and the manual steps of completed loops are ticked, so
// `spine plan` finds the generated loops done (exit 0, nothing pending). Receipts
// beyond that are earlier failed attempts of random steps (each followed
// by the pass), so the latest run of every step is still its pass; with
// fewer receipts than steps, active loops are covered first.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/spinehq/spine/bench/repogen"
)

func main() {
	nLoops := flag.Int("loops", 2000, "number of loop documents")
	nReceipts := flag.Int("receipts", 0, "number of receipts (0: one per command step, -1: none)")
	out := flag.String("out", "", "output `DIR` (created; must be empty or absent)")
	seed := flag.Int64("seed", 1, "random seed")
	noGit := flag.Bool("no-git", false, "do not git init/commit")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gen: -out is required")
		os.Exit(2)
	}
	if _, err := repogen.Generate(*out, *nLoops, *nReceipts, *seed, !*noGit, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
