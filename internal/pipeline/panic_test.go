package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// panicking is a real step whose Run (or Cleanup) panics after the real one ran.
type panicking struct {
	Step
	inRun, inCleanup bool
}

func (p panicking) Run(ctx context.Context, b *Build) error {
	if err := p.Step.Run(ctx, b); err != nil {
		return err
	}
	if p.inRun {
		var d *struct{ ID int }
		_ = d.ID // the nil dereference of issue 14's --host crash
	}
	return nil
}

func (p panicking) Cleanup(ctx context.Context, b *Build) error {
	if p.inCleanup {
		panic("injected panic in a cleanup")
	}
	return p.Step.Cleanup(ctx, b)
}

// A panic in a step is that step's failure, its stack in the log, and every
// cleanup still runs: the droplet and the account key are deleted. A panic
// in a cleanup is a cleanup error; the cleanups before it in reverse order
// still run.
func TestPanicInStepStillCleansUp(t *testing.T) {
	for _, tt := range []struct {
		name  string
		steps []Step
	}{
		{"panic in a step after the droplet exists", []Step{preflight{}, keygen{}, createKey{}, createDroplet{}, panicking{Step: waitActive{}, inRun: true}, connect{}}},
		{"panic in a step and in the droplet's cleanup", []Step{preflight{}, keygen{}, createKey{}, panicking{Step: createDroplet{}, inCleanup: true}, panicking{Step: waitActive{}, inRun: true}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, srv, _ := testBuild(t)
			b.Cfg.Region, b.Cfg.Size, b.Cfg.Image = "nyc3", "s-1vcpu-1gb", "debian-12-x64"
			var out testutil.SyncBuffer
			b.Out = report.NewConsole(&out, false, nil)
			err := Run(context.Background(), b, tt.steps)
			if err == nil || !strings.Contains(err.Error(), "panic: runtime error: invalid memory address or nil pointer dereference") {
				t.Fatalf("Run = %v, want the panic as the step's failure", err)
			}
			if b.Failed == nil || b.Failed.String() != (waitActive{}).String() {
				t.Errorf("failed step = %v, want %q", b.Failed, waitActive{})
			}
			last := b.Records[len(b.Records)-1]
			if last.Status != report.StatusFailed || !strings.Contains(last.Detail, "panic") {
				t.Errorf("last record %+v: want the step failed with the panic", last)
			}
			log := out.String()
			if !strings.Contains(log, "panic in wait for the droplet to become active") || !strings.Contains(log, "panic_test.go") {
				t.Errorf("the log lacks the panic and its stack:\n%s", log)
			}
			if n := len(srv.Ledger().Live(localcloud.KindKey)); n != 0 {
				t.Errorf("%d account keys left after the panic", n)
			}
			wantDroplets := 0
			if strings.Contains(tt.name, "droplet's cleanup") {
				// That cleanup panicked before deleting: reported, and the key's cleanup still ran.
				wantDroplets = 1
				if !strings.Contains(err.Error(), "cleanup of create build droplet: panic: injected panic in a cleanup") {
					t.Errorf("error %q does not report the cleanup's panic", err)
				}
			}
			if n := len(srv.Ledger().Live(localcloud.KindDroplet)); n != wantDroplets {
				t.Errorf("%d droplets left after the panic, want %d", n, wantDroplets)
			}
		})
	}
}
