package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/lint"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// githubSink is the runner's sink when this runs as a GitHub Actions step
// (annotations, job summary), else nil. lint and validate print their own
// lines elsewhere; on GitHub each finding is printed once, as its annotation.
func githubSink(env func(string) string, stdout io.Writer) *report.GitHub {
	if env("GITHUB_ACTIONS") != "true" {
		return nil
	}
	return report.NewGitHub(env, stdout)
}

// lintMarkdown lists every finding for the job summary, where the ones past
// the runner's annotation limit can be read too.
func lintMarkdown(findings []lint.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### mp-image lint: %d finding(s)\n\n", len(findings))
	if len(findings) == 0 {
		return b.String()
	}
	b.WriteString("| Severity | Where | Rule | Finding |\n|---|---|---|---|\n")
	cell := strings.NewReplacer("|", `\|`, "\n", " ").Replace
	for _, f := range findings {
		where := f.File
		if f.Line > 0 {
			where = fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", f.Severity, cell(where), cell(f.Rule), cell(f.Message))
	}
	return b.String()
}
