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
// the next ones tighten towards the expectation, looking every Tick or every
// 2% of the expectation, whichever is longer; once the expectation has
// passed, the interval grows by a fifth each time up to Max. With no
// expectation it starts at Tick and grows by half each time up to Max.
// The interval is never shorter than what the rate-limit budget allows.
type Poll struct {
	Expect time.Duration // how long the wait usually takes; 0: unknown
	Tick   time.Duration // interval around the expectation; default 1s
	Max    time.Duration // longest interval; default 15s
	Pace   func() time.Duration
	Rec    *timing.Recorder // records the whole wait as API time; nil: none
}

func (p Poll) Until(ctx context.Context, check func(ctx context.Context) (bool, error)) error {
	start := time.Now()
	defer p.Rec.Since(timing.API, start)
	s := p.schedule()
	next := s.first()
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
		next = s.after(time.Since(start))
	}
}

// schedule is the pure part of Poll: when to look next.
type schedule struct {
	expect, tick, near, max, interval time.Duration
}

func (p Poll) schedule() *schedule {
	s := &schedule{expect: p.Expect, tick: p.Tick, max: p.Max}
	if s.tick <= 0 {
		s.tick = time.Second
	}
	if s.max <= 0 {
		s.max = 15 * time.Second
	}
	// Around the expectation, look every 2% of it (at least every tick):
	// a 3-minute snapshot is looked at every 3.6 s, not every second,
	// which would cost dozens of requests to save a second or two.
	s.near = max(s.tick, s.expect/50)
	s.interval = s.tick
	return s
}

func (s *schedule) first() time.Duration { return s.expect * 6 / 10 }

// after says how long to wait after a look at elapsed that found nothing.
func (s *schedule) after(elapsed time.Duration) time.Duration {
	switch {
	case s.expect > 0 && elapsed < s.expect*9/10:
		// Still early: halve the remaining distance, but not below near.
		return max((s.expect-elapsed)/2, s.near)
	case s.expect > 0 && elapsed < s.expect:
		return s.near
	case s.expect > 0:
		// Late: back off gently from near, so a slow snapshot costs a
		// request per few percent of its time, up to Max.
		s.interval = min(max(s.interval*6/5, s.near), s.max)
		return s.interval
	default:
		s.interval = min(s.interval*3/2, s.max)
		return s.interval
	}
}

func (p Poll) pace() time.Duration {
	if p.Pace == nil {
		return 0
	}
	return p.Pace()
}
