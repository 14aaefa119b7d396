package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// build plays one build's events into a sink: a step with carriage-return
// apt output, a skipped step, a long operation, a failing script with 40
// lines of output and its annotation, a warning, and the outputs.
func build(clk *fakeClock, s Sink) {
	tick := func(d time.Duration) { clk.t = clk.t.Add(d) }
	s.StepStart("apt update, full-upgrade, install")
	tick(100 * time.Millisecond)
	s.Output("apt", "Get:1 http://deb.debian.org/debian bookworm/main amd64 nginx [532 kB]")
	tick(100 * time.Millisecond)
	s.Partial("apt", "(Reading database ... 5%")
	s.Output("apt", "(Reading database ... 5%\r(Reading database ... 50%\r(Reading database ... 11818 files and directories currently installed.)")
	tick(time.Minute)
	s.StepEnd(StepRecord{Name: "apt update, full-upgrade, install", Status: StatusOK, Duration: time.Minute})
	s.StepEnd(StepRecord{Name: "transfer and tag the snapshot", Status: StatusSkipped, Detail: "no snapshot-regions or snapshot-tags"})
	s.StepStart("Marketplace cleanup")
	for _, f := range []float64{0.04, 0.08, 0.12, 0.5, 0.55, 1} {
		tick(100 * time.Millisecond)
		s.Progress(Progress{Task: "secure erase", Fraction: f, Text: fmt.Sprintf("%.0f%%, %.0f of 20 GiB", f*100, f*20)})
	}
	s.StepEnd(StepRecord{Name: "Marketplace cleanup", Status: StatusOK, Duration: 2 * time.Second})
	s.Annotate(Annotation{Level: "warning", Title: "size", Message: "size limits plans"})
	s.StepStart("provision")
	for i := 1; i <= 40; i++ {
		tick(100 * time.Millisecond)
		s.Output("scripts/20-fail.sh", fmt.Sprintf("line %d", i))
	}
	s.Annotate(Annotation{Level: "error", File: "recipe/scripts/20-fail.sh", Line: 3, Title: "scripts/20-fail.sh failed",
		Message: "scripts/20-fail.sh exited with status 3 (last line: line 40)\nFix: the output shows why"})
	tick(4 * time.Second)
	s.StepEnd(StepRecord{Name: "provision", Status: StatusFailed, Duration: 4 * time.Second, Detail: "provision: scripts/20-fail.sh: scripts/20-fail.sh exited with status 3 (last line: line 40)"})
	s.Outputs(Outputs{Validation: "fail", SnapshotRegions: nil})
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func TestConsolePlain(t *testing.T) {
	clk := newClock()
	var out bytes.Buffer
	c := OpenConsole(&out, ConsoleOptions{Now: clk.now, LogPath: "/tmp/mp.log"})
	build(clk, c)
	var want strings.Builder
	want.WriteString("full log: /tmp/mp.log\n" +
		"[ 0:00] ==> apt update, full-upgrade, install\n" +
		"[apt] Get:1 http://deb.debian.org/debian bookworm/main amd64 nginx [532 kB]\n" +
		// The carriage-return progress is reduced to what a terminal leaves.
		"[apt] (Reading database ... 11818 files and directories currently installed.)\n" +
		"[ 1:00] ok apt update, full-upgrade, install (1m00s)\n" +
		"[ 1:00] skipped transfer and tag the snapshot: no snapshot-regions or snapshot-tags\n" +
		"[ 1:00] ==> Marketplace cleanup\n" +
		// One line per tenth reached, not one per update.
		"[ 1:00] secure erase: 12%, 2 of 20 GiB\n" +
		"[ 1:00] secure erase: 50%, 10 of 20 GiB\n" +
		"[ 1:00] secure erase: 100%, 20 of 20 GiB\n" +
		"[ 1:00] ok Marketplace cleanup (2.0s)\n" +
		"warning: size: size limits plans\n" +
		"[ 1:00] ==> provision\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&want, "[scripts/20-fail.sh] line %d\n", i)
	}
	// The failure once: the lines were shown as they came, so no tail.
	want.WriteString("[ 1:08] FAILED provision (4.0s)\n" +
		"error: recipe/scripts/20-fail.sh:3: scripts/20-fail.sh failed: scripts/20-fail.sh exited with status 3 (last line: line 40)\n" +
		"    Fix: the output shows why\n" +
		"\n" +
		"validation=fail\n" +
		"log=/tmp/mp.log\n")
	if out.String() != want.String() {
		t.Errorf("console output:\n%s\nwant:\n%s", out.String(), want.String())
	}
}

// On GitHub the GitHub sink shows annotations and a failed step's error;
// the console shows neither, so each reaches the log once.
func TestConsolePlainOnGitHub(t *testing.T) {
	clk := newClock()
	var out bytes.Buffer
	c := OpenConsole(&out, ConsoleOptions{Now: clk.now, GitHub: true})
	build(clk, c)
	for _, not := range []string{"warning:", "error:", "exited with status 3"} {
		if strings.Contains(out.String(), not) {
			t.Errorf("console repeats %q on GitHub:\n%s", not, out.String())
		}
	}
	if !strings.Contains(out.String(), "[ 1:08] FAILED provision (4.0s)\n") {
		t.Errorf("no result line for the failed step:\n%s", out.String())
	}
	c.StepEnd(StepRecord{Name: "snapshot", Status: StatusFailed, Detail: "snapshot action 7: errored"})
	if strings.Contains(out.String(), "errored") {
		t.Errorf("a failed step's error is the GitHub sink's to show:\n%s", out.String())
	}
}

// A failed step without an annotation shows its error once.
func TestConsoleStepErrorOnce(t *testing.T) {
	var out, errw bytes.Buffer
	c := OpenConsole(&out, ConsoleOptions{Now: newClock().now, Err: &errw})
	c.StepStart("snapshot")
	c.StepEnd(StepRecord{Name: "snapshot", Status: StatusFailed, Detail: "snapshot: action 7 errored"})
	if got, want := errw.String(), "mp-image: error: snapshot: action 7 errored\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	if strings.Count(out.String()+errw.String(), "errored") != 1 {
		t.Errorf("the error is not printed once:\n%s%s", out.String(), errw.String())
	}
}

