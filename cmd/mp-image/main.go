// Command mp-image builds DigitalOcean Marketplace 1-Click images: as a CLI,
// a GitHub Action (subcommands action and action-post) and a CI plugin.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"build", "build an image from a recipe folder or a Packer template", runBuild},
		{"plan", "print the steps a build would run, without creating anything", runPlan},
		{"validate", "run the Marketplace checks against a server over SSH", runValidate},
		{"lint", "check a recipe or template for problems, no credentials needed", runLint},
		{"reap", "find (and with --yes delete) droplets, keys and snapshots left by killed runs", runReap},
		{"submit", "submit a snapshot to the Vendor Portal as an app update", runSubmit},
		{"freshness", "should a listed snapshot be rebuilt? boot it, look for updates, run verify/, ask upstream", runFreshness},
		{"local-cloud", "serve a local DigitalOcean API whose droplets are real local machines", runLocalCloud},
		{"action", "GitHub Action entrypoint (inputs from INPUT_*)", runAction},
		{"action-post", "GitHub Action post step: delete what a killed main step left", runActionPost},
		{"version", "print the version", runVersion},
	}
}

func main() {
	args := os.Args[1:]
	// The Docker action's post-entrypoint is /mp-image-post, a link to this
	// binary: the runner passes the main step's args to it too, so the name
	// decides.
	if filepath.Base(os.Args[0]) == "mp-image-post" {
		args = []string{"action-post"}
	}
	os.Exit(Main(args, os.Getenv, os.Stdout, os.Stderr))
}

// exit codes
const (
	exitOK        = 0
	exitFailed    = 1
	exitUsage     = 2
	exitCancelled = 130
)

// Main runs one subcommand; SIGINT/SIGTERM cancel it, and its cleanups run.
func Main(args []string, env func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], env, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "mp-image: unknown command %q (run mp-image help)\n", args[0])
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "mp-image builds DigitalOcean Marketplace 1-Click images.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: mp-image <command> [options]   (mp-image <command> --help for its options)")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
}

// exitCode maps a run error to an exit status, saying when it was cancelled.
func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "mp-image: cancelled by signal; everything this run created was deleted unless listed above\n")
		return exitCancelled
	}
	return exitFailed
}
