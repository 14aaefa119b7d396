package pipeline

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/mp-image-action/mp-image-action/internal/errlist"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// Run executes steps in order, each when the build has what it needs (see
// decide.go), then the cleanups of every step that ran, in reverse. A
// background step (see background) runs while the steps after it do; a step
// that needs what it makes waits for it, and every one is waited for before
// the cleanups. The returned error joins the failure with every cleanup
// failure; context cancellation is reported as such. A panic in a step or a
// cleanup is that step's failure, with its stack in the log: the other
// cleanups still run.
func Run(ctx context.Context, b *Build, steps []Step) error {
	var ran []Step
	var runErr error
	var bg []*inFlight
	have := initial(b)
	fail := func(s Step, start time.Time, dur time.Duration, err error) error {
		status := report.StatusFailed
		if ctx.Err() != nil {
			status = report.StatusCancelled
			err = fmt.Errorf("%s: cancelled: %w", s, ctx.Err())
		} else {
			err = fmt.Errorf("%s: %w", s, err)
		}
		if b.Failed == nil {
			b.Failed = s
		}
		if f, ok := s.(failureNoter); ok {
			f.failed(b)
		}
		b.record(s.String(), status, start, dur, err.Error())
		return err
	}
	// join waits for the background steps in rs, records them and applies
	// what they made, in the order they started.
	join := func(rs []*inFlight) {
		for _, r := range rs {
			if r.joined {
				continue
			}
			<-r.done
			r.joined = true
			switch {
			case r.skip != "":
				b.record(r.step.String(), report.StatusSkipped, r.start, 0, r.skip)
			case r.err != nil:
				if err := fail(r.step, r.start, r.end.Sub(r.start), r.err); runErr == nil {
					runErr = err
				}
			default:
				r.apply()
				if l := lacks(b, r.decl.Makes); l != 0 {
					err := fmt.Errorf("internal error: the step did not make %s (please report this bug)", l)
					if err := fail(r.step, r.start, r.end.Sub(r.start), err); runErr == nil {
						runErr = err
					}
					continue
				}
				have |= r.decl.Makes
				b.record(r.step.String(), report.StatusOK, r.start, r.end.Sub(r.start), "")
			}
		}
	}
	for _, s := range steps {
		// Background steps that ended (a failure stops the build early).
		join(finished(bg))
		if runErr != nil {
			break
		}
		d := s.Declare()
		if r := skipReason(b, s, have|promised(bg)); r != "" {
			b.record(s.String(), report.StatusSkipped, time.Now(), 0, r)
			continue
		}
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		deps := makers(bg, d.Needs)
		if bs, ok := s.(background); ok {
			ran = append(ran, s)
			bg = append(bg, b.startBackground(ctx, s, d, bs, deps))
			have &^= d.Ends
			continue
		}
		join(deps)
		if runErr != nil {
			break
		}
		b.Out.StepStart(s.String())
		b.notes = nil
		start := time.Now()
		ran = append(ran, s)
		err := b.runStep(ctx, s, d)
		dur := time.Since(start)
		if err != nil {
			runErr = fail(s, start, dur, err)
			break
		}
		have = have&^d.Ends | d.Makes
		b.record(s.String(), report.StatusOK, start, dur, strings.Join(b.notes, "; "))
	}
	// A failure stops new steps; those already running in the background
	// finish (a transfer and the release after it keep a snapshot whose boot
	// test failed), or end with the context.
	join(bg)
	if runErr != nil && ctx.Err() != nil {
		b.Cancelled = true
	}
	cerr := runCleanups(ctx, b, ran)
	// The sinks showed the step's error when it ended and each cleanup's
	// as it happened: the caller does not print them again.
	if cerr != nil {
		if runErr == nil {
			return report.Reported(cerr)
		}
		return report.Reported(errlist.Join(runErr, cerr))
	}
	return report.Reported(runErr)
}

// background is a step whose work runs while the steps after it do (the
// build droplet's deletion, the transfers and the release beside the boot
// test). Start reads what the step needs from the build on the runner's
// goroutine and returns work, which runs on its own goroutine and must not
// touch the build, and apply, which records the result on the build back on
// the runner's goroutine once work has succeeded. Run is Start, work and
// apply in a row.
type background interface {
	Start(ctx context.Context, b *Build) (work func(ctx context.Context) error, apply func())
}

// runNow runs a background step's work on the caller's goroutine.
func runNow(ctx context.Context, b *Build, s background) error {
	work, apply := s.Start(ctx, b)
	if err := work(ctx); err != nil {
		return err
	}
	apply()
	return nil
}

// inFlight is a background step under way.
type inFlight struct {
	step       Step
	decl       Decl
	start, end time.Time
	apply      func()
	done       chan struct{} // closed when work has returned; err, skip and end are set then
	err        error
	skip       string // why it did not run: a step it waited for failed
	joined     bool
}

