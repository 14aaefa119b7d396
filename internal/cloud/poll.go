package cloud

import (
	"context"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/timing"
)

// Poll calls check until it reports done, an error, or ctx ends.
//
// The schedule aims at noticing a state change quickly while spending few
// requests: with an expected duration, the first look comes at 60% of it and
// the next ones tighten towards the expectation (every Tick); once the
// expectation has passed, the interval grows by half each time up to Max.
// The interval is never shorter than what the rate-limit budget allows.
type Poll struct {
	Expect time.Duration // how long the wait usually takes; 0: unknown
	Tick   time.Duration // interval around the expectation; default 1s
	Max    time.Duration // longest interval; default 15s
	Pace   func() time.Duration
	Rec    *timing.Recorder // records the whole wait as API time; nil: none
}

func (p Poll) Until(ctx context.Context, check func(ctx context.Context) (bool, error)) error {
	tick := p.Tick
	if tick <= 0 {
		tick = time.Second
	}
	maxI := p.Max
	if maxI <= 0 {
		maxI = 15 * time.Second
	}
	start := time.Now()
	defer p.Rec.Since(timing.API, start)
	next := p.Expect * 6 / 10
	interval := tick
	for {
		if pace := p.pace(); next < pace {
			next = pace
		}
		if err := sleepCtx(ctx, next); err != nil {
			return err
		}
		done, err := check(ctx)
		if err != nil || done {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		elapsed := time.Since(start)
		switch {
		case p.Expect > 0 && elapsed < p.Expect*9/10:
			// Still early: halve the remaining distance, but not below one tick.
			next = max((p.Expect-elapsed)/2, tick)
		case p.Expect > 0 && elapsed < p.Expect*3/2:
			next = tick
		default:
			interval = min(interval*3/2, maxI)
			next = interval
		}
	}
}

func (p Poll) pace() time.Duration {
	if p.Pace == nil {
		return 0
	}
	return p.Pace()
}
