package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/shell"
	"github.com/mp-image-action/mp-image-action/internal/testutil/cloudenv"
)

// Issue 16: what a person sees. The binary runs under a real pseudo-terminal
// (tmux, one private server per run), and the test reads the screen as
// tmux rendered it, scrollback included.

// termRun is the binary running in a tmux pane.
type termRun struct {
	sock, done string
	args       []string
}

// termWidth is the pane's width: wide enough that result lines do not wrap.
const termWidth = 160

// startTerminal starts the binary in a new tmux pane with the environment
// runBin gives (plus TERM, as a terminal emulator sets it).
func startTerminal(t *testing.T, args ...string) *termRun {
	t.Helper()
	return startTerminalEnv(t, nil, args...)
}

// startTerminalEnv is startTerminal with extra NAME=value settings.
func startTerminalEnv(t *testing.T, extraEnv []string, args ...string) *termRun {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		cloudenv.Need(t, "tmux is not installed (scripts/test installs it)")
	}
	dir := t.TempDir()
	r := &termRun{sock: filepath.Join(dir, "tmux.sock"), done: filepath.Join(dir, "exit"), args: args}
	var quoted []string
	for _, a := range append(extraEnv, env.bin) {
		quoted = append(quoted, shell.Quote(a))
	}
	for _, a := range args {
		quoted = append(quoted, shell.Quote(a))
	}
	// The pane keeps its shell after the build (sleep) so the screen can be read.
	script := fmt.Sprintf("cd %s && env -i PATH=%s HOME=%s TMPDIR=%s TERM=tmux-256color %s; echo $? > %s; exec sleep 3600",
		shell.Quote(env.root), shell.Quote(os.Getenv("PATH")), shell.Quote(os.Getenv("HOME")),
		shell.Quote(env.tmp), strings.Join(quoted, " "), shell.Quote(r.done))
	cmd := exec.Command("tmux", "-S", r.sock, "-f", "/dev/null", "new-session", "-d", "-x", strconv.Itoa(termWidth), "-y", "50", "sh", "-c", script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-S", r.sock, "kill-server").Run() })
	return r
}

// wait waits for the build to end and returns the screen, scrollback
// included, as rows of text (wrapped rows joined), and the exit code.
func (r *termRun) wait(t *testing.T) ([]string, int) {
	t.Helper()
	deadline := time.Now().Add(25 * time.Minute)
	for {
		b, err := os.ReadFile(r.done)
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			code, _ := strconv.Atoi(string(bytes.TrimSpace(b)))
			out, err := exec.Command("tmux", "-S", r.sock, "capture-pane", "-p", "-J", "-S", "-", "-E", "-").Output()
			if err != nil {
				t.Fatalf("tmux capture-pane: %v", err)
			}
			rows := strings.Split(strings.TrimRight(string(out), "\n "), "\n")
			for i := range rows {
				rows[i] = strings.TrimRight(rows[i], " ")
			}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("mp-image %s, on the terminal:\n%s", strings.Join(r.args, " "), strings.Join(rows, "\n"))
				}
			})
			return rows, code
		}
		if time.Now().After(deadline) {
			t.Fatalf("mp-image %s did not end in 25 minutes", strings.Join(r.args, " "))
		}
		time.Sleep(2 * time.Second)
	}
}

// logPath is the transcript's path, printed first ("full log: P") and last
// ("log=P"), the same both times.
func logPath(t *testing.T, rows []string) string {
	t.Helper()
	var first, last string
	for _, r := range rows {
		if p, ok := strings.CutPrefix(r, "full log: "); ok && first == "" {
			first = p
		}
		if p, ok := strings.CutPrefix(r, "log="); ok {
			last = p
		}
	}
	if first == "" || first != last {
		t.Fatalf("log path printed first as %q and last as %q", first, last)
	}
	return first
}

// count is how many rows match re.
func count(rows []string, re *regexp.Regexp) int {
	n := 0
	for _, r := range rows {
		if re.MatchString(r) {
			n++
		}
	}
	return n
}

