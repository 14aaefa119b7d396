package imagecheck

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Status is a check's outcome.
type Status string

// Outcomes, from good to bad, as img_check.sh prints them.
const (
	Pass Status = "PASS"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Result is one check's outcome and what to do about it.
type Result struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Status  Status   `json:"status"`
	Details []string `json:"details,omitempty"`
	Remedy  string   `json:"remedy,omitempty"`
	// CleanupFixes says the build_image cleanup removes the cause: in build_base the
	// result is reported but does not fail the build.
	CleanupFixes bool `json:"cleanup_fixes,omitempty"`
	// Upstream is false for the checks img_check.sh does not make.
	Upstream bool `json:"upstream"`
}

// Report is the outcome of every check on one machine.
type Report struct {
	Host  string `json:"host"`
	OS    string `json:"os"`
	Mode  string `json:"mode"`
	Rules string `json:"rules"`
	// Booted: the machine runs from the image under test (the boot test).
	Booted bool `json:"booted,omitempty"`
	// BootKey is the comment of the key the booted machine was given.
	BootKey string   `json:"-"`
	Results []Result `json:"results"`
	// DiskUsed is the bytes used on / when the checks ran (0: unknown): the
	// build's hint for how long the snapshot takes. Not part of the report.
	DiskUsed int64 `json:"-"`
}

// Why a result that is not PASS does not count against the verdict.
const (
	ExcusedCleanup = "fixed by the build_image cleanup"
	ExcusedRunning = "expected on a running droplet"
)

// runningState is what any running droplet makes by itself (logs, /tmp
// files, shell history, its own machine-id and random seed): expected in the
// boot test, not held against the image. The build key, the agent, updates,
// the firewall still count.
var runningState = map[string]bool{"log-archives": true, "log-files": true, "bash-history:root": true, "tmp": true,
	"machine-id": true, "random-seed": true}

// Excuse says why x, though not PASS, does not count against the verdict:
// build_base keeps what the build_image cleanup removes, and a booted droplet
// makes logs and holds the key it was booted with. "" means it counts.
func (r *Report) Excuse(x Result) string {
	switch {
	case x.Status == Pass:
		return ""
	case r.Mode == ModeBuildBase && x.CleanupFixes:
		return ExcusedCleanup
	case r.Booted && (runningState[x.ID] || x.ID == "authorized-keys:root" && onlyKey(x.Details, r.BootKey)):
		return ExcusedRunning
	}
	return ""
}

// onlyKey reports whether every authorized_keys line listed ends in the comment key.
func onlyKey(details []string, key string) bool {
	if key == "" {
		return false
	}
	n := 0
	for _, d := range details {
		if strings.Contains(d, "authorized_keys line ") {
			n++
			if !strings.HasSuffix(strings.TrimSpace(d), " "+key) {
				return false
			}
		}
	}
	return n > 0
}

// Annotation is a GitHub workflow annotation for one result that is not PASS.
type Annotation struct {
	Level   string // error | warning | notice
	Title   string
	Message string // may span lines: title, details, fix
}

// Counts are how many results have each outcome; an excused result counts
// only under Excused (by reason), never as a warning or failure.
type Counts struct {
	Pass, Warn, Fail int
	Excused          map[string]int
}

// Count tallies the results.
func (r *Report) Count() Counts {
	c := Counts{Excused: map[string]int{}}
	for _, x := range r.Results {
		if why := r.Excuse(x); why != "" {
			c.Excused[why]++
			continue
		}
		switch x.Status {
		case Pass:
			c.Pass++
		case Warn:
			c.Warn++
		case Fail:
			c.Fail++
		}
	}
	return c
}

// Verdict is "fail" when any check fails, else "warn" when any warns, else
// "pass"; excused results count for neither.
func (r *Report) Verdict() string {
	c := r.Count()
	switch {
	case c.Fail > 0:
		return "fail"
	case c.Warn > 0:
		return "warn"
	}
	return "pass"
}

// Failed says whether the report stops the build under failOn (fail | warn | never);
// an unknown setting counts as fail, the strictest that still ignores warnings.
func (r *Report) Failed(failOn string) bool {
	switch v := r.Verdict(); failOn {
	case "never":
		return false
	case "warn":
		return v != "pass"
	default:
		return v == "fail"
	}
}

