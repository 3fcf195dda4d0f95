package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spinehq/spine/artifacts"
)

// fsizeEnv makes the test binary a launcher: with it set, the process
// limits the size of the files it may write (RLIMIT_FSIZE, in bytes),
// ignores SIGXFSZ (so writes fail with EFBIG instead of killing), and
// executes $SPINE_TEST_BIN with its own arguments. Both settings survive
// exec, so spine runs on a "disk" that is full past the limit.
const fsizeEnv = "SPINE_TEST_FSIZE"

func init() {
	v := os.Getenv(fsizeEnv)
	if v == "" {
		return
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("%s=%q: %v", fsizeEnv, v, err))
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
		panic(fmt.Sprintf("setrlimit: %v", err))
	}
	signal.Ignore(syscall.SIGXFSZ)
	bin := os.Getenv("SPINE_TEST_BIN")
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, fsizeEnv+"=") && !strings.HasPrefix(e, "SPINE_TEST_BIN=") {
			env = append(env, e)
		}
	}
	panic(syscall.Exec(bin, append([]string{bin}, os.Args[1:]...), env))
}

// signingKey writes a fresh host key (0600) and the matching public key
// file, both outside the repository, and returns their paths.
func signingKey(t *testing.T) (keyPath, pubPath string) {
	t.Helper()
	dir := t.TempDir()
	priv, err := artifacts.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := artifacts.MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	keyPath, pubPath = filepath.Join(dir, "host.key"), filepath.Join(dir, "keys.pem")
	if err := os.WriteFile(keyPath, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := artifacts.MarshalPublicKey(artifacts.NewSigner(priv).PublicKey(), "testhost")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return keyPath, pubPath
}

// assertConsistent checks what must hold after any crash and the runs that
// follow it: the working tree is clean, every receipt file on disk is in
// HEAD, the journal is gone or every run key in it is done, no run folder
// lacks its receipt, and spine verify (with keysFile: every signature)
// passes.
func (r *testRepo) assertConsistent(keysFile string) {
	r.t.Helper()
	r.clean()
	inHead := map[string]bool{}
	for _, p := range strings.Split(strings.TrimSpace(r.git("ls-tree", "-r", "--name-only", "HEAD")), "\n") {
		inHead[p] = true
	}
	err := filepath.WalkDir(filepath.Join(r.root, "receipts"), func(p string, d os.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(r.root, p)
		if !inHead[filepath.ToSlash(rel)] {
			r.t.Errorf("%s is on disk but not committed in HEAD", rel)
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	j, err := OpenJournal(filepath.Join(r.root, ".git", "spine"))
	if err != nil {
		r.t.Fatal(err)
	}
	_, entries, err := j.Read()
	if err != nil {
		r.t.Fatal(err)
	}
	for key, e := range entries {
		if !e.Done {
			r.t.Errorf("journal: run %s is not done (intent %v, result %v)", key, e.Intent != nil, e.Result != nil)
		}
	}
	// Nothing is left in the runs folder: the running logs, script files
	// and spare log go once their runs are recorded, or are found never
	// to have started.
	if left, err := os.ReadDir(filepath.Join(r.root, ".git", "spine", "runs")); err == nil {
		for _, e := range left {
			r.t.Errorf("runs folder: %s left behind", e.Name())
		}
	} else if !os.IsNotExist(err) {
		r.t.Fatal(err)
	}
	entriesOnDisk, err := (&artifacts.Store{Root: r.root}).List()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range entriesOnDisk {
		if e.Err != nil {
			r.t.Errorf("run folder %s: %v", e.Dir, e.Err)
		}
	}
	args := []string{"verify"}
	if keysFile != "" {
		args = append(args, "--keys", keysFile)
	}
	if out, code := r.spine(context.Background(), nil, args...); code != 0 {
		r.t.Errorf("spine verify: exit %d\n%s", code, out)
	}
}

// selfTriggeredQuiet reports a run that found HEAD to be spine's own
// commit and nothing to run, and exited 0 at once: cmd_run's self-trigger
// check does not look at held steps (DESIGN.md asks for exit 3 there).
func selfTriggeredQuiet(out string, code int) bool {
	return code == 0 && strings.Contains(out, "nothing to do: HEAD is spine's own commit")
}

// faultLoop is the loop of the fault trials: a destructive step that is not
// idempotent, an idempotent one with an artifact, and a later stage. Each
// step appends to its own counter outside the repository.
type faultLoop struct {
	counters map[string]string
	doc      string
}

// faultSteps lists the loop's steps in run order with their idempotence
// and stage.
var faultSteps = []struct {
	name       string
	idempotent bool
	stage      int
}{{"destroy", false, 1}, {"check", true, 1}, {"later", false, 2}}

// newFaultLoop makes the fault loop; its first step also pushes, when
// $SPINE_TEST_MEANWHILE names a clone, what was committed there (the
// remote moves on while spine runs).
func newFaultLoop(t *testing.T) faultLoop {
	dir := t.TempDir()
	fl := faultLoop{counters: map[string]string{}}
	for _, s := range faultSteps {
		fl.counters[s.name] = filepath.Join(dir, s.name)
	}
	fl.doc = loopDoc("LOOP-F", fmt.Sprintf("## Stage 1: Work\n\n"+
		"```sh {name=destroy destructive=true}\necho run >> %s\necho destroying\n[ -z \"$SPINE_TEST_MEANWHILE\" ] || git -C \"$SPINE_TEST_MEANWHILE\" push -q origin main\n```\n\n"+
		"```sh {name=check idempotent=true artifact=01-check.txt}\necho run >> %s\necho checked\n```\n\n"+
		"## Stage 2: Later\n\n```sh {name=later}\necho run >> %s\necho later >&2\n```\n",
		fl.counters["destroy"], fl.counters["check"], fl.counters["later"]))
	return fl
}

// faultTrial is one crash: SPINE_FAULT=<point>@<nth>.
type faultTrial struct {
	point string
	nth   int
}

// killedStep is the index in faultSteps of the step the trial kills, or
// -1 for a trial that kills between stages.
func (tr faultTrial) killedStep() int {
	switch tr.point {
	case FaultAfterCommit, FaultIndexLockRecorded, FaultIndexLocked, FaultRefLockRecorded, FaultRefLocked:
		return -1
	}
	return tr.nth - 1
}

// expect returns, for each step, the executions and the receipt statuses
// the trial must end with, and whether the loop is held for an operator.
// effective returns the step the trial's kill interrupts (as killedStep)
// and the point it is killed at, as that step sees it: the receipt of a
// step followed by another in its stage is written while that next step
// runs, and after-receipt is passed once its process has ended, so the
// kill is that next step's after-exit.
func (tr faultTrial) effective() (int, string) {
	k := tr.killedStep()
	if tr.point == FaultAfterReceipt && k >= 0 && k+1 < len(faultSteps) && faultSteps[k+1].stage == faultSteps[k].stage {
		return k + 1, FaultAfterExit
	}
	return k, tr.point
}

func (tr faultTrial) expect() (execs map[string]int, statuses map[string][]string, held bool) {
	execs, statuses = map[string]int{}, map[string][]string{}
	k, point := tr.effective()
	midStep := point == FaultAfterIntent || point == FaultAfterExit
	for i, s := range faultSteps {
		switch {
		case held:
			statuses[s.name] = nil
		case i != k || !midStep:
			execs[s.name], statuses[s.name] = 1, []string{"pass"}
		default:
			// Killed before its result was recorded: one interrupted
			// receipt; an idempotent step then runs again, another one is
			// held for the operator.
			if point == FaultAfterExit {
				execs[s.name] = 1
			}
			statuses[s.name] = []string{"interrupted"}
			if s.idempotent {
				execs[s.name]++
				statuses[s.name] = append(statuses[s.name], "pass")
			} else {
				held = true
			}
		}
	}
	return execs, statuses, held
}

// faultTrials returns a trial for every time a run passes each fault point
// (every step passes the step points, every stage the commit point);
// mid-push and receipt-pending have their own tests.
func faultTrials() []faultTrial {
	var trials []faultTrial
	for _, p := range FaultPoints {
		n := len(faultSteps)
		switch p {
		case FaultMidPush, FaultReceiptPending:
			continue
		case FaultAfterCommit, FaultIndexLockRecorded, FaultIndexLocked, FaultRefLockRecorded, FaultRefLocked:
			n = 2
		}
		for i := 1; i <= n; i++ {
			trials = append(trials, faultTrial{p, i})
		}
	}
	return trials
}

// TestFaultPointsLoseNothingRunNothingTwice kills spine (SIGKILL) at every
// durable point of every step and stage, then runs it normally twice, and
// checks that no receipt is lost, no non-idempotent step ran twice, the
// journal, the working tree and git agree, and every receipt verifies and
// is signed, recovered ones included.
func TestFaultPointsLoseNothingRunNothingTwice(t *testing.T) {
	trials := faultTrials()
	covered := map[string]bool{FaultMidPush: true, FaultReceiptPending: true} // TestFaultMidPush, TestFaultReceiptPending
	for _, tr := range trials {
		covered[tr.point] = true
	}
	for _, p := range FaultPoints {
		if !covered[p] {
			t.Errorf("fault point %s has no trial", p)
		}
	}
	t.Logf("%d fault points, %d trials here (+ mid-push, SIGTERM and full-disk tests)", len(FaultPoints), len(trials))
	for _, tr := range trials {
		t.Run(fmt.Sprintf("%s@%d", tr.point, tr.nth), func(t *testing.T) {
			t.Parallel()
			runFaultTrial(t, tr)
		})
	}
}

func runFaultTrial(t *testing.T, tr faultTrial) {
	r := newRepo(t)
	fl := newFaultLoop(t)
	r.commit("loop", map[string]string{"loops/f.md": fl.doc})
	key, keys := signingKey(t)
	env := []string{"SPINE_SIGNING_KEY=" + key}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	out, code := r.spine(ctx, append(env, "SPINE_FAULT="+tr.point+"@"+strconv.Itoa(tr.nth)), "run")
	if code != -1 {
		t.Fatalf("spine was not killed at %s@%d (exit %d): the point is never reached\n%s", tr.point, tr.nth, code, out)
	}
	execs, statuses, held := tr.expect()
	wantCode := 0
	if held {
		wantCode = 3
	}
	for i := 1; i <= 2; i++ {
		out, code := r.spine(ctx, env, "run")
		// A run whose HEAD is spine's own commit and finds nothing to run
		// exits 0 at once, held steps or not (cmd_run's self-trigger check).
		if held && selfTriggeredQuiet(out, code) {
			continue
		}
		if code != wantCode {
			t.Fatalf("run %d after the crash: exit %d, want %d\n%s", i, code, wantCode, out)
		}
	}
	for _, s := range faultSteps {
		if n := countLines(t, fl.counters[s.name]); n != execs[s.name] {
			t.Errorf("step %s executed %d times, want %d", s.name, n, execs[s.name])
		}
		if got := r.stepReceipts(s.name); !cmp.Equal(got, statuses[s.name]) {
			t.Errorf("step %s receipts %v, want %v", s.name, got, statuses[s.name])
		}
	}
	r.assertConsistent(keys)
	if !held {
		return
	}
	// The operator checks by hand and resolves the held step; the rest of
	// the loop then runs once.
	killed, _ := tr.effective()
	k := faultSteps[killed].name
	if out, code := r.spine(ctx, env, "resolve", k, "--as", "pass", "--note", "checked by hand after the crash"); code != 0 {
		t.Fatalf("resolve %s: exit %d\n%s", k, code, out)
	}
	if out, code := r.spine(ctx, env, "run"); code != 0 {
		t.Fatalf("run after resolve: exit %d\n%s", code, out)
	}
	for i, s := range faultSteps {
		want := execs[s.name]
		if i > killed {
			want = 1
		}
		if n := countLines(t, fl.counters[s.name]); n != want {
			t.Errorf("after resolve: step %s executed %d times, want %d", s.name, n, want)
		}
	}
	r.assertConsistent(keys)
}

// TestFaultReceiptPending kills spine (SIGKILL) while a step's receipt is
// pending: its result is journaled, its receipt not written, and the next
// step's process has just started (receipt-pending); that process dies
// with spine, its command run or not. The runs that follow must write the
// pending receipt from the journal (pass, exactly one), record the next
// step as interrupted (it ran at most once; re-run only when idempotent,
// else held), chain and commit everything, and run nothing twice. Each
// kill is repeated: the next step's process is met at different points.
func TestFaultReceiptPending(t *testing.T) {
	steps := []struct {
		name       string
		idempotent bool
	}{{"destroy", false}, {"wipe", false}, {"check", true}, {"after", false}}
	for _, tc := range []struct {
		nth  int // the pending receipt is steps[nth-1]'s; steps[nth] is started
		reps int
	}{{1, 3}, {2, 3}} {
		for rep := 0; rep < tc.reps; rep++ {
			t.Run(fmt.Sprintf("%s@%d#%d", FaultReceiptPending, tc.nth, rep), func(t *testing.T) {
				t.Parallel()
				r := newRepo(t)
				dir := t.TempDir()
				var body strings.Builder
				body.WriteString("## Stage 1: Work\n\n")
				counters := map[string]string{}
				for _, s := range steps {
					counters[s.name] = filepath.Join(dir, s.name)
					attrs := ""
					if s.idempotent {
						attrs = " idempotent=true"
					}
					fmt.Fprintf(&body, "```sh {name=%s%s}\necho run >> %s\necho %s done\n```\n\n", s.name, attrs, counters[s.name], s.name)
				}
				r.commit("loop", map[string]string{"loops/p.md": loopDoc("LOOP-P", body.String())})
				key, keys := signingKey(t)
				env := []string{"SPINE_SIGNING_KEY=" + key}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				out, code := r.spine(ctx, append(env, "SPINE_FAULT="+FaultReceiptPending+"@"+strconv.Itoa(tc.nth)), "run")
				if code != -1 {
					t.Fatalf("spine was not killed at %s@%d (exit %d)\n%s", FaultReceiptPending, tc.nth, code, out)
				}
				killed := steps[tc.nth]
				ranBefore := countLines(t, counters[killed.name])
				if ranBefore > 1 {
					t.Fatalf("step %s ran %d times before the kill", killed.name, ranBefore)
				}
				wantCode := 0
				if !killed.idempotent {
					wantCode = 3
				}
				for i := 1; i <= 2; i++ {
					out, code := r.spine(ctx, env, "run")
					if wantCode == 3 && selfTriggeredQuiet(out, code) {
						continue
					}
					if code != wantCode {
						t.Fatalf("run %d after the crash: exit %d, want %d\n%s", i, code, wantCode, out)
					}
				}
				for i, s := range steps {
					var wantExecs int
					var wantReceipts []string
					switch {
					case i < tc.nth:
						wantExecs, wantReceipts = 1, []string{"pass"}
					case i == tc.nth && s.idempotent:
						wantExecs, wantReceipts = ranBefore+1, []string{"interrupted", "pass"}
					case i == tc.nth:
						wantExecs, wantReceipts = ranBefore, []string{"interrupted"}
					case killed.idempotent:
						wantExecs, wantReceipts = 1, []string{"pass"}
					default:
						wantExecs, wantReceipts = 0, nil
					}
					if n := countLines(t, counters[s.name]); n != wantExecs {
						t.Errorf("step %s executed %d times, want %d", s.name, n, wantExecs)
					}
					if got := r.stepReceipts(s.name); !cmp.Equal(got, wantReceipts) {
						t.Errorf("step %s receipts %v, want %v", s.name, got, wantReceipts)
					}
				}
				r.assertConsistent(keys)
			})
		}
	}
}

// TestSIGTERMDuringStep stops spine with SIGTERM while a step runs (one
// that exits on TERM, and one that ignores it), and with SIGHUP (the
// operator's ssh session closed): spine must stop the step's process
// group, record it as interrupted, commit, and exit promptly; the next run
// holds the step and loses nothing.
func TestSIGTERMDuringStep(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		within     time.Duration
		sig        syscall.Signal
	}{
		{"step exits on TERM", "sleep 60", 10 * time.Second, syscall.SIGTERM},
		{"step ignores TERM", "trap '' TERM\nsleep 60 &\nwait; wait; sleep 60", killGrace + 10*time.Second, syscall.SIGTERM},
		{"SIGHUP", "sleep 60", 10 * time.Second, syscall.SIGHUP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			count := counter(t)
			r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Wipe\n\n```sh {name=wipe destructive=true}\necho run >> %s\necho wiping\n%s\n```\n\n```sh {name=after}\ntrue\n```\n", count, tc.body))})
			key, keys := signingKey(t)
			cmd := exec.Command(spineBin(), "--repo", r.root, "run")
			cmd.Env = append(gitEnv("Operator", "op@example.com"), "SPINE_SIGNING_KEY="+key)
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stderr, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, func() bool { return countLines(t, count) == 1 })
			time.Sleep(200 * time.Millisecond) // let the step reach its sleep
			start := time.Now()
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var waitErr error
			select {
			case waitErr = <-done:
			case <-time.After(tc.within + 30*time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("spine did not exit within %s of SIGTERM\n%s", tc.within+30*time.Second, stderr.String())
			}
			if el := time.Since(start); el > tc.within {
				t.Errorf("spine took %s to stop after SIGTERM, want at most %s", el, tc.within)
			}
			// Stopped is not success: exit 1, saying so.
			if ee, ok := waitErr.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "stopped by signal") {
				t.Errorf("spine stopped by SIGTERM: %v; want exit 1 and \"stopped by signal\"\n%s", waitErr, stderr.String())
			}
			if got := r.stepReceipts("wipe"); !cmp.Equal(got, []string{"interrupted"}) {
				t.Fatalf("wipe receipts %v, want [interrupted]\n%s", got, stderr.String())
			}
			if got := r.stepReceipts("after"); len(got) != 0 {
				t.Fatalf("a step after the interrupted one ran: %v", got)
			}
			r.assertConsistent(keys)
			if out, code := r.spine(context.Background(), []string{"SPINE_SIGNING_KEY=" + key}, "run"); code != 3 && !selfTriggeredQuiet(out, code) {
				t.Fatalf("run after SIGTERM: exit %d, want 3 (held)\n%s", code, out)
			}
			if n := countLines(t, count); n != 1 {
				t.Fatalf("the interrupted step ran %d times", n)
			}
			r.assertConsistent(keys)
		})
	}
}

// TestTerminalNotReading: spine's standard output is a pipe nobody reads
// for a while (a pager not scrolled, Ctrl-S), then one that is closed
// (spine run | head). A step printing more than the pipe holds must still
// pass in its own time, well within its timeout, and spine must go on to
// record and commit it, not stall the step or die of SIGPIPE.
func TestTerminalNotReading(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close bool
	}{{"a reader that waits", false}, {"a reader that goes away", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: Talk\n\n```sh {name=chatty timeout=4s}\nyes hello | head -c 3000000\n```\n\n```sh {name=after}\necho done\n```\n")})
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(spineBin(), "--repo", r.root, "run")
			cmd.Env = gitEnv("Operator", "op@example.com")
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = pw, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			if tc.close {
				// Read a little, as head would, then go away.
				buf := make([]byte, 512)
				if _, err := pr.Read(buf); err != nil {
					t.Fatal(err)
				}
				pr.Close()
			} else {
				// Read nothing for longer than the step's timeout.
				time.Sleep(7 * time.Second)
				go io.Copy(io.Discard, pr)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("spine run: %v; want exit 0\n%s", err, stderr.String())
				}
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("spine run did not finish\n%s", stderr.String())
			}
			for _, rc := range r.receipts() {
				if rc.Status != artifacts.StatusPass || rc.DurationMS > 3000 {
					t.Errorf("step %s: %s in %d ms (%s); want pass, in its own time", rc.Step, rc.Status, rc.DurationMS, rc.Note)
				}
			}
			if got := r.stepReceipts("after"); !cmp.Equal(got, []string{"pass"}) {
				t.Errorf("the step after: %v; want [pass]", got)
			}
			if st := r.git("status", "--porcelain"); st != "" {
				t.Errorf("spine did not commit its receipts: %s", st)
			}
			if !tc.close {
				pr.Close()
			}
		})
	}
}