// startBackground starts s once the background steps in deps are done.
func (b *Build) startBackground(ctx context.Context, s Step, d Decl, bs background, deps []*inFlight) *inFlight {
	// The same name as its result line, so the console collapses one into the other.
	b.Out.StepStart(s.String())
	b.Out.Log("runs in the background while the next steps run")
	r := &inFlight{step: s, decl: d, start: time.Now(), done: make(chan struct{})}
	var work func(context.Context) error
	err := b.protect(s.String(), func() error {
		if l := lacks(b, d.Needs&^promised(deps)); l != 0 {
			return fmt.Errorf("internal error: the step needs %s, which the build does not have (please report this bug)", l)
		}
		work, r.apply = bs.Start(ctx, b)
		return nil
	})
	go func() {
		defer close(r.done)
		defer func() { r.end = time.Now() }()
		if err != nil {
			r.err = err
			return
		}
		for _, dep := range deps {
			<-dep.done
			if dep.err != nil || dep.skip != "" {
				r.skip = dep.step.String() + " did not finish"
				return
			}
		}
		r.start = time.Now() // the step's own time starts after what it waited for
		r.err = b.protect(s.String(), func() error { return work(ctx) })
	}()
	return r
}

// finished are the background steps whose work has returned.
func finished(rs []*inFlight) []*inFlight {
	var out []*inFlight
	for _, r := range rs {
		select {
		case <-r.done:
			out = append(out, r)
		default:
		}
	}
	return out
}

// promised is what the background steps not yet joined will make.
func promised(rs []*inFlight) Need {
	var n Need
	for _, r := range rs {
		if !r.joined {
			n |= r.decl.Makes
		}
	}
	return n
}

// makers are the background steps not yet joined that make some of needs.
func makers(rs []*inFlight, needs Need) []*inFlight {
	var out []*inFlight
	for _, r := range rs {
		if !r.joined && r.decl.Makes&needs != 0 {
			out = append(out, r)
		}
	}
	return out
}

// failureNoter is a step that records its own failure as an outcome on the
// build (the boot test: the snapshot it tested is kept).
type failureNoter interface{ failed(b *Build) }

// runStep runs s after checking that what it needs is really there, and
// after it, that it made what it declares: a wrong declaration is a failed
// step that says so, never a nil dereference.
func (b *Build) runStep(ctx context.Context, s Step, d Decl) (err error) {
	if l := lacks(b, d.Needs); l != 0 {
		return fmt.Errorf("internal error: the step needs %s, which the build does not have (please report this bug)", l)
	}
	if err := b.protect(s.String(), func() error { return s.Run(ctx, b) }); err != nil {
		return err
	}
	if l := lacks(b, d.Makes); l != 0 {
		return fmt.Errorf("internal error: the step did not make %s (please report this bug)", l)
	}
	return nil
}

// protect calls f and turns a panic into an error, its stack in the log.
func (b *Build) protect(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			b.Out.Log(fmt.Sprintf("panic in %s: %v", what, r))
			for _, l := range strings.Split(strings.TrimRight(string(debug.Stack()), "\n"), "\n") {
				b.Out.Log("  " + l)
			}
			err = fmt.Errorf("panic: %v (a bug: the stack is in the log; please report it)", r)
		}
	}()
	return f()
}

// cleanupBudget bounds all cleanups after a failure or cancellation: long
// enough to delete a droplet and see it gone, short enough that an API that
// stopped answering cannot hold the job.
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
		if err := b.protect("the cleanup of "+s.String(), func() error { return s.Cleanup(cctx, b) }); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("cleanup of %s: %w", s, err))
			b.Out.Annotate(report.Annotation{Level: "error", Title: "cleanup of " + s.String(), Message: err.Error()})
		}
	}
	// The cleanups sent their deletes; wait for them together.
	var unverified []error
	if err := b.protect("verifying the deletions", func() error { unverified = b.verifyDeletions(cctx); return nil }); err != nil {
		unverified = append(unverified, err)
	}
	for _, err := range unverified {
		errs = multierror.Append(errs, fmt.Errorf("cleanup: %w", err))
		b.Out.Annotate(report.Annotation{Level: "error", Title: "cleanup", Message: err.Error()})
	}
	if errs != nil {
		errs.ErrorFormat = errlist.Counted("cleanup errors")
	}
	return errs.ErrorOrNil()
}

// note adds what the running step found to its result line (validation's
// totals, a kept droplet's ssh command), which stays on the screen.
func (b *Build) note(s string) { b.notes = append(b.notes, s) }

func (b *Build) record(name, status string, start time.Time, d time.Duration, detail string) {
	rec := report.StepRecord{Name: name, Status: status, Offset: start.Sub(b.Started), Duration: d, Detail: detail}
	b.Records = append(b.Records, rec)
	b.Out.StepEnd(rec)
}

// succeeded: no step failed and the build was not cancelled.
func (b *Build) succeeded() bool { return b.Failed == nil && !b.Cancelled }
