package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/retry"
)

const defaultIdle = 10 * time.Minute

func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func warning(title, msg string) report.Annotation {
	return report.Annotation{Level: "warning", Title: title, Message: msg}
}

// sshUser is ssh-user: ApplyBuilder already let an explicit --ssh-user win
// over the template's ssh_username.
func sshUser(b *Build) string {
	if b.Cfg.SSHUser != "" {
		return b.Cfg.SSHUser
	}
	return "root"
}

func idle(b *Build) time.Duration {
	if b.Cfg.Timeouts.Idle > 0 {
		return b.Cfg.Timeouts.Idle
	}
	return defaultIdle
}

// run runs a command over the build's connection with its output streamed
// to the sinks under its name, stdin closed, and the idle watchdog.
func (b *Build) run(ctx context.Context, name, cmd string, timeout time.Duration) error {
	return b.SSH.Run(ctx, cmd, b.outputTo(name, remote.RunOptions{Name: name, IdleTimeout: idle(b), Timeout: timeout}))
}

// outputTo sends a remote command's lines and carriage-return progress to
// the sinks as the output of source.
func (b *Build) outputTo(source string, o remote.RunOptions) remote.RunOptions {
	b.stderr = b.stderr[:0]
	o.Stdout = func(l string) { b.Out.Output(source, l) }
	o.Stderr = func(l string) {
		b.Out.Output(source, l)
		// The last lines of stderr: where a shell says at which line it stopped.
		if len(b.stderr) == stderrKept {
			b.stderr = append(b.stderr[:0], b.stderr[1:]...)
		}
		b.stderr = append(b.stderr, l)
	}
	o.Partial = func(f string) { b.Out.Partial(source, f) }
	return o
}

// stderrKept is how many of a command's last stderr lines the build keeps.
const stderrKept = 5

// retryDisconnect runs f again, up to three times in all, when the
// connection dropped under it (Reconnect paces its own dial).
func retryDisconnect(ctx context.Context, b *Build, what string, f func() error) error {
	_, err := retry.Do(ctx, 3, retry.Backoff{}, func(int) error {
		err := f()
		var de *remote.DisconnectError
		if err == nil || !errors.As(err, &de) || ctx.Err() != nil {
			return err
		}
		b.logf("%s: connection dropped (%v); reconnecting and retrying", what, err)
		if rerr := b.SSH.Reconnect(ctx); rerr != nil {
			return fmt.Errorf("%w; reconnecting failed: %v", err, rerr)
		}
		return retry.Again(err, 0)
	}, nil)
	return err
}

func buildKey(b *Build) string {
	if b.Key != nil {
		return b.Key.AuthorizedKey
	}
	return ""
}
