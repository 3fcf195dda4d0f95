package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readmeBlocks returns the ```sh blocks of the README, in order.
func readmeBlocks(t *testing.T) [][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]string
	var cur []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !in && line == "```sh":
			in, cur = true, nil
		case in && line == "```":
			in = false
			blocks = append(blocks, cur)
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

// TestREADMECommands runs the README's shell blocks as a user would, with
// the spine binary on PATH, so that they cannot rot.
func TestREADMECommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	blocks := readmeBlocks(t)
	if len(blocks) < 3 {
		t.Fatalf("README has %d sh blocks, want the set-up, tour and init blocks", len(blocks))
	}
	work := t.TempDir()
	binDir := filepath.Dir(spineBin)
	// `my-ops-repo` is the user's existing repository.
	repo := filepath.Join(work, "my-ops-repo")
	os.MkdirAll(repo, 0o755)
	gitCmd(t, repo, "init", "-q", "-b", "main")
	demoDir := filepath.Join(work, "spine-demo")
	ran := 0
	for i, block := range blocks {
		var script []string
		for _, line := range block {
			cmd, _, _ := strings.Cut(line, "  #")
			cmd = strings.TrimSpace(cmd)
			switch {
			case cmd == "":
				continue
			case strings.HasPrefix(cmd, "go test"):
				continue // this test is part of it
			case strings.HasPrefix(cmd, "go run ./cmd/spine"):
				cmd = "spine" + strings.TrimPrefix(cmd, "go run ./cmd/spine") + " --dir " + filepath.Join(work, "setup-demo")
			case strings.HasPrefix(cmd, "go install"):
				continue
			case strings.Contains(cmd, "site serve"):
				cmd = "timeout 3 " + cmd + " --addr 127.0.0.1:0 || test $? = 124"
			}
			cmd = strings.ReplaceAll(cmd, "/tmp/spine-demo", demoDir)
			script = append(script, cmd)
		}
		if len(script) == 0 {
			continue
		}
		sh := exec.Command("sh", "-e", "-x", "-c", strings.Join(script, "\n"))
		sh.Dir = work
		sh.Env = append(os.Environ(),
			"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
			"GIT_AUTHOR_NAME=Reader", "GIT_AUTHOR_EMAIL=reader@example.com",
			"GIT_COMMITTER_NAME=Reader", "GIT_COMMITTER_EMAIL=reader@example.com")
		out, err := sh.CombinedOutput()
		if err != nil {
			// spine plan and run exit 3 when something waits for an
			// operator; the README's init example ends with a gated step.
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
				t.Fatalf("README block %d failed: %v\n%s", i+1, err, out)
			}
		}
		ran++
	}
	if ran < 3 {
		t.Fatalf("ran %d README blocks", ran)
	}
	if _, err := os.Stat(filepath.Join(demoDir, "receipts")); err != nil {
		t.Errorf("the tour's demo left no receipts: %v", err)
	}
}
