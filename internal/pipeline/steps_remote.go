package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/cleanup"
	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

const (
	defaultShutdownGrace = 2 * time.Minute
	defaultIdle          = 10 * time.Minute
	// MarkerPath records that this tool provisioned a server: a final image
	// must come from a server provisioned only once.
	MarkerPath = "/var/lib/mp-image/provisioned"
)

func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func warning(title, msg string) report.Annotation {
	return report.Annotation{Level: "warning", Title: title, Message: msg}
}

func sshUser(b *Build) string {
	if b.Plan != nil && b.Plan.Builder.SSHUsername != "" {
		return b.Plan.Builder.SSHUsername
	}
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

// run runs a command over the build's connection with prefixed, streamed
// output, stdin closed, and the idle watchdog.
func (b *Build) run(ctx context.Context, name, cmd string, timeout time.Duration) error {
	prefix := "[" + name + "] "
	return b.SSH.Run(ctx, cmd, remote.RunOptions{
		Name:        name,
		Stdout:      func(l string) { b.Out.Log(prefix + l) },
		Stderr:      func(l string) { b.Out.Log(prefix + l) },
		IdleTimeout: idle(b),
		Timeout:     timeout,
	})
}

type connect struct{}

func (connect) String() string     { return "connect over SSH" }
func (connect) Skip(b *Build) bool { return false }
func (connect) Run(ctx context.Context, b *Build) error {
	ctx, cancel := withTimeout(ctx, b.Cfg.Timeouts.SSH)
	defer cancel()
	cfg := remote.Config{User: sshUser(b), Logf: b.Logf, Timing: b.Timing}
	if usesDroplet(b) {
		cfg.Addr = net.JoinHostPort(b.IP, "22")
		cfg.Signer = b.Key.Signer
		cfg.HostKey = b.HostKey.Public
	} else {
		signer, err := remote.LoadPrivateKey(b.Cfg.SSHKey)
		if err != nil {
			return err
		}
		cfg.Addr = hostPort(b.Cfg.Host)
		cfg.Signer = signer
		cfg.InsecureIgnoreHostKey = true
		b.IP = strings.Split(b.Cfg.Host, ":")[0]
		b.Out.Annotate(warning("host key", "the host key of "+b.Cfg.Host+" is not pinned for --host builds; run them only over a network you trust"))
	}
	c, err := remote.DialRetry(ctx, cfg)
	if err != nil {
		return err
	}
	b.SSH = c
	if !usesDroplet(b) {
		if err := checkMarker(ctx, b); err != nil {
			return err
		}
	}
	return waitBoot(ctx, b)
}
func (connect) Cleanup(ctx context.Context, b *Build) error {
	if b.SSH != nil {
		b.SSH.Close()
		b.SSH = nil
	}
	return nil
}

func hostPort(h string) string {
	if _, _, err := net.SplitHostPort(h); err == nil {
		return h
	}
	return net.JoinHostPort(h, "22")
}

// waitBoot waits for cloud-init to finish (exit 2 is "done with recoverable
// errors" on Ubuntu 24.04, mp#186) and for background apt to let go of its locks.
func waitBoot(ctx context.Context, b *Build) error {
	out, _, code, err := b.SSH.Output(ctx, "command -v cloud-init >/dev/null 2>&1 || exit 127; cloud-init status --wait >/dev/null 2>&1; echo $?")
	if err != nil && code != 127 {
		return fmt.Errorf("waiting for cloud-init: %w", err)
	}
	switch st := strings.TrimSpace(string(out)); {
	case code == 127:
		b.Out.Annotate(warning("cloud-init", "cloud-init is not installed: the Marketplace requires it"))
	case st == "2":
		b.Out.Annotate(warning("cloud-init", "cloud-init finished with recoverable errors (exit 2); see /var/log/cloud-init.log on the droplet"))
	case st != "0":
		return fmt.Errorf("cloud-init failed (status exit %s): see /var/log/cloud-init-output.log on the droplet", st)
	}
	return nil
}

func checkMarker(ctx context.Context, b *Build) error {
	out, _, _, err := b.SSH.Output(ctx, "cat "+MarkerPath+" 2>/dev/null || true")
	if err != nil {
		return err
	}
	if prev := strings.TrimSpace(string(out)); prev != "" && b.Cfg.Mode == config.ModeBuildImage && !b.Cfg.Force {
		return fmt.Errorf("%s was already provisioned by mp-image (%s): a final image must come from a server provisioned once; use a fresh droplet, or --force", b.Cfg.Host, prev)
	}
	return nil
}

// aptEnv makes apt and dpkg never ask: no prompts, keep changed conffiles
// (the sshd_config prompt hung Fabric builds, mp#133), no needrestart dialog.
const aptEnv = "export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a NEEDRESTART_SUSPEND=1 APT_LISTCHANGES_FRONTEND=none UCF_FORCE_CONFFOLD=1; "

const aptGet = "apt-get -y -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"

type aptUpgrade struct{ nothingToUndo }

func (aptUpgrade) String() string     { return "apt update, full-upgrade, install" }
func (aptUpgrade) Skip(b *Build) bool { return false }
func (aptUpgrade) Run(ctx context.Context, b *Build) error {
	pkgs := make([]string, 0, len(b.Cfg.APTPackages))
	for _, p := range b.Cfg.APTPackages {
		pkgs = append(pkgs, remote.ShellQuote(p))
	}
	script := aptEnv + "set -e\n" +
		"if command -v apt-get >/dev/null 2>&1; then\n" +
		"  " + aptGet + " update\n" +
		"  " + aptGet + " full-upgrade\n"
	if len(pkgs) > 0 {
		script += "  " + aptGet + " install " + strings.Join(pkgs, " ") + "\n"
	}
	script += "elif command -v dnf >/dev/null 2>&1; then\n  dnf -y -q upgrade\n"
	if len(pkgs) > 0 {
		script += "  dnf -y -q install " + strings.Join(pkgs, " ") + "\n"
	}
	script += "elif command -v yum >/dev/null 2>&1; then\n  yum -y -q update\n"
	if len(pkgs) > 0 {
		script += "  yum -y -q install " + strings.Join(pkgs, " ") + "\n"
	}
	script += "else echo 'no apt-get, dnf or yum on this server' >&2; exit 1\nfi\n"
	return b.run(ctx, "apt", "sh -c "+remote.ShellQuote(script), 0)
}

type provision struct{ nothingToUndo }

func (provision) String() string     { return "provision" }
func (provision) Skip(b *Build) bool { return b.Plan == nil || len(b.Plan.Actions) == 0 }
func (provision) Run(ctx context.Context, b *Build) error {
	for i, a := range b.Plan.Actions {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := runAction(ctx, b, i, a); err != nil {
			b.Out.Annotate(report.Annotation{Level: "error", File: a.File, Line: a.Line, Title: a.Name + " failed", Message: err.Error()})
			return fmt.Errorf("%s: %w", a.Name, err)
		}
	}
	if _, _, _, err := b.SSH.Output(ctx, "mkdir -p "+path.Dir(MarkerPath)+" && echo "+remote.ShellQuote("run "+b.RunID+" "+time.Now().UTC().Format(time.RFC3339))+" > "+MarkerPath); err != nil {
		return fmt.Errorf("writing %s: %w", MarkerPath, err)
	}
	return nil
}

func runAction(ctx context.Context, b *Build, i int, a recipe.Action) error {
	if a.PauseBefore > 0 {
		b.logf("%s: pausing %s first", a.Name, a.PauseBefore)
		if err := sleep(ctx, a.PauseBefore); err != nil {
			return err
		}
	}
	b.Out.Log("==> " + a.Name)
	if a.Kind.IsCopy() {
		// Uploads are idempotent: a dropped connection is retried.
		return retryDisconnect(ctx, b, a.Name, func() error { return copyAction(ctx, b, a) })
	}
	return shellAction(ctx, b, i, a)
}

func copyAction(ctx context.Context, b *Build, a recipe.Action) error {
	if a.Contents {
		if _, _, _, err := b.SSH.Output(ctx, "mkdir -p "+remote.ShellQuote(a.RemotePath)); err != nil {
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
	if _, _, _, err := b.SSH.Output(ctx, "mkdir -p "+remote.ShellQuote(path.Dir(a.RemotePath))); err != nil {
		return err
	}
	return b.SSH.WriteFile(ctx, a.RemotePath, data, mode)
}

func shellAction(ctx context.Context, b *Build, i int, a recipe.Action) error {
	p := fmt.Sprintf("/tmp/mp-image-%s-%03d.sh", b.RunID, i)
	if err := retryDisconnect(ctx, b, a.Name, func() error { return b.SSH.WriteFile(ctx, p, a.Script, 0o700) }); err != nil {
		return fmt.Errorf("uploading the script: %w", err)
	}
	timeout := a.Timeout
	if timeout == 0 {
		timeout = b.Cfg.Timeouts.Script
	}
	err := b.run(ctx, a.Name, aptEnv+a.Command(p), timeout)
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

func retryDisconnect(ctx context.Context, b *Build, what string, f func() error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = f()
		var de *remote.DisconnectError
		if err == nil || !errors.As(err, &de) || ctx.Err() != nil {
			return err
		}
		b.logf("%s: connection dropped (%v); reconnecting and retrying", what, err)
		if rerr := b.SSH.Reconnect(ctx); rerr != nil {
			return fmt.Errorf("%w; reconnecting failed: %v", err, rerr)
		}
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type appInfo struct{ nothingToUndo }

func (appInfo) String() string     { return "write application.info" }
func (appInfo) Skip(b *Build) bool { return false }
func (appInfo) Run(ctx context.Context, b *Build) error {
	name := b.Cfg.ApplicationName
	if name == "" && b.Cfg.Dir != "" {
		name = filepath.Base(filepath.Clean(b.Cfg.Dir))
	}
	if name == "" && b.Cfg.PackerTemplate != "" {
		name = strings.TrimSuffix(filepath.Base(b.Cfg.PackerTemplate), filepath.Ext(b.Cfg.PackerTemplate))
	}
	script := `set -e
. /etc/os-release
arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
mkdir -p /var/lib/digitalocean
cat > /var/lib/digitalocean/application.info <<EOF
application_name="$APP_NAME"
build_date="$(date -u +%Y-%m-%d)"
distro="$ID"
distro_release="$VERSION_ID"
distro_codename="${VERSION_CODENAME:-}"
distro_arch="$arch"
application_version="$APP_VERSION"
EOF
`
	version := b.Cfg.ApplicationVersion
	if version == "" {
		// Reviewers expect a version; without one, the build date stands in.
		version = b.Started.UTC().Format("2006.01.02")
	}
	cmd := "APP_NAME=" + remote.ShellQuote(sanitizeInfo(name)) + " APP_VERSION=" + remote.ShellQuote(sanitizeInfo(version)) + " sh -c " + remote.ShellQuote(script)
	return b.run(ctx, "application.info", cmd, time.Minute)
}

// sanitizeInfo keeps a value inside its double quotes in application.info.
func sanitizeInfo(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r == '$' || r == '`' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

type cleanUp struct{ nothingToUndo }

func (cleanUp) String() string     { return "Marketplace cleanup" }
func (cleanUp) Skip(b *Build) bool { return b.Cfg.SkipCleanup }
func (cleanUp) Run(ctx context.Context, b *Build) error {
	erase := b.Cfg.SecureErase
	if erase && isLocalAPI(b.Cfg.APIURL) {
		// A local machine's free space is the host's disk: zero-filling it
		// would fill the host. DigitalOcean droplets have their own disk.
		b.logf("secure-erase skipped: the API is local, and local machines share the host's disk")
		erase = false
	}
	err := cleanup.Run(ctx, cleanupRunner{b}, cleanup.Options{
		SecureErase: erase,
		BuildKey:    buildKey(b),
		Vendor:      b.Cfg.Vendor,
		Progress:    func(l string) { b.Out.Log("[cleanup] " + l) },
	})
	var de *remote.DisconnectError
	if errors.As(err, &de) && ctx.Err() == nil {
		return fmt.Errorf("the SSH connection dropped during the cleanup; not retried: the cleanup removes the build key "+
			"from authorized_keys, so the droplet may refuse a new connection, and a half-cleaned droplet must never be "+
			"snapshotted (the build droplet is deleted; run the build again): %w", err)
	}
	return err
}

// cleanupRunner runs the cleanup script over the build's connection with the
// idle watchdog (secure-erase prints progress, so it never looks idle).
type cleanupRunner struct{ b *Build }

func (r cleanupRunner) Run(ctx context.Context, cmd string, stdout, stderr func(string)) error {
	return r.b.SSH.Run(ctx, cmd, remote.RunOptions{Name: "cleanup", Stdout: stdout, Stderr: stderr, IdleTimeout: idle(r.b)})
}

// isLocalAPI reports an API on a loopback address: the local cloud.
func isLocalAPI(apiURL string) bool {
	u, err := url.Parse(apiURL)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func buildKey(b *Build) string {
	if b.Key != nil {
		return b.Key.AuthorizedKey
	}
	return ""
}

type validate struct{ nothingToUndo }

func (validate) String() string     { return "validate (Marketplace img_check rules)" }
func (validate) Skip(b *Build) bool { return b.Cfg.SkipCleanup && b.Cfg.Mode == config.ModeBuildImage }
func (validate) Run(ctx context.Context, b *Build) error {
	rep, err := imagecheck.Run(ctx, b.SSH, imagecheck.Options{BuildKey: buildKey(b), Mode: b.Cfg.Mode})
	if err != nil {
		return fmt.Errorf("running the checks: %w", err)
	}
	rep.Host = b.IP
	b.Validation = rep
	var sb strings.Builder
	rep.Table(&sb)
	for _, l := range strings.Split(strings.TrimRight(sb.String(), "\n"), "\n") {
		b.Out.Log(l)
	}
	for _, a := range rep.Annotations() {
		b.Out.Annotate(report.Annotation{Level: a.Level, Title: a.Title, Message: a.Message})
	}
	if err := writeReport(b, rep); err != nil {
		return err
	}
	failOn := b.Cfg.FailOn
	if failOn == "" {
		failOn = "fail"
	}
	if rep.Failed(failOn) {
		if b.Cfg.Mode == config.ModeBuildBase {
			b.Out.Annotate(warning("validation", "validation found problems (reported only in build_base): "+rep.Verdict()))
			return nil
		}
		return fmt.Errorf("validation verdict %q under fail-on=%s: fix the FAIL lines above (each says what to do) before a snapshot is taken", rep.Verdict(), failOn)
	}
	return nil
}

func writeReport(b *Build, rep *imagecheck.Report) error {
	p := b.Cfg.Report
	if p == "" {
		return nil
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("writing the validation report: %w", err)
	}
	defer f.Close()
	if err := rep.WriteJSON(f); err != nil {
		return err
	}
	b.ReportPath = p
	return nil
}
