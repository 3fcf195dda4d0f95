// Package testbin builds the spine binary for tests that run it as a
// process.
//
// Such a test's own binary need not import the code it exercises (e2e
// imports none of spine), so `go test` would reuse its cached result after
// that code changed. Track opens every file of the module that can end up
// in the binary: the go command records the files a test opens while its
// tests run (not in TestMain before m.Run) and reuses a result only while
// they are unchanged.
package testbin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Build builds the main package pkgDir (a path as `go build` takes it,
// relative to the test's folder) into dir/spine and returns that path.
func Build(dir, pkgDir string) (string, error) {
	bin := filepath.Join(dir, "spine")
	if out, err := exec.Command("go", "build", "-o", bin, pkgDir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", pkgDir, err, out)
	}
	return bin, nil
}

// tracked runs trackSources once per process.
var tracked sync.Once

// Track opens, once per process, every file of the module that can be
// compiled or embedded into a binary Build makes, so that the test's
// cached result depends on them. Call it from the tests that run the
// binary. It is best effort: a failure leaves the cache as it would be
// without it.
func Track() {
	tracked.Do(func() {
		if root, err := moduleRoot(); err == nil {
			_ = trackSources(root)
		}
	})
}

// moduleRoot is the folder of the go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// trackSources opens every file under root that can be compiled or
// embedded into the binary: all but tests, test data, hidden folders (.git)
// and bench (the benchmarks' tools and generated sites).
func trackSources(root string) error {
	bench := filepath.Join(root, "bench")
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (name == "testdata" || strings.HasPrefix(name, ".") || p == bench) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		return f.Close()
	})
}
