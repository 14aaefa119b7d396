package cloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/timing"
)

// Transport retries what is safe to retry and remembers the API's rate-limit
// budget so that pollers can slow down before a 429 happens.
//
// Idempotent requests (GET, HEAD, PUT, DELETE, PATCH) are retried on network
// errors, slow answers (AttemptTimeout), 429 and 5xx, with exponential backoff
// and full jitter, honouring Retry-After. A POST is retried only when the
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
	Timing         *timing.Recorder // records each request, retries included, as API time

	mu         sync.Mutex
	scale      float64 // X-Local-Cloud-Time-Scale of the last answer; 0: none
	requests   int
	retries    int
	limited    int // 429 answers seen
	limit      int
	remaining  int
	reset      time.Time
	pauseUntil time.Time // after a 429, every request waits for Retry-After
}

// TransientError is a failure that may succeed when tried again. For a POST
// it is ambiguous: the server may or may not have acted on the request.
type TransientError struct {
	Method, Path string
	Status       int // 0 for network errors
	Err          error
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
	var lastErr error
	for attempt := 0; attempt < attempts; attempt++ {
		if err := t.waitPause(ctx); err != nil {
			return nil, err
		}
		if attempt > 0 {
			t.mu.Lock()
			t.retries++
			t.mu.Unlock()
		}
		resp, err := t.once(base, req)
		if ctx.Err() != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return nil, ctx.Err()
		}
		retry, wait, terr := t.classify(req, resp, err)
		if !retry {
			if terr != nil {
				return nil, terr
			}
			return resp, nil
		}
		lastErr = terr
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
		}
		if attempt == attempts-1 {
			break
		}
		if req.Body != nil && req.GetBody == nil {
			break // cannot replay the body
		}
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				break
			}
			req = req.Clone(ctx)
			req.Body = body
		}
		if wait <= 0 {
			wait = t.backoff(attempt)
		}
		t.logf("API %s %s: %v; retrying in %s", req.Method, req.URL.Path, terr, wait.Round(time.Millisecond))
		if err := sleepCtx(ctx, wait); err != nil {
			return nil, err
		}
	}
	return nil, lastErr
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
func (t *Transport) classify(req *http.Request, resp *http.Response, err error) (retry bool, wait time.Duration, terr error) {
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
		wait = retryAfter(resp)
		if wait <= 0 {
			wait = t.backoff(2)
		}
		t.mu.Lock()
		t.limited++
		if until := time.Now().Add(wait); until.After(t.pauseUntil) {
			t.pauseUntil = until
		}
		t.mu.Unlock()
		// Rejected before processing: safe for every method.
		return true, wait, &TransientError{Method: req.Method, Path: path, Status: resp.StatusCode}
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		te := &TransientError{Method: req.Method, Path: path, Status: resp.StatusCode}
		if idempotent(req.Method) {
			return true, retryAfter(resp), te
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

func (t *Transport) backoff(attempt int) time.Duration {
	lo, hi := t.MinBackoff, t.MaxBackoff
	if lo <= 0 {
		lo = 500 * time.Millisecond
	}
	if hi <= 0 {
		hi = 30 * time.Second
	}
	d := lo << min(attempt, 16)
	if d > hi || d <= 0 {
		d = hi
	}
	// Full jitter: concurrent builds that failed together do not retry together.
	return d/2 + rand.N(d/2+1)
}

func (t *Transport) waitPause(ctx context.Context) error {
	t.mu.Lock()
	until := t.pauseUntil
	t.mu.Unlock()
	if d := time.Until(until); d > 0 {
		return sleepCtx(ctx, d)
	}
	return nil
}

// TimeScaleHeader is how the local cloud tells clients that its clock runs
// faster than DigitalOcean's (e.g. "0.01"); the real API never sends it.
const TimeScaleHeader = "X-Local-Cloud-Time-Scale"

// TimeScale is the clock scale the API advertised, 0 when it advertised none.
func (t *Transport) TimeScale() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.scale
}

func (t *Transport) noteRate(resp *http.Response) {
	h := resp.Header
	if v := h.Get(TimeScaleHeader); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			t.mu.Lock()
			t.scale = f
			t.mu.Unlock()
		}
	}
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

func retryAfter(resp *http.Response) time.Duration {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if at, err := http.ParseTime(v); err == nil {
		return time.Until(at)
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
