package retry

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestBackoffDoublesWithinHalfAndWholeStep(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for attempt, step := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		step *= time.Millisecond
		for range 50 {
			if d := b.Delay(attempt); d < step/2 || d > step {
				t.Fatalf("Delay(%d) = %s, want within [%s, %s]", attempt, d, step/2, step)
			}
		}
	}
	if d := (Backoff{}).Delay(3); d != 0 {
		t.Errorf("zero Backoff: %s", d)
	}
}

func TestAfter(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "0.25": 250 * time.Millisecond, "-1": 0, "soon": 0,
		time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat): 0,
	} {
		if got := After(v); got != want {
			t.Errorf("After(%q) = %s, want %s", v, got, want)
		}
	}
	if got := After(time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)); got < 58*time.Second || got > time.Minute {
		t.Errorf("After(a date a minute ahead) = %s", got)
	}
}

func TestDo(t *testing.T) {
	transient := errors.New("busy")
	final := errors.New("refused")
	b := Backoff{Min: time.Millisecond, Max: time.Millisecond}
	var heard []int
	n, err := Do(context.Background(), 5, b, func(a int) error {
		if a < 3 {
			return Again(transient, 0)
		}
		return nil
	}, func(a int, err error, _ time.Duration) { heard = append(heard, a) })
	if n != 3 || err != nil || len(heard) != 2 {
		t.Errorf("success on the third: n=%d err=%v notified %v", n, err, heard)
	}
	n, err = Do(context.Background(), 5, b, func(int) error { return final }, nil)
	if n != 1 || err != final {
		t.Errorf("unmarked error: n=%d err=%v, want 1 attempt and the error", n, err)
	}
	n, err = Do(context.Background(), 4, b, func(int) error { return Again(transient, 0) }, nil)
	if n != 4 || err != transient {
		t.Errorf("attempts run out: n=%d err=%v, want 4 and the last error unmarked", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// An hour's Retry-After: Do returns when ctx ends (or the test hangs).
	n, err = Do(ctx, 0, b, func(int) error { return Again(transient, time.Hour) }, nil)
	if n != 1 || err != transient || ctx.Err() == nil {
		t.Errorf("a Retry-After longer than the context: n=%d err=%v", n, err)
	}
}
