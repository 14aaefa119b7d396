package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/freshness"
	"github.com/mp-image-action/mp-image-action/internal/pipeline"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// runFreshness answers "should this listed image be rebuilt?": exit 0 with
// stale=true or stale=false, non-zero only when it could not tell.
func runFreshness(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	cfg, rest, err := config.Load(args, env)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "Usage: mp-image freshness --snapshot ID [--dir RECIPE] [--region R] [--token T] [--api-url URL]")
		fmt.Fprintln(stdout, "Boots a droplet from the snapshot, lists pending upgrades, runs the security-updates rule and verify/,")
		fmt.Fprintln(stdout, "compares freshness/latest-version with application_version, deletes the droplet; prints stale and reasons.")
		return exitOK
	}
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q: options are --name value (run with --help)", rest[0])
	}
	if err != nil {
		printErr(stderr, err)
		return exitUsage
	}
	return freshnessCheck(ctx, cfg, env, stdout, stderr)
}

func freshnessCheck(ctx context.Context, cfg *config.Config, env func(string) string, stdout, stderr io.Writer) int {
	if err := config.ValidateFreshness(cfg); err != nil {
		printErr(stderr, err)
		return exitUsage
	}
	var plan *recipe.Plan
	if cfg.Dir != "" {
		// verify/ and freshness/latest-version come from the recipe; a broken
		// recipe is reported before anything is created.
		if _, err := freshness.HasLatestVersion(cfg.Dir); err != nil {
			printErr(stderr, err)
			return exitUsage
		}
		p, err := pipeline.LoadPlan(cfg)
		if err != nil {
			printErr(stderr, err)
			return exitUsage
		}
		plan = p
	}
	red := report.NewRedactor(stdout)
	defer red.Flush()
	redErr := report.NewRedactor(stderr)
	defer redErr.Flush()
	red.Add(cfg.Token)
	redErr.Add(cfg.Token)
	out := report.Detect(env, red, report.WithTerminal(stdout), report.WithErr(redErr))
	defer report.Close(out)
	logf := func(format string, a ...any) { out.Log(fmt.Sprintf(format, a...)) }
	if _, err := pipeline.ExecuteFreshness(ctx, cfg, plan, out, logf); err != nil {
		report.Close(out)
		if !report.IsReported(err) { // a step's failure is shown once, when the step ends
			printErr(redErr, err)
		}
		return exitCode(ctx, err, redErr)
	}
	return exitOK
}
