package main

import (
	"context"
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
	cfg, code, ok := loadCommand("lint", args, env, stdout, stderr)
	if !ok {
		return code
	}
	if (cfg.Dir == "") == (cfg.PackerTemplate == "") {
		fmt.Fprintln(stderr, "mp-image: lint needs exactly one of --dir and --packer-template")
		return exitUsage
	}
	o := lint.Options{NoShellcheck: cfg.Sub.NoShellcheck}
	var findings []lint.Finding
	if cfg.Dir != "" {
		findings = lint.Dir(cfg.Dir, o)
	} else {
		plan, err := packer.Load(cfg.PackerTemplate, packer.Options{BaseDir: cfg.TemplateBase, Env: os.Getenv})
		if err != nil {
			printErr(stderr, err)
			return exitFailed
		}
		findings = lint.Template(plan, o)
	}
	gh := githubSink(env, stdout)
	for _, f := range findings {
		if gh == nil {
			fmt.Fprintln(stdout, f.String())
			continue
		}
		level := f.Severity
		if level == lint.Info {
			level = "notice"
		}
		gh.Annotate(report.Annotation{Level: level, File: f.File, Line: f.Line, Title: "lint: " + f.Rule, Message: f.Message})
	}
	fmt.Fprintf(stdout, "%d finding(s)\n", len(findings))
	if gh != nil {
		if err := gh.Summary(lintMarkdown(findings)); err != nil {
			printErr(stderr, err)
		}
		gh.Close()
	}
	return lint.ExitCode(findings, cfg.Sub.LintFailOn)
}
