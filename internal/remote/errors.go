package remote

import (
	"fmt"
	"time"
)

// HostKeyError means the server presented a key other than the pinned one.
// It is never retried: it is what a man in the middle looks like.
type HostKeyError struct {
	Addr      string
	Want, Got string // SHA256 fingerprints
}

func (e *HostKeyError) Error() string {
	return fmt.Sprintf("SSH host key of %s is %s, expected %s: possible man in the middle, refusing to connect (if the droplet was rebuilt, start a new build)", e.Addr, e.Got, e.Want)
}

// AuthError means the server refused our key more times than a booting
// droplet would (cloud-init installs keys early).
type AuthError struct {
	Addr, User string
	Err        error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("SSH to %s@%s: key refused (%v): check the user and that the key is in its authorized_keys", e.User, e.Addr, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// ExitError is a remote command that ended with a non-zero status or a signal.
type ExitError struct {
	Name     string
	Code     int    // -1 when killed by a signal
	Signal   string // e.g. "KILL", empty for a normal exit
	LastLine string
}

func (e *ExitError) Error() string {
	how := fmt.Sprintf("exited with status %d", e.Code)
	if e.Signal != "" {
		how = "was killed by signal " + e.Signal
	}
	return fmt.Sprintf("%s %s%s", e.Name, how, lastLine(e.LastLine))
}

// IdleError is a remote command stopped after printing nothing for Idle,
// typically because it waits on input.
type IdleError struct {
	Name     string
	Idle     time.Duration
	LastLine string
}

func (e *IdleError) Error() string {
	return fmt.Sprintf("%s printed nothing for %s and was stopped (is it waiting for input? stdin is closed; use non-interactive flags, or raise the idle timeout)%s", e.Name, e.Idle, lastLine(e.LastLine))
}

// TimeoutError is a remote command stopped after running longer than its
// overall timeout.
type TimeoutError struct {
	Name     string
	Timeout  time.Duration
	LastLine string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s ran longer than its %s timeout and was stopped (raise the timeout if it is just slow)%s", e.Name, e.Timeout, lastLine(e.LastLine))
}

// DisconnectError is an SSH connection that dropped during an operation.
type DisconnectError struct {
	Name string
	Err  error
}

func (e *DisconnectError) Error() string {
	return fmt.Sprintf("%s: SSH connection lost: %v", e.Name, e.Err)
}

func (e *DisconnectError) Unwrap() error { return e.Err }

func lastLine(l string) string {
	if l == "" {
		return " (it printed nothing)"
	}
	return fmt.Sprintf("; last line: %q", truncate(l, 300))
}
