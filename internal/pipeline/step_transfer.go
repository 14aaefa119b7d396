package pipeline

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/cloud"
	"github.com/mp-image-action/mp-image-action/internal/errlist"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// transfer copies the snapshot to snapshot-regions in parallel and tags it,
// in the background from the moment the snapshot exists: the boot test runs
// in the build region meanwhile.
type transfer struct{ nothingToUndo }

func (transfer) String() string { return "transfer and tag the snapshot" }
func (transfer) Declare() Decl {
	return Decl{Needs: OptTransfer | API | Snapshot, Makes: Transferred}
}
func (s transfer) Run(ctx context.Context, b *Build) error { return runNow(ctx, b, s) }
func (s transfer) Start(_ context.Context, b *Build) (func(context.Context) error, func()) {
	id, regions, tags, timeout := b.Snapshot.ID, extraRegions(b), snapshotTags(b), b.Cfg.Timeouts.Transfer
	api, out := b.Cloud, b.Out
	work := func(ctx context.Context) error {
		ctx, cancel := withTimeout(ctx, timeout)
		defer cancel()
		var errs []error
		if len(regions) > 0 {
			if err := transferTo(ctx, api, out, s.String(), id, regions); err != nil {
				errs = append(errs, err)
			}
		}
		if len(tags) > 0 {
			if err := api.TagImage(ctx, id, tags); err != nil {
				errs = append(errs, err)
			}
		}
		return errlist.Join(errs...)
	}
	return work, func() { b.Regions = append(b.Regions, regions...) }
}

// transferTo copies snapshot id to every region at once, one transfer per
// region so that the progress of step can count the regions done.
func transferTo(ctx context.Context, api *cloud.Client, out report.Sink, step string, id int, regions []string) error {
	var done atomic.Int32
	stop := watch(out, step, "transfer", func(el time.Duration) (float64, string) {
		n := int(done.Load())
		return float64(n) / float64(len(regions)), fmt.Sprintf("%d of %d regions done after %s", n, len(regions), report.FormatDuration(el.Truncate(time.Second)))
	})
	defer stop()
	errs := make([]error, len(regions))
	var wg sync.WaitGroup
	for i, r := range regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = api.Transfer(ctx, id, []string{r}); errs[i] == nil {
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return errlist.Join(errs...)
}

// wantedRegions are the regions the snapshot should end up in besides its own.
func wantedRegions(b *Build) []string {
	if len(b.Cfg.SnapshotRegions) == 0 && b.Plan != nil {
		return b.Plan.Builder.SnapshotRegions
	}
	return b.Cfg.SnapshotRegions
}

func extraRegions(b *Build) []string {
	var out []string
	for _, r := range wantedRegions(b) {
		if b.Snapshot != nil && !slices.Contains(b.Snapshot.Regions, r) && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func snapshotTags(b *Build) []string {
	tags := append([]string(nil), b.Cfg.SnapshotTags...)
	if b.Plan != nil {
		for _, t := range b.Plan.Builder.SnapshotTags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	return tags
}
