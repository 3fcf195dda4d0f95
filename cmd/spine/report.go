package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/internal/termtext"
	"github.com/spinehq/spine/loops"
	"github.com/spinehq/spine/pipeline"
)

// termReporter prints a run's progress for people: a header per loop and
// stage, each step's output indented with its elapsed time, a one-line
// result per step, and a summary at the end.
type termReporter struct {
	w io.Writer
	// errw is where a quiet reporter says its warnings (see Warn):
	// standard error, so that --json keeps standard output to its JSON.
	errw   io.Writer
	color  bool
	tty    bool
	quiet  bool
	mu     sync.Mutex
	start  time.Time // of the current step
	spin   *spinner
	rows   []summaryRow
	curDoc string
	// gitApprovalsOnly: gates open only by a committed approval here (a
	// hook's run: a push cannot set NAME=yes), which the hints say.
	gitApprovalsOnly bool
}

type summaryRow struct {
	loop, step, result, next string
}

// isTTY reports whether w is a terminal.
func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newTermReporter returns a reporter printing to w; a quiet one prints
// only its warnings, to errw.
func newTermReporter(w, errw io.Writer, quiet bool) *termReporter {
	tty := isTTY(w)
	_, noColor := os.LookupEnv("NO_COLOR")
	return &termReporter{w: w, errw: errw, tty: tty, color: tty && !noColor, quiet: quiet}
}

