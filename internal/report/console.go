package report

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// ConsoleOptions say how the console shows a build.
type ConsoleOptions struct {
	// TTY: one live line per running step (name, elapsed, what it does now)
	// that collapses to a result line; otherwise one plain line per event.
	TTY    bool
	Colour bool
	Quiet  bool // only warnings, failures and the results
	// GitHub: the GitHub sink shows annotations (and a failed step's error);
	// the console does not repeat them.
	GitHub bool
	Now    func() time.Time
	Width  func() int    // terminal columns (TTY); nil: 80
	Tick   time.Duration // TTY redraw interval; 0: on events only (tests)
	// LogPath is the transcript file, named at the start and in the results.
	LogPath string
	// Err receives errors (error annotations, a failed step's error), each
	// line starting "mp-image: "; nil: the console's writer, no prefix.
	Err io.Writer
	// Throttle: plain lines show a command's carriage-return progress at most
	// this often; 0: every 10 s.
	Throttle time.Duration
}

// tailLines is how much of a failing command the terminal shows.
const tailLines = 30

// redrawGap bounds live redraws caused by output: a command printing
// thousands of lines a second must not flood the terminal.
const redrawGap = 50 * time.Millisecond

// Console shows a build to a person: live lines on a terminal, plain lines
// in CI logs.
type Console struct {
	mu       sync.Mutex
	w        io.Writer
	o        ConsoleOptions
	start    time.Time
	steps    []*stepView // running, in start order
	note     string      // a terminal's live line while no step runs (the local cloud starting)
	live     int         // rows of live lines on screen now
	drawn    time.Time
	deciles  marks
	throttle throttle
	stop     chan struct{}
	ticking  sync.WaitGroup
	closed   bool
	begun    bool // the log path is printed, before the first line (after the runner's masks)
}

// stepView is what the console knows of a running step.
type stepView struct {
	name     string
	start    time.Time
	activity string    // the live line's text after the name
	bar      *Progress // a long operation under way
	source   string    // the command tail holds lines of
	tail     []string
	errs     []Annotation // shown with the step's result, once
}

// NewConsole writes plain lines to w; now is the clock (time.Now when nil).
func NewConsole(w io.Writer, colour bool, now func() time.Time) *Console {
	return OpenConsole(w, ConsoleOptions{Colour: colour, Now: now})
}

// OpenConsole writes to w as o says; Close it when the build is over (a
// terminal's live lines redraw on a timer until then).
func OpenConsole(w io.Writer, o ConsoleOptions) *Console {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Throttle <= 0 {
		o.Throttle = 10 * time.Second
	}
	if o.Err == nil {
		o.Err = w
	}
	c := &Console{w: w, o: o, start: o.Now(), deciles: newMarks(10), throttle: throttle{every: o.Throttle}}
	if o.TTY && o.Tick > 0 {
		c.stop = make(chan struct{})
		c.ticking.Add(1)
		go c.tick()
	}
	return c
}

func (c *Console) tick() {
	defer c.ticking.Done()
	t := time.NewTicker(c.o.Tick)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.mu.Lock()
			if len(c.steps) > 0 {
				c.redraw(true)
			}
			c.mu.Unlock()
		}
	}
}

// Close stops the live lines and clears them, so whatever is written next
// starts on a clean row.
func (c *Console) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.clearLive()
	c.mu.Unlock()
	if c.stop != nil {
		close(c.stop)
		c.ticking.Wait()
	}
	return nil
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiDim    = "\x1b[2m"
)

func (c *Console) paint(code, s string) string {
	if !c.o.Colour || s == "" {
		return s
	}
	return code + s + ansiReset
}

// clock is the build clock for plain lines, [m:ss] (h:mm:ss past an hour).
func (c *Console) clock() string { return "[" + clock(c.o.Now().Sub(c.start), true) + "]" }

