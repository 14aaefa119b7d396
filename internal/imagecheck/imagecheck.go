// Package imagecheck validates a droplet against DigitalOcean's Marketplace img_check rules and stricter extras.
package imagecheck

import (
	"context"
)

// Runner runs one command on the machine under test; *remote.Client satisfies it.
type Runner interface {
	Output(ctx context.Context, cmd string) (stdout, stderr []byte, exitCode int, err error)
}

// Modes of a build: build_base keeps what cleanup would remove, so a person can look.
const (
	ModeBuildImage = "build_image"
	ModeBuildBase  = "build_base"
)

// Options tune collection and evaluation.
type Options struct {
	// BuildKey is the build's public key, as an authorized_keys line or a fingerprint
	// (SHA256:... or MD5 hex pairs); empty leaves the build-key check out of the report.
	BuildKey string
	// SkipAptUpdate does not refresh package lists before looking for security updates.
	SkipAptUpdate bool
	// Mode is build_image (default) or build_base.
	Mode string
	// Booted says the machine runs from the image under test (the boot test):
	// what any running droplet makes by itself is expected there, not held
	// against the image. BootKey is the comment of the key it was booted with.
	Booted  bool
	BootKey string

	// root prefixes every path the collect script reads (tests read fixture trees).
	root string
	// noFirewallProbe skips `ufw status`, which tests must never run on the host.
	noFirewallProbe bool
}

// Run collects the facts over r and evaluates them.
func Run(ctx context.Context, r Runner, o Options) (*Report, error) {
	f, err := Collect(ctx, r, o)
	if err != nil {
		return nil, err
	}
	return Evaluate(f, o), nil
}

// ExitCode is what `mp-image validate` exits with: 1 when the report fails under failOn
// (fail | warn | never), like img_check.sh, else 0.
func ExitCode(r *Report, failOn string) int {
	if r == nil || r.Failed(failOn) {
		return 1
	}
	return 0
}
