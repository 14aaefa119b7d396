// Package pipeline is the build, top to bottom: an ordered list of steps, each
// with a Run and a Cleanup that undoes what it made, over one typed state.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/digitalocean/godo"
	"github.com/hashicorp/go-multierror"

	"github.com/mp-image-action/mp-image-action/internal/cloud"
	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/timing"
)

// BuildImage is the Marketplace flow; every entry says why it is there.
var BuildImage = []Step{
	preflight{},     // token, region, size, image checked before anything is created
	keygen{},        // ed25519 client key + a host key delivered through user_data, so SSH can pin it
	createKey{},     // temporary account key; Cleanup deletes it
	createDroplet{}, // tagged with the run id (adopted, never duplicated, on retry); Cleanup deletes and verifies
	waitActive{},    // droplet active with a public address
	connect{},       // SSH with the pinned host key, cloud-init done, apt/dpkg unlocked
	aptUpgrade{},    // non-interactive full-upgrade + apt-packages: stale base images fail review
	provision{},     // files, scripts, per-instance, first-login, as the plan orders them
	appInfo{},       // /var/lib/digitalocean/application.info, the Marketplace convention
	cleanUp{},       // Marketplace cleanup over the same connection (it removes authorized_keys)
	validate{},      // img_check rules and stricter ones; FAIL stops here, before the snapshot
	powerOff{},      // shutdown, wait off, fall back to power_off
	snapshot{},      // snapshot action, ID from the action and its unique name
	deleteDroplet{}, // the build droplet is no longer needed: stop paying for it
	transfer{},      // copy to snapshot-regions in parallel, tag the snapshot
	release{},       // drop the pending mark: from here on the snapshot is the build's result
	bootTest{},      // review simulation: boot the snapshot, re-validate, verify/
	submit{},        // Vendor Portal update with the snapshot (submit-app-id), once everything passed
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
	keepOrDelete{}, // keep-droplet: save the key 0600 and print the ssh command; else delete
}

// Step is one stage of a build.
type Step interface {
	String() string                          // the name the log shows
	Skip(b *Build) bool                      // true: nothing to do for this build
	Run(ctx context.Context, b *Build) error // do it
	// Cleanup undoes what Run made. It runs in reverse order after success,
	// failure or cancellation, with a context that is not cancelled.
	Cleanup(ctx context.Context, b *Build) error
}

// Build is everything a build knows, filled in as steps run.
type Build struct {
	Cfg   *config.Config
	Plan  *recipe.Plan
	Cloud *cloud.Client
	Out   report.Sink
	Logf  func(format string, args ...any)

	RunID   string // short, unique per run
	RunTag  string // tag on every resource of this run: reap finds leftovers by it
	Started time.Time
	// Timing records API waits and remote operations for the manifest's
	// timing block (what is left of the wall time is the tool's own).
	Timing *timing.Recorder

	Key        *remote.KeyPair
	HostKey    *remote.HostKey
	UserData   string
	AccountKey *godo.Key
	Droplet    *godo.Droplet
	IP         string
	SSH        *remote.Client
	MinDisk    int // GB, of the base image

	Validation *imagecheck.Report
	ReportPath string
	Snapshot   *godo.Image
	Regions    []string
	KeyPath    string // private key saved for keep-droplet
	Kept       bool   // droplet kept on purpose
	Submitted  string // Vendor Portal status after submit (e.g. in_review)

	boot *bootTestState // the boot test's droplet, key and connection
	// dropletGone: the build droplet was deleted on purpose (no lookup for
	// a lost create is needed when Droplet is nil).
	dropletGone bool

	Records   []report.StepRecord
	Cancelled bool
}

// Tool tags: every resource carries ToolTag and its run's RunTag.
const ToolTag = "mp-image"

// RunTagPrefix starts every run tag.
const RunTagPrefix = "mp-image-run-"

func (b *Build) logf(format string, args ...any) {
	if b.Logf != nil {
		b.Logf(format, args...)
	}
}

// Run executes steps in order, then the cleanups of every step that ran, in
// reverse. The returned error joins the step's failure with every cleanup
// failure; context cancellation is reported as such.
func Run(ctx context.Context, b *Build, steps []Step) error {
	var ran []Step
	var runErr error
	for _, s := range steps {
		if s.Skip(b) {
			b.record(s.String(), "skipped", 0, "")
			continue
		}
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		b.Out.StepStart(s.String())
		start := time.Now()
		ran = append(ran, s)
		err := s.Run(ctx, b)
		d := time.Since(start)
		if err != nil {
			status := "failed"
			if ctx.Err() != nil {
				status = "cancelled"
				err = fmt.Errorf("%s: cancelled: %w", s, ctx.Err())
			} else {
				err = fmt.Errorf("%s: %w", s, err)
			}
			b.record(s.String(), status, d, err.Error())
			runErr = err
			break
		}
		b.record(s.String(), "ok", d, "")
	}
	if runErr != nil && ctx.Err() != nil {
		b.Cancelled = true
	}
	cerr := runCleanups(ctx, b, ran)
	if cerr != nil {
		if runErr == nil {
			return cerr
		}
		return multierror.Append(runErr, cerr)
	}
	return runErr
}

// CleanupBudget bounds all cleanups after a failure or cancellation: the
// GitHub runner kills the job about 10 s after its SIGINT.
var cleanupBudget = 2 * time.Minute

func runCleanups(ctx context.Context, b *Build, ran []Step) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupBudget)
	defer cancel()
	if b.SSH != nil {
		// Close first: a script still running must not hold the droplet.
		b.SSH.Close()
	}
	var errs *multierror.Error
	for i := len(ran) - 1; i >= 0; i-- {
		s := ran[i]
		if err := s.Cleanup(cctx, b); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("cleanup of %s: %w", s, err))
		}
	}
	if errs != nil {
		errs.ErrorFormat = func(es []error) string {
			msg := fmt.Sprintf("%d cleanup error(s):", len(es))
			for _, e := range es {
				msg += "\n  * " + e.Error()
			}
			return msg
		}
	}
	return errs.ErrorOrNil()
}

func (b *Build) record(name, status string, d time.Duration, detail string) {
	rec := report.StepRecord{Name: name, Status: status, Duration: d, Detail: detail}
	b.Records = append(b.Records, rec)
	b.Out.StepEnd(rec)
}

// IsCancelled reports whether err comes from a cancelled context.
func IsCancelled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
