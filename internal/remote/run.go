package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/shell"
	"github.com/mp-image-action/mp-image-action/internal/timing"
)

// RunOptions controls one remote command.
type RunOptions struct {
	Env map[string]string
	// Stdout and Stderr are called once per line, never concurrently. A line
	// keeps the carriage returns of progress output inside it (apt's
	// "(Reading database ... 5%\r(Reading database ... 10%..."): every byte
	// reaches the caller, who decides what a screen shows.
	Stdout, Stderr func(line string)
	// Partial, when set, receives each carriage-return fragment of a line
	// still being written, as it arrives (curl's meter, dpkg's percentages),
	// so progress can show before the line ends. Never concurrently with
	// Stdout and Stderr.
	Partial func(fragment string)
	// IdleTimeout stops a command that prints nothing (stdout or stderr)
	// for this long; 0 disables.
	IdleTimeout time.Duration
	Timeout     time.Duration // overall limit; 0 disables
	Name        string        // script name for errors; default: the command
	Stdin       io.Reader     // nil: stdin is closed at once
}

// killGrace bounds how long stopping a command may take once decided.
// (A variable for tests.)
var killGrace = 5 * time.Second

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Run runs cmd through the login shell of the remote user and streams its
// output lines. The command runs in its own process group (setsid) whose id
// is left in a file under /tmp, so that stopping it (idle watchdog, timeout,
// ctx) kills the whole group through a second session, and also sends KILL
// through the session itself; see stop.
func (c *Client) Run(ctx context.Context, cmd string, o RunOptions) error {
	defer c.cfg.Timing.Since(timing.Remote, time.Now())
	if o.Name == "" {
		o.Name = truncate(cmd, 60)
	}
	k := c.current()
	tag := make([]byte, 8)
	rand.Read(tag)
	pgidFile := "/tmp/.mp-image-" + hex.EncodeToString(tag) + ".pgid"
	wrapped, err := wrapCommand(cmd, o.Env, pgidFile)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	sess, err := k.ssh.NewSession()
	if err != nil {
		return sessionErr(k, o.Name, err)
	}
	defer sess.Close()
	sess.Stdin = o.Stdin
	outPipe, err := sess.StdoutPipe()
	if err != nil {
		return fmt.Errorf("%s: stdout: %w", o.Name, err)
	}
	errPipe, err := sess.StderrPipe()
	if err != nil {
		return fmt.Errorf("%s: stderr: %w", o.Name, err)
	}
	s := &lineSink{}
	s.touch()
	if err := sess.Start(wrapped); err != nil {
		return sessionErr(k, o.Name, err)
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); s.pump(outPipe, o.Stdout, o.Partial) }()
	go func() { defer readers.Done(); s.pump(errPipe, o.Stderr, o.Partial) }()
	done := make(chan error, 1)
	go func() { readers.Wait(); done <- sess.Wait() }()

	var tick <-chan time.Time
	if o.IdleTimeout > 0 {
		t := time.NewTicker(min(max(o.IdleTimeout/5, 10*time.Millisecond), time.Second))
		defer t.Stop()
		tick = t.C
	}
	var deadline <-chan time.Time
	if o.Timeout > 0 {
		t := time.NewTimer(o.Timeout)
		defer t.Stop()
		deadline = t.C
	}
	var stopped error
	for stopped == nil {
		select {
		case err := <-done:
			return exitErr(k, o.Name, err, s.lastLine())
		case <-tick:
			if s.idle() >= o.IdleTimeout {
				stopped = &IdleError{Name: o.Name, Idle: o.IdleTimeout, LastLine: s.lastLine()}
			}
		case <-deadline:
			stopped = &TimeoutError{Name: o.Name, Timeout: o.Timeout, LastLine: s.lastLine()}
		case <-ctx.Done():
			stopped = fmt.Errorf("%s stopped: %w", o.Name, ctx.Err())
		}
	}
	c.stop(k, sess, pgidFile)
	if ctx.Err() != nil {
		// Cancelled: the caller is about to clean up (delete the droplet),
		// so do not wait for a process that escaped the kill and still
		// holds the output open; closing the session releases our side.
		sess.Close()
	}
	select {
	case <-done:
	case <-time.After(killGrace):
		// The remote ignored us or the link is gone; closing the
		// session below releases our side either way.
	}
	return stopped
}

// stop kills a running command: first its whole process group, read from
// the pgid file, through a second session (this also gets children that
// ignore the session's end); then KILL through the session itself, which
// OpenSSH >= 8.1 delivers to the setsid wrapper.
func (c *Client) stop(k *conn, sess *ssh.Session, pgidFile string) {
	if !k.dead() {
		ctx, cancel := context.WithTimeout(context.Background(), killGrace)
		defer cancel()
		kill := fmt.Sprintf(`p=$(cat %[1]s 2>/dev/null); [ -n "$p" ] && [ "$p" -gt 1 ] && kill -9 -"$p" 2>/dev/null; rm -f %[1]s`, pgidFile)
		c.output(ctx, k, kill)
	}
	sess.Signal(ssh.SIGKILL)
}

