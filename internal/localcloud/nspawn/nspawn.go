//go:build linux

// Package nspawn runs the local cloud's droplets as real Debian machines booted with systemd-nspawn
// (Linux only: overlay mounts, network namespaces, cgroups).
package nspawn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-multierror"

	"github.com/mp-image-action/mp-image-action/internal/errlist"
	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

// Options configures a Backend; zero values take the documented defaults.
type Options struct {
	// CacheDir holds base images (built once with debootstrap, reused across
	// runs and tests) and the apt proxy's cache. Default /var/cache/mp-image,
	// or env MP_IMAGE_CACHE.
	CacheDir string
	// StateDir holds per-machine overlays, seeds and snapshots. Default a
	// fresh directory /var/lib/mp-image/run-<pid>-<id>; Close removes it.
	StateDir string
	// Mirror is the Debian mirror. Default http://deb.debian.org/debian, or
	// env MP_IMAGE_MIRROR.
	Mirror string
	// UbuntuMirror enables the ubuntu-* slugs. Default env MP_IMAGE_UBUNTU_MIRROR.
	UbuntuMirror string
	// Subnet is the machines' /24, e.g. "10.213.7.0/24". Default: the first
	// 10.213.X.0/24 no other backend or host interface uses.
	Subnet string
	// Logf receives progress lines; nil discards them.
	Logf func(string, ...any)
}

// Backend runs machines for the local cloud; it implements localcloud.Machines.
type Backend struct {
	opts     Options
	id       string // short random id, the prefix of every host object
	prefix   string // "mpi" + id
	runDir   string // registry entry under /run/mp-image: lets CleanupStale find us
	stateDir string
	ownState bool // StateDir was made by us, so Close removes it

	net   *network
	proxy *aptProxy

	mu        sync.Mutex
	machines  map[int]*machine
	snapshots map[int]*snapshot
	usedHosts map[int]bool // host octets in the subnet taken by machines
	closed    bool
}

var _ localcloud.Machines = (*Backend)(nil)

// registryDir is where every backend records itself, so that a later run can
// remove what a killed one left behind.
const registryDir = "/run/mp-image"

// Available reports whether this host can run machines: nil when it can,
// else an error saying what is missing (tests skip on it).
func Available() error {
	var errs []error
	if os.Geteuid() != 0 {
		errs = append(errs, errors.New("must run as root (systemd-nspawn, mounts and network namespaces need it)"))
	}
	for _, bin := range []struct{ name, pkg string }{
		{"systemd-nspawn", "systemd-container"},
		{"debootstrap", "debootstrap"},
		{"ip", "iproute2"},
		{"apt-cacher-ng", "apt-cacher-ng"},
		{"unshare", "util-linux"},
	} {
		if _, err := exec.LookPath(bin.name); err != nil {
			errs = append(errs, fmt.Errorf("%s not found: apt-get install -y --no-install-recommends %s", bin.name, bin.pkg))
		}
	}
	if err := overlaySupported(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("nspawn machines unavailable on this host: %w", errlist.Join(errs...))
	}
	return nil
}

func overlaySupported() error {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return fmt.Errorf("read /proc/filesystems: %w", err)
	}
	if !containsField(string(b), "overlay") {
		// The module may just not be loaded yet; modprobe is harmless and local.
		_ = exec.Command("modprobe", "overlay").Run()
		b, _ = os.ReadFile("/proc/filesystems")
		if !containsField(string(b), "overlay") {
			return errors.New("kernel has no overlay filesystem (modprobe overlay failed)")
		}
	}
	return nil
}