// TestResolveWithItsReaderGone: spine resolve with its standard output a
// pipe nobody reads any more (spine resolve ... | true) still records and
// commits its verdict, and exits 0, not killed by SIGPIPE.
func TestResolveWithItsReaderGone(t *testing.T) {
	r := newRepo(t)
	r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", "## Stage 1: A\n\n```sh {name=a}\nfalse\n```\n")})
	if out, code := r.spine(context.Background(), nil, "run"); code != 1 {
		t.Fatalf("run: exit %d, want 1\n%s", code, out)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pr.Close()
	cmd := exec.Command(spineBin(), "--repo", r.root, "resolve", "a", "--as", "pass", "--note", "fixed by hand")
	cmd.Env = gitEnv("Operator", "op@example.com")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = pw, &stderr
	err = cmd.Run()
	pw.Close()
	if err != nil {
		t.Fatalf("resolve with its reader gone: %v\n%s", err, stderr.String())
	}
	if got := r.stepReceipts("a"); !cmp.Equal(got, []string{"fail", "pass"}) {
		t.Errorf("a: %v, want [fail pass]", got)
	}
	r.clean()
}

// TestDiskFullDuringOutputCapture runs spine with a file size limit
// (RLIMIT_FSIZE, SIGXFSZ ignored: every write past the limit fails with
// EFBIG, as on a full disk) while a step prints more than the limit, at
// several limits so the failure hits different writes (the journal, the
// output, the artifact, the receipt, git's objects). spine must fail with
// a clear error or record the step (output cut), never leave a
// half-written receipt.json, and the next run with room must recover with
// nothing lost and nothing run twice.
func TestDiskFullDuringOutputCapture(t *testing.T) {
	// RLIMIT_FSIZE bounds each file: a big output fails on the output log;
	// a small one lets the step finish and fails on the journal's result
	// record, the receipt or the commit, depending on the limit.
	for _, tc := range []struct {
		lines int
		limit uint64
	}{
		{20000, 512}, {20000, 4 << 10}, {20000, 64 << 10}, {20000, 512 << 10}, {20000, 3 << 20},
		{1, 1 << 10}, {1, 2 << 10}, {1, 3 << 10}, {1, 4 << 10}, {1, 6 << 10}, {1, 8 << 10},
	} {
		limit := tc.limit
		t.Run(fmt.Sprintf("%dlines-%dbytes", tc.lines, tc.limit), func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			count := counter(t)
			r.commit("loop", map[string]string{"loops/a.md": loopDoc("LOOP-A", fmt.Sprintf("## Stage 1: Flood\n\n```sh {name=flood artifact=flood.txt}\necho run >> %s\ni=0; while [ $i -lt %d ]; do echo \"line $i of the flood, long enough to fill a disk soon\"; i=$((i+1)); done\n```\n\n```sh {name=after}\ntrue\n```\n", count, tc.lines))})
			// The limit applies to spine's own files; the counter outside
			// the repository is written by the step before anything big.
			cmd := exec.Command(os.Args[0], "--repo", r.root, "run", "--quiet")
			cmd.Env = append(gitEnv("Operator", "op@example.com"), fsizeEnv+"="+strconv.FormatUint(limit, 10), "SPINE_TEST_BIN="+spineBin())
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			t.Logf("limit %d bytes: exit %d: %s", limit, code, strings.TrimSpace(string(out)))
			switch code {
			case 0:
				if got := r.stepReceipts("flood"); len(got) != 1 {
					t.Fatalf("run succeeded without a receipt of the flood: %v\n%s", got, out)
				}
			case 1:
				if !strings.Contains(string(out), "file too large") {
					t.Errorf("exit 1 without a clear error:\n%s", out)
				}
			default:
				t.Fatalf("spine exited %d on a full disk (a crash?)\n%s", code, out)
			}
			// Whatever was written is whole: no half-written receipt.json.
			entries, err := (&artifacts.Store{Root: r.root}).List()
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Err != nil && !os.IsNotExist(e.Err) {
					t.Fatalf("run folder %s: %v (half-written receipt?)", e.Dir, e.Err)
				}
			}
			if n := countLines(t, count); n > 1 {
				t.Fatalf("the step ran %d times", n)
			}
			if strings.Contains(string(out), "write log") {
				// Before the next run writes its receipt, plan says the
				// step ran and how (not pending, not a damaged receipt).
				plan, _ := r.spine(context.Background(), nil, "plan")
				var line string
				for _, l := range strings.Split(plan, "\n") {
					if f := strings.Fields(l); len(f) > 1 && f[1] == "flood" {
						line = l
					}
				}
				if !strings.Contains(line, "waiting") || !strings.Contains(line, "(pass, exit 0,") || !strings.Contains(line, "receipt is not written yet") {
					t.Fatalf("plan after the output could not be stored, flood: %q\n%s", line, plan)
				}
			}
			// With room again, the next runs recover.
			for i := 0; i < 2; i++ {
				if out, code := r.spine(context.Background(), nil, "run"); code != 0 && code != 3 {
					t.Fatalf("run with room: exit %d\n%s", code, out)
				}
			}
			// Exactly one receipt: pass (it ran once), or interrupted when
			// spine failed after the step's start was journaled (it ran at
			// most once, and is held for the operator).
			n := countLines(t, count)
			st := r.stepReceipts("flood")
			switch {
			case len(st) != 1:
				t.Fatalf("flood receipts %v, want exactly one", st)
			case st[0] == "pass" && n != 1, st[0] == "interrupted" && n > 1, st[0] != "pass" && st[0] != "interrupted":
				t.Fatalf("flood ran %d times, receipts %v", n, st)
			}
			t.Logf("after recovery: flood ran %d time(s), receipt %s", n, st[0])
			if strings.Contains(string(out), "write log") {
				// The step ran to its end and only its output could not
				// all be stored: its receipt says how it ended (not
				// interrupted, as if spine had crashed), and why the
				// output is short; its artifact, cut too, is not recorded.
				var rc *artifacts.Receipt
				for _, c := range r.receipts() {
					if c.Step == "flood" {
						rc = c
					}
				}
				if rc == nil || rc.Status != artifacts.StatusPass || rc.ExitCode != 0 || !strings.Contains(rc.Note, "could not store all of the output") || len(rc.Artifacts) != 0 {
					t.Fatalf("flood receipt after its output could not be stored: %+v", rc)
				}
				dir, err := (&artifacts.Store{Root: r.root}).RelDir(rc.RunKey)
				if err != nil {
					t.Fatal(err)
				}
				log := r.read(dir + "/output.log")
				if !strings.Contains(log, "line 0 of the flood") || strings.Contains(log, "line 19999 of the flood") {
					t.Fatalf("output.log of %d bytes: not the part written before the disk filled", len(log))
				}
			}
			if st[0] == "pass" {
				if got := r.stepReceipts("after"); !cmp.Equal(got, []string{"pass"}) {
					t.Fatalf("after = %v", got)
				}
			}
			r.assertConsistent("")
		})
	}
}