// TestTerminalFailingScript: a script fails after printing 40 lines and the
// shell's "not found"; the terminal shows the last 30 lines, then the
// script's file:line from the shell's own message, once, with the fix; the
// log file holds all 40 lines.
func TestTerminalFailingScript(t *testing.T) {
	need(t)
	dir := writeRecipe(t, map[string]string{
		// One stream (stdout and stderr are two SSH channels with no order
		// between them), so "the last 30 lines" is one exact set.
		"scripts/10-fail.sh": "#!/bin/sh\nset -e\nexec 1>&2\ni=1\nwhile [ $i -le 40 ]; do echo \"fail-line $i\"; i=$((i+1)); done\nnginxx -t\necho never\n",
	})
	tr := startTerminal(t, append([]string{"build", "--mode", "build_base", "--dir", dir}, apiArgs()...)...)
	rows, code := tr.wait(t)
	if code == 0 {
		t.Fatalf("the build passed with a failing script")
	}
	screen := strings.Join(rows, "\n")
	// The last 30: fail-line 12 to 40 and the shell's message.
	for i := 1; i <= 40; i++ {
		want := 0
		if i >= 12 {
			want = 1
		}
		if n := count(rows, regexp.MustCompile(fmt.Sprintf(`^  │ fail-line %d$`, i))); n != want {
			t.Errorf("fail-line %d is on the screen %d times, want %d", i, n, want)
		}
	}
	where := regexp.QuoteMeta(filepath.Join(dir, "scripts/10-fail.sh")) + ":6"
	if n := count(rows, regexp.MustCompile(`^mp-image: error: `+where+`: scripts/10-fail.sh failed: `)); n != 1 {
		t.Errorf("the failure with its file:line is on the screen %d times, want once", n)
	}
	if n := strings.Count(screen, filepath.Join(dir, "scripts/10-fail.sh")+":6"); n != 1 {
		t.Errorf("file:line appears %d times, want once", n)
	}
	if n := strings.Count(screen, "exited with status 127"); n != 1 {
		t.Errorf("the error appears %d times, want once", n)
	}
	wantRows(t, rows, "✗ provision (", "  last 30 lines of scripts/10-fail.sh:", "mp-image:     Fix: its output above shows why")
	if n := count(rows, regexp.MustCompile(`^  │ /tmp/mp-image-[0-9a-f]+-000\.sh: 6: nginxx: not found$`)); n != 1 {
		t.Errorf("the shell's message is on the screen %d times, want once, as the last of the 30 lines", n)
	}
	log, err := os.ReadFile(logPath(t, rows))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 40; i++ {
		if !bytes.Contains(log, []byte(fmt.Sprintf("Z [scripts/10-fail.sh] fail-line %d\n", i))) {
			t.Errorf("the log file lacks fail-line %d", i)
		}
	}
	t.Logf("terminal: %d rows; log file: %d lines; the screen:\n%s", len(rows), bytes.Count(log, []byte("\n")), screen)
	requireNothingLeft(t)
}

// wantRows fails unless, for each prefix, some row starts with it.
func wantRows(t *testing.T, rows []string, prefixes ...string) {
	t.Helper()
	for _, p := range prefixes {
		found := false
		for _, r := range rows {
			if strings.HasPrefix(r, p) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no row starts with %q", p)
		}
	}
}

// deleteSnapshotOnExit deletes the snapshot a build printed (snapshot-id=N).
func deleteSnapshotOnExit(t *testing.T, rows []string) {
	for _, r := range rows {
		if v, ok := strings.CutPrefix(r, "snapshot-id="); ok {
			if id, err := strconv.Atoi(v); err == nil {
				t.Cleanup(func() { env.godo.Images.Delete(context.Background(), id) })
			}
		}
	}
}

// screenEscapes is the pane's text with its attributes as escape sequences.
func (r *termRun) screenEscapes(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("tmux", "-S", r.sock, "capture-pane", "-p", "-e", "-S", "-", "-E", "-").Output()
	if err != nil {
		t.Fatalf("tmux capture-pane: %v", err)
	}
	return string(out)
}

// TestTerminalColour: colour on a terminal, none with NO_COLOR set; with
// TERM=dumb neither colour nor live lines. The build's token is refused, so
// its first step fails (red on a terminal) before anything is created.
func TestTerminalColour(t *testing.T) {
	need(t)
	for _, tc := range []struct {
		name   string
		env    []string
		colour bool
		result string // the failed step's result line
	}{
		{"terminal", nil, true, "✗ check token, region, size and image ("},
		{"NO_COLOR", []string{"NO_COLOR=1"}, false, "✗ check token, region, size and image ("},
		{"TERM=dumb", []string{"TERM=dumb"}, false, "[ 0:00] FAILED check token, region, size and image ("},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := startTerminalEnv(t, tc.env, "build", "--dir", "examples/hello-first-login", "--vendor", "hello",
				"--api-url", env.srv.URL(), "--token", "refused-token", "--image", "debian-12-x64")
			rows, code := tr.wait(t)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			wantRows(t, rows, "full log: "+filepath.Join(env.tmp, "mp-image-"), tc.result, "mp-image: error: ")
			esc := tr.screenEscapes(t)
			if got := strings.Contains(esc, "\x1b[31m"); got != tc.colour {
				t.Errorf("red on the screen: %v, want %v:\n%q", got, tc.colour, esc)
			}
		})
	}
	requireNothingLeft(t)
}
