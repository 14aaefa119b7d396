package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

// localTimeScale shrinks the emulator's modelled waits: on the local cloud
// the real machines' own boot and stop times are what a user waits for.
const localTimeScale = 0.02

func runLocalCloud(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("local-cloud", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (loopback only is recommended)")
	token := fs.String("token", env("MP_LOCAL_TOKEN"), "bearer token clients must send (env MP_LOCAL_TOKEN)")
	stateDir := fs.String("state-dir", "", "where machines and snapshots live (default: a fresh temporary dir, removed on exit)")
	cacheDir := fs.String("cache-dir", "", "base image cache (default /var/cache/mp-image or env MP_IMAGE_CACHE)")
	noMachines := fs.Bool("no-machines", false, "API only: droplets are records, no machines boot (fast, no root needed)")
	timeScale := fs.Float64("time-scale", localTimeScale, "multiplier for modelled waits (1 = DigitalOcean's usual timings)")
	prepare := fs.Bool("prepare", false, "only build (or find cached) the base image, then exit")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "local-cloud: "+format+"\n", a...) }
	if *prepare {
		m, err := newMachines(ctx, *cacheDir, *stateDir, logf)
		if err != nil {
			printErr(stderr, err)
			return exitFailed
		}
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Close(cctx); err != nil {
			printErr(stderr, err)
			return exitFailed
		}
		fmt.Fprintln(stdout, "base image ready")
		return exitOK
	}
	if *token == "" {
		fmt.Fprintln(stderr, "mp-image: local-cloud needs --token (any secret string; clients send it as their API token)")
		return exitUsage
	}
	var machines localcloud.Machines
	if !*noMachines {
		m, err := newMachines(ctx, *cacheDir, *stateDir, logf)
		if err != nil {
			printErr(stderr, err)
			return exitFailed
		}
		machines = m
	}
	srv, err := localcloud.Start(ctx, localcloud.Options{Addr: *addr, Token: *token, Machines: machines, TimeScale: *timeScale, Logf: logf})
	if err != nil {
		if machines != nil {
			machines.Close(context.Background())
		}
		printErr(stderr, err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s\n", srv.URL())
	<-ctx.Done()
	logf("stopping: deleting every machine, mount, namespace and bridge")
	cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := srv.Close(cctx); err != nil {
		printErr(stderr, err)
		return exitFailed
	}
	return exitOK
}