func (t *termReporter) paint(code, s string) string {
	if !t.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (t *termReporter) printf(format string, args ...any) {
	if t.quiet {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.spin.clear()
	fmt.Fprintf(t.w, format, args...)
}

func (t *termReporter) Loop(doc *loops.Document) {
	t.curDoc = doc.LoopID
	t.printf("%s %s\n", t.paint("1", "▸"), t.paint("1", doc.LoopID))
}

func (t *termReporter) Stage(doc *loops.Document, st *loops.Stage) {
	t.printf("  %s\n", t.paint("36", termtext.Safe(st.Title)))
}

func (t *termReporter) StepStart(it *pipeline.Item, runKey string) io.Writer {
	t.mu.Lock()
	t.start = time.Now()
	t.mu.Unlock()
	t.printf("    %s %s %s\n", t.paint("2", "▶"), it.Name, t.paint("2", runKey))
	if t.quiet {
		return nil
	}
	if t.tty {
		t.mu.Lock()
		t.spin = startSpinner(t.w, &t.mu, it.Name, t.start)
		t.mu.Unlock()
	}
	return &lineWriter{t: t}
}

// lineWriter reformats output.log lines ("TIMESTAMP [out] text") for the
// terminal: indented, with the step's elapsed time.
type lineWriter struct {
	t    *termReporter
	part []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		// Step output is data (a log, a file): its escape sequences are
		// shown, never obeyed by the operator's terminal.
		line := termtext.Safe(string(l.part[:i]))
		l.part = l.part[i+1:]
		text := line
		if _, rest, ok := strings.Cut(line, "] "); ok && strings.HasPrefix(line, "2") {
			text = rest
			if strings.Contains(line[:min(len(line), 40)], "[err]") {
				text = l.t.paint("33", text)
			}
		}
		el := time.Since(l.t.start)
		l.t.printf("      %s %s\n", l.t.paint("2", fmt.Sprintf("%6.1fs", el.Seconds())), text)
	}
	return len(p), nil
}

func (t *termReporter) StepEnd(it *pipeline.Item, rc *artifacts.Receipt) {
	t.mu.Lock()
	t.spin.stop()
	t.spin = nil
	t.mu.Unlock()
	dur := time.Duration(rc.DurationMS) * time.Millisecond
	var line string
	switch rc.Status {
	case artifacts.StatusPass:
		line = t.paint("32", "✔") + " " + it.Name + " " + fmtDur(dur)
		if rc.Summary != "" {
			line += " " + termtext.Safe(rc.Summary)
		}
	case artifacts.StatusFail:
		line = t.paint("31", "✖") + fmt.Sprintf(" %s exit %d", it.Name, rc.ExitCode)
		if rc.AllowFailure {
			line += " (allowed to fail)"
		}
		if rc.Note != "" {
			line += ": " + termtext.Safe(rc.Note)
		}
	case artifacts.StatusInterrupted:
		line = t.paint("33", "⚠") + " " + it.Name + " interrupted: " + termtext.Safe(rc.Note)
	default:
		line = rc.Status + " " + it.Name
	}
	t.printf("    %s\n", line)
	next := ""
	if rc.Status == artifacts.StatusFail && !rc.AllowFailure {
		next = fmt.Sprintf("fix, then spine run --retry %s (see %s)", it.Name, rc.RunKey)
	}
	t.rows = append(t.rows, summaryRow{loop: it.LoopID, step: it.Name, result: resultWord(rc), next: next})
}

func resultWord(rc *artifacts.Receipt) string {
	if rc.Status == artifacts.StatusFail {
		return fmt.Sprintf("fail (exit %d)", rc.ExitCode)
	}
	return rc.Status
}

func (t *termReporter) Held(it *pipeline.Item) {
	var icon, next string
	switch it.State {
	case pipeline.StateBlocked:
		icon = t.paint("33", "⏸")
		// When approvals: lists the gate and it stays closed (the reason
		// says why), only an approval given anew opens it.
		again := fmt.Sprintf("an approver commits approvals: without %s, then with it", it.Gate)
		switch listed := it.Doc != nil && slices.Contains(it.Doc.Meta.Approvals(), it.Gate); {
		case listed && t.gitApprovalsOnly:
			next = "approve again: " + again
		case listed:
			next = fmt.Sprintf("approve: %s=yes spine run, or %s", it.Gate, again)
		case t.gitApprovalsOnly:
			next = fmt.Sprintf("approve: add %s to approvals: in a commit by an approver, and push", it.Gate)
		default:
			next = fmt.Sprintf("approve: %s=yes spine run, or add %s to approvals: (commit by an approver)", it.Gate, it.Gate)
		}
		if it.RetryNeeded {
			// It failed or was interrupted before: the approval alone
			// does not run it.
			next = fmt.Sprintf("approve and retry: %s=yes spine run --retry %s, or an approver commits %s in approvals:, then spine run --retry %s", it.Gate, it.Name, it.Gate, it.Name)
			if t.gitApprovalsOnly {
				next = fmt.Sprintf("approve and retry: an approver commits %s in approvals:, then spine run --retry %s by hand", it.Gate, it.Name)
			}
		}
	case pipeline.StateFailed:
		icon = t.paint("31", "✖")
		next = "change its command, or spine run --retry " + it.Name
	case pipeline.StateInterrupted:
		icon = t.paint("33", "⚠")
		next = fmt.Sprintf("spine run --retry %s, or spine resolve %s --as pass|fail", it.Name, it.Name)
	default:
		icon = t.paint("2", "…")
	}
	if t.curDoc != it.LoopID {
		t.Loop(it.Doc)
	}
	t.printf("    %s %s %s: %s\n", icon, termtext.Safe(it.Name), it.State, termtext.Safe(it.Reason))
	t.rows = append(t.rows, summaryRow{loop: it.LoopID, step: it.Name, result: string(it.State), next: next})
}

// Notice prints a line of the run's (a reason, a skip: text a document
// or an author may hold, made safe for the terminal).
func (t *termReporter) Notice(msg string) { t.printf("%s\n", termtext.Safe(msg)) }

// Warn prints msg as Notice does or, when the reporter is quiet (--quiet,
// --json), to errw: a run that exits 2 for a loop it skipped says which
// and why in every mode.
func (t *termReporter) Warn(msg string) {
	if !t.quiet {
		t.Notice(msg)
		return
	}
	if t.errw != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		fmt.Fprintf(t.errw, "%s\n", termtext.Safe(msg))
	}
}

