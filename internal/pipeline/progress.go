package pipeline

import (
	"fmt"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/report"
)

// progressEvery is how often a long wait reports how far it is: often enough
// for a terminal's live line, and the sinks keep logs to a line every 10%.
const progressEvery = 2 * time.Second

// watch reports the progress of a long operation of step to out until the
// returned stop is called; status says how far it is after elapsed.
func watch(out report.Sink, step, task string, status func(elapsed time.Duration) (fraction float64, text string)) (stop func()) {
	start := time.Now()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f, text := status(time.Since(start))
				out.Progress(report.Progress{Step: step, Task: task, Fraction: f, Text: text})
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// ofTimeout is the progress of a wait whose end the API does not tell (a
// snapshot): the time spent against the time allowed.
func ofTimeout(option string, timeout time.Duration) func(time.Duration) (float64, string) {
	return func(el time.Duration) (float64, string) {
		el = el.Truncate(time.Second)
		if timeout <= 0 {
			return 0, report.FormatDuration(el)
		}
		return float64(el) / float64(timeout), fmt.Sprintf("%s of the %s %s", report.FormatDuration(el), report.FormatDuration(timeout), option)
	}
}
