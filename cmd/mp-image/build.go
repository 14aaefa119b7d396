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
	return runBuild(ctx, args, env, stdout, stderr)
}

func build(ctx context.Context, cfg *config.Config, env func(string) string, stdout, stderr io.Writer) int {
	red := report.NewRedactor(stdout)
	defer red.Flush()
	redErr := report.NewRedactor(stderr)
	defer redErr.Flush()
	if cfg.Token != "" {
		red.Add(cfg.Token)
		redErr.Add(cfg.Token)
	}
	var opts []report.DetectOption
	if cfg.DotenvFile != "" {
		opts = append(opts, report.WithDotenv(cfg.DotenvFile))
	}
	out := report.Detect(env, red, opts...)
	logf := func(format string, a ...any) { out.Log(fmt.Sprintf(format, a...)) }

	plan, err := pipeline.LoadPlan(cfg)
	if err != nil {
		printErr(redErr, err)
		return exitUsage
	}
	for _, w := range plan.Warnings {
		out.Annotate(report.Annotation{Level: "warning", Title: "recipe", Message: w})
	}
	for _, s := range plan.Builder.Sensitive {
		red.Add(s)
		redErr.Add(s)
	}
	pipeline.ApplyBuilder(cfg, plan, explicitOption(cfg))

	if cfg.Cloud == "local" {
		lc, err := startLocalCloud(ctx, cfg, logf)
		if err != nil {
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
	b, err := pipeline.Execute(ctx, cfg, plan, out, logf)
	if err != nil {
		printErr(redErr, err)
		return exitCode(ctx, err, redErr)
	}
	if b.Snapshot != nil {
		fmt.Fprintf(red, "snapshot-id=%d snapshot-name=%s\n", b.Snapshot.ID, b.Snapshot.Name)
	}
	return exitOK
}

// explicitOption reports whether an option differs from its default, so a
// Packer template's builder settings fill only what the user left alone.
func explicitOption(cfg *config.Config) func(name string) bool {
	cur := map[string]string{
		"image": cfg.Image, "region": cfg.Region, "size": cfg.Size, "ssh-user": cfg.SSHUser, "token": cfg.Token,
		"snapshot-regions": strings.Join(cfg.SnapshotRegions, ","),
		"active-timeout":   cfg.Timeouts.Active.String(), "snapshot-timeout": cfg.Timeouts.Snapshot.String(),
	}
	return func(name string) bool {
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
