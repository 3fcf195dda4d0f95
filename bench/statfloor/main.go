// Command statfloor does the least a one-shot `spine site build` must do
// to know that nothing but one loop changed since the last build, and
// nothing else: it lists the receipts' day folders and looks at (lstat)
// every input a page depends on (each loop document; each run folder's
// receipt.json, receipt.dsse.json and output.log), relative to the open
// day folder as the site does, on every core. Timed as a whole process
// beside `spine site build`, it is the floor of an incremental rebuild
// that trusts no file it has not looked at (bench/run.sh reports it with
// the rebuild's figures). Linux only, as the site's own lookups.
//
//	go run ./bench/statfloor -repo DIR
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

func main() {
	repo := flag.String("repo", ".", "repository root")
	flag.Parse()
	docs, err := filepath.Glob(filepath.Join(*repo, "loops", "*.md"))
	if err != nil {
		fail(err)
	}
	days, err := filepath.Glob(filepath.Join(*repo, "receipts", "[0-9][0-9][0-9][0-9]", "[0-9][0-9]", "[0-9][0-9]"))
	if err != nil {
		fail(err)
	}
	// Work items: the loop documents, one by one, then the day folders.
	var next, looked, found atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var st unix.Stat_t
			look := func(fd int, path string) {
				looked.Add(1)
				if unix.Fstatat(fd, path, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
					found.Add(1)
				}
			}
			for {
				i := int(next.Add(1)) - 1
				switch {
				case i < len(docs):
					look(unix.AT_FDCWD, docs[i])
					continue
				case i >= len(docs)+len(days):
					return
				}
				day := days[i-len(docs)]
				f, err := os.Open(day)
				if err != nil {
					fail(err)
				}
				runs, err := f.Readdirnames(-1)
				if err != nil {
					fail(err)
				}
				fd := int(f.Fd())
				for _, r := range runs {
					for _, name := range [...]string{"receipt.json", "receipt.dsse.json", "output.log"} {
						look(fd, r+"/"+name)
					}
				}
				f.Close()
			}
		})
	}
	wg.Wait()
	fmt.Printf("lstat %d paths (%d exist) in %d day folders\n", looked.Load(), found.Load(), len(days))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "statfloor:", err)
	os.Exit(1)
}