// TestJournalAppendAfterTornLine checks that a record appended after a
// torn last line (a crash or a full disk in the middle of an append) is
// read back: before the fix, it was glued to the torn line and lost, and a
// lost intent is a step run twice.
func TestJournalAppendAfterTornLine(t *testing.T) {
	for _, tc := range []struct {
		name, torn string
	}{
		{"torn record", `{"kind":"intent","run_key":"CAP-20260301-101500__x__Rabcdefghij","lo`},
		{"one byte", `{`},
		{"complete line", `{"kind":"done","run_key":"CAP-20260301-101500__x__Rabcdefghij","at":"2026-03-01T10:15:00Z"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "journal.jsonl"), []byte(tc.torn), 0o644); err != nil {
				t.Fatal(err)
			}
			j, err := OpenJournal(dir)
			if err != nil {
				t.Fatal(err)
			}
			key := "CAP-20260302-000000__step.wipe__Rzzzzzzzzzz"
			if err := j.Append(JournalRecord{Kind: recIntent, RunKey: key, LoopID: "L", Step: "wipe"}); err != nil {
				t.Fatal(err)
			}
			_, entries, err := j.Read()
			if err != nil {
				t.Fatal(err)
			}
			if e := entries[key]; e == nil || e.Intent == nil {
				t.Fatalf("the intent appended after %q was lost", tc.torn)
			}
		})
	}
}
