package pipeline

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/freshness"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
)

// Need is a set of things a step can need: what earlier steps make (an API
// client, a droplet, a connection, a snapshot) and what the options ask for.
// A step runs when the build has all it needs; otherwise it is skipped with
// the reason of the first thing missing. This file is the one place that
// decides, for every mode, target (droplet or --host), token, recipe or
// template, and keep-droplet, boot-test and submit.
type Need uint32

// What a build can have, in the order reasons are given: what the user asked
// for first (an option turned off, --host), then what the build lacks.
const (
	// Options and targets, known before the build starts.
	OptProvision      Need = 1 << iota // the plan has something to provision
	OptCleanup                         // skip-cleanup is off
	OptValidate                        // validation runs (build_base always; build_image unless skip-cleanup)
	OptScanAlone                       // the secret scan runs on its own: build_image with skip-cleanup skips validation
	OptTransfer                        // snapshot-regions or snapshot-tags ask for a transfer step
	OptBootTest                        // boot-test is on
	OptSubmit                          // submit-app-id is set
	OptInventory                       // sbom or submit-app-id asks for the installed packages
	OptLatestVersion                   // freshness: the recipe has freshness/latest-version
	OptKeepDroplet                     // keep-droplet is on
	OptDeleteDroplet                   // keep-droplet is off
	OptPackerManifest                  // the template has a manifest post-processor
	OptApt                             // the tool's apt step applies (apt-upgrade, or apt-packages to install)
	NewDroplet                         // the build creates its own droplet (no --host)
	OnHost                             // the build provisions an existing server (--host)
	API                                // an API client with a token

	// Made by steps as the build runs.
	Keys       // the build's client key and pinned host key
	AccountKey // the temporary account key
	Droplet    // a droplet whose ID the build knows
	Address    // the server's address (--host, or the droplet's public IPv4)
	SSH        // a connection to the server
	Off        // the droplet is powered off
	Snapshot   // the snapshot the build made (freshness: the one it checks)
	Booted     // a droplet from the snapshot has finished first boot, connected (freshness)
	// Transferred: the snapshot is in every wanted region, tagged (from
	// the start when no transfer is wanted).
	Transferred
	Released // the snapshot's pending mark is dropped
)

// Decl is what a step declares: what must be there before it runs, what it
// makes, and what no later step may use after it (a closed connection, a
// deleted droplet).
type Decl struct {
	Needs, Makes, Ends Need
}

// initial is what the build has before its first step: its options and target.
func initial(b *Build) Need {
	var n Need
	cfg := b.Cfg
	if b.Plan != nil && len(b.Plan.Actions) > 0 {
		n |= OptProvision
	}
	if !cfg.SkipCleanup {
		n |= OptCleanup
	}
	if !cfg.SkipCleanup || cfg.Mode == config.ModeBuildBase {
		n |= OptValidate
	} else {
		n |= OptScanAlone
	}
	if transferWanted(b) {
		n |= OptTransfer
	} else {
		n |= Transferred
	}
	if cfg.BootTest {
		n |= OptBootTest
	}
	if cfg.SubmitAppID != "" {
		n |= OptSubmit
	}
	if upgrade, _ := aptStep(b); upgrade || len(cfg.APTPackages) > 0 {
		n |= OptApt
	}
	if cfg.SBOM != "" || cfg.SubmitAppID != "" {
		n |= OptInventory
	}
	if ok, _ := freshness.HasLatestVersion(cfg.Dir); ok {
		n |= OptLatestVersion
	}
	if b.Plan != nil && b.Plan.Manifest != "" {
		n |= OptPackerManifest
	}
	if cfg.KeepDroplet {
		n |= OptKeepDroplet
	} else {
		n |= OptDeleteDroplet
	}
	if b.Cloud != nil {
		n |= API
	}
	if cfg.Host == "" {
		n |= NewDroplet
	} else {
		n |= OnHost | Address
	}
	return n
}

