package pipeline

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/cloud"
	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// cancelWhileRunning cancels the build once its step has run for a while.
type cancelWhileRunning struct {
	Step
	after  time.Duration
	cancel context.CancelFunc
}

func (c cancelWhileRunning) Run(ctx context.Context, b *Build) error {
	t := time.AfterFunc(c.after, c.cancel)
	defer t.Stop()
	return c.Step.Run(ctx, b)
}

// Cancelled while the snapshot action runs, a build leaves nothing behind
// whichever way the API treats the droplet's deletion: the local cloud's
// abort, and DigitalOcean's two other answers, each made by an emulator
// fault: the delete refused (422, pending event) until the action ends, and
// the snapshot finishing although the droplet was deleted.
func TestCancelDuringSnapshotLeavesNothing(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault func(*localcloud.Faults)
	}{
		{"delete aborts the snapshot", func(*localcloud.Faults) {}},
		{"delete refused while the snapshot runs", (*localcloud.Faults).RefuseDeleteDuringSnapshot},
		{"snapshot outlives the delete", (*localcloud.Faults).SnapshotOutlivesDelete},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			// The snapshot takes 60 s of DigitalOcean time: 600 ms here.
			srv := startCloud(t, localcloud.Options{TimeScale: 0.01})
			tt.fault(srv.Faults())
			c, err := cloud.New(cloud.Options{Token: testToken, APIURL: srv.URL()})
			if err != nil {
				t.Fatal(err)
			}
			b := &Build{Cfg: &config.Config{Region: "nyc3", Size: "s-1vcpu-1gb", Image: "debian-12-x64", SnapshotName: "snap-{{run_id}}"},
				Cloud: c, RunID: "r1", RunTag: RunTagPrefix + "r1", Started: time.Now(), Logf: t.Logf, Out: report.NewConsole(io.Discard, false, nil)}
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			steps := []Step{preflight{}, keygen{}, createKey{}, createDroplet{}, waitActive{}, powerOff{},
				cancelWhileRunning{Step: snapshot{}, after: 200 * time.Millisecond, cancel: cancel}}
			err = Run(rctx, b, steps)
			if !errors.Is(err, context.Canceled) || !b.Cancelled {
				t.Fatalf("Run = %v, want the cancellation alone (no cleanup error)", err)
			}
			// An outliving snapshot appears when its action ends: the cleanup
			// waited for that, so nothing may appear later either.
			time.Sleep(time.Second)
			for _, kind := range []string{localcloud.KindDroplet, localcloud.KindKey, localcloud.KindSnapshot} {
				if live := srv.Ledger().Live(kind); len(live) != 0 {
					t.Errorf("%s left: %+v", kind, live)
				}
			}
		})
	}
}
