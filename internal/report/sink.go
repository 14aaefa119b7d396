// Package report sends a build's progress and results where the user looks: terminal, GitHub Actions, GitLab dotenv, a JSON manifest.
package report

import (
	"errors"
	"io"
	"os"
	"time"
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
	Status   string        `json:"status"` // ok | skipped | failed | cancelled
	Duration time.Duration `json:"duration_ns"`
	Detail   string        `json:"detail,omitempty"`
}

// Annotation points at a place in the user's recipe, for example the line of a failing script.
type Annotation struct {
	Level   string // error | warning | notice
	File    string // path relative to the workspace, when known
	Line    int    // 1-based, 0 when unknown
	Title   string
	Message string
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
}

// Sink receives a build's progress and results. The pipeline calls Mask for
// every secret before anything else.
type Sink interface {
	Mask(secret string)
	StepStart(name string)
	StepEnd(rec StepRecord)
	Log(line string)
	Annotate(a Annotation)
	State(key, value string) // for the post-entrypoint safety net; never a secret
	Outputs(o Outputs) error
	Summary(markdown string) error
}

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
	return errors.Join(errs...)
}

// Summary implements Sink; every sink is tried and all errors are returned together.
func (m Multi) Summary(md string) error {
	var errs []error
	for _, x := range m {
		errs = append(errs, x.Summary(md))
	}
	return errors.Join(errs...)
}

// DetectOption adjusts Detect.
type DetectOption func(*detectConfig)

type detectConfig struct {
	dotenv string
	now    func() time.Time
}

// WithDotenv adds a Dotenv sink writing to path (GitLab artifacts:reports:dotenv).
func WithDotenv(path string) DetectOption { return func(c *detectConfig) { c.dotenv = path } }

// WithClock sets the clock the console's elapsed times come from (tests).
func WithClock(now func() time.Time) DetectOption { return func(c *detectConfig) { c.now = now } }

// Detect picks the sinks for where the binary runs: on GitHub Actions
// (GITHUB_ACTIONS=true) the GitHub sink and the console, elsewhere the console
// only, plus a Dotenv sink when configured. The GitHub file-command paths are
// never used outside GitHub.
func Detect(getenv func(string) string, stdout io.Writer, opts ...DetectOption) Sink {
	cfg := detectConfig{now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	colour := isTerminal(stdout) && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
	var sinks Multi
	if getenv("GITHUB_ACTIONS") == "true" {
		// GitHub first, so a step's group opens before the console prints into it.
		sinks = append(sinks, NewGitHub(getenv, stdout))
		colour = false
	}
	sinks = append(sinks, NewConsole(stdout, colour, cfg.now))
	if cfg.dotenv != "" {
		sinks = append(sinks, NewDotenv(cfg.dotenv))
	}
	return sinks
}

// isTerminal reports whether w is a character device, the only place colour belongs.
// A wrapper such as Redactor answers for the writer it wraps.
func isTerminal(w io.Writer) bool {
	if t, ok := w.(interface{ IsTerminal() bool }); ok {
		return t.IsTerminal()
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
