package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/retry"
	"github.com/mp-image-action/mp-image-action/internal/shell"
)

// provision runs the plan: files, scripts, per-instance, first-login, in order.
type provision struct{ nothingToUndo }

func (provision) String() string { return "provision" }
func (provision) Declare() Decl  { return Decl{Needs: OptProvision | SSH} }
func (provision) Run(ctx context.Context, b *Build) error {
	for i, a := range b.Plan.Actions {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := runAction(ctx, b, i, a); err != nil {
			line := a.Line
			if line == 0 {
				line = shellLine(err, b.stderr, scriptPath(b, i))
			}
			b.Out.Annotate(report.Annotation{Level: "error", File: a.File, Line: line, Title: a.Name + " failed", Message: err.Error() + fix(err)})
			return fmt.Errorf("%s: %w", a.Name, err)
		}
	}
	if _, _, _, err := b.SSH.Output(ctx, "mkdir -p "+path.Dir(MarkerPath)+" && echo "+shell.Quote("run "+b.RunID+" "+time.Now().UTC().Format(time.RFC3339))+" > "+MarkerPath); err != nil {
		return fmt.Errorf("writing %s: %w", MarkerPath, err)
	}
	return nil
}

// scriptPath is where the i-th action's script runs on the server.
func scriptPath(b *Build, i int) string { return fmt.Sprintf("/tmp/mp-image-%s-%03d.sh", b.RunID, i) }

// shellError is how sh (dash) and bash name the line they stopped at:
// "/tmp/x.sh: 5: nginxx: not found", "/tmp/x.sh: line 5: nginxx: command not found".
var shellError = regexp.MustCompile(`^(\S+): (?:line )?([0-9]+): `)

// shellLine is the line of the script at path that its shell named, last,
// on stderr before the script exited with an error; 0 when it named none (a
// plain `exit 3`, a failing command under set -e). Stdout and stderr arrive
// on two channels in no fixed order, so the last stderr lines are searched.
func shellLine(err error, stderr []string, path string) int {
	var ee *remote.ExitError
	if !errors.As(err, &ee) {
		return 0
	}
	for i := len(stderr) - 1; i >= 0; i-- {
		if m := shellError.FindStringSubmatch(stderr[i]); m != nil && m[1] == path {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	return 0
}

// fix is what to do about a script that exited with an error (the other
// errors say it themselves), as the failure's last line.
func fix(err error) string {
	var ee *remote.ExitError
	if !errors.As(err, &ee) {
		return ""
	}
	return "\nFix: its output above shows why; fix the script and build again (--mode build_base --keep-droplet keeps a droplet to try it on by hand)"
}

func runAction(ctx context.Context, b *Build, i int, a recipe.Action) error {
	if a.PauseBefore > 0 {
		b.logf("%s: pausing %s first", a.Name, a.PauseBefore)
		if err := retry.Sleep(ctx, a.PauseBefore); err != nil {
			return err
		}
	}
	b.Out.Log("-> " + a.Name)
	if a.Kind.IsCopy() {
		// Uploads are idempotent: a dropped connection is retried.
		return retryDisconnect(ctx, b, a.Name, func() error { return copyAction(ctx, b, a) })
	}
	return shellAction(ctx, b, i, a)
}

func copyAction(ctx context.Context, b *Build, a recipe.Action) error {
	if a.Contents {
		if _, _, _, err := b.SSH.Output(ctx, "mkdir -p "+shell.Quote(a.RemotePath)); err != nil {
			return err
		}
		st, err := b.SSH.Upload(ctx, a.LocalPath, a.RemotePath, remote.UploadOptions{})
		if err != nil {
			return err
		}
		b.logf("%s: %d files, %d bytes by %s in %s", a.Name, st.Files, st.Bytes, st.Method, st.Duration.Round(time.Millisecond))
		return nil
	}
	data, err := os.ReadFile(a.LocalPath)
	if err != nil {
		return err
	}
	mode := a.Mode
	if mode == 0 {
		fi, err := os.Stat(a.LocalPath)
		if err != nil {
			return err
		}
		mode = fi.Mode().Perm()
	}
	if _, _, _, err := b.SSH.Output(ctx, "mkdir -p "+shell.Quote(path.Dir(a.RemotePath))); err != nil {
		return err
	}
	return b.SSH.WriteFile(ctx, a.RemotePath, data, mode)
}

func shellAction(ctx context.Context, b *Build, i int, a recipe.Action) error {
	p := scriptPath(b, i)
	if err := retryDisconnect(ctx, b, a.Name, func() error { return b.SSH.WriteFile(ctx, p, a.Script, 0o700) }); err != nil {
		return fmt.Errorf("uploading the script: %w", err)
	}
	timeout := a.Timeout
	if timeout == 0 {
		timeout = b.Cfg.Timeouts.Script
	}
	cmd, err := scriptCommand(ctx, b, b.SSH, a, p)
	if err != nil {
		return err
	}
	err = b.run(ctx, a.Name, cmd, timeout)
	var ee *remote.ExitError
	var de *remote.DisconnectError
	switch {
	case err == nil:
	case errors.As(err, &ee) && a.ExitOK(ee.Code):
		err = nil
	case errors.As(err, &de) && a.ExpectDisconnect:
		b.logf("%s: connection closed as expected; reconnecting", a.Name)
		err = b.SSH.Reconnect(ctx)
		if err != nil {
			return fmt.Errorf("reconnecting after %s: %w", a.Name, err)
		}
	case errors.As(err, &de):
		// Scripts are not retried: they may not be idempotent.
		return fmt.Errorf("the SSH connection dropped while the script ran (not retried: scripts may not be idempotent): %w", err)
	}
	if err != nil {
		return err
	}
	_, _, _, rmErr := b.SSH.Output(ctx, "rm -f "+p)
	return rmErr
}

// scriptCommand is the command that runs the script uploaded to p. Secret env
// values go into a file only its owner can read, which the shell sources and
// deletes before the script starts: they are never on a command line (ps on
// the droplet shows those) and the file never outlives the command.
func scriptCommand(ctx context.Context, b *Build, c *remote.Client, a recipe.Action, p string) (string, error) {
	if len(b.Cfg.SecretEnvValues) == 0 {
		return aptEnv + a.Command(p), nil
	}
	var env strings.Builder
	for _, k := range slices.Sorted(maps.Keys(b.Cfg.SecretEnvValues)) {
		env.WriteString("export " + k + "=" + shell.Quote(b.Cfg.SecretEnvValues[k]) + "\n")
	}
	f := strings.TrimSuffix(p, ".sh") + ".env"
	if err := c.WriteFile(ctx, f, []byte(env.String()), 0o600); err != nil {
		return "", fmt.Errorf("uploading the secret env values: %w", err)
	}
	return aptEnv + ". " + f + "; rm -f " + f + "; " + a.Command(p), nil
}