func clock(d time.Duration, pad bool) string {
	d = d.Truncate(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	if pad {
		return fmt.Sprintf("%2d:%02d", m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// print writes lines that stay: on a terminal above the live lines.
func (c *Console) print(lines ...string) {
	if len(lines) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.printLocked(lines...)
}

func (c *Console) printLocked(lines ...string) { c.printTo(c.w, lines...) }

// printTo writes lines to w (the console's writer or Err, the same terminal).
func (c *Console) printTo(w io.Writer, lines ...string) {
	if len(lines) == 0 {
		return
	}
	if c.o.TTY {
		c.clearLive()
	}
	c.begin()
	io.WriteString(w, strings.Join(lines, "\n")+"\n")
	if c.o.TTY {
		c.drawLive()
	}
}

// begin names the log file first, once, unless quiet (the results name it too).
func (c *Console) begin() {
	if c.begun {
		return
	}
	c.begun = true
	if c.o.LogPath != "" && !c.o.Quiet {
		io.WriteString(c.w, c.paint(ansiDim, "full log: "+c.o.LogPath)+"\n")
	}
}

// clearLive removes the live lines; the cursor ends where the first was.
func (c *Console) clearLive() {
	if c.live == 0 {
		return
	}
	io.WriteString(c.w, "\r"+strings.Repeat("\x1b[1A", c.live-1)+"\x1b[J")
	c.live = 0
}

// drawLive writes one line per running step, leaving the cursor at the end
// of the last one (no newline, so clearLive knows where they are).
func (c *Console) drawLive() {
	if c.closed || c.o.Quiet || len(c.steps) == 0 && c.note == "" {
		return
	}
	width := 80
	if c.o.Width != nil {
		width = c.o.Width()
	}
	now := c.o.Now()
	lines := make([]string, 0, len(c.steps))
	for _, s := range c.steps {
		lines = append(lines, c.liveLine(s, now, width-1))
	}
	if len(lines) == 0 {
		lines = append(lines, c.paint(ansiDim, truncate(c.note, width-1)))
	}
	c.begin()
	io.WriteString(c.w, strings.Join(lines, "\n"))
	c.live = len(lines)
	c.drawn = now
}

// redraw replaces the live lines; unless forced, not more often than redrawGap.
func (c *Console) redraw(force bool) {
	if !c.o.TTY || c.closed {
		return
	}
	if !force && c.o.Now().Sub(c.drawn) < redrawGap {
		return
	}
	c.clearLive()
	c.drawLive()
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// liveLine is "⠹ provision 1:02  [scripts/10-nginx.sh] Setting up nginx ...",
// cut to width runes.
func (c *Console) liveLine(s *stepView, now time.Time, width int) string {
	spin := spinner[int(now.Sub(c.start)/(100*time.Millisecond))%len(spinner)]
	name := s.name
	el := clock(now.Sub(s.start), false)
	text := s.activity
	if s.bar != nil {
		text = s.bar.Task + " " + s.bar.bar(20)
		if s.bar.Text != "" {
			text += " " + s.bar.Text
		}
	}
	fixed := len([]rune(spin)) + 1 + len([]rune(name)) + 1 + len(el)
	if fixed > width {
		name = truncate(name, max(width-len(el)-3, 1))
		fixed = len([]rune(spin)) + 1 + len([]rune(name)) + 1 + len(el)
	}
	line := c.paint(ansiCyan, spin) + " " + c.paint(ansiBold, name) + " " + c.paint(ansiDim, el)
	if room := width - fixed - 2; room > 0 && text != "" {
		line += "  " + c.paint(ansiDim, truncate(text, room))
	}
	return line
}

func (c *Console) find(name string) (int, *stepView) {
	for i, s := range c.steps {
		if s.name == name {
			return i, s
		}
	}
	return -1, nil
}

// current is the step output belongs to: the one started last.
func (c *Console) current() *stepView {
	if len(c.steps) == 0 {
		return nil
	}
	return c.steps[len(c.steps)-1]
}

// updateLive changes the running step's live line on a terminal (false: plain
// lines, nothing done).
func (c *Console) updateLive(change func(s *stepView)) bool {
	if !c.o.TTY {
		return false
	}
	if s := c.current(); s != nil {
		change(s)
		c.redraw(false)
	}
	return true
}

// Mask does nothing: the Redactor around the output hides secrets.
func (c *Console) Mask(string) {}

// StepStart implements Sink.
func (c *Console) StepStart(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.steps = append(c.steps, &stepView{name: name, start: c.o.Now()})
	c.note = ""
	switch {
	case c.o.Quiet:
	case c.o.TTY:
		c.redraw(true)
	default:
		c.printLocked(c.paint(ansiDim, c.clock()) + " " + c.paint(ansiBold, "==>") + " " + name)
	}
}

// StepEnd collapses the step to its result line; a failed step's error, its
// place in the recipe and (on a terminal, where they were not shown) the last
// lines of the failing command follow, once.
func (c *Console) StepEnd(r StepRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s *stepView
	if i, v := c.find(r.Name); v != nil {
		s = v
		c.steps = append(c.steps[:i], c.steps[i+1:]...)
	}
	failed := r.Status == StatusFailed || r.Status == StatusCancelled
	if !c.o.Quiet || failed {
		c.printLocked(c.result(r))
	} else if c.o.TTY {
		c.redraw(true)
	}
	if s != nil && r.Status == StatusFailed && c.o.TTY && len(s.tail) > 0 {
		tail := []string{c.paint(ansiDim, fmt.Sprintf("  last %d lines of %s:", len(s.tail), s.source))}
		for _, l := range s.tail {
			tail = append(tail, c.paint(ansiDim, "  │ ")+l)
		}
		c.printLocked(tail...)
	}
	var errs []string
	repeated := false // an annotation already says what the step's error says
	if s != nil && !c.o.GitHub {
		for _, a := range s.errs {
			errs = append(errs, c.annotation(a)...)
			first, _, _ := strings.Cut(a.Message, "\n")
			repeated = repeated || strings.Contains(r.Detail, first)
		}
	}
	if r.Status == StatusFailed && !repeated && !c.o.GitHub && r.Detail != "" {
		errs = append(errs, c.annotation(Annotation{Level: "error", Message: r.Detail})...)
	}
	c.printErrors(errs...)
}

// printErrors writes error lines to Err; on a standard error of its own
// each line starts "mp-image: ", as every error line of the tool does.
func (c *Console) printErrors(lines ...string) {
	if c.o.Err != c.w {
		for i, l := range lines {
			lines[i] = "mp-image: " + l
		}
	}
	c.printTo(c.o.Err, lines...)
}

// result is the step's one line: plain "[ 0:08] ok create droplet (8.1s)",
// on a terminal "✓ create droplet (8.1s)".
func (c *Console) result(r StepRecord) string {
	d := " (" + FormatDuration(r.Duration) + ")"
	detail := ""
	if r.Detail != "" && r.Status != StatusFailed {
		detail = ": " + oneLine(r.Detail)
	}
	if !c.o.TTY {
		switch r.Status {
		case StatusSkipped:
			return c.paint(ansiDim, c.clock()+" skipped "+r.Name+detail)
		case StatusFailed:
			return c.paint(ansiDim, c.clock()) + " " + c.paint(ansiRed, "FAILED") + " " + r.Name + d
		case StatusCancelled:
			return c.paint(ansiDim, c.clock()) + " " + c.paint(ansiYellow, "cancelled") + " " + r.Name + d
		}
		return c.paint(ansiDim, c.clock()) + " " + c.paint(ansiGreen, "ok") + " " + r.Name + d + detail
	}
	switch r.Status {
	case StatusSkipped:
		return c.paint(ansiDim, "- skipped "+r.Name+detail)
	case StatusFailed:
		return c.paint(ansiRed, "✗ "+r.Name) + c.paint(ansiDim, d)
	case StatusCancelled:
		return c.paint(ansiYellow, "⊘ "+r.Name+" cancelled") + c.paint(ansiDim, d)
	}
	return c.paint(ansiGreen, "✓") + " " + r.Name + c.paint(ansiDim, d+detail)
}

// Log implements Sink: a plain line, or on a terminal the running step's
// live text, or the live line while no step runs (the log file keeps it).
func (c *Console) Log(line string) {
	line = strings.TrimRight(line, "\n")
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.o.Quiet {
		return
	}
	s := c.current()
	if !c.o.TTY {
		c.printLocked(line)
		return
	}
	if s == nil {
		c.note = printable(line)
		c.redraw(true)
		return
	}
	s.activity, s.bar = printable(line), nil
	c.redraw(false)
}

// Output implements Sink: a plain line "[source] text" as the terminal would
// have left it, or on a terminal the live text; the step keeps the command's
// last lines for a failure.
func (c *Console) Output(source, line string) {
	shown := Visible(line)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.throttle.end(source)
	if s := c.current(); s != nil {
		if s.source != source {
			s.source, s.tail = source, s.tail[:0]
		}
		if len(s.tail) == tailLines {
			s.tail = append(s.tail[:0], s.tail[1:]...)
		}
		s.tail = append(s.tail, printable(shown))
		if c.o.TTY {
			s.activity, s.bar = "["+source+"] "+printable(shown), nil
			c.redraw(false)
			return
		}
	}
	if !c.o.Quiet && !c.o.TTY {
		c.printLocked("[" + source + "] " + shown)
	}
}

// Partial implements Sink: the live text on a terminal; in plain lines, at
// most one progress line per Throttle for a line still being written.
func (c *Console) Partial(source, fragment string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.o.Quiet {
		return
	}
	if c.updateLive(func(s *stepView) { s.activity, s.bar = "["+source+"] "+printable(fragment), nil }) {
		return
	}
	if c.throttle.allow(source, c.o.Now()) {
		c.printLocked("[" + source + "] " + fragment)
	}
}

// Progress implements Sink: an updating bar on a terminal, a line every 10%
// elsewhere.
func (c *Console) Progress(p Progress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.o.Quiet {
		return
	}
	if c.o.TTY {
		s := c.current()
		if _, v := c.find(p.Step); v != nil {
			s = v
		}
		if s != nil {
			s.bar = &p
			c.redraw(false)
		}
		return
	}
	if c.deciles.step(p) {
		c.printLocked(c.paint(ansiDim, c.clock()) + " " + p.line())
	}
}

// Annotate prints file:line: title: message, as compilers do, unless the
// GitHub sink shows it. An error is held for its step's result line.
func (c *Console) Annotate(a Annotation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.o.GitHub || c.o.Quiet && a.Level == "notice" {
		return
	}
	if a.Level == "error" || a.Level == "" {
		if s := c.current(); s != nil {
			s.errs = append(s.errs, a)
			return
		}
		c.printErrors(c.annotation(a)...)
		return
	}
	c.printLocked(c.annotation(a)...)
}

// annotation renders "error: file:line: title: first line", then the
// message's other lines indented.
func (c *Console) annotation(a Annotation) []string {
	level := a.Level
	if level == "" {
		level = "error"
	}
	where := a.File
	if where != "" && a.Line > 0 {
		where = fmt.Sprintf("%s:%d", a.File, a.Line)
	}
	msg := strings.Split(strings.TrimRight(a.Message, "\n"), "\n")
	parts := []string{c.paint(levelColour(level), level)}
	for _, p := range []string{where, a.Title, msg[0]} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	out := []string{strings.Join(parts, ": ")}
	for _, l := range msg[1:] {
		out = append(out, "    "+l)
	}
	return out
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

// Outputs prints the results a user copies next, once, as name=value lines,
// with the transcript's path.
func (c *Console) Outputs(o Outputs) error {
	lines := []string{""}
	for _, kv := range o.pairs() {
		if kv[1] != "" {
			// A value of several lines (freshness's reasons) goes on, indented.
			lines = append(lines, c.paint(ansiBold, kv[0])+"="+strings.ReplaceAll(kv[1], "\n", "\n  "))
		}
	}
	if c.o.LogPath != "" {
		lines = append(lines, c.paint(ansiBold, "log")+"="+c.o.LogPath)
	}
	if len(lines) > 1 {
		c.print(lines...)
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
