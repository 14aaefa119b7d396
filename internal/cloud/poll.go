package cloud

import (
	"context"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/retry"
	"github.com/mp-image-action/mp-image-action/internal/timing"
)

// Poll defaults: the delay bound is max(DefaultFloor, DefaultFrac of the
// time waited so far), within DefaultMax.
const (
	DefaultFloor = 2 * time.Second
	DefaultFrac  = 0.05
	DefaultMax   = 10 * time.Second
)

// Poll calls check until it reports done, an error, or ctx ends.
//
// It does not need to know how long the wait takes. Looks start at Floor/2
// and double up to Floor; after that the interval is Frac of the time waited
// so far, never more than Max. So a change is noticed within
// max(Floor, min(Frac*t, Max)) of the time t it happened, whatever t is, and
// a long wait costs a request per few percent of its length instead of one
// per fixed tick.
//
// Expect is a hint, not a plan: when the next look would come after it, one
// look is made just after the expected moment instead. A right hint is
// noticed almost at once; a wrong one costs that single request, and the
// bound holds either way because the hint only ever brings a look forward.
// The rate-limit budget (Pace) may stretch an interval, and nothing else may.
type Poll struct {
	Expect time.Duration // when the change usually comes; 0: no hint
	AtOnce bool          // look at once (the change has probably happened)
	Floor  time.Duration // shortest regular interval and the bound for short waits; default DefaultFloor
	Frac   float64       // interval as a fraction of the time waited; default DefaultFrac
	Max    time.Duration // longest interval; default DefaultMax (never below Floor)
	// Fixed, when set, replaces the schedule with Packer's: a look at once
	// and then one every Fixed, hints ignored (poll-interval; the benchmark's
	// reference poller).
	Fixed time.Duration
	Pace  func() time.Duration
	Rec   *timing.Recorder // records the whole wait as API time; nil: none
	Clock Clock            // nil: the real clock
}

// Clock is the time source of a Poll; tests simulate it.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time                                   { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) error { return retry.Sleep(ctx, d) }

// Until looks at the schedule's moments, measured from the call, so the time
// a request takes does not push later looks back.
func (p Poll) Until(ctx context.Context, check func(ctx context.Context) (bool, error)) error {
	clk := p.Clock
	if clk == nil {
		clk = realClock{}
	}
	if p.Rec != nil {
		defer p.Rec.Since(timing.API, time.Now())
	}
	start := clk.Now()
	s := p.schedule()
	at := s.first()
	for {
		wait := at - clk.Now().Sub(start)
		if pace := p.pace(); wait < pace {
			wait = pace
		}
		if err := clk.Sleep(ctx, wait); err != nil {
			return err
		}
		done, err := check(ctx)
		if err != nil || done {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		at = s.next(max(at, clk.Now().Sub(start)))
	}
}

// schedule is the pure part of Poll: when to look.
type schedule struct {
	floor, max, hint, fixed time.Duration
	frac                    float64
	now                     bool
}

func (p Poll) schedule() *schedule {
	s := &schedule{floor: p.Floor, frac: p.Frac, max: p.Max, now: p.AtOnce, fixed: p.Fixed}
	if s.floor <= 0 {
		s.floor = DefaultFloor
	}
	if s.frac <= 0 {
		s.frac = DefaultFrac
	}
	if s.max <= 0 {
		s.max = DefaultMax
	}
	s.max = max(s.max, s.floor)
	if p.Expect > 0 && p.Fixed <= 0 {
		// Just after the expected moment: a change due then has happened.
		s.hint = p.Expect + s.floor/8
	}
	return s
}

// first is the moment of the first look.
func (s *schedule) first() time.Duration {
	if s.now || s.fixed > 0 {
		return 0
	}
	return s.withHint(0, s.floor/2)
}

// next is the moment of the look after one at t that found nothing.
func (s *schedule) next(t time.Duration) time.Duration {
	if s.fixed > 0 {
		return t + s.fixed
	}
	// Below Floor the interval doubles from Floor/2, so a change that takes
	// a fraction of a second costs no more than that; above, it is the
	// larger of Floor and Frac of the time waited, within Max.
	gap := max(min(s.floor, max(t, s.floor/2)), time.Duration(s.frac*float64(t)))
	return s.withHint(t, t+min(gap, s.max))
}

// withHint brings the look at `at` (the next after t) forward to the hint
// when the hint falls between them.
func (s *schedule) withHint(t, at time.Duration) time.Duration {
	if s.hint > t && s.hint < at {
		return s.hint
	}
	return at
}

func (p Poll) pace() time.Duration {
	if p.Pace == nil {
		return 0
	}
	return p.Pace()
}
