package remote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/remote/sshtest"
	"github.com/mp-image-action/mp-image-action/internal/shell"
)

// lines collects callback lines safely.
type lines struct {
	mu  sync.Mutex
	out []string
}

func (l *lines) add(s string) { l.mu.Lock(); l.out = append(l.out, s); l.mu.Unlock() }
func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.out...)
}

func TestRunStreamsLinesInOrder(t *testing.T) {
	_, cfg := testServer(t, sshtest.Options{})
	c := dialT(t, cfg)
	var out, errs lines
	err := c.Run(context.Background(), `i=1; while [ $i -le 500 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; printf 'no newline'`,
		RunOptions{Stdout: out.add, Stderr: errs.add})
	if err != nil {
		t.Fatal(err)
	}
	o, e := out.get(), errs.get()
	if len(o) != 501 || len(e) != 500 {
		t.Fatalf("got %d stdout and %d stderr lines, want 501 and 500", len(o), len(e))
	}
	for i := range 500 {
		if o[i] != fmt.Sprintf("out %d", i+1) || e[i] != fmt.Sprintf("err %d", i+1) {
			t.Fatalf("line %d: %q / %q", i, o[i], e[i])
		}
	}
	if o[500] != "no newline" {
		t.Errorf("unterminated last line: %q", o[500])
	}
}

func TestRunExitCodes(t *testing.T) {
	_, cfg := testServer(t, sshtest.Options{})
	c := dialT(t, cfg)
	for _, tc := range []struct {
		cmd      string
		code     int
		signal   string
		lastLine string
	}{
		{cmd: "true"},
		// Both lines on one stream: stdout and stderr are separate SSH streams
		// with no order between them, so a line on each may arrive either way.
		{cmd: "echo first >&2; echo failing >&2; exit 3", code: 3, lastLine: "failing"},
		{cmd: "exit 255", code: 255},
		{cmd: "echo bye; kill -TERM $$", code: 143}, // the wrapping sh reports 128+15
		{cmd: "/nonexistent/script", code: 127},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			before := pgidFiles()
			err := c.Run(context.Background(), tc.cmd, RunOptions{Name: "10-test.sh"})
			if tc.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ee *ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("err %v, want *ExitError", err)
			}
			if ee.Code != tc.code || ee.Name != "10-test.sh" {
				t.Errorf("got %+v, want code %d", ee, tc.code)
			}
			if tc.lastLine != "" && ee.LastLine != tc.lastLine {
				t.Errorf("last line %q, want %q", ee.LastLine, tc.lastLine)
			}
			if !strings.Contains(err.Error(), "10-test.sh") {
				t.Errorf("message lacks the script name: %v", err)
			}
			if left := newPgidFiles(before); len(left) > 0 {
				t.Errorf("process group files left behind: %v", left)
			}
		})
	}
}

func TestRunEnvAndStdin(t *testing.T) {
	_, cfg := testServer(t, sshtest.Options{})
	c := dialT(t, cfg)
	env := map[string]string{"PLAIN": "x", "TRICKY": `it's "q" $HOME $(id) ` + "`id`\nline2", "EMPTY": ""}
	var out lines
	err := c.Run(context.Background(), `printf '%s|%s|%s\n' "$PLAIN" "$TRICKY" "$EMPTY"`, RunOptions{Env: env, Stdout: out.add})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`x|it's "q" $HOME $(id) ` + "`id`", "line2|"}
	if got := out.get(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("env round trip: %q, want %q", got, want)
	}
	if err := c.Run(context.Background(), "true", RunOptions{Env: map[string]string{"BAD NAME": "x"}}); err == nil {
		t.Error("invalid env name accepted")
	}
	// stdin is closed: a read gets EOF at once instead of hanging.
	start := time.Now()
	err = c.Run(context.Background(), "read x", RunOptions{IdleTimeout: 10 * time.Second})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 1 || time.Since(start) > 5*time.Second {
		t.Errorf("read on closed stdin: %v after %s, want exit 1 at once", err, time.Since(start))
	}
	out = lines{}
	if err := c.Run(context.Background(), "cat", RunOptions{Stdin: strings.NewReader("fed\n"), Stdout: out.add}); err != nil || strings.Join(out.get(), "") != "fed" {
		t.Errorf("given stdin: %q, %v", out.get(), err)
	}
}