// summary prints the table of what ran and what waits.
func (t *termReporter) summary(out *pipeline.Outcome) {
	if t.quiet {
		return
	}
	if out.Holder != 0 {
		// Its steps are running, not pending: without this line a dry
		// run would say there is nothing to do while one works.
		fmt.Fprintf(t.w, "another run (pid %d) holds the repository's lock: its steps are not listed here, and a run now waits for it (--wait) or exits 75; spine plan shows what it runs\n", out.Holder)
	}
	if len(t.rows) == 0 {
		switch {
		case len(out.Held) > 0:
			// Held before anything ran (a failure not retried, a receipt
			// that cannot be read): say what waits, as the exit status
			// (3) does.
			fmt.Fprintf(t.w, "nothing ran: %d step(s) wait for an operator\n", len(out.Held))
			for _, it := range out.Held {
				fmt.Fprintf(t.w, "  %s %s %s: %s\n", it.LoopID, termtext.Safe(it.Name), it.State, termtext.Safe(it.Reason))
			}
		case len(out.Skipped) > 0:
			fmt.Fprint(t.w, "nothing ran: ")
		case out.WouldRun > 0:
			fmt.Fprintf(t.w, "dry run: %d step(s) would run; nothing was run or written\n", out.WouldRun)
		case out.Background > 0:
			fmt.Fprintf(t.w, "nothing finished: %d step(s) started in the background; a later run records them (spine plan shows them running)\n", out.Background)
		case out.Holder != 0:
			fmt.Fprintln(t.w, "dry run: no other step would run")
		default:
			fmt.Fprintln(t.w, "nothing to do: no step is pending")
		}
		t.skipped(out)
		return
	}
	fmt.Fprintln(t.w)
	tw := newTable(t.w)
	fmt.Fprintln(tw, "LOOP\tSTEP\tRESULT\tNEXT")
	for _, r := range t.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.loop, r.step, r.result, r.next)
	}
	tw.Flush()
	t.skipped(out)
	if len(out.Commits) > 0 {
		fmt.Fprintf(t.w, "%d commit(s); receipts under receipts/, check them with spine verify\n", len(out.Commits))
	}
}

// skipped ends the summary with the loops the run skipped, by name: the
// reasons, findings included, were printed as each was skipped, and the
// exit status (2 or 3) is theirs.
func (t *termReporter) skipped(out *pipeline.Outcome) {
	if len(out.Skipped) == 0 {
		return
	}
	names := make([]string, len(out.Skipped))
	for i, s := range out.Skipped {
		names[i] = s.What
	}
	fmt.Fprintf(t.w, "%d loop(s) skipped, see above: %s\n", len(names), termtext.Safe(strings.Join(names, ", ")))
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// spinner redraws "⠋ name 3.2s" on a terminal while a step runs.
type spinner struct {
	w    io.Writer
	mu   *sync.Mutex
	done chan struct{}
	drew bool
}

func startSpinner(w io.Writer, mu *sync.Mutex, name string, start time.Time) *spinner {
	s := &spinner{w: w, mu: mu, done: make(chan struct{})}
	frames := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
			s.mu.Lock()
			select {
			case <-s.done:
				s.mu.Unlock()
				return
			default:
			}
			fmt.Fprintf(s.w, "\r\x1b[2K    %s %s %.1fs", frames[i%len(frames)], name, time.Since(start).Seconds())
			s.drew = true
			s.mu.Unlock()
		}
	}()
	return s
}

// clear erases the spinner line (caller holds the mutex).
func (s *spinner) clear() {
	if s != nil && s.drew {
		fmt.Fprint(s.w, "\r\x1b[2K")
		s.drew = false
	}
}

// stop ends the spinner (caller holds the mutex).
func (s *spinner) stop() {
	if s == nil {
		return
	}
	s.clear()
	close(s.done)
}
