// Package report sends a build's progress and results where the user looks: terminal, GitHub Actions, GitLab dotenv, a JSON manifest.
package report

import (
	"io"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/errlist"
	"golang.org/x/term"
)

// Step statuses.
const (
	StatusOK        = "ok"
	StatusSkipped   = "skipped"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// StepRecord is what one pipeline step did.
type StepRecord struct {
	Name     string        `json:"name"`
	Status   string        `json:"status"`    // ok | skipped | failed | cancelled
	Offset   time.Duration `json:"offset_ns"` // when it started, since the build did: steps may overlap
	Duration time.Duration `json:"duration_ns"`
	// Detail is the error of a failed step, the reason of a skipped one, or
	// what an ok step found (validation: its totals).
	Detail string `json:"detail,omitempty"`
}

// Annotation points at a place in the user's recipe, for example the line of a failing script.
type Annotation struct {
	Level   string // error | warning | notice
	File    string // path relative to the workspace, when known
	Line    int    // 1-based, 0 when unknown
	Title   string
	Message string // may span lines: what is wrong, details, the fix
}

// Progress is how far a long operation (secure erase, snapshot, transfers) is.
type Progress struct {
	Step     string  // the step it belongs to ("": the step started last); steps may run at once
	Task     string  // "secure erase", "snapshot", "transfer"
	Fraction float64 // 0..1: of the work, or of the timeout when the work cannot tell
	Text     string  // how far, for people: "40%, 9600 MiB written", "6m00s of the 60m snapshot-timeout"
}

// Outputs are the build's results, as action outputs and dotenv variables.
type Outputs struct {
	SnapshotID      string
	SnapshotName    string
	SnapshotRegions []string
	DropletID       int
	DropletIP       string
	Validation      string // pass | warn | fail
	ReportPath      string
	ManifestPath    string
	KeyPath         string // keep-droplet: the kept droplet's private key
	SBOMPath        string
	ProvenancePath  string
	// mp-image freshness: "true" or "false", and one reason per line.
	Stale   string
	Reasons string
}

// Sink receives a build's progress and results. The pipeline calls Mask for
// every secret before anything else.
type Sink interface {
	Mask(secret string)
	StepStart(name string)
	StepEnd(rec StepRecord)
	// Log is what the tool says about the step under way.
	Log(line string)
	// Output is one line a remote command printed; source names the command
	// (apt, scripts/10-nginx.sh). The line keeps any carriage-return
	// progress inside it: see Shown.
	Output(source, line string)
	// Partial is a carriage-return fragment of a line source is still
	// writing (curl's meter), for progress before the line ends.
	Partial(source, fragment string)
	Progress(p Progress)
	Annotate(a Annotation)
	State(key, value string) // for the post-entrypoint safety net; never a secret
	Outputs(o Outputs) error
	Summary(markdown string) error
}

// Nop does nothing; a sink embeds it and implements only what it shows.
type Nop struct{}

func (Nop) Mask(string)            {}
func (Nop) StepStart(string)       {}
func (Nop) StepEnd(StepRecord)     {}
func (Nop) Log(string)             {}
func (Nop) Output(string, string)  {}
func (Nop) Partial(string, string) {}
func (Nop) Progress(Progress)      {}
func (Nop) Annotate(Annotation)    {}
func (Nop) State(string, string)   {}
func (Nop) Outputs(Outputs) error  { return nil }
func (Nop) Summary(string) error   { return nil }

// Multi sends every call to each sink in order.
type Multi []Sink

// Mask implements Sink.
func (m Multi) Mask(s string) {
	for _, x := range m {
		x.Mask(s)
	}
}

// StepStart implements Sink.
func (m Multi) StepStart(name string) {
	for _, x := range m {
		x.StepStart(name)
	}
}

// StepEnd implements Sink.
func (m Multi) StepEnd(r StepRecord) {
	for _, x := range m {
		x.StepEnd(r)
	}
}

// Log implements Sink.
func (m Multi) Log(line string) {
	for _, x := range m {
		x.Log(line)
	}
}

// Output implements Sink.
func (m Multi) Output(source, line string) {
	for _, x := range m {
		x.Output(source, line)
	}
}

// Partial implements Sink.
func (m Multi) Partial(source, fragment string) {
	for _, x := range m {
		x.Partial(source, fragment)
	}
}

// Progress implements Sink.
func (m Multi) Progress(p Progress) {
	for _, x := range m {
		x.Progress(p)
	}
}

// Annotate implements Sink.
func (m Multi) Annotate(a Annotation) {
	for _, x := range m {
		x.Annotate(a)
	}
}

// State implements Sink.
func (m Multi) State(k, v string) {
	for _, x := range m {
		x.State(k, v)
	}
}

// Outputs implements Sink; every sink is tried and all errors are returned together.
func (m Multi) Outputs(o Outputs) error {
	var errs []error
	for _, x := range m {
		errs = append(errs, x.Outputs(o))
	}
	return errlist.Join(errs...)
}

// Summary implements Sink; every sink is tried and all errors are returned together.
func (m Multi) Summary(md string) error {
	var errs []error
	for _, x := range m {
		errs = append(errs, x.Summary(md))
	}
	return errlist.Join(errs...)
}

// Close ends every sink that holds something open (the terminal's live
// lines, the log file), in order; call it before writing anything else to
// the terminal.
func (m Multi) Close() error {
	var errs []error
	for _, x := range m {
		if c, ok := x.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errlist.Join(errs...)
}

// Close closes s when it holds something open (see Multi.Close).
func Close(s Sink) error {
	if c, ok := s.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// Progress modes (the progress option).
const (
	ProgressAuto  = "auto"  // live lines on a terminal, plain lines elsewhere
	ProgressTTY   = "tty"   // live lines
	ProgressPlain = "plain" // one line per event, for CI logs
)

// DetectOption adjusts Detect.
type DetectOption func(*detectConfig)

type detectConfig struct {
	dotenv   string
	now      func() time.Time
	progress string
	quiet    bool
	log      *LogFile
	terminal io.Writer
	err      io.Writer
}

// WithDotenv adds a Dotenv sink writing to path (GitLab artifacts:reports:dotenv).
func WithDotenv(path string) DetectOption { return func(c *detectConfig) { c.dotenv = path } }

// WithClock sets the clock the console's elapsed times come from (tests).
func WithClock(now func() time.Time) DetectOption { return func(c *detectConfig) { c.now = now } }

// WithProgress chooses live lines or plain lines (auto, tty, plain).
func WithProgress(mode string) DetectOption { return func(c *detectConfig) { c.progress = mode } }

// WithQuiet prints only warnings, failures and the results.
func WithQuiet(q bool) DetectOption { return func(c *detectConfig) { c.quiet = q } }

// WithLog adds the transcript file; the console prints its path at the
// start and at the end.
func WithLog(l *LogFile) DetectOption { return func(c *detectConfig) { c.log = l } }

// WithTerminal names the file the console ends up on when stdout is a
// wrapper (the Redactor), so Detect can ask whether it is a terminal and
// how wide.
func WithTerminal(w io.Writer) DetectOption { return func(c *detectConfig) { c.terminal = w } }

// WithErr sends errors (failures, error annotations) to w, the standard
// error, instead of the console's writer.
func WithErr(w io.Writer) DetectOption { return func(c *detectConfig) { c.err = w } }

// Detect picks the sinks for where the binary runs: on GitHub Actions
// (GITHUB_ACTIONS=true) the GitHub sink, which shows annotations, and a
// plain console; elsewhere a console that shows them itself, live on a
// terminal (auto), plus a Dotenv sink and the transcript file when asked
// for. The GitHub file-command paths are never used outside GitHub.
func Detect(getenv func(string) string, stdout io.Writer, opts ...DetectOption) Sink {
	cfg := detectConfig{now: time.Now, progress: ProgressAuto, terminal: stdout}
	for _, o := range opts {
		o(&cfg)
	}
	onGitHub := getenv("GITHUB_ACTIONS") == "true"
	fd, isTTY := terminalFd(cfg.terminal)
	dumb := getenv("TERM") == "dumb"
	co := ConsoleOptions{Now: cfg.now, Quiet: cfg.quiet, GitHub: onGitHub, Err: cfg.err,
		Colour: isTTY && !dumb && !onGitHub && getenv("NO_COLOR") == ""}
	switch cfg.progress {
	case ProgressTTY:
		co.TTY = true
	case ProgressPlain:
	default: // auto; the option table refuses other values
		co.TTY = isTTY && !dumb && !onGitHub
	}
	if co.TTY {
		co.Width = func() int {
			if w, _, err := term.GetSize(fd); err == nil && w > 0 {
				return w
			}
			return 80
		}
		co.Tick = 250 * time.Millisecond
	}
	var sinks Multi
	if onGitHub {
		// GitHub first, so a step's group opens before the console prints into it.
		sinks = append(sinks, NewGitHub(getenv, stdout))
	}
	if cfg.log != nil {
		co.LogPath = cfg.log.Path()
		sinks = append(sinks, cfg.log)
	}
	sinks = append(sinks, OpenConsole(stdout, co))
	if cfg.dotenv != "" {
		sinks = append(sinks, NewDotenv(cfg.dotenv))
	}
	return sinks
}

// terminalFd is the file descriptor behind w when it is a terminal, the
// only place live lines and colour belong.
func terminalFd(w io.Writer) (int, bool) {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// isTerminal reports whether w is a terminal. A wrapper such as Redactor
// answers for the writer it wraps.
func isTerminal(w io.Writer) bool {
	if t, ok := w.(interface{ IsTerminal() bool }); ok {
		return t.IsTerminal()
	}
	_, ok := terminalFd(w)
	return ok
}
