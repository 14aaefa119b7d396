package testutil

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// Command is bin run in dir with exactly extraEnv plus PATH and HOME, as a
// CI runner starts it: nothing else leaks in from the test's environment.
func Command(ctx context.Context, bin, dir string, extraEnv map[string]string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range extraEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// ExitCode is the exit status err reports (0 for nil); ok is false when the
// process did not run at all.
func ExitCode(err error) (code int, ok bool) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), true
	}
	return 0, err == nil
}

// Watched is a started process whose stdout lines a callback sees as they
// come, so a test can act at a point of the run (signal it, drop its SSH).
type Watched struct {
	Cmd            *exec.Cmd
	Stdout, Stderr SyncBuffer
	done           chan struct{}
	err            error
}

// StartWatched starts cmd with its output captured; onLine sees every stdout
// line in order, from one goroutine.
func StartWatched(cmd *exec.Cmd, onLine func(line string)) (*Watched, error) {
	w := &Watched{Cmd: cmd, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = io.MultiWriter(pw, &w.Stdout), &w.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			onLine(sc.Text())
		}
		// A line too long for the scanner must not block the process.
		io.Copy(io.Discard, pr)
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		<-scanned
		w.err = err
		close(w.done)
	}()
	return w, nil
}

// Done is closed once the process has exited and onLine has seen its last line.
func (w *Watched) Done() <-chan struct{} { return w.done }

// Err is what cmd.Wait returned; read it after Done.
func (w *Watched) Err() error { return w.err }

// SyncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
