package pipeline

import (
	"syscall"
	"testing"
	"time"
)

// rusage returns the user plus system CPU time of who.
func rusage(b *testing.B, who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkJournalAppend appends step records as a run does: an intent
// (fsynced), its pid (not) and a result (not) per step.
//
//	go test ./pipeline -run '^$' -bench JournalAppend
func BenchmarkJournalAppend(b *testing.B) {
	for _, tc := range []struct {
		name string
		sync bool
	}{{"nosync", false}, {"intent-fsync", true}} {
		b.Run(tc.name, func(b *testing.B) {
			j, err := OpenJournal(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			rec := JournalRecord{Kind: recIntent, RunKey: "CAP-20260301-101500__step.t001__Rabcdefghij", LoopID: "LOOP-BENCH", Step: "t001", At: time.Now()}
			for b.Loop() {
				if tc.sync {
					if err := j.Append(rec); err != nil {
						b.Fatal(err)
					}
				} else if err := j.AppendNoSync(rec); err != nil {
					b.Fatal(err)
				}
				if err := j.AppendNoSync(rec); err != nil {
					b.Fatal(err)
				}
				if err := j.AppendNoSync(rec); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := j.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
