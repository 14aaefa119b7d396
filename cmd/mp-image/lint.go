package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mp-image-action/mp-image-action/internal/lint"
	"github.com/mp-image-action/mp-image-action/internal/packer"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// runLint checks a recipe or a template without credentials (pull requests
// from forks): annotations with file:line on GitHub, a list elsewhere.
func runLint(_ context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "recipe folder")
	tmpl := fs.String("packer-template", "", "Packer template (JSON or HCL2)")
	base := fs.String("template-base", "", "base dir for the template's relative paths (default: the working directory)")
	failOn := fs.String("fail-on", "error", "exit 1 on findings of this severity or worse: error, warning, info or never")
	noShellcheck := fs.Bool("no-shellcheck", false, "do not run shellcheck even when it is installed")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if (*dir == "") == (*tmpl == "") {
		fmt.Fprintln(stderr, "mp-image: lint needs exactly one of --dir and --packer-template")
		return exitUsage
	}
	o := lint.Options{NoShellcheck: *noShellcheck}
	var findings []lint.Finding
	if *dir != "" {
		findings = lint.Dir(*dir, o)
	} else {
		plan, err := packer.Load(*tmpl, packer.Options{BaseDir: *base, Env: os.Getenv})
		if err != nil {
			printErr(stderr, err)
			return exitFailed
		}
		findings = lint.Template(plan, o)
	}
	out := report.Detect(env, io.Discard)
	for _, f := range findings {
		fmt.Fprintln(stdout, f.String())
		level := f.Severity
		if level == lint.Info {
			level = "notice"
		}
		out.Annotate(report.Annotation{Level: level, File: f.File, Line: f.Line, Title: "lint: " + f.Rule, Message: f.Message})
	}
	fmt.Fprintf(stdout, "%d finding(s)\n", len(findings))
	code := lint.ExitCode(findings, *failOn)
	if code == 2 {
		fmt.Fprintf(stderr, "mp-image: --fail-on %q: use error, warning, info or never\n", *failOn)
	}
	return code
}