// wrapCommand exports env, then runs cmd with `setsid -w` so it leads its
// own process group, whose id goes to pgidFile while it runs.
func wrapCommand(cmd string, env map[string]string, pgidFile string) (string, error) {
	var b strings.Builder
	keys := make([]string, 0, len(env))
	for k := range env {
		if !envName.MatchString(k) {
			return "", fmt.Errorf("environment variable name %q is not valid in a shell: use letters, digits and _", k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s; ", k, shell.Quote(env[k]))
	}
	inner := `echo $$ 2>/dev/null >"$1"; /bin/sh -c "$2"; r=$?; rm -f "$1"; exit $r`
	fmt.Fprintf(&b, "if command -v setsid >/dev/null 2>&1; then exec setsid -w /bin/sh -c %s mp-image %s %s; else exec /bin/sh -c %s; fi",
		shell.Quote(inner), shell.Quote(pgidFile), shell.Quote(cmd), shell.Quote(cmd))
	return b.String(), nil
}

// sessionErr tells a dropped connection from another failure to open a session.
func sessionErr(k *conn, name string, err error) error {
	if k.lost() {
		return &DisconnectError{Name: name, Err: err}
	}
	return fmt.Errorf("%s: open SSH session: %w", name, err)
}

func exitErr(k *conn, name string, err error, last string) error {
	var ee *ssh.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		if ee.Signal() != "" {
			return &ExitError{Name: name, Code: -1, Signal: ee.Signal(), LastLine: last}
		}
		return &ExitError{Name: name, Code: ee.ExitStatus(), LastLine: last}
	}
	// No exit status: the connection dropped, or the server did not say.
	if k.lost() {
		return &DisconnectError{Name: name, Err: err}
	}
	return &ExitError{Name: name, Code: -1, Signal: "unknown (no exit status)", LastLine: last}
}

// lineSink splits output into lines, serializes callbacks and remembers
// when output last arrived and the last non-empty line.
type lineSink struct {
	mu       sync.Mutex
	last     string
	activity atomic.Int64 // unix nanos of the last byte read
}

func (s *lineSink) touch() { s.activity.Store(time.Now().UnixNano()) }

func (s *lineSink) idle() time.Duration {
	return time.Since(time.Unix(0, s.activity.Load()))
}

func (s *lineSink) lastLine() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *lineSink) emit(line string, cb func(string)) {
	line = strings.TrimSuffix(line, "\r")
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := strings.TrimSpace(lastFragment(line)); t != "" {
		s.last = t
	}
	if cb != nil {
		cb(line)
	}
}

func (s *lineSink) partial(fragment string, cb func(string)) {
	if cb == nil || strings.TrimSpace(fragment) == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cb(fragment)
}

// lastFragment is what a terminal shows of a line with carriage returns:
// the text after the last one that is followed by any.
func lastFragment(line string) string {
	line = strings.TrimRight(line, "\r")
	if i := strings.LastIndexByte(line, '\r'); i >= 0 {
		return line[i+1:]
	}
	return line
}

// maxLine bounds a line held in memory; a longer one comes in pieces.
const maxLine = 64 * 1024

// pump reads r to its end and calls cb per line. A carriage return ends a
// fragment, passed to partial once the next byte shows it is not CRLF.
func (s *lineSink) pump(r io.Reader, cb, partial func(string)) {
	var line []byte
	frag := 0          // where the current fragment starts in line
	crPending := false // line ends in \r whose fragment is not yet passed on
	buf := make([]byte, 32*1024)
	ar := activityReader{r, s}
	for {
		n, err := ar.Read(buf)
		for _, c := range buf[:n] {
			if crPending {
				crPending = false
				if c != '\n' {
					s.partial(string(line[frag:len(line)-1]), partial)
					frag = len(line)
				}
			}
			if c == '\n' {
				s.emit(string(line), cb)
				line, frag = line[:0], 0
				continue
			}
			line = append(line, c)
			if c == '\r' {
				crPending = true
			}
			if len(line) >= maxLine {
				s.emit(string(line), cb)
				line, frag, crPending = line[:0], 0, false
			}
		}
		if err != nil {
			if len(line) > 0 {
				s.emit(string(line), cb)
			}
			return
		}
	}
}

type activityReader struct {
	r io.Reader
	s *lineSink
}

func (a activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.s.touch()
	}
	return n, err
}

// Output runs cmd and returns its whole output and exit code; a non-zero
// exit is not an error. For short checks: no watchdog, no streaming.
func (c *Client) Output(ctx context.Context, cmd string) (stdout, stderr []byte, exitCode int, err error) {
	defer c.cfg.Timing.Since(timing.Remote, time.Now())
	return c.output(ctx, c.current(), cmd)
}

func (c *Client) output(ctx context.Context, k *conn, cmd string) ([]byte, []byte, int, error) {
	name := truncate(cmd, 60)
	sess, err := k.ssh.NewSession()
	if err != nil {
		return nil, nil, -1, sessionErr(k, name, err)
	}
	defer sess.Close()
	var out, errb bytes.Buffer
	sess.Stdout, sess.Stderr = &out, &errb
	if err := sess.Start(cmd); err != nil {
		return nil, nil, -1, sessionErr(k, name, err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		sess.Signal(ssh.SIGKILL)
		sess.Close()
		select {
		case <-done:
		case <-time.After(killGrace):
		}
		return out.Bytes(), errb.Bytes(), -1, fmt.Errorf("%s stopped: %w", name, ctx.Err())
	}
	err = exitErr(k, name, err, "")
	var ee *ExitError
	if errors.As(err, &ee) && ee.Signal == "" {
		return out.Bytes(), errb.Bytes(), ee.Code, nil
	}
	if err != nil {
		return out.Bytes(), errb.Bytes(), -1, err
	}
	return out.Bytes(), errb.Bytes(), 0, nil
}
