// Package timing accounts for where a build's wall time goes: intervals spent
// waiting on the API and in remote operations are recorded as they happen,
// and their union is subtracted from the wall time to give the tool's own
// overhead.
package timing

import (
	"slices"
	"sync"
	"time"
)

// Interval is a span of time; End is never before Start.
type Interval struct{ Start, End time.Time }

// Recorder collects intervals by kind; safe for concurrent use. A nil
// *Recorder records nothing.
type Recorder struct {
	mu    sync.Mutex
	spans map[string][]Interval
}

// Kinds recorded by the build.
const (
	API    = "api"    // API requests and poll waits
	Remote = "remote" // SSH dials, commands, uploads
)

// Add records [start, end) under kind.
func (r *Recorder) Add(kind string, start, end time.Time) {
	if r == nil || end.Before(start) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.spans == nil {
		r.spans = map[string][]Interval{}
	}
	r.spans[kind] = append(r.spans[kind], Interval{start, end})
}

// Since records from start until now under kind; for defer.
func (r *Recorder) Since(kind string, start time.Time) { r.Add(kind, start, time.Now()) }

// Busy is the length of the union of the intervals of the given kinds
// (every kind when none is given): overlapping intervals count once.
func (r *Recorder) Busy(kinds ...string) time.Duration {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	var all []Interval
	for k, s := range r.spans {
		if len(kinds) == 0 || slices.Contains(kinds, k) {
			all = append(all, s...)
		}
	}
	r.mu.Unlock()
	return UnionLength(all)
}

// UnionLength is the total length covered by the intervals, each instant
// counted once however many intervals cover it.
func UnionLength(iv []Interval) time.Duration {
	iv = slices.Clone(iv)
	slices.SortFunc(iv, func(a, b Interval) int { return a.Start.Compare(b.Start) })
	var total time.Duration
	var cur Interval
	open := false
	for _, x := range iv {
		if !open {
			cur, open = x, true
			continue
		}
		if x.Start.After(cur.End) {
			total += cur.End.Sub(cur.Start)
			cur = x
			continue
		}
		if x.End.After(cur.End) {
			cur.End = x.End
		}
	}
	if open {
		total += cur.End.Sub(cur.Start)
	}
	return total
}

// Summary is the manifest's "timing" block, in seconds.
type Summary struct {
	Wall     float64 `json:"wall_s"`
	APIWait  float64 `json:"api_wait_s"` // requests and poll waits
	Remote   float64 `json:"remote_s"`   // SSH dials, commands, uploads
	Overhead float64 `json:"overhead_s"` // wall minus the union of both: the tool's own time
	// Overlaps are the steps that ran at the same time (the build droplet's
	// deletion, the transfers and the release beside the boot test), and
	// Saved the wall time that spared: the steps' durations added up, minus
	// the time any of them ran.
	Overlaps []Overlap `json:"overlaps,omitempty"`
	Saved    float64   `json:"overlap_saved_s"`
}

// Overlap is two steps running at once for Seconds.
type Overlap struct {
	Steps   [2]string `json:"steps"`
	Seconds float64   `json:"seconds"`
}

// Overlapping finds the pairs of named spans that overlap, in the order
// given, and the time running them at once saved.
func Overlapping(names []string, spans []Interval) ([]Overlap, time.Duration) {
	var out []Overlap
	var sum time.Duration
	for i, a := range spans {
		sum += a.End.Sub(a.Start)
		for j := i + 1; j < len(spans); j++ {
			b := spans[j]
			start, end := a.Start, a.End
			if b.Start.After(start) {
				start = b.Start
			}
			if b.End.Before(end) {
				end = b.End
			}
			if end.After(start) {
				out = append(out, Overlap{Steps: [2]string{names[i], names[j]}, Seconds: end.Sub(start).Seconds()})
			}
		}
	}
	return out, sum - UnionLength(spans)
}

// Summarize accounts for a run that took wall.
func (r *Recorder) Summarize(wall time.Duration) Summary {
	busy := r.Busy(API, Remote)
	return Summary{Wall: wall.Seconds(), APIWait: r.Busy(API).Seconds(), Remote: r.Busy(Remote).Seconds(),
		Overhead: max(wall-busy, 0).Seconds()}
}