func TestConsoleQuiet(t *testing.T) {
	clk := newClock()
	var out bytes.Buffer
	c := OpenConsole(&out, ConsoleOptions{Now: clk.now, Quiet: true, LogPath: "/tmp/mp.log"})
	build(clk, c)
	want := "warning: size: size limits plans\n" +
		"[ 1:08] FAILED provision (4.0s)\n" +
		"error: recipe/scripts/20-fail.sh:3: scripts/20-fail.sh failed: scripts/20-fail.sh exited with status 3 (last line: line 40)\n" +
		"    Fix: the output shows why\n" +
		"\n" +
		"validation=fail\n" +
		"log=/tmp/mp.log\n"
	if out.String() != want {
		t.Errorf("quiet output:\n%s\nwant:\n%s", out.String(), want)
	}
}

// A terminal shows one live line per running step that collapses to its
// result: the screen ends with the step list, the failure with the last 30
// lines of the failing command, and the outputs; no apt line stays.
func TestConsoleTerminalScreen(t *testing.T) {
	clk := newClock()
	scr := newScreen(100)
	c := OpenConsole(scr, ConsoleOptions{TTY: true, Now: clk.now, Width: func() int { return 100 }, LogPath: "/tmp/mp.log"})
	// Before the first step, what the tool says is the live line: it goes when a step starts.
	c.Log("local cloud listening at http://127.0.0.1:4000/")
	if got, want := scr.String(), "full log: /tmp/mp.log\nlocal cloud listening at http://127.0.0.1:4000/"; got != want {
		t.Errorf("screen before the first step:\n%s\nwant:\n%s", got, want)
	}

	c.StepStart("apt update, full-upgrade, install")
	clk.t = clk.t.Add(65 * time.Second)
	c.Output("apt", "Setting up nginx (1.22.1-9) ...")
	if got, want := scr.lines(), []string{"full log: /tmp/mp.log", "⠋ apt update, full-upgrade, install 1:05  [apt] Setting up nginx (1.22.1-9) ..."}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("live screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	clk.t = clk.t.Add(100 * time.Millisecond)
	c.Partial("curl", "  45  10.0M   45 4608k    0     0  1200k      0  0:00:08  0:00:03  0:00:05 1200k")
	if last := scr.lines()[1]; !strings.HasPrefix(last, "⠙ apt update, full-upgrade, install 1:05  [curl]   45  10.0M") || !strings.HasSuffix(last, "…") || len([]rune(last)) != 99 {
		t.Errorf("live line not cut to the width: %q (%d runes)", last, len([]rune(last)))
	}
	c.Close()
	clk2 := newClock()
	scr = newScreen(200)
	c = OpenConsole(scr, ConsoleOptions{TTY: true, Now: clk2.now, Width: func() int { return 200 }, LogPath: "/tmp/mp.log"})
	build(clk2, c)
	c.Close()
	want := []string{
		"full log: /tmp/mp.log",
		"✓ apt update, full-upgrade, install (1m00s)",
		"- skipped transfer and tag the snapshot: no snapshot-regions or snapshot-tags",
		"✓ Marketplace cleanup (2.0s)",
		"warning: size: size limits plans",
		"✗ provision (4.0s)",
		"  last 30 lines of scripts/20-fail.sh:",
	}
	for i := 11; i <= 40; i++ {
		want = append(want, fmt.Sprintf("  │ line %d", i))
	}
	want = append(want,
		"error: recipe/scripts/20-fail.sh:3: scripts/20-fail.sh failed: scripts/20-fail.sh exited with status 3 (last line: line 40)",
		"    Fix: the output shows why",
		"",
		"validation=fail",
		"log=/tmp/mp.log")
	if got := scr.lines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("final screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// While a long operation runs, its step's live line is a bar.
func TestConsoleTerminalProgress(t *testing.T) {
	clk := newClock()
	scr := newScreen(120)
	c := OpenConsole(scr, ConsoleOptions{TTY: true, Now: clk.now, Width: func() int { return 120 }})
	c.StepStart("snapshot")
	clk.t = clk.t.Add(3 * time.Minute)
	c.Progress(Progress{Task: "snapshot", Fraction: 0.35, Text: "3m00s of the 60m snapshot-timeout"})
	if got, want := scr.String(), "⠋ snapshot 3:00  snapshot [#######.............] 3m00s of the 60m snapshot-timeout"; got != want {
		t.Errorf("screen %q, want %q", got, want)
	}
	c.StepEnd(StepRecord{Name: "snapshot", Status: StatusOK, Duration: 3 * time.Minute})
	if got, want := scr.String(), "✓ snapshot (3m00s)"; got != want {
		t.Errorf("screen %q, want %q", got, want)
	}
}

// In plain lines, carriage-return progress of a line still being written
// shows at most once per Throttle; a quick meter (dpkg's) not at all.
func TestConsolePlainThrottle(t *testing.T) {
	clk := newClock()
	var out bytes.Buffer
	c := OpenConsole(&out, ConsoleOptions{Now: clk.now, Throttle: 10 * time.Second})
	for i := 0; i <= 60; i++ {
		c.Partial("curl", fmt.Sprintf("%d s", i))
		clk.t = clk.t.Add(time.Second)
	}
	c.Output("curl", "0 s\r1 s\r60 s\rdone")
	want := "[curl] 10 s\n[curl] 20 s\n[curl] 30 s\n[curl] 40 s\n[curl] 50 s\n[curl] 60 s\n[curl] done\n"
	if out.String() != want {
		t.Errorf("throttled progress:\n%s\nwant:\n%s", out.String(), want)
	}
	if strings.Contains(out.String(), "\r") {
		t.Error("a carriage return reached plain output")
	}
}

func TestConsoleColourOnlyWhenAsked(t *testing.T) {
	for _, colour := range []bool{false, true} {
		var out bytes.Buffer
		c := NewConsole(&out, colour, nil)
		c.StepEnd(StepRecord{Name: "x", Status: StatusFailed})
		if got := strings.Contains(out.String(), "\x1b["); got != colour {
			t.Errorf("colour=%v: escape codes present=%v: %q", colour, got, out.String())
		}
	}
	// A buffer is not a terminal, whatever TERM says: plain lines, no colour.
	var out bytes.Buffer
	s := Detect(func(k string) string { return map[string]string{"TERM": "xterm-256color"}[k] }, &out)
	s.StepStart("x")
	if out.String() != "[ 0:00] ==> x\n" {
		t.Errorf("on a non-terminal: %q", out.String())
	}
	// --progress tty asks for live lines anywhere; colour still needs a terminal.
	out.Reset()
	s = Detect(func(string) string { return "" }, &out, WithProgress(ProgressTTY))
	s.StepStart("x")
	s.StepEnd(StepRecord{Name: "x", Status: StatusOK})
	Close(s)
	if got := out.String(); !strings.Contains(got, "⠋ x") || !strings.HasSuffix(got, "✓ x (0s)\n") || strings.Contains(got, "\x1b[3") {
		t.Errorf("--progress tty: %q", got)
	}
}

func TestLogFile(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "logs", "build.log")
	l, err := OpenLogFile(path, clk.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Mask("s3cret-token")
	build(clk, l)
	l.Log("token is s3cret-token")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log := string(data)
	for _, want := range []string{
		"2025-01-01T00:00:00.000Z ==> apt update, full-upgrade, install\n",
		// every byte of the remote line, its carriage returns visible
		"2025-01-01T00:00:00.200Z [apt] (Reading database ... 5%\\r(Reading database ... 50%\\r(Reading database ... 11818 files and directories currently installed.)\n",
		"ok apt update, full-upgrade, install (1m00s)\n",
		"skipped transfer and tag the snapshot (0s): no snapshot-regions or snapshot-tags\n",
		"Z secure erase: 4%, 1 of 20 GiB\n",
		"Z secure erase: 50%, 10 of 20 GiB\n",
		"Z secure erase: 55%, 11 of 20 GiB\n",
		"Z [scripts/20-fail.sh] line 1\n",
		"Z [scripts/20-fail.sh] line 40\n",
		"Z error: recipe/scripts/20-fail.sh:3: scripts/20-fail.sh failed: scripts/20-fail.sh exited with status 3 (last line: line 40)\n",
		"Z Fix: the output shows why\n",
		"Z failed provision (4.0s): provision: scripts/20-fail.sh: scripts/20-fail.sh exited with status 3 (last line: line 40)\n",
		"Z output validation=fail\n",
		"Z token is ***\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "s3cret") {
		t.Errorf("log holds a secret:\n%s", log)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v (%v), want 0600", st.Mode(), err)
	}
}

// The redraw timer runs beside the events; Close stops it and leaves no
// live line behind (run with -race).
func TestConsoleTerminalTickerClose(t *testing.T) {
	scr := newScreen(80)
	c := OpenConsole(scr, ConsoleOptions{TTY: true, Tick: time.Millisecond, Width: func() int { return 80 }})
	c.StepStart("wait")
	for i := 0; i < 200; i++ {
		c.Output("x", fmt.Sprint("line ", i))
		time.Sleep(50 * time.Microsecond)
	}
	c.Close()
	c.Close()
	if got := scr.String(); got != "" {
		t.Errorf("after Close the screen holds %q", got)
	}
}

// Steps running at once (a transfer in the background beside the boot test)
// get a live line each; progress goes to the step it names, and each
// collapses to its own result line.
func TestConsoleTerminalStepsAtOnce(t *testing.T) {
	clk := newClock()
	scr := newScreen(120)
	c := OpenConsole(scr, ConsoleOptions{TTY: true, Now: clk.now, Width: func() int { return 120 }})
	c.StepStart("transfer and tag the snapshot")
	c.StepStart("boot test (review simulation)")
	clk.t = clk.t.Add(time.Minute)
	c.Progress(Progress{Step: "transfer and tag the snapshot", Task: "transfer", Fraction: 0.5, Text: "1 of 2 regions done after 1m00s"})
	clk.t = clk.t.Add(100 * time.Millisecond)
	c.Output("verify/10-http.sh", "database connected")
	want := "⠙ transfer and tag the snapshot 1:00  transfer [##########..........] 1 of 2 regions done after 1m00s\n" +
		"⠙ boot test (review simulation) 1:00  [verify/10-http.sh] database connected"
	if got := scr.String(); got != want {
		t.Errorf("screen:\n%s\nwant:\n%s", got, want)
	}
	c.StepEnd(StepRecord{Name: "boot test (review simulation)", Status: StatusOK, Duration: time.Minute})
	c.StepEnd(StepRecord{Name: "transfer and tag the snapshot", Status: StatusOK, Duration: time.Minute})
	if got, want := scr.String(), "✓ boot test (review simulation) (1m00s)\n✓ transfer and tag the snapshot (1m00s)"; got != want {
		t.Errorf("screen:\n%s\nwant:\n%s", got, want)
	}
}
