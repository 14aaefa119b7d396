package pipeline

import (
	"context"
	"sync"
)

// deletion is a delete a cleanup sent, still to be verified.
type deletion struct {
	verify func(ctx context.Context) error // waits until it is gone
	done   func()                          // records it on the build once verified
}

// deleteDropletLater sends the deletion of droplet id; runCleanups verifies
// it with every other cleanup's deletions, then calls done. Sending all the
// deletes first and waiting for them together costs one wait, not one each.
func (b *Build) deleteDropletLater(ctx context.Context, id int, done func()) error {
	if err := b.Cloud.SendDeleteDroplet(ctx, id); err != nil {
		return err
	}
	b.deletions = append(b.deletions, deletion{func(ctx context.Context) error { return b.Cloud.WaitDropletGone(ctx, id) }, done})
	return nil
}

// deleteKeyLater is deleteDropletLater for an account key.
func (b *Build) deleteKeyLater(ctx context.Context, id int, done func()) error {
	if err := b.Cloud.SendDeleteKey(ctx, id); err != nil {
		return err
	}
	b.deletions = append(b.deletions, deletion{func(ctx context.Context) error { return b.Cloud.VerifyKeyGone(ctx, id) }, done})
	return nil
}

// verifyDeletions waits for every deletion the cleanups sent, all at once,
// records the ones verified on the build (on this goroutine) and returns
// what failed, one error each.
func (b *Build) verifyDeletions(ctx context.Context) []error {
	pending := b.deletions
	b.deletions = nil
	errs := make([]error, len(pending))
	var wg sync.WaitGroup
	for i, d := range pending {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.verify(ctx)
		}()
	}
	wg.Wait()
	var failed []error
	for i, d := range pending {
		switch {
		case errs[i] != nil:
			failed = append(failed, errs[i])
		case d.done != nil:
			d.done()
		}
	}
	return failed
}
