//go:build linux

package nspawn

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Leftovers lists every host object still named with prefix (processes in
// its cgroups, cgroups, mounts under stateDir, network namespaces, links,
// nspawn propagate dirs, the state dir itself and the proxy process). Tests
// call it after Close and expect nothing.
func Leftovers(prefix, stateDir string) []string {
	var left []string
	for _, cg := range ownCgroups(prefix) {
		left = append(left, "cgroup "+cg)
		for _, pid := range cgroupPIDs(cg) {
			left = append(left, fmt.Sprintf("process %d in %s", pid, cg))
		}
	}
	if stateDir != "" {
		mps, _ := mountsUnder(stateDir)
		for _, mp := range mps {
			left = append(left, "mount "+mp)
		}
		if _, err := os.Stat(stateDir); err == nil {
			left = append(left, "state dir "+stateDir)
		}
	}
	nss, _ := filepath.Glob("/run/netns/" + prefix + "*")
	for _, ns := range nss {
		left = append(left, "netns "+filepath.Base(ns))
	}
	links, _ := hostLinks(context.Background())
	for _, l := range links {
		if strings.HasPrefix(l, prefix) {
			left = append(left, "link "+l)
		}
	}
	props, _ := filepath.Glob("/run/systemd/nspawn/propagate/" + prefix + "*")
	for _, p := range props {
		left = append(left, "propagate dir "+p)
	}
	if _, err := os.Stat(filepath.Join(registryDir, prefix)); err == nil {
		left = append(left, "registry entry "+filepath.Join(registryDir, prefix))
	}
	// Any process still running out of the state dir (the apt proxy's config
	// lives there) or naming a machine of ours.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if (stateDir != "" && strings.Contains(cmd, stateDir)) || strings.Contains(cmd, "--machine="+prefix+"-") {
			left = append(left, fmt.Sprintf("process %s: %s", filepath.Base(filepath.Dir(p)), strings.TrimSpace(cmd)))
		}
	}
	return left
}
