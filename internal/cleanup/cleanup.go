// Package cleanup removes from a build droplet what must not ship in a Marketplace image.
package cleanup

import (
	"context"
	_ "embed"
	"fmt"
	"path"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/shell"
)

//go:embed cleanup.sh
var body string

// The tool's marker on a server it provisioned. The cleanup moves it from disk (MarkerPath)
// to memory (RunMarkerPath): a snapshot never holds it, yet the running server still says it
// was provisioned, so a second build_image on it is refused until it reboots.
const (
	MarkerPath    = "/var/lib/mp-image/provisioned"
	RunMarkerPath = "/run/mp-image/provisioned"
)

// Options choose what the cleanup does.
type Options struct {
	// SecureErase zero-fills free space (DigitalOcean's script does it by default).
	SecureErase bool
	// BuildKey is the build's public key as an authorized_keys line; it is removed from
	// every authorized_keys file (root's and users' are deleted whole anyway).
	BuildKey string
	// Progress receives each line the script prints, as it prints it.
	Progress func(line string)
	// Vendor is the recipe's /opt/<vendor> directory (or just its name) whose *cleanup*
	// executables run first; empty runs every /opt/*/cleanup.sh.
	Vendor string
}

// Runner runs a command and streams its output lines; the pipeline adapts *remote.Client
// (Run(ctx, cmd, RunOptions{Stdout, Stderr})) to it.
type Runner interface {
	Run(ctx context.Context, cmd string, stdout, stderr func(line string)) error
}

// Script returns the POSIX sh cleanup script for o.
func Script(o Options) string {
	erase := "0"
	if o.SecureErase {
		erase = "1"
	}
	vendor := ""
	if v := strings.TrimSpace(o.Vendor); v != "" {
		if !strings.HasPrefix(v, "/") {
			v = "/opt/" + v
		}
		vendor = path.Clean(v)
	}
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	fmt.Fprintf(&b, "SECURE_ERASE=%s\n", erase)
	fmt.Fprintf(&b, "BUILD_KEY=%s\n", shell.Quote(strings.TrimSpace(firstLine(o.BuildKey))))
	fmt.Fprintf(&b, "VENDOR=%s\n", shell.Quote(vendor))
	fmt.Fprintf(&b, "MARKER=%s\nRUN_MARKER=%s\n", shell.Quote(MarkerPath), shell.Quote(RunMarkerPath))
	b.WriteString(body)
	return b.String()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// Run runs the cleanup over r, streaming its lines to o.Progress.
func Run(ctx context.Context, r Runner, o Options) error {
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	var lastErr string
	stderr := func(line string) {
		lastErr = line
		progress(line)
	}
	if err := r.Run(ctx, "sh -c "+shell.Quote(Script(o)), progress, stderr); err != nil {
		if lastErr != "" {
			return fmt.Errorf("marketplace cleanup: %s: %w", lastErr, err)
		}
		return fmt.Errorf("marketplace cleanup: %w; re-run with the droplet kept (build_base) to inspect it", err)
	}
	return nil
}
