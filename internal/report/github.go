package report

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sethvargo/go-githubactions"
)

// GitHub reports through GitHub Actions workflow commands (stdout) and
// environment files (GITHUB_OUTPUT, GITHUB_STATE, GITHUB_STEP_SUMMARY).
//
// go-githubactions writes the stdout commands, with its escaping. The
// environment files are written here instead: the library uses one fixed
// heredoc delimiter (a value holding it could inject other outputs) and panics
// when a file variable is unset; this sink uses a random delimiter per value
// and returns errors.
type GitHub struct {
	Nop       // remote output reaches the log through the console
	mu        sync.Mutex
	a         *githubactions.Action
	w         io.Writer
	getenv    func(string) string
	secrets   []string
	groupOpen bool
	annotated bool // an error annotation was issued during the current step
	// Annotations issued per level, and those past the runner's limit that
	// went to the log as plain lines instead.
	issued, over map[string]int
}

// MaxAnnotations is how many annotations of one level (error, warning,
// notice) the runner keeps per step (actions/runner ExecutionContext
// _maxCountPerIssueType); it drops the rest silently.
const MaxAnnotations = 10

// NewGitHub reads the runner's variables through getenv and writes workflow commands to w.
func NewGitHub(getenv func(string) string, w io.Writer) *GitHub {
	return &GitHub{
		a:      githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(w)),
		w:      w,
		getenv: getenv,
		issued: map[string]int{}, over: map[string]int{},
	}
}

// Mask issues ::add-mask:: with the literal secret, line by line (the runner
// matches masks per line, so a multi-line key would otherwise show), once per
// value. The runner needs the value itself: the Redactor passes mask lines
// whole, and the runner consumes the line and shows "::add-mask::***".
func (g *GitHub) Mask(secret string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, line := range strings.Split(secret, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || slices.Contains(g.secrets, line) {
			continue
		}
		fmt.Fprintf(g.w, "::add-mask::%s\n", escapeData(line))
		g.secrets = append(g.secrets, line)
	}
}

// escapeData escapes a workflow command's data as the runner unescapes it.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// StepStart opens a log group; groups do not nest on GitHub, so an open one is closed first.
func (g *GitHub) StepStart(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.groupOpen {
		g.a.EndGroup()
	}
	g.a.Group(name)
	g.groupOpen, g.annotated = true, false
}

// StepEnd closes the group; a failed step that annotated nothing gets an
// error annotation, so the failure shows on the run's summary page.
func (g *GitHub) StepEnd(r StepRecord) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.groupOpen {
		g.a.EndGroup()
		g.groupOpen = false
	}
	if r.Status == StatusFailed && !g.annotated {
		msg := r.Detail
		if msg == "" {
			msg = "step failed"
		}
		g.annotate(Annotation{Level: "error", Title: "mp-image: " + r.Name, Message: msg})
	}
}

// Log does nothing: the console sink prints log lines, once.
func (g *GitHub) Log(string) {}

// Annotate issues ::error/::warning/::notice with file, line and title, up
// to MaxAnnotations per level; past that the runner would drop them, so they
// go to the log as plain lines and Close points to the job summary.
func (g *GitHub) Annotate(an Annotation) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.annotate(an)
}

func (g *GitHub) annotate(an Annotation) {
	level := an.Level
	if level != "warning" && level != "notice" {
		level = "error"
	}
	if level == "error" {
		g.annotated = true
	}
	if g.issued[level] >= MaxAnnotations {
		g.over[level]++
		where := an.File
		if where != "" && an.Line > 0 {
			where += ":" + strconv.Itoa(an.Line)
		}
		parts := []string{level}
		for _, p := range []string{where, an.Title, an.Message} {
			if p != "" {
				parts = append(parts, p)
			}
		}
		fmt.Fprintln(g.w, strings.Join(parts, ": "))
		return
	}
	g.issued[level]++
	fields := map[string]string{}
	if an.File != "" {
		fields["file"] = an.File
		if an.Line > 0 {
			fields["line"] = strconv.Itoa(an.Line)
		}
	}
	if an.Title != "" {
		fields["title"] = an.Title
	}
	a := g.a.WithFieldsMap(fields)
	switch level {
	case "warning":
		a.Warningf("%s", an.Message)
	case "notice":
		a.Noticef("%s", an.Message)
	default:
		a.Errorf("%s", an.Message)
	}
}