// missing says, for a human, why the build does not have n.
func missing(b *Build, n Need) string {
	host := b.Cfg.Host
	switch n {
	case OptProvision:
		return "the recipe has nothing to provision"
	case OptCleanup:
		return "skip-cleanup=true"
	case OptValidate:
		return "skip-cleanup=true (the template cleans and validates itself)"
	case OptScanAlone:
		return "validation does this search"
	case OptTransfer:
		return "no snapshot-regions beyond " + b.Cfg.Region + " and no snapshot-tags"
	case OptBootTest:
		return "boot-test=false"
	case OptSubmit:
		return "no submit-app-id"
	case OptInventory:
		return "no sbom and no submit-app-id"
	case OptApt:
		_, why := aptStep(b)
		return why
	case OptLatestVersion:
		return "the recipe has no executable freshness/latest-version"
	case OptPackerManifest:
		return "the template has no manifest post-processor"
	case OptKeepDroplet:
		return "keep-droplet=false"
	case OptDeleteDroplet:
		return "keep-droplet=true"
	case API:
		if host != "" {
			return "no API token: --host without a token provisions " + host + " only"
		}
		return "no API client"
	case NewDroplet:
		return "--host: the build uses the existing server " + host
	case OnHost:
		return "the build creates its own droplet"
	case Droplet:
		if host != "" {
			return "--host: " + host + " is not a droplet this build knows"
		}
		return "no build droplet"
	case Off:
		return "the droplet was not powered off"
	case Snapshot:
		return "no snapshot was made"
	case Booted:
		return "no droplet was booted from the snapshot"
	case Transferred:
		return "the snapshot was not transferred"
	case Released:
		return "the snapshot was not released"
	case SSH:
		return "no SSH connection"
	}
	return "no " + n.String()
}

// String names the things in n, for messages.
func (n Need) String() string {
	names := []string{"provision", "cleanup", "validate", "secret scan", "transfer", "boot-test", "submit", "inventory", "latest-version",
		"keep-droplet", "delete droplet", "packer manifest", "apt upgrade", "new droplet", "--host", "API",
		"keys", "account key", "droplet", "address", "SSH", "powered off", "snapshot", "booted", "transferred", "released"}
	var out []string
	for n != 0 {
		i := bits.TrailingZeros32(uint32(n))
		if i < len(names) {
			out = append(out, names[i])
		} else {
			out = append(out, fmt.Sprintf("need%d", i))
		}
		n &^= 1 << i
	}
	return strings.Join(out, ", ")
}

// skipReason is "" when s runs with what the build has, else why it does not.
func skipReason(b *Build, s Step, have Need) string {
	lack := s.Declare().Needs &^ have
	if lack == 0 {
		return ""
	}
	return missing(b, lack&-lack) // the first thing missing, options first
}

// lacks checks the build's state against what have claims (a claim without
// the state behind it is a bug in a declaration): the things of n it lacks.
func lacks(b *Build, n Need) Need {
	var out Need
	check := func(k Need, ok bool) {
		if n&k != 0 && !ok {
			out |= k
		}
	}
	check(API, b.Cloud != nil)
	check(Keys, b.Key != nil && b.HostKey != nil)
	check(AccountKey, b.AccountKey != nil)
	check(Droplet, b.Droplet != nil)
	check(Address, b.IP != "" || b.Cfg.Host != "")
	check(SSH, b.SSH != nil)
	check(Snapshot, b.Snapshot != nil)
	check(Booted, b.boot != nil && b.boot.ssh != nil)
	check(Released, b.Released)
	return out
}

// Planned is one step as a build with these options would see it.
type Planned struct {
	Step   Step
	Reason string // "" runs; else why it is skipped
}

// Preview decides every step of cfg's mode without running any, assuming each
// step that runs makes what it declares: the table `plan` prints.
func Preview(cfg *config.Config, p *recipe.Plan) []Planned {
	b := &Build{Cfg: cfg, Plan: p}
	have := initial(b)
	if usesAPI(cfg) {
		have |= API
	}
	steps := Steps(cfg.Mode)
	out := make([]Planned, 0, len(steps))
	for _, s := range steps {
		r := skipReason(b, s, have)
		out = append(out, Planned{Step: s, Reason: r})
		if r == "" {
			d := s.Declare()
			have = have&^d.Ends | d.Makes
		}
	}
	return out
}

// usesAPI: a build talks to the API unless it provisions a --host without a token.
func usesAPI(cfg *config.Config) bool { return cfg.Host == "" || cfg.Token != "" }

func transferWanted(b *Build) bool {
	if len(snapshotTags(b)) > 0 {
		return true
	}
	return slices.ContainsFunc(wantedRegions(b), func(r string) bool { return r != b.Cfg.Region })
}

// aptStep says whether the build runs its own apt update and full-upgrade,
// and why (recipe.Plan.AptStep; a build without a plan gets it).
func aptStep(b *Build) (bool, string) {
	if b.Plan == nil {
		return true, "no plan"
	}
	return b.Plan.AptStep(b.Cfg.AptUpgrade)
}
