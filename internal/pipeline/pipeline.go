// Package pipeline is the build, top to bottom: an ordered list of steps, each
// with a Run and a Cleanup that undoes what it made, over one typed state.
package pipeline

import (
	"context"

	"github.com/mp-image-action/mp-image-action/internal/config"
)

// BuildImage is the Marketplace flow; every entry says why it is there. One
// file per step: step_<name>.go. Which steps run for a build is decided in
// one place, decide.go, from what each step declares it needs.
var BuildImage = []Step{
	preflight{},      // token, region, size, image checked before anything is created
	findDroplet{},    // --host with a token: the droplet at that address, snapshotted later, never deleted
	keygen{},         // ed25519 client key + a host key delivered through user_data, so SSH can pin it
	createKey{},      // temporary account key; Cleanup deletes it
	createDroplet{},  // tagged with the run id (adopted, never duplicated, on retry); Cleanup deletes and verifies
	waitActive{},     // droplet active with a public address
	connect{},        // SSH with the pinned host key, cloud-init done, apt/dpkg unlocked
	aptUpgrade{},     // non-interactive full-upgrade + apt-packages: stale base images fail review
	provision{},      // files, scripts, per-instance, first-login, as the plan orders them
	appInfo{},        // /var/lib/digitalocean/application.info, the Marketplace convention
	cleanUp{},        // Marketplace cleanup over the same connection (it removes authorized_keys)
	validate{},       // img_check rules and stricter ones; FAIL stops here, before the snapshot
	secretScan{},     // skip-cleanup skips validation, not the search for the build's secrets
	inventory{},      // installed packages for the SBOM and submit-software versions: a missing package stops here
	powerOff{},       // shutdown, wait off, fall back to power_off
	snapshot{},       // snapshot action, ID from the action and its unique name
	keepDroplet{},    // keep-droplet: kept powered off and tagged so reap spares it
	deleteDroplet{},  // otherwise the build droplet is no longer needed: stop paying for it
	transfer{},       // copy to snapshot-regions in parallel, tag the snapshot
	release{},        // drop the pending mark: from here on the snapshot is the build's result
	bootTest{},       // review simulation: boot the snapshot, re-validate, verify/
	submit{},         // Vendor Portal update with the snapshot (submit-app-id), once everything passed
	packerManifest{}, // a template's manifest post-processor, in Packer's format, for jq steps written for Packer
}

// BuildBase is the same setup without cleanup, shutdown and snapshot: for PR
// dry-runs and for looking around. Validation is a report there.
var BuildBase = []Step{
	preflight{},
	keygen{},
	createKey{},
	createDroplet{},
	waitActive{},
	connect{},
	aptUpgrade{},
	provision{},
	appInfo{},
	validate{},
	inventory{},
	keepOrDelete{}, // keep-droplet: save the key 0600 and print the ssh command; else delete
}

// Step is one stage of a build.
type Step interface {
	String() string // the name the log shows
	// Declare says what the step needs, makes and ends; decide.go alone
	// turns that into "run" or "skip, because ...".
	Declare() Decl
	Run(ctx context.Context, b *Build) error // do it
	// Cleanup undoes what Run made. It runs in reverse order after success,
	// failure or cancellation, with a context that is not cancelled.
	Cleanup(ctx context.Context, b *Build) error
}

// Steps is the step list for the build's mode.
func Steps(mode string) []Step {
	if mode == config.ModeBuildBase {
		return BuildBase
	}
	return BuildImage
}

type nothingToUndo struct{}

func (nothingToUndo) Cleanup(context.Context, *Build) error { return nil }
