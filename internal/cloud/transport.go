package cloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/retry"
	"github.com/mp-image-action/mp-image-action/internal/timing"
)

// Transport retries what is safe to retry and remembers the API's rate-limit
// budget so that pollers can slow down before a 429 happens.
//
// It is the one HTTP retry layer: the API client and the Vendor Portal client
// both send through one. Idempotent requests (GET, HEAD, PUT, DELETE, PATCH)
// are retried on network errors, slow answers (AttemptTimeout), 429 and 5xx,
// with retry.Backoff, honouring Retry-After. A POST is retried only when the
// server certainly did not act on it (429, or the connection was refused);
// any other failure of a POST is ambiguous and comes back as *TransientError,
// so the caller can look for what the request may have created before trying
// again (a retried droplet create must never yield two droplets).
type Transport struct {
	Base           http.RoundTripper
	MaxAttempts    int           // per request, including the first; default 8
	AttemptTimeout time.Duration // a slower answer counts as transient; default 60s
	MinBackoff     time.Duration // default 500ms
	MaxBackoff     time.Duration // default 30s
	Logf           func(format string, args ...any)
	// Notify, when set, words the line about a retry instead of Logf (the
	// Vendor Portal's "attempt N of M failed").
	Notify func(req *http.Request, attempt, of int, err error, wait time.Duration)
	Timing *timing.Recorder // records each request, retries included, as API time
	// Pause, when set, is the 429 pause shared with other transports to the
	// same API under the same token (the build's and its Vendor Portal
	// submit's); nil: the transport's own.
	Pause *Pause

	own       Pause
	mu        sync.Mutex
	requests  int
	retries   int
	limited   int // 429 answers seen
	limit     int
	remaining int
	reset     time.Time
}

// Pause is the time until which, after a 429, every request through the
// transports sharing it waits (Retry-After).
type Pause struct {
	mu    sync.Mutex
	until time.Time
}

// extend makes the pause last at least until.
func (p *Pause) extend(until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if until.After(p.until) {
		p.until = until
	}
}

// left is how long the pause still lasts.
func (p *Pause) left() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Until(p.until)
}

func (t *Transport) pause() *Pause {
	if t.Pause != nil {
		return t.Pause
	}
	return &t.own
}

// TransientError is a failure that may succeed when tried again. For a POST
// it is ambiguous: the server may or may not have acted on the request.
type TransientError struct {
	Method, Path string
	Status       int // 0 for network errors
	Err          error
	Attempts     int            // made before giving up (0: the request was not retried)
	Resp         *http.Response // the last answer (body readable), when there was one
}

func (e *TransientError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s %s: HTTP %d (transient)", e.Method, e.Path, e.Status)
	}
	return fmt.Sprintf("%s %s: %v (transient)", e.Method, e.Path, e.Err)
}

func (e *TransientError) Unwrap() error { return e.Err }

// Stats is what the transport has seen so far.
type Stats struct {
	Requests  int // HTTP requests sent, retries included
	Retries   int
	Limited   int // 429 answers
	Limit     int // RateLimit-Limit of the last answer
	Remaining int // RateLimit-Remaining of the last answer
	Reset     time.Time
}

// Stats returns the counters; safe for concurrent use.
func (t *Transport) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Stats{Requests: t.requests, Retries: t.retries, Limited: t.limited,
		Limit: t.limit, Remaining: t.remaining, Reset: t.reset}
}

// Pace is the shortest interval between two polls that keeps the remaining
// budget from running out before it resets. With a healthy budget it is 0.
func (t *Transport) Pace() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.limit == 0 || t.reset.IsZero() {
		return 0
	}
	left := time.Until(t.reset)
	if left <= 0 {
		return 0
	}
	// Spend freely while more than a quarter of the budget is left; below that,
	// spread what remains evenly (leaving headroom for other callers) over the
	// time to the reset.
	if t.remaining > t.limit/4 {
		return 0
	}
	return left / time.Duration(max(t.remaining/2, 1))
}

