//go:build linux

package nspawn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"
)

// registryEntry records what a backend owns on the host, so a later run can
// tell its leftovers apart from a live backend's objects.
type registryEntry struct {
	PID       int    `json:"pid"`
	StartTime string `json:"start_time"` // guards against pid reuse
	Prefix    string `json:"prefix"`
	StateDir  string `json:"state_dir"`
	OwnState  bool   `json:"own_state"`
	Subnet    string `json:"subnet,omitempty"`
	ProxyPID  int    `json:"proxy_pid,omitempty"`
	ProxyTime string `json:"proxy_start_time,omitempty"`
}

func writeRegistry(dir string, e registryEntry) error {
	if e.StartTime == "" {
		e.StartTime = procStartTime(e.PID)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("register backend in %s: %w", dir, err)
	}
	tmp := filepath.Join(dir, "entry.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("register backend: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, "entry.json"))
}

func readRegistry(dir string) (registryEntry, error) {
	var e registryEntry
	b, err := os.ReadFile(filepath.Join(dir, "entry.json"))
	if err != nil {
		return e, err
	}
	return e, json.Unmarshal(b, &e)
}

func updateRegistry(dir string, f func(*registryEntry)) error {
	e, err := readRegistry(dir)
	if err != nil {
		return fmt.Errorf("update backend registry %s: %w", dir, err)
	}
	f(&e)
	return writeRegistry(dir, e)
}

// alive reports whether the backend that wrote e still runs.
func (e registryEntry) alive() bool {
	return pidAlive(e.PID) && procStartTime(e.PID) == e.StartTime
}

// liveEntries lists the registry entries whose owner still runs.
func liveEntries() []registryEntry {
	dirs, _ := filepath.Glob(filepath.Join(registryDir, "mpi*"))
	var live []registryEntry
	for _, d := range dirs {
		if e, err := readRegistry(d); err == nil && e.alive() {
			live = append(live, e)
		}
	}
	return live
}

// CleanupStale removes what backends killed before their Close left behind:
// processes, mounts, network namespaces, links, cgroups and state dirs. It
// only touches objects registered by a backend whose process is gone.
func CleanupStale(ctx context.Context, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	unlock, err := flock(ctx, filepath.Join(registryDir, "cleanup.lock"), true)
	if err != nil {
		return err
	}
	defer unlock()
	dirs, _ := filepath.Glob(filepath.Join(registryDir, "mpi*"))
	var errs *multierror.Error
	for _, d := range dirs {
		e, err := readRegistry(d)
		if err != nil {
			// A registry dir without an entry is a backend killed while
			// registering: it owns nothing but the dir itself.
			if errors.Is(err, os.ErrNotExist) {
				if fi, serr := os.Stat(d); serr == nil && time.Since(fi.ModTime()) > time.Minute {
					_ = os.RemoveAll(d)
				}
			}
			continue
		}
		if e.alive() {
			continue
		}
		logf("nspawn: removing leftovers of dead backend %s (pid %d)", e.Prefix, e.PID)
		if err := cleanupPrefix(ctx, e, logf); err != nil {
			errs = multierror.Append(errs, err)
			continue
		}
		_ = os.RemoveAll(d)
	}
	return errs.ErrorOrNil()
}

// cleanupPrefix removes every host object named with e.Prefix.
func cleanupPrefix(ctx context.Context, e registryEntry, logf func(string, ...any)) error {
	if !strings.HasPrefix(e.Prefix, "mpi") || len(e.Prefix) < 6 {
		return fmt.Errorf("refusing to clean up objects of odd prefix %q", e.Prefix)
	}
	var errs *multierror.Error
	// Processes first: a running machine keeps its mounts and cgroups busy.
	if e.ProxyPID > 0 && pidAlive(e.ProxyPID) && procStartTime(e.ProxyPID) == e.ProxyTime {
		_ = syscall.Kill(e.ProxyPID, syscall.SIGKILL)
	}
	cgs := ownCgroups(e.Prefix)
	for _, cg := range cgs {
		for _, pid := range cgroupPIDs(cg) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if len(cgs) > 0 {
		waitCgroupsEmpty(ctx, cgs, 5*time.Second)
	}
	for _, cg := range cgs {
		if err := removeCgroup(cg); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	if e.StateDir != "" {
		if err := unmountAll(e.StateDir); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	nss, _ := filepath.Glob("/run/netns/" + e.Prefix + "-*")
	for _, ns := range nss {
		if err := run(ctx, "ip", "netns", "delete", filepath.Base(ns)); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	links, err := hostLinks(ctx)
	if err != nil {
		errs = multierror.Append(errs, err)
	}
	for _, l := range links {
		if strings.HasPrefix(l, e.Prefix) {
			if err := run(ctx, "ip", "link", "delete", l); err != nil && linkExists(ctx, l) {
				errs = multierror.Append(errs, err)
			}
		}
	}
	props, _ := filepath.Glob("/run/systemd/nspawn/propagate/" + e.Prefix + "-*")
	for _, p := range props {
		_ = os.RemoveAll(p)
	}
	if e.OwnState && e.StateDir != "" {
		if err := removeTree(e.StateDir); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	if err := errs.ErrorOrNil(); err != nil {
		return fmt.Errorf("clean up %s: %w", e.Prefix, err)
	}
	return nil
}

func linkExists(ctx context.Context, name string) bool {
	return run(ctx, "ip", "link", "show", "dev", name) == nil
}

// hostLinks lists the host's network interface names.
func hostLinks(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return nil, fmt.Errorf("list host links: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

// cgroupRoots are the hierarchies nspawn needs a cgroup of its own in when
// the host runs no systemd (hybrid v1 name=systemd + v2 unified here; pure
// v2 hosts have only the root).
func cgroupRoots() []string {
	var roots []string
	for _, r := range []string{"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"} {
		if _, err := os.Stat(filepath.Join(r, "cgroup.procs")); err == nil {
			roots = append(roots, r)
		}
	}
	if len(roots) == 0 {
		if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
			roots = append(roots, "/sys/fs/cgroup")
		}
	}
	return roots
}

func ownCgroups(prefix string) []string {
	var cgs []string
	for _, r := range cgroupRoots() {
		m, _ := filepath.Glob(filepath.Join(r, prefix+"-*"))
		cgs = append(cgs, m...)
	}
	return cgs
}

// cgroupPIDs lists every process in a cgroup and its descendants.
func cgroupPIDs(cg string) []int {
	var pids []int
	_ = filepath.WalkDir(cg, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

func waitCgroupsEmpty(ctx context.Context, cgs []string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		busy := false
		for _, cg := range cgs {
			if len(cgroupPIDs(cg)) > 0 {
				busy = true
			}
		}
		if !busy {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removeCgroup removes a cgroup and the sub-cgroups the machine's systemd
// made, deepest first (cgroupfs only removes empty leaves).
func removeCgroup(cg string) error {
	var dirs []string
	_ = filepath.WalkDir(cg, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var last error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
			last = fmt.Errorf("remove cgroup %s: %w", dirs[i], err)
		}
	}
	return last
}
