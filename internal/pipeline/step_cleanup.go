package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"

	"github.com/mp-image-action/mp-image-action/internal/cleanup"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// cleanUp runs the Marketplace cleanup over the same connection (it removes
// authorized_keys, so nothing reconnects after it).
type cleanUp struct{ nothingToUndo }

func (cleanUp) String() string { return "Marketplace cleanup" }
func (cleanUp) Declare() Decl  { return Decl{Needs: OptCleanup | SSH} }
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
		Progress:    eraseProgress(b),
	})
	var de *remote.DisconnectError
	if errors.As(err, &de) && ctx.Err() == nil {
		return fmt.Errorf("the SSH connection dropped during the cleanup; not retried: the cleanup removes the build key "+
			"from authorized_keys, so the droplet may refuse a new connection, and a half-cleaned droplet must never be "+
			"snapshotted (the build droplet is deleted; run the build again): %w", err)
	}
	return err
}

// eraseLine is the cleanup's line per zero-filled chunk (256 MiB): a 25 GB
// disk prints about 100, shown as one progress line instead.
var eraseLine = regexp.MustCompile(`^secure erase: ([0-9]+) MiB written \(([0-9]+)%\)$`)

// eraseProgress passes the cleanup's output to the sinks, its secure-erase
// chunks as progress.
func eraseProgress(b *Build) func(string) {
	return func(l string) {
		m := eraseLine.FindStringSubmatch(l)
		if m == nil {
			b.Out.Output("cleanup", l)
			return
		}
		mib, _ := strconv.Atoi(m[1])
		pct, _ := strconv.Atoi(m[2])
		b.Out.Progress(report.Progress{Task: "secure erase", Fraction: float64(min(pct, 100)) / 100, Text: fmt.Sprintf("%d%%, %d MiB written", pct, mib)})
	}
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
