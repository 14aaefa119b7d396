package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/config"
	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/pipeline"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// loadConfig reads options from args and env, validates them, and prints a
// clear error (every problem, one per line) when they are wrong.
func loadConfig(args []string, env func(string) string, stdout, stderr io.Writer) (*config.Config, int) {
	cfg, rest, err := config.Load(args, env)
	if errors.Is(err, flag.ErrHelp) {
		config.Usage(stdout)
		return nil, exitOK
	}
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q: options are --name value (run with --help)", rest[0])
	}
	if err == nil {
		err = config.Validate(cfg)
	}
	if err == nil {
		err = config.ResolveSecretEnv(cfg, env)
	}
	if err != nil {
		printErr(stderr, err)
		return nil, exitUsage
	}
	return cfg, exitOK
}

func printErr(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			fmt.Fprintf(w, "mp-image: %s\n", line)
		}
	}
}

func runBuild(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	cfg, code := loadConfig(args, env, stdout, stderr)
	if cfg == nil {
		return code
	}
	return build(ctx, cfg, env, stdout, stderr)
}

// runAction is the GitHub Action entrypoint: the same build, inputs from
// INPUT_*, outputs through the runner's files.
func runAction(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	// The command input picks what runs; it is read before a build's
	// validation, which would ask freshness for a recipe it may not have.
	if cfg, _, err := config.Load(args, env); err == nil && cfg.Command == "freshness" {
		cfg.Command = ""
		return freshnessCheck(ctx, cfg, env, stdout, stderr)
	}
	return runBuild(ctx, args, env, stdout, stderr)
}

func build(ctx context.Context, cfg *config.Config, env func(string) string, stdout, stderr io.Writer) int {
	// One set of secrets for the terminal, the runner's files, the manifest and the log file.
	secrets := report.NewSecrets()
	red := report.NewRedactorFor(stdout, secrets)
	defer red.Flush()
	redErr := report.NewRedactorFor(stderr, secrets)
	defer redErr.Flush()
	secrets.Add(cfg.Token)
	for _, v := range cfg.SecretEnvValues {
		secrets.Add(v)
	}
	// The transcript: every line, timestamped and redacted, whatever the console shows.
	lf, err := report.OpenLogFile(cfg.LogFile, nil, secrets)
	if err != nil {
		printErr(redErr, err)
		return exitUsage
	}
	opts := []report.DetectOption{report.WithLog(lf), report.WithTerminal(stdout), report.WithErr(redErr),
		report.WithProgress(cfg.Progress), report.WithQuiet(cfg.Quiet)}
	if cfg.DotenvFile != "" {
		opts = append(opts, report.WithDotenv(cfg.DotenvFile))
	}
	out := report.Redacting(report.Detect(env, red, opts...), secrets)
	// Registered after the Redactors' Flush, so it runs first: live lines end
	// and the log file is complete before anything else is written. On GitHub
	// the runner must see every mask before anything else is printed.
	defer report.Close(out)
	out.Mask(cfg.Token)
	for _, v := range cfg.SecretEnvValues {
		out.Mask(v)
	}
	logf := func(format string, a ...any) { out.Log(fmt.Sprintf(format, a...)) }

	plan, err := pipeline.LoadPlan(cfg)
	if err != nil {
		report.Close(out)
		printErr(redErr, err)
		return exitUsage
	}
	for _, s := range plan.Builder.Sensitive {
		out.Mask(s)
	}
	for _, w := range plan.Warnings {
		out.Annotate(report.Annotation{Level: "warning", Title: "recipe", Message: w})
	}
	pipeline.ApplyBuilder(cfg, plan, explicitOption(cfg))
	out.Mask(cfg.Token) // a template's api_token
	if err := pipeline.CheckAPIURL(cfg, plan); err != nil {
		printErr(redErr, err)
		return exitUsage
	}
	if err := pipeline.CheckUser(cfg, plan); err != nil {
		printErr(redErr, err)
		return exitUsage
	}

	if cfg.Cloud == "local" {
		lc, err := startLocalCloud(ctx, cfg, logf)
		if err != nil {
			report.Close(out)
			printErr(redErr, err)
			return exitFailed
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := lc.Close(cctx); err != nil {
				printErr(redErr, fmt.Errorf("stopping the local cloud: %w", err))
			}
		}()
	}
	_, err = pipeline.Execute(ctx, cfg, plan, out, logf)
	// The outputs block, printed by the console, ended the build's output.
	if cerr := report.Close(out); cerr != nil {
		printErr(redErr, cerr)
	}
	if err != nil {
		// A step's failure and the cleanups' errors were shown as they
		// happened; print only what no sink has shown.
		if !report.IsReported(err) {
			printErr(redErr, err)
		}
		return exitCode(ctx, err, redErr)
	}
	return exitOK
}

// explicitOption reports whether an option differs from its default, so a
// Packer template's builder settings fill only what the user left alone.
func explicitOption(cfg *config.Config) func(name string) bool {
	cur := map[string]string{
		"image": cfg.Image, "region": cfg.Region, "size": cfg.Size, "ssh-user": cfg.SSHUser, "token": cfg.Token, "api-url": cfg.APIURL,
		"snapshot-regions": strings.Join(cfg.SnapshotRegions, ","),
		"active-timeout":   cfg.Timeouts.Active.String(), "snapshot-timeout": cfg.Timeouts.Snapshot.String(),
	}
	return func(name string) bool {
		if cfg.Explicit[name] {
			return true // set, even to its default: --ssh-user root beats the template's ssh_username
		}
		for _, o := range config.Options() {
			if o.Name == name {
				v, ok := cur[name]
				if !ok {
					return true
				}
				if o.Kind == config.KindDuration {
					d, _ := time.ParseDuration(o.Default)
					return v != d.String()
				}
				return v != o.Default
			}
		}
		return true
	}
}

// startLocalCloud serves the emulator in-process with real machines, and
// points the build at it with a throwaway token.
func startLocalCloud(ctx context.Context, cfg *config.Config, logf func(string, ...any)) (*localcloud.Server, error) {
	machines, err := newMachines(ctx, cfg.LocalCacheDir, cfg.LocalStateDir, logf)
	if err != nil {
		return nil, err
	}
	token := cfg.Token
	if token == "" {
		token = "local-" + pipeline.NewRunID() + pipeline.NewRunID()
	}
	srv, err := localcloud.Start(ctx, localcloud.Options{Token: token, Machines: machines, TimeScale: localTimeScale})
	if err != nil {
		machines.Close(context.Background())
		return nil, fmt.Errorf("starting the local cloud: %w", err)
	}
	cfg.Token, cfg.APIURL = token, srv.URL()
	if cfg.Image == "ubuntu-24-04-x64" {
		cfg.Image = "debian-12-x64"
		logf("local cloud: building on debian-12-x64 (no Ubuntu mirror here; set --image to choose)")
	}
	logf("local cloud listening at %s", srv.URL())
	return srv, nil
}

func runVersion(_ context.Context, _ []string, _ func(string) string, stdout, _ io.Writer) int {
	fmt.Fprintf(stdout, "mp-image %s\n", pipeline.Version)
	return exitOK
}