// New checks prerequisites, removes leftovers of killed runs, and sets up the
// host side: a bridge with its own /24 and an apt caching proxy on it.
func New(ctx context.Context, o Options) (*Backend, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if o.CacheDir == "" {
		o.CacheDir = envOr("MP_IMAGE_CACHE", "/var/cache/mp-image")
	}
	if o.Mirror == "" {
		o.Mirror = envOr("MP_IMAGE_MIRROR", "http://deb.debian.org/debian")
	}
	if o.UbuntuMirror == "" {
		o.UbuntuMirror = os.Getenv("MP_IMAGE_UBUNTU_MIRROR")
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if err := CleanupStale(ctx, o.Logf); err != nil {
		o.Logf("nspawn: removing leftovers of earlier runs: %v", err)
	}
	raw := make([]byte, 3)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("random backend id: %w", err)
	}
	id := hex.EncodeToString(raw)[:5]
	b := &Backend{
		opts:      o,
		id:        id,
		prefix:    "mpi" + id,
		machines:  map[int]*machine{},
		snapshots: map[int]*snapshot{},
		usedHosts: map[int]bool{},
	}
	b.stateDir = o.StateDir
	if b.stateDir == "" {
		b.stateDir = filepath.Join("/var/lib/mp-image", fmt.Sprintf("run-%d-%s", os.Getpid(), id))
		b.ownState = true
	}
	for _, d := range []string{o.CacheDir, b.stateDir, registryDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	b.runDir = filepath.Join(registryDir, b.prefix)
	if err := writeRegistry(b.runDir, registryEntry{PID: os.Getpid(), Prefix: b.prefix, StateDir: b.stateDir, OwnState: b.ownState}); err != nil {
		return nil, err
	}
	fail := func(err error) (*Backend, error) {
		_ = b.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	n, err := setupNetwork(ctx, b.prefix, o.Subnet, b.runDir)
	if err != nil {
		return fail(err)
	}
	b.net = n
	p, err := startAptProxy(ctx, o.CacheDir, b.stateDir, n.gateway, b.runDir, o.Logf)
	if err != nil {
		return fail(err)
	}
	b.proxy = p
	o.Logf("nspawn: backend %s on %s (bridge %s, apt proxy %s)", b.prefix, n.subnet, n.bridge, p.url)
	return b, nil
}

// Subnet is the /24 the machines' addresses come from.
func (b *Backend) Subnet() string { return b.net.subnet }

// Prefix is the name prefix of every host object (netns, links, cgroups) this
// backend makes; tests use it to prove nothing is left behind.
func (b *Backend) Prefix() string { return b.prefix }

// StateDir is where the machines' disks live.
func (b *Backend) StateDir() string { return b.stateDir }

// Close stops every machine and removes every mount, namespace, link, bridge,
// cgroup and process the backend made, and its state directory if it made it.
func (b *Backend) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	ids := make([]int, 0, len(b.machines))
	for id := range b.machines {
		ids = append(ids, id)
	}
	b.mu.Unlock()
	sort.Ints(ids)
	var errs *multierror.Error
	for _, id := range ids {
		if err := b.Delete(ctx, id); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	if b.proxy != nil {
		if err := b.proxy.stop(); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	if b.net != nil {
		if err := b.net.teardown(); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	// Anything a failed step left (mounts, cgroups) goes the same way as a
	// killed run's leftovers.
	if err := cleanupPrefix(ctx, registryEntry{PID: os.Getpid(), Prefix: b.prefix, StateDir: b.stateDir, OwnState: b.ownState}, b.opts.Logf); err != nil {
		errs = multierror.Append(errs, err)
	}
	if !b.ownState {
		// Not ours to remove, but our machines and snapshots are.
		for _, sub := range []string{"machines", "snapshots"} {
			if err := removeTree(filepath.Join(b.stateDir, sub)); err != nil {
				errs = multierror.Append(errs, err)
			}
		}
	}
	if err := os.RemoveAll(b.runDir); err != nil {
		errs = multierror.Append(errs, err)
	}
	if err := errs.ErrorOrNil(); err != nil {
		return fmt.Errorf("close nspawn backend %s: %w", b.prefix, err)
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func containsField(s, field string) bool {
	for _, line := range strings.Split(s, "\n") {
		for _, f := range strings.Fields(line) {
			if f == field {
				return true
			}
		}
	}
	return false
}

func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// HostAddr is the host's address on the machines' bridge (where their apt
// proxy listens): a test serving something to machines listens there.
func (b *Backend) HostAddr() string { return b.net.gateway }
