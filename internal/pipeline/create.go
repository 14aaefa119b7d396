package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/errlist"
	"github.com/mp-image-action/mp-image-action/internal/remote"
)

// createGrace is how long a create already sent may finish after the build
// is cancelled: its answer carries the ID that cleanup deletes.
const createGrace = 3 * time.Second

// finishCreate returns the context for a create: unlike ctx it is not cut
// off the moment ctx is cancelled (a request cut off mid-flight may still
// create the resource, and its ID is lost with the answer) but createGrace
// later. The caller checks ctx afterwards.
func finishCreate(ctx context.Context) (context.Context, context.CancelFunc) {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var mu sync.Mutex
	var t *time.Timer
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		t = time.AfterFunc(createGrace, cancel)
		mu.Unlock()
	})
	return fctx, func() {
		stop()
		mu.Lock()
		if t != nil {
			t.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

// deleteLostDroplets deletes the droplets named name with the run's tag,
// made by a create whose answer never came back.
func deleteLostDroplets(ctx context.Context, b *Build, name string) error {
	ds, err := b.Cloud.DropletsNamed(ctx, b.RunTag, name)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range ds {
		if err := b.deleteDropletLater(ctx, d.ID, func() {
			b.logf("deleted droplet %d (%s), created by a request whose answer was lost", d.ID, d.Name)
		}); err != nil {
			errs = append(errs, err)
		}
	}
	return errlist.Join(errs...)
}

// deleteLostKey deletes the account key of kp when a create whose answer
// never came back made it.
func deleteLostKey(ctx context.Context, b *Build, kp *remote.KeyPair) error {
	if kp == nil {
		return nil
	}
	k, err := b.Cloud.KeyByFingerprint(ctx, kp.Fingerprint())
	if err != nil || k == nil {
		return err
	}
	return b.deleteKeyLater(ctx, k.ID, func() {
		b.logf("deleted key %d (%s), created by a request whose answer was lost", k.ID, k.Name)
	})
}
