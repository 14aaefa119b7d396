package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/cloud"
	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/errlist"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// snapshot takes the snapshot of the powered-off droplet, its ID from the
// action and its unique name. Until release, it carries the run's tag.
type snapshot struct{}

func (snapshot) String() string { return "snapshot" }
func (snapshot) Declare() Decl  { return Decl{Needs: API | Droplet | Off, Makes: Snapshot} }
func (snapshot) Run(ctx context.Context, b *Build) error {
	name, err := snapshotName(b)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx, b.Cfg.Timeouts.Snapshot)
	defer cancel()
	// Recorded first: a start whose answer is lost may still make the snapshot.
	b.pending = &pendingSnapshot{name: name, since: time.Now().Add(-5 * time.Minute)}
	a, err := b.Cloud.DropletAction(ctx, b.Droplet.ID, "snapshot", name)
	if err != nil {
		return err
	}
	b.pending.action = a
	if a.StartedAt != nil {
		b.pending.since = a.StartedAt.Time // the API's clock, as the image's created_at
	}
	stop := watch(b.Out, snapshot{}.String(), "snapshot", ofTimeout("snapshot-timeout", b.Cfg.Timeouts.Snapshot))
	img, err := b.Cloud.FinishSnapshot(ctx, b.Droplet.ID, a, name, snapshotHint(b))
	stop()
	if err != nil {
		return err
	}
	b.pending = nil
	b.Snapshot = img
	b.Regions = append([]string(nil), img.Regions...)
	b.Out.State(report.StateSnapshotID, fmt.Sprint(img.ID))
	b.note(fmt.Sprintf("%d %q", img.ID, img.Name))
	// Until the build finishes, the snapshot carries its run's tag: that is
	// what marks it pending, so reap finds it (and reap --tag narrows to it)
	// if this run is killed before it can decide to keep or delete it. One
	// tag, which the droplet's create already made: one request to mark and
	// one to release.
	return b.Cloud.TagImage(ctx, img.ID, []string{b.RunTag})
}

// snapshotHint is how long the snapshot should take, from the disk the
// validation found used (0: no hint, the client's default applies).
func snapshotHint(b *Build) time.Duration {
	if b.Validation == nil || b.Validation.DiskUsed <= 0 {
		return 0
	}
	return cloud.SnapshotEstimate(b.Validation.DiskUsed)
}

// Cleanup deletes the snapshot only when the build failed after it was made
// and keep-snapshot-on-failure is off; otherwise it is reported as an output.
// A failed boot test keeps it: the snapshot itself was made and released.
func (snapshot) Cleanup(ctx context.Context, b *Build) error {
	if b.pending != nil {
		return abandonSnapshot(ctx, b)
	}
	// Cancelled: everything the run made goes, released or not.
	if b.Snapshot == nil || b.succeeded() || b.Cfg.KeepSnapshotOnFailure || b.Released && !b.Cancelled {
		return nil
	}
	if err := b.Cloud.DeleteImage(ctx, b.Snapshot.ID); err != nil {
		return err
	}
	if b.Cancelled {
		b.logf("deleted snapshot %d: the build was cancelled (set keep-snapshot-on-failure to keep it)", b.Snapshot.ID)
	} else {
		b.logf("deleted snapshot %d made before the failure (set keep-snapshot-on-failure to keep it)", b.Snapshot.ID)
	}
	b.Snapshot = nil
	return nil
}

// PendingRun reports whether a snapshot's tags mark it pending, that is still
// carrying the tag of the run that made it, and that run's tag.
func PendingRun(tags []string) (string, bool) {
	for _, t := range tags {
		if strings.HasPrefix(t, RunTagPrefix) {
			return t, true
		}
	}
	return "", false
}

func snapshotName(b *Build) (string, error) {
	tmpl := b.Cfg.SnapshotName
	// A template's snapshot_name stands unless the user chose another name.
	if b.Plan != nil && b.Plan.Builder.SnapshotName != "" && (tmpl == "" || tmpl == config.DefaultSnapshotName) {
		return b.Plan.Builder.SnapshotName, nil
	}
	return config.RenderSnapshotName(tmpl, b.Started, b.RunID)
}

// pendingSnapshot is a snapshot action the build started and did not see end.
type pendingSnapshot struct {
	name   string       // unique per run: how the image is found
	action *godo.Action // nil when the start's answer was lost
	since  time.Time    // images older than this are not this run's
}

// abandonSnapshot makes sure a snapshot the build started but did not see
// finish (cancelled, timed out) leaves nothing. Deleting the droplet aborts
// it on the local cloud; DigitalOcean may instead refuse the delete while the
// action runs (422, pending event) or finish the snapshot anyway. Either
// way: wait for the action to end, then delete the snapshot found by its
// unique name; the droplet's own cleanup deletes the droplet afterwards.
func abandonSnapshot(ctx context.Context, b *Build) error {
	p := b.pending
	if b.Droplet != nil && b.Cfg.Host == "" { // a --host droplet is never deleted
		if _, err := b.Cloud.Godo().Droplets.Delete(ctx, b.Droplet.ID); err != nil {
			if cloud.StatusOf(err) != http.StatusUnprocessableEntity {
				return fmt.Errorf("deleting droplet %d to stop its snapshot: %w", b.Droplet.ID, err)
			}
			b.logf("droplet %d cannot be deleted while its snapshot runs (%v): waiting for the snapshot action to end", b.Droplet.ID, err)
		}
	}
	if p.action != nil {
		if _, err := b.Cloud.WaitAction(ctx, p.action, 0); err != nil && ctx.Err() != nil {
			return fmt.Errorf("snapshot action %d of %q had not ended when the cleanup ran out of time: "+
				"delete the snapshot of that name if it appears: %w", p.action.ID, p.name, err)
		}
	}
	imgs, err := b.Cloud.SnapshotsNamed(ctx, p.name, p.since)
	if err != nil {
		return fmt.Errorf("looking for snapshot %q: %w", p.name, err)
	}
	var errs []error
	for _, im := range imgs {
		if err := b.Cloud.DeleteImage(ctx, im.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		b.logf("deleted snapshot %d %q, which finished although the build did not wait for it", im.ID, im.Name)
	}
	if len(errs) == 0 {
		b.pending = nil
	}
	return errlist.Join(errs...)
}
