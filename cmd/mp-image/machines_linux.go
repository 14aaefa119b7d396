//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/localcloud/nspawn"
)

// machinePackages are the Debian packages local machines need.
var machinePackages = []string{"debootstrap", "systemd-container", "apt-cacher-ng", "iproute2"}

func newMachines(ctx context.Context, cacheDir, stateDir string, logf func(string, ...any)) (localcloud.Machines, error) {
	if err := nspawn.Available(); err != nil {
		// As root on Debian, install what is missing rather than stop: the
		// README's first command must work on a fresh machine.
		if _, aptErr := exec.LookPath("apt-get"); os.Geteuid() == 0 && aptErr == nil {
			logf("local cloud: installing %s with apt-get (%v)", strings.Join(machinePackages, " "), err)
			if ierr := aptInstall(ctx, machinePackages); ierr != nil {
				return nil, fmt.Errorf("the local cloud cannot run machines here: %w; installing the packages failed: %v", err, ierr)
			}
			err = nspawn.Available()
		}
		if err != nil {
			return nil, fmt.Errorf("the local cloud cannot run machines here: %w", err)
		}
	}
	b, err := nspawn.New(ctx, nspawn.Options{CacheDir: cacheDir, StateDir: stateDir, Logf: logf})
	if err != nil {
		return nil, fmt.Errorf("starting local machines: %w", err)
	}
	logf("local cloud: preparing the debian-12-x64 base image (built once with debootstrap, then cached)")
	if err := b.EnsureBaseImage(ctx, "debian-12-x64"); err != nil {
		b.Close(context.Background())
		return nil, fmt.Errorf("preparing the base image: %w", err)
	}
	return b, nil
}

func aptInstall(ctx context.Context, pkgs []string) error {
	update := exec.CommandContext(ctx, "apt-get", "update", "-qq")
	if out, err := update.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %v: %s", err, out)
	}
	args := append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...)
	install := exec.CommandContext(ctx, "apt-get", args...)
	install.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := install.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install: %v: %s", err, out)
	}
	return nil
}