// alive reports whether a local pid (the test server runs commands here) exists.
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func readPid(t *testing.T, p string) int {
	t.Helper()
	for range 100 {
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err == nil {
				return pid
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", p)
	return 0
}

func waitGone(pid int) bool {
	for range 100 {
		// A zombie still answers kill -0; its state says it is dead.
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(b), ") Z ") {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return !alive(pid)
}

// stopCases are ways a command must be stopped; each leaves a background
// child whose pid is in a file, and checks that it is killed too.
func TestRunStops(t *testing.T) {
	_, cfg := testServer(t, sshtest.Options{})
	c := dialT(t, cfg)
	for _, tc := range []struct {
		name  string
		opts  RunOptions
		ctx   func() (context.Context, context.CancelFunc)
		check func(t *testing.T, err error)
	}{
		{name: "idle watchdog", opts: RunOptions{Name: "20-wait.sh", IdleTimeout: 400 * time.Millisecond},
			check: func(t *testing.T, err error) {
				var ie *IdleError
				if !errors.As(err, &ie) || ie.LastLine != "Do you want to continue? [Y/n]" || ie.Name != "20-wait.sh" {
					t.Fatalf("err %v, want *IdleError with the last line", err)
				}
				if !strings.Contains(err.Error(), "20-wait.sh") || !strings.Contains(err.Error(), "continue?") {
					t.Errorf("message: %v", err)
				}
			}},
		{name: "timeout", opts: RunOptions{Name: "30-slow.sh", Timeout: 500 * time.Millisecond},
			check: func(t *testing.T, err error) {
				var te *TimeoutError
				if !errors.As(err, &te) || te.Name != "30-slow.sh" {
					t.Fatalf("err %v, want *TimeoutError", err)
				}
			}},
		{name: "context cancel", opts: RunOptions{Name: "40-long.sh"},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 500*time.Millisecond)
			},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("err %v, want the context's error", err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			// A waiting foreground command plus a background child that
			// does not share the session's pipes (like a daemon a script starts).
			cmd := fmt.Sprintf("sleep 300 >/dev/null 2>&1 </dev/null & echo $! > %s; echo 'Do you want to continue? [Y/n]'; sleep 300", shell.Quote(pidFile))
			before := pgidFiles()
			start := time.Now()
			err := c.Run(ctx, cmd, tc.opts)
			if d := time.Since(start); d > 8*time.Second {
				t.Errorf("stopping took %s", d)
			}
			tc.check(t, err)
			if pid := readPid(t, pidFile); !waitGone(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("background child %d survived the stop", pid)
			}
			if left := newPgidFiles(before); len(left) > 0 {
				t.Errorf("process group files left behind: %v", left)
			}
			// The connection is still usable after a stop.
			if _, _, code, err := c.Output(context.Background(), "true"); err != nil || code != 0 {
				t.Errorf("connection unusable after stop: %d %v", code, err)
			}
		})
	}
}

func TestRunIdleResetByOutput(t *testing.T) {
	_, cfg := testServer(t, sshtest.Options{})
	c := dialT(t, cfg)
	// Output every 100 ms for 1.2 s keeps a 500 ms watchdog quiet, on stderr too.
	err := c.Run(context.Background(), "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo tick >&2; sleep 0.1; done",
		RunOptions{IdleTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("busy command stopped: %v", err)
	}
}

func TestRunDisconnect(t *testing.T) {
	s, cfg := testServer(t, sshtest.Options{})
	c := dialT(t, cfg)
	go func() { time.Sleep(300 * time.Millisecond); s.DropAll() }()
	var out lines
	err := c.Run(context.Background(), "echo started; sleep 30", RunOptions{Name: "50-apt.sh", Stdout: out.add})
	var de *DisconnectError
	if !errors.As(err, &de) || de.Name != "50-apt.sh" {
		t.Fatalf("err %v, want *DisconnectError", err)
	}
	if got := out.get(); len(got) != 1 || got[0] != "started" {
		t.Errorf("output before drop: %q", got)
	}
}

func TestOutput(t *testing.T) {
	_, cfg := testServer(t, sshtest.Options{})
	c := dialT(t, cfg)
	out, errb, code, err := c.Output(context.Background(), "echo o; echo e >&2; exit 2")
	if err != nil || string(out) != "o\n" || string(errb) != "e\n" || code != 2 {
		t.Fatalf("Output = %q %q %d %v", out, errb, code, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, _, _, err := c.Output(ctx, "sleep 30"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled Output: %v", err)
	}
}

// pgidFiles lists the process group files Run leaves while a command runs.
func pgidFiles() map[string]bool {
	m := map[string]bool{}
	l, _ := filepath.Glob("/tmp/.mp-image-*.pgid")
	for _, p := range l {
		m[p] = true
	}
	return m
}

func newPgidFiles(before map[string]bool) []string {
	var out []string
	for p := range pgidFiles() {
		if !before[p] {
			out = append(out, p)
		}
	}
	return out
}

// A cancelled Run returns as soon as it has sent the kill, even when a
// process outside the command's process group (setsid) still holds its
// output open: the build is cancelled and its cleanup must start now
// (the 5 s from signal to clean). killGrace is raised so that
// waiting for it would show as a hang, not as a few seconds.
func TestRunCancelDoesNotWaitForEscapedOutput(t *testing.T) {
	old := killGrace
	killGrace = 10 * time.Minute
	defer func() { killGrace = old }()
	_, cfg := testServer(t, sshtest.Options{})
	c := dialT(t, cfg)
	pidFile := filepath.Join(t.TempDir(), "escaped.pid")
	// The escaped child keeps stdout (the session's pipe) open.
	cmd := fmt.Sprintf("setsid sh -c 'echo $$ > %s; exec sleep 300' & echo started; sleep 300", shell.Quote(pidFile))
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	ret := make(chan error, 1)
	go func() {
		ret <- c.Run(ctx, cmd, RunOptions{Name: "escape", Stdout: func(string) { once.Do(func() { close(started) }) }})
	}()
	<-started
	cancel()
	defer func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			var pid int
			fmt.Sscanf(string(b), "%d", &pid)
			if pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}()
	select {
	case err := <-ret:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a cancelled Run still waits for output held open by an escaped process")
	}
}

// Progress meters redraw one line with carriage returns: the line reaches
// Stdout whole (every byte), its fragments reach Partial as they come, and
// CRLF line ends are no fragments.
func TestRunCarriageReturnFragments(t *testing.T) {
	_, cfg := testServer(t, sshtest.Options{})
	c := dialT(t, cfg)
	var out, errs, parts lines
	cmd := `printf '(Reading database ... 5%%\r(Reading database ... 50%%\r(Reading database ... 100 files.)\n'; ` +
		`printf 'dos line\r\n'; printf '\r  1 MB\r  2 MB' >&2; sleep 0.2; printf '\r  3 MB\n' >&2; printf 'tail\r'`
	err := c.Run(context.Background(), cmd, RunOptions{Stdout: out.add, Stderr: errs.add, Partial: parts.add})
	if err != nil {
		t.Fatal(err)
	}
	wantOut := []string{"(Reading database ... 5%\r(Reading database ... 50%\r(Reading database ... 100 files.)", "dos line", "tail"}
	if got := out.get(); strings.Join(got, "|") != strings.Join(wantOut, "|") {
		t.Errorf("stdout lines %q, want %q", got, wantOut)
	}
	if got, want := errs.get(), []string{"\r  1 MB\r  2 MB\r  3 MB"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("stderr lines %q, want %q", got, want)
	}
	// "  2 MB" was on the wire 0.2 s before its line ended: it came as a fragment.
	want := map[string]bool{"(Reading database ... 5%": true, "(Reading database ... 50%": true, "  1 MB": true, "  2 MB": true}
	got := parts.get()
	for _, p := range got {
		if !want[p] {
			t.Errorf("unexpected fragment %q (all: %q)", p, got)
		}
		delete(want, p)
	}
	if len(want) > 0 {
		t.Errorf("fragments missing: %v (got %q)", want, got)
	}
}

func TestLastFragment(t *testing.T) {
	for in, want := range map[string]string{"": "", "plain": "plain", "a\rb": "b", "5%\r100%\r": "100%", "\r  3 MB": "  3 MB"} {
		if got := lastFragment(in); got != want {
			t.Errorf("lastFragment(%q) = %q, want %q", in, got, want)
		}
	}
}
