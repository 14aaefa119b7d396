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
	Host    string   `json:"host"`
	OS      string   `json:"os"`
	Mode    string   `json:"mode"`
	Rules   string   `json:"rules"`
	Results []Result `json:"results"`
}

// Annotation is a GitHub workflow annotation for one FAIL or WARN.
type Annotation struct {
	Level   string // error | warning
	Title   string
	Message string
}

// Counts returns how many results have each status.
func (r *Report) Counts() (pass, warn, fail int) {
	for _, x := range r.Results {
		switch x.Status {
		case Pass:
			pass++
		case Warn:
			warn++
		case Fail:
			fail++
		}
	}
	return
}

// Verdict is "fail" when any check fails, else "warn" when any warns, else "pass".
func (r *Report) Verdict() string {
	_, w, f := r.Counts()
	switch {
	case f > 0:
		return "fail"
	case w > 0:
		return "warn"
	}
	return "pass"
}

// Failed says whether the report stops the build under failOn (fail | warn | never);
// an unknown setting counts as fail, the strictest that still ignores warnings.
func (r *Report) Failed(failOn string) bool {
	if failOn == "never" {
		return false
	}
	for _, x := range r.Results {
		if r.Mode == ModeBuildBase && x.CleanupFixes {
			continue
		}
		if x.Status == Fail || (failOn == "warn" && x.Status == Warn) {
			return true
		}
	}
	return false
}

// WriteJSON writes the report with its verdict and counts.
func (r *Report) WriteJSON(w io.Writer) error {
	p, wa, f := r.Counts()
	out := struct {
		*Report
		Verdict string `json:"verdict"`
		Pass    int    `json:"pass"`
		Warn    int    `json:"warn"`
		Fail    int    `json:"fail"`
	}{r, r.Verdict(), p, wa, f}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write image check report: %w", err)
	}
	return nil
}

// Table writes a console table; details and remedies follow each WARN and FAIL.
func (r *Report) Table(w io.Writer) {
	fmt.Fprintf(w, "Marketplace image check on %s (%s), %s\n", r.Host, r.OS, r.Rules)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tTITLE")
	for _, x := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", x.Status, x.ID, x.Title)
	}
	tw.Flush()
	for _, x := range r.Results {
		if x.Status == Pass {
			continue
		}
		fmt.Fprintf(w, "\n[%s] %s: %s\n", x.Status, x.ID, x.Title)
		for _, d := range x.Details {
			fmt.Fprintf(w, "    %s\n", d)
		}
		if x.Remedy != "" {
			fmt.Fprintf(w, "  fix: %s\n", x.Remedy)
		}
	}
	p, wa, f := r.Counts()
	fmt.Fprintf(w, "\n%d passed, %d warnings, %d failed: %s\n", p, wa, f, r.Verdict())
}

// Markdown is a job summary section.
func (r *Report) Markdown() string {
	var b strings.Builder
	p, wa, f := r.Counts()
	fmt.Fprintf(&b, "### Marketplace image check: %s\n\n", strings.ToUpper(r.Verdict()))
	fmt.Fprintf(&b, "%s, %s: %d passed, %d warnings, %d failed (%s)\n\n", mdEscape(r.Host), mdEscape(r.OS), p, wa, f, r.Rules)
	b.WriteString("| Status | Check | Title |\n|---|---|---|\n")
	for _, x := range r.Results {
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", x.Status, x.ID, mdEscape(x.Title))
	}
	for _, x := range r.Results {
		if x.Status == Pass {
			continue
		}
		fmt.Fprintf(&b, "\n**%s `%s`**: %s\n", x.Status, x.ID, mdEscape(x.Title))
		for _, d := range x.Details {
			fmt.Fprintf(&b, "- `%s`\n", strings.ReplaceAll(d, "`", "'"))
		}
		if x.Remedy != "" {
			fmt.Fprintf(&b, "\nFix: %s\n", mdEscape(x.Remedy))
		}
	}
	return b.String()
}

func mdEscape(s string) string { return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s) }

// Annotations returns one annotation per FAIL (error) and WARN (warning).
func (r *Report) Annotations() []Annotation {
	var out []Annotation
	for _, x := range r.Results {
		level := ""
		switch x.Status {
		case Fail:
			level = "error"
		case Warn:
			level = "warning"
		default:
			continue
		}
		msg := x.Title
		if len(x.Details) > 0 {
			d := x.Details
			if len(d) > 10 {
				d = append(append([]string{}, d[:10]...), fmt.Sprintf("... and %d more", len(x.Details)-10))
			}
			msg += ": " + strings.Join(d, "; ")
		}
		if x.Remedy != "" {
			msg += ". Fix: " + x.Remedy
		}
		out = append(out, Annotation{Level: level, Title: "img_check " + x.ID, Message: msg})
	}
	return out
}