func (t *Transport) logf(format string, args ...any) {
	if t.Logf != nil {
		t.Logf(format, args...)
	}
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions:
		return true
	}
	return false
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	attempts := t.MaxAttempts
	if attempts <= 0 {
		attempts = 8
	}
	ctx := req.Context()
	defer t.Timing.Since(timing.API, time.Now())
	var resp *http.Response
	var last error
	n, err := retry.Do(ctx, attempts, t.backoff(), func(attempt int) error {
		if err := t.waitPause(ctx); err != nil {
			return err
		}
		if attempt > 1 {
			if req.Body != nil && req.GetBody == nil {
				return last // cannot replay the body
			}
			if req.GetBody != nil {
				body, gerr := req.GetBody()
				if gerr != nil {
					return last
				}
				req = req.Clone(ctx)
				req.Body = body
			}
			t.mu.Lock()
			t.retries++
			t.mu.Unlock()
		}
		r, err := t.once(base, req)
		if ctx.Err() != nil {
			if r != nil {
				r.Body.Close()
			}
			return ctx.Err()
		}
		again, wait, terr := t.classify(req, r, err)
		if !again {
			if terr != nil {
				return terr
			}
			resp = r
			return nil
		}
		terr.Resp = r // kept for the caller if this was the last attempt
		last = terr
		return retry.Again(terr, wait)
	}, func(attempt int, err error, wait time.Duration) {
		if t.Notify != nil {
			t.Notify(req, attempt, attempts, err, wait)
			return
		}
		t.logf("API %s %s: %v; retrying in %s", req.Method, req.URL.Path, err, wait.Round(time.Millisecond))
	})
	if resp != nil {
		return resp, nil
	}
	if ctx.Err() != nil {
		if last != nil {
			return nil, fmt.Errorf("%w (last answer: %v)", ctx.Err(), last)
		}
		return nil, ctx.Err()
	}
	var te *TransientError
	if errors.As(err, &te) && n > 1 {
		te.Attempts = n
	}
	return nil, err
}

// once sends one attempt under its own deadline, so a slow answer is a
// transient failure rather than a hang.
func (t *Transport) once(base http.RoundTripper, req *http.Request) (*http.Response, error) {
	timeout := t.AttemptTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(req.Context(), timeout)
	t.mu.Lock()
	t.requests++
	t.mu.Unlock()
	resp, err := base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	t.noteRate(resp)
	// Read the body now: the attempt's deadline must cover it too, and the
	// caller gets a body that no longer depends on that deadline.
	data, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	cancel()
	if rerr != nil {
		return nil, rerr
	}
	resp.Body = io.NopCloser(bytesReader(data))
	resp.ContentLength = int64(len(data))
	return resp, nil
}

// classify decides whether an attempt is retried, how long to wait first, and
// what error describes it.
func (t *Transport) classify(req *http.Request, resp *http.Response, err error) (again bool, wait time.Duration, terr *TransientError) {
	path := req.URL.Path
	if err != nil {
		te := &TransientError{Method: req.Method, Path: path, Err: err}
		if idempotent(req.Method) || notSent(err) {
			return true, 0, te
		}
		return false, 0, te
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		wait = retry.After(resp.Header.Get("Retry-After"))
		if wait <= 0 {
			wait = t.backoff().Delay(2)
		}
		t.mu.Lock()
		t.limited++
		t.mu.Unlock()
		t.pause().extend(time.Now().Add(wait))
		// Rejected before processing: safe for every method.
		return true, wait, &TransientError{Method: req.Method, Path: path, Status: resp.StatusCode}
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		te := &TransientError{Method: req.Method, Path: path, Status: resp.StatusCode}
		if idempotent(req.Method) {
			return true, retry.After(resp.Header.Get("Retry-After")), te
		}
		return false, 0, te
	}
	return false, 0, nil
}

// notSent reports errors that prove the request never reached the server.
func notSent(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (t *Transport) backoff() retry.Backoff {
	b := retry.Backoff{Min: t.MinBackoff, Max: t.MaxBackoff}
	if b.Min <= 0 {
		b.Min = 500 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	return b
}

func (t *Transport) waitPause(ctx context.Context) error {
	if d := t.pause().left(); d > 0 {
		return retry.Sleep(ctx, d)
	}
	return nil
}

func (t *Transport) noteRate(resp *http.Response) {
	h := resp.Header
	limit, err1 := strconv.Atoi(h.Get("RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("RateLimit-Remaining"))
	reset, err3 := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.limit, t.remaining = limit, remaining
	if err3 == nil {
		t.reset = time.Unix(reset, 0)
	}
}