// Totals is the one-line tally with the verdict, the same words everywhere:
// "18 passed, 1 warning, 0 failed, 2 expected on a running droplet: pass".
func (r *Report) Totals() string {
	c := r.Count()
	parts := []string{fmt.Sprintf("%d passed", c.Pass), plural(c.Warn, "warning"), fmt.Sprintf("%d failed", c.Fail)}
	for _, why := range []string{ExcusedRunning, ExcusedCleanup} {
		if n := c.Excused[why]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, why))
		}
	}
	return strings.Join(parts, ", ") + ": " + r.Verdict()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// label is the status a person reads: an excused result never shows as WARN or FAIL.
func (r *Report) label(x Result) string {
	switch r.Excuse(x) {
	case ExcusedRunning:
		return "EXPECTED"
	case ExcusedCleanup:
		return "CLEANUP"
	}
	return string(x.Status)
}

// WriteJSON writes the report with its verdict and counts; each excused
// result keeps its rule's status and says why it does not count.
func (r *Report) WriteJSON(w io.Writer) error {
	type result struct {
		Result
		Excused string `json:"excused,omitempty"`
	}
	c := r.Count()
	out := struct {
		*Report
		Results []result       `json:"results"`
		Verdict string         `json:"verdict"`
		Pass    int            `json:"pass"`
		Warn    int            `json:"warn"`
		Fail    int            `json:"fail"`
		Excused map[string]int `json:"excused,omitempty"`
	}{Report: r, Verdict: r.Verdict(), Pass: c.Pass, Warn: c.Warn, Fail: c.Fail, Excused: c.Excused}
	for _, x := range r.Results {
		out.Results = append(out.Results, result{x, r.Excuse(x)})
	}
	if len(c.Excused) == 0 {
		out.Excused = nil
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write image check report: %w", err)
	}
	return nil
}

// Table writes the console list of checks and the totals. What is wrong with
// each WARN and FAIL, and its fix, is in Annotations: the console prints
// them, or GitHub does, once.
func (r *Report) Table(w io.Writer) {
	fmt.Fprintf(w, "Marketplace image check on %s (%s), %s\n", r.Host, r.OS, r.Rules)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tTITLE")
	for _, x := range r.Results {
		title := x.Title
		if why := r.Excuse(x); why != "" {
			title += " (" + why + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.label(x), x.ID, title)
	}
	tw.Flush()
	fmt.Fprintln(w, r.Totals())
}

// Markdown is a job summary section.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Marketplace image check: %s\n\n", strings.ToUpper(r.Verdict()))
	fmt.Fprintf(&b, "%s, %s: %s (%s)\n\n", mdEscape(r.Host), mdEscape(r.OS), r.Totals(), r.Rules)
	b.WriteString("| Status | Check | Title |\n|---|---|---|\n")
	for _, x := range r.Results {
		title := mdEscape(x.Title)
		if why := r.Excuse(x); why != "" {
			title += " (" + why + ")"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", r.label(x), x.ID, title)
	}
	for _, x := range r.Results {
		if x.Status == Pass {
			continue
		}
		fmt.Fprintf(&b, "\n**%s `%s`**: %s\n", r.label(x), x.ID, mdEscape(x.Title))
		for _, d := range x.Details {
			fmt.Fprintf(&b, "- `%s`\n", strings.ReplaceAll(d, "`", "'"))
		}
		if why := r.Excuse(x); why != "" {
			fmt.Fprintf(&b, "\nNot counted: %s.\n", why)
		} else if x.Remedy != "" {
			fmt.Fprintf(&b, "\nFix: %s\n", mdEscape(x.Remedy))
		}
	}
	return b.String()
}

func mdEscape(s string) string { return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s) }

// Annotations returns one annotation per result that is not PASS: error for
// a FAIL, warning for a WARN, with details and fix on their own lines; an
// excused one is a one-line notice saying why it does not count.
func (r *Report) Annotations() []Annotation {
	var out []Annotation
	for _, x := range r.Results {
		if x.Status == Pass {
			continue
		}
		title := "img_check " + x.ID
		if why := r.Excuse(x); why != "" {
			out = append(out, Annotation{Level: "notice", Title: title, Message: x.Title + " (" + why + ")"})
			continue
		}
		level := "warning"
		if x.Status == Fail {
			level = "error"
		}
		msg := []string{x.Title}
		d := x.Details
		if len(d) > 10 {
			d = append(append([]string{}, d[:10]...), fmt.Sprintf("... and %d more (the JSON report has all)", len(x.Details)-10))
		}
		for _, l := range d {
			msg = append(msg, "  "+l)
		}
		if x.Remedy != "" {
			msg = append(msg, "Fix: "+x.Remedy)
		}
		out = append(out, Annotation{Level: level, Title: title, Message: strings.Join(msg, "\n")})
	}
	return out
}
