//go:build !linux

package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

// newMachines: local droplets are systemd-nspawn machines (mounts, network
// namespaces, cgroups), which exist only on Linux.
func newMachines(context.Context, string, string, func(string, ...any)) (localcloud.Machines, error) {
	return nil, fmt.Errorf("the local cloud boots droplets as systemd-nspawn machines and needs a Linux host (this is %s): "+
		"build against DigitalOcean with --token, or run the local cloud on a Linux machine or VM and point --api-url at it "+
		"(mp-image local-cloud --no-machines serves the API alone here)", runtime.GOOS)
}
