// Package retry is the one way the tool tries something again: one backoff,
// one Retry-After reading, one loop (the DigitalOcean API and Vendor Portal
// transport, create adoption, the SSH dial).
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff doubles from Min up to Max, with equal jitter: half of each delay
// is fixed, half random, so concurrent builds that failed together do not
// retry together, yet no delay falls below half its step.
type Backoff struct {
	Min, Max time.Duration
}

// Delay is the pause after the attempt-th failure (0 for the first).
func (b Backoff) Delay(attempt int) time.Duration {
	lo, hi := b.Min, max(b.Max, b.Min)
	if lo <= 0 {
		return 0
	}
	d := lo << min(max(attempt, 0), 20)
	if d > hi || d <= 0 {
		d = hi
	}
	return d/2 + rand.N(d/2+1)
}

// After is the pause a Retry-After header value asks for: seconds (a
// fraction allowed) or an HTTP date; 0 when absent, past or unreadable.
func After(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(time.Until(at), 0)
	}
	return 0
}

// Sleep waits d, or returns ctx's error as soon as ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// again marks an error worth another attempt.
type again struct {
	err  error
	wait time.Duration
}

func (a *again) Error() string { return a.err.Error() }
func (a *again) Unwrap() error { return a.err }

// Again marks err as worth another attempt; wait > 0 replaces the backoff
// before it (a server's Retry-After, a minimum spacing).
func Again(err error, wait time.Duration) error { return &again{err: err, wait: wait} }

// Do calls op (attempt counts from 1) until it returns nil or an error not
// marked with Again, attempts run out (0: no limit), or ctx ends. notify, if
// set, hears of each failure before the pause that follows it. Do returns
// the attempts made and op's last error (unmarked); when ctx ended the
// caller sees it in ctx.Err() and words the message itself.
func Do(ctx context.Context, attempts int, b Backoff, op func(attempt int) error, notify func(attempt int, err error, wait time.Duration)) (int, error) {
	for attempt := 1; ; attempt++ {
		err := op(attempt)
		var a *again
		if !errors.As(err, &a) {
			return attempt, err
		}
		if attempts > 0 && attempt >= attempts {
			return attempt, a.err
		}
		wait := a.wait
		if wait <= 0 {
			wait = b.Delay(attempt - 1)
		}
		if notify != nil {
			notify(attempt, a.err, wait)
		}
		if Sleep(ctx, wait) != nil {
			return attempt, a.err
		}
	}
}
