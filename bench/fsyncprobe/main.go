// Command fsyncprobe prints the median latency of fsync (200-byte append,
// then fsync) of a file in a folder, and of spawning `sh -c true`: the two
// costs every step of `spine run` pays by design.
//
//	go run ./bench/fsyncprobe -dir /var/tmp -n 50
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"
)

func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

func main() {
	dir := flag.String("dir", ".", "folder to probe")
	n := flag.Int("n", 50, "samples")
	spawn := flag.Bool("spawn", false, "also time spawning sh -c true")
	flag.Parse()
	f, err := os.CreateTemp(*dir, ".fsyncprobe-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.Remove(f.Name())
	buf := make([]byte, 200)
	var ds []time.Duration
	for i := 0; i < *n; i++ {
		f.Write(buf)
		t := time.Now()
		if err := f.Sync(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		ds = append(ds, time.Since(t))
	}
	f.Close()
	fmt.Printf("fsync_ms %.3f %s\n", float64(median(ds).Microseconds())/1000, filepath.Clean(*dir))
	if *spawn {
		ds = ds[:0]
		for i := 0; i < *n; i++ {
			t := time.Now()
			exec.Command("sh", "-c", "true").Run()
			ds = append(ds, time.Since(t))
		}
		fmt.Printf("spawn_ms %.3f\n", float64(median(ds).Microseconds())/1000)
	}
}