// Close ends the step's log: when annotations went past the runner's limit,
// a last line says how many and points to the job summary.
func (g *GitHub) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var more []string
	for _, level := range []string{"error", "warning", "notice"} {
		if n := g.over[level]; n > 0 {
			more = append(more, fmt.Sprintf("%d more %s(s)", n, level))
		}
	}
	if len(more) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(g.w, "mp-image: %s printed above without an annotation (GitHub keeps %d per level per step); the job summary lists every result\n",
		strings.Join(more, ", "), MaxAnnotations)
	g.over = map[string]int{}
	return err
}

// State saves a value for the post-entrypoint (read back as STATE_<key>).
// A failure is shown as a warning: losing the safety net must not fail the build.
func (g *GitHub) State(key, value string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.fileCommand("GITHUB_STATE", [][2]string{{key, value}}); err != nil {
		g.a.Warningf("saving state %s for the cleanup step: %v", key, err)
	}
}

// Outputs writes every action output to GITHUB_OUTPUT.
func (g *GitHub) Outputs(o Outputs) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fileCommand("GITHUB_OUTPUT", o.pairs())
}

// Summary appends Markdown to the job summary.
func (g *GitHub) Summary(markdown string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	path := g.getenv("GITHUB_STEP_SUMMARY")
	if path == "" {
		return errors.New("job summary: GITHUB_STEP_SUMMARY is not set: run inside GitHub Actions, or unset GITHUB_ACTIONS")
	}
	if s := g.leak(markdown); s != "" {
		return errors.New("job summary: it contains a masked secret; not written")
	}
	if !strings.HasSuffix(markdown, "\n") {
		markdown += "\n"
	}
	return appendFile(path, markdown, "job summary")
}

// leak returns the first registered secret found in s.
func (g *GitHub) leak(s string) string {
	for _, sec := range g.secrets {
		if strings.Contains(s, sec) {
			return sec
		}
	}
	return ""
}

// fileCommand appends key<<DELIM / value / DELIM records to the file named by env.
func (g *GitHub) fileCommand(env string, pairs [][2]string) error {
	path := g.getenv(env)
	if path == "" {
		return fmt.Errorf("%s is not set: run inside GitHub Actions, or unset GITHUB_ACTIONS", env)
	}
	var b strings.Builder
	for _, kv := range pairs {
		if g.leak(kv[1]) != "" {
			return fmt.Errorf("%s %s: the value contains a masked secret; not written", env, kv[0])
		}
		rec, err := FileCommand(kv[0], kv[1])
		if err != nil {
			return fmt.Errorf("%s: %w", env, err)
		}
		b.WriteString(rec)
	}
	return appendFile(path, b.String(), env)
}

// FileCommand formats one environment-file record with a random delimiter,
// as @actions/core does: name<<ghadelimiter_<random>\nvalue\nghadelimiter_<random>\n.
func FileCommand(name, value string) (string, error) {
	if name == "" || strings.ContainsAny(name, "\r\n=") || strings.Contains(name, "<<") {
		return "", fmt.Errorf("invalid name %q: use a name without newlines, '=' or '<<'", name)
	}
	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", fmt.Errorf("random delimiter: %w", err)
	}
	delim := "ghadelimiter_" + hex.EncodeToString(buf[:])
	if strings.Contains(name, delim) || strings.Contains(value, delim) {
		// Cannot happen with 128 random bits, but the format would break if it did.
		return "", fmt.Errorf("value of %s contains the delimiter: retry", name)
	}
	return name + "<<" + delim + "\n" + value + "\n" + delim + "\n", nil
}

func appendFile(path, data, what string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		return fmt.Errorf("%s: write %s: %w", what, path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: close %s: %w", what, path, err)
	}
	return nil
}

// ParseFileCommands reads an environment file (GITHUB_OUTPUT, GITHUB_STATE,
// GITHUB_ENV) the way the runner does: name=value lines and name<<DELIM
// heredocs. Later values win. Tests read what the tool wrote with it.
func ParseFileCommands(data string) (map[string]string, error) {
	out := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var val []string
			j := i + 1
			for ; j < len(lines) && lines[j] != delim; j++ {
				val = append(val, lines[j])
			}
			if j == len(lines) {
				return nil, fmt.Errorf("line %d: %s: delimiter %q never closes", i+1, name, delim)
			}
			out[name] = strings.Join(val, "\n")
			i = j
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("line %d: %q is neither name=value nor name<<DELIM", i+1, line)
		}
		out[name] = val
	}
	return out, nil
}
