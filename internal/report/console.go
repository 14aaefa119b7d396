package report

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Console prints one readable line per step event, with the time since the
// build started; colour only when writing to a terminal.
type Console struct {
	mu     sync.Mutex
	w      io.Writer
	colour bool
	now    func() time.Time
	start  time.Time
}

// NewConsole writes to w; now is the clock (time.Now outside tests).
func NewConsole(w io.Writer, colour bool, now func() time.Time) *Console {
	if now == nil {
		now = time.Now
	}
	return &Console{w: w, colour: colour, now: now, start: now()}
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
)

func (c *Console) paint(code, s string) string {
	if !c.colour {
		return s
	}
	return code + s + ansiReset
}

// elapsed is the build clock, m:ss (h:mm:ss past an hour).
func (c *Console) elapsed() string {
	d := c.now().Sub(c.start).Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("[%d:%02d:%02d]", h, m, s)
	}
	return fmt.Sprintf("[%2d:%02d]", m, s)
}

func (c *Console) printf(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, format, a...)
}

// Mask does nothing: the Redactor around the output hides secrets.
func (c *Console) Mask(string) {}

// StepStart implements Sink.
func (c *Console) StepStart(name string) {
	c.printf("%s %s %s\n", c.paint(ansiDim, c.elapsed()), c.paint(ansiBold, "==>"), name)
}

// StepEnd implements Sink.
func (c *Console) StepEnd(r StepRecord) {
	mark, code := "ok", ansiGreen
	switch r.Status {
	case StatusFailed:
		mark, code = "FAILED", ansiRed
	case StatusCancelled:
		mark, code = "cancelled", ansiYellow
	case StatusSkipped:
		mark, code = "skipped", ansiDim
	}
	line := fmt.Sprintf("%s %s %s (%s)", c.paint(ansiDim, c.elapsed()), c.paint(code, mark), r.Name, FormatDuration(r.Duration))
	if r.Detail != "" {
		line += ": " + r.Detail
	}
	c.printf("%s\n", line)
}

// Log implements Sink.
func (c *Console) Log(line string) { c.printf("%s\n", strings.TrimRight(line, "\n")) }

// Annotate prints file:line: title: message, as compilers do.
func (c *Console) Annotate(a Annotation) {
	level := a.Level
	if level == "" {
		level = "error"
	}
	where := a.File
	if where != "" && a.Line > 0 {
		where = fmt.Sprintf("%s:%d", a.File, a.Line)
	}
	parts := []string{c.paint(levelColour(level), level)}
	for _, p := range []string{where, a.Title, a.Message} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	c.printf("%s\n", strings.Join(parts, ": "))
}

func levelColour(level string) string {
	switch level {
	case "warning":
		return ansiYellow
	case "notice":
		return ansiDim
	}
	return ansiRed
}

// State does nothing on a terminal: there is no post step to read it back.
func (c *Console) State(string, string) {}

// Outputs prints the results a user copies next.
func (c *Console) Outputs(o Outputs) error {
	for _, kv := range o.pairs() {
		if kv[1] != "" {
			c.printf("%s: %s\n", kv[0], kv[1])
		}
	}
	return nil
}

// Summary does nothing on a terminal: the step lines above are the summary.
func (c *Console) Summary(string) error { return nil }

// FormatDuration rounds for people: 850ms, 12.3s, 4m05s, 1h02m.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
