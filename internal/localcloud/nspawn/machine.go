//go:build linux

package nspawn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

// machine is one droplet's systemd-nspawn container: an overlay over its
// image, its own network namespace, its own cgroup, and a supervisor that
// restarts nspawn when the OS inside reboots.
type machine struct {
	b         *Backend
	id        int
	name      string // netns, cgroup and nspawn machine name
	host      int    // last octet of ip
	ip        string
	veth      string
	dir       string   // upper, work, root (the overlay mount) and console.log
	lowers    []string // overlay lower layers, topmost first
	baseBytes int64    // used size of the lowers, for snapshot sizes

	act sync.Mutex // one action (power, snapshot, delete) at a time

	mu       sync.Mutex
	cmd      *exec.Cmd     // the running systemd-nspawn
	done     chan struct{} // closed when the machine has stopped for good
	running  bool
	stopping bool // a stop was asked for: exit 133 (reboot) must not restart

	destroyed bool // guarded by act: a second destroy must not free names reused since
}

// errNoMachine says the API asked about a droplet the backend never booted.
func errNoMachine(id int) error {
	return fmt.Errorf("no machine for droplet %d in this local cloud", id)
}

func (b *Backend) machine(id int) (*machine, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.machines[id]
	if !ok {
		return nil, errNoMachine(id)
	}
	return m, nil
}

// Create boots a machine for droplet spec.ID and returns its IPv4 once the
// OS inside has started (like "active" on DigitalOcean, SSH follows ~2 s later).
func (b *Backend) Create(ctx context.Context, spec localcloud.MachineSpec) (string, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return "", errors.New("nspawn backend is closed")
	}
	if _, dup := b.machines[spec.ID]; dup {
		b.mu.Unlock()
		return "", fmt.Errorf("droplet %d already has a machine", spec.ID)
	}
	host := 0
	for h := 2; h < 255; h++ {
		if !b.usedHosts[h] {
			host = h
			break
		}
	}
	if host == 0 {
		b.mu.Unlock()
		return "", fmt.Errorf("all 253 addresses of %s are in use: delete droplets first", b.net.subnet)
	}
	m := &machine{
		b:    b,
		id:   spec.ID,
		name: b.prefix + "-" + strconv.Itoa(spec.ID),
		host: host,
		ip:   hostIP(b.net.base, host),
		veth: vethName(b.prefix, host),
		dir:  filepath.Join(b.stateDir, "machines", strconv.Itoa(spec.ID)),
		done: closedChan(),
	}
	b.usedHosts[host] = true
	b.machines[spec.ID] = m
	var snap *snapshot
	if spec.SnapshotID != 0 {
		snap = b.snapshots[spec.SnapshotID]
	}
	b.mu.Unlock()
	m.act.Lock()
	defer m.act.Unlock()

	fail := func(err error) (string, error) {
		_ = m.destroy(context.WithoutCancel(ctx))
		return "", fmt.Errorf("create machine for droplet %d: %w", spec.ID, err)
	}
	switch {
	case spec.SnapshotID != 0:
		if snap == nil {
			return fail(fmt.Errorf("snapshot %d does not exist here", spec.SnapshotID))
		}
		m.lowers, m.baseBytes = snap.lowers, snap.bytes
	default:
		rootfs, err := b.baseImage(ctx, spec.ImageSlug)
		if err != nil {
			return fail(err)
		}
		meta, _ := readImageMeta(filepath.Dir(rootfs))
		m.lowers, m.baseBytes = []string{rootfs}, meta.SizeBytes
	}
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.MkdirAll(filepath.Join(m.dir, d), 0o755); err != nil {
			return fail(err)
		}
	}
	if err := b.net.addMachine(ctx, m.name, m.veth, m.ip); err != nil {
		return fail(err)
	}
	files, err := seedFiles(spec, m.ip, b.net.gateway)
	if err != nil {
		return fail(err)
	}
	if err := writeSeed(seedHostDir(m.dir), files); err != nil {
		return fail(err)
	}
	if err := m.mount(); err != nil {
		return fail(err)
	}
	if err := m.start(ctx); err != nil {
		return fail(err)
	}
	return m.ip, nil
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

func (m *machine) rootDir() string { return filepath.Join(m.dir, "root") }

func (m *machine) mounted() bool {
	mps, _ := mountsUnder(m.rootDir())
	return len(mps) > 0
}

func (m *machine) mount() error {
	if m.mounted() {
		return nil
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s",
		strings.Join(m.lowers, ":"), filepath.Join(m.dir, "upper"), filepath.Join(m.dir, "work"))
	if err := syscall.Mount("overlay", m.rootDir(), "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay for %s: %w", m.name, err)
	}
	return nil
}

// withRoot gives f the machine's tree confined to it: the machine's own
// symlinks can never make the host write outside it.
func (m *machine) withRoot(f func(*os.Root) error) error {
	r, err := os.OpenRoot(m.rootDir())
	if err != nil {
		return err
	}
	defer r.Close()
	return f(r)
}

func (m *machine) cgroups() []string {
	var cgs []string
	for _, r := range cgroupRoots() {
		cgs = append(cgs, filepath.Join(r, m.name))
	}
	return cgs
}

// start boots the mounted machine and returns when its init runs.
func (m *machine) start(ctx context.Context) error {
	if err := m.mount(); err != nil {
		return err
	}
	if err := m.withRoot(func(r *os.Root) error { return writeProxyConfig(r, m.b.proxy.url) }); err != nil {
		return fmt.Errorf("machine %s: %w", m.name, err)
	}
	cmd, err := m.launch()
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.cmd, m.running, m.stopping = cmd, true, false
	m.done = make(chan struct{})
	done := m.done
	m.mu.Unlock()
	go m.supervise(cmd, done)
	if _, err := m.waitInit(ctx, 0, done); err != nil {
		_ = m.powerOff(context.WithoutCancel(ctx))
		return err
	}
	return nil
}

// launch starts systemd-nspawn in the machine's own cgroups. With no
// systemd on the host, nspawn must not share a cgroup with other machines
// (they would collide on .../payload), so a shell joins the cgroups first
// and then execs nspawn with the same pid.
func (m *machine) launch() (*exec.Cmd, error) {
	cgs := m.cgroups()
	for _, cg := range cgs {
		if err := removeCgroup(cg); err != nil { // a previous boot's sub-cgroups
			return nil, err
		}
		if err := os.Mkdir(cg, 0o755); err != nil {
			return nil, fmt.Errorf("cgroup for %s: %w", m.name, err)
		}
	}
	_ = os.RemoveAll("/run/systemd/nspawn/propagate/" + m.name)
	args := []string{"-c", `for cg in $MPI_CGROUPS; do echo $$ > "$cg/cgroup.procs" || exit 1; done; exec systemd-nspawn "$@"`, "sh",
		"--quiet", "--boot", "--directory=" + m.rootDir(), "--machine=" + m.name,
		"--register=no", "--keep-unit", "--link-journal=no",
		// --network-namespace-path alone drops CAP_NET_ADMIN (ufw fails
		// inside); --private-network keeps it.
		"--private-network", "--network-namespace-path=/run/netns/" + m.name,
		"--console=read-only", "--resolv-conf=off", "--timezone=off",
		// user_data from outside the disk, read-only, as a metadata service serves it.
		"--bind-ro=" + strings.ReplaceAll(seedHostDir(m.dir), ":", `\:`) + ":" + seedDir,
	}
	cmd := exec.Command("sh", args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "MPI_CGROUPS=" + strings.Join(cgs, " ")}
	console, err := os.OpenFile(filepath.Join(m.dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = console, console
	// SIGTERM makes nspawn halt the machine in order: the right end for a
	// machine whose test process died.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		console.Close()
		return nil, fmt.Errorf("start systemd-nspawn for %s: %w", m.name, err)
	}
	console.Close() // the child holds its own copy
	return cmd, nil
}

// supervise waits for nspawn; exit 133 is a reboot from inside, answered
// by booting again, anything else (or an asked-for stop) leaves the machine
// stopped and its overlay unmounted.
func (m *machine) supervise(cmd *exec.Cmd, done chan struct{}) {
	for {
		_ = cmd.Wait()
		code := cmd.ProcessState.ExitCode()
		m.mu.Lock()
		stopping := m.stopping
		m.mu.Unlock()
		if code == 133 && !stopping {
			next, err := m.launch()
			if err == nil {
				m.mu.Lock()
				m.cmd = next
				m.mu.Unlock()
				cmd = next
				continue
			}
			m.b.opts.Logf("nspawn: machine %s rebooted but could not start again: %v", m.name, err)
		}
		break
	}
	m.afterStop()
	m.mu.Lock()
	m.running, m.cmd = false, nil
	m.mu.Unlock()
	close(done)
}

// afterStop removes what a stopped nspawn leaves behind on a host without
// systemd: its cgroups, its propagate dir, and the overlay mount (so the
// upper layer is consistent for a snapshot).
func (m *machine) afterStop() {
	for _, cg := range m.cgroups() {
		for _, pid := range cgroupPIDs(cg) {
			_ = syscall.Kill(pid, syscall.SIGKILL) // nothing may outlive the machine
		}
	}
	waitCgroupsEmpty(context.Background(), m.cgroups(), 5*time.Second)
	for _, cg := range m.cgroups() {
		if err := removeCgroup(cg); err != nil {
			m.b.opts.Logf("nspawn: %v", err)
		}
	}
	_ = os.RemoveAll("/run/systemd/nspawn/propagate/" + m.name)
	if err := unmountAll(m.rootDir()); err != nil {
		m.b.opts.Logf("nspawn: %v", err)
	}
}

// initPID finds the machine's PID 1 among the processes of its cgroup: the
// one that is pid 1 in its own pid namespace.
func (m *machine) initPID() int {
	cgs := m.cgroups()
	if len(cgs) == 0 {
		return 0
	}
	for _, pid := range cgroupPIDs(cgs[len(cgs)-1]) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "NSpid:" && f[len(f)-1] == "1" {
				return pid
			}
		}
	}
	return 0
}

// waitInit waits for a machine init other than old to run.
func (m *machine) waitInit(ctx context.Context, old int, done chan struct{}) (int, error) {
	deadline := time.After(60 * time.Second)
	for {
		if pid := m.initPID(); pid != 0 && pid != old {
			return pid, nil
		}
		select {
		case <-done:
			return 0, fmt.Errorf("machine %s stopped while booting; see %s", m.name, filepath.Join(m.dir, "console.log"))
		case <-ctx.Done():
			return 0, fmt.Errorf("machine %s booting: %w", m.name, ctx.Err())
		case <-deadline:
			return 0, fmt.Errorf("machine %s: no init after 60 s; see %s", m.name, filepath.Join(m.dir, "console.log"))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (m *machine) state() (running bool, cmd *exec.Cmd, done chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running, m.cmd, m.done
}

// Shutdown asks the OS inside to halt, as an ACPI power button would, and
// returns once nspawn has exited; ctx bounds the wait.
func (b *Backend) Shutdown(ctx context.Context, id int) error {
	m, err := b.machine(id)
	if err != nil {
		return err
	}
	m.act.Lock()
	defer m.act.Unlock()
	running, cmd, done := m.state()
	if !running {
		return nil
	}
	m.mu.Lock()
	m.stopping = true
	m.mu.Unlock()
	// nspawn turns SIGTERM into SIGRTMIN+3 for the machine's systemd: an
	// orderly halt.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("shutdown machine %s: %w", m.name, err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("machine %s did not halt in time (use power_off): %w", m.name, ctx.Err())
	}
}

// PowerOff pulls the plug: the machine's init (and with it its whole pid
// namespace) is killed at once.
func (b *Backend) PowerOff(ctx context.Context, id int) error {
	m, err := b.machine(id)
	if err != nil {
		return err
	}
	m.act.Lock()
	defer m.act.Unlock()
	return m.powerOff(ctx)
}

func (m *machine) powerOff(ctx context.Context) error {
	running, cmd, done := m.state()
	if !running {
		return nil
	}
	m.mu.Lock()
	m.stopping = true
	m.mu.Unlock()
	if pid := m.initPID(); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	} else {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	// nspawn itself did not go: kill everything in the machine's cgroups.
	_ = cmd.Process.Kill()
	for _, cg := range m.cgroups() {
		for _, pid := range cgroupPIDs(cg) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("machine %s still runs after SIGKILL", m.name)
	}
}

// PowerOn boots a stopped machine again from the same disk.
func (b *Backend) PowerOn(ctx context.Context, id int) error {
	m, err := b.machine(id)
	if err != nil {
		return err
	}
	m.act.Lock()
	defer m.act.Unlock()
	if running, _, _ := m.state(); running {
		return nil
	}
	if err := m.start(ctx); err != nil {
		return fmt.Errorf("power on droplet %d: %w", id, err)
	}
	return nil
}

// Reboot makes the OS restart, as ctrl-alt-del would, and returns when the
// new boot's init runs.
func (b *Backend) Reboot(ctx context.Context, id int) error {
	m, err := b.machine(id)
	if err != nil {
		return err
	}
	m.act.Lock()
	defer m.act.Unlock()
	running, _, done := m.state()
	if !running {
		return fmt.Errorf("reboot droplet %d: the machine is off (power it on instead)", id)
	}
	old := m.initPID()
	if old == 0 {
		return fmt.Errorf("reboot droplet %d: machine %s has no init", id, m.name)
	}
	// SIGINT is ctrl-alt-del for systemd: reboot.target; nspawn then exits
	// 133 and supervise boots it again.
	if err := syscall.Kill(old, syscall.SIGINT); err != nil {
		return fmt.Errorf("reboot machine %s: %w", m.name, err)
	}
	if _, err := m.waitInit(ctx, old, done); err != nil {
		return fmt.Errorf("reboot droplet %d: %w", id, err)
	}
	return nil
}

// Running reports whether the machine's nspawn runs.
func (b *Backend) Running(id int) bool {
	m, err := b.machine(id)
	if err != nil {
		return false
	}
	running, _, _ := m.state()
	return running
}

// IP is the machine's address on the backend's bridge.
func (b *Backend) IP(id int) (string, error) {
	m, err := b.machine(id)
	if err != nil {
		return "", err
	}
	return m.ip, nil
}

// Delete stops the machine if it runs and removes its disk, network
// namespace, veth, cgroups and address.
func (b *Backend) Delete(ctx context.Context, id int) error {
	m, err := b.machine(id)
	if err != nil {
		return nil // nothing left of it: a boot that failed already cleaned up
	}
	m.act.Lock()
	defer m.act.Unlock()
	return m.destroy(ctx)
}

func (m *machine) destroy(ctx context.Context) error {
	if m.destroyed {
		return nil
	}
	m.destroyed = true
	var errs *multierror.Error
	if err := m.powerOff(ctx); err != nil {
		errs = multierror.Append(errs, err)
	}
	if err := m.b.net.removeMachine(ctx, m.name, m.veth); err != nil {
		errs = multierror.Append(errs, err)
	}
	for _, cg := range m.cgroups() {
		if err := removeCgroup(cg); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	_ = os.RemoveAll("/run/systemd/nspawn/propagate/" + m.name)
	if err := removeTree(m.dir); err != nil {
		errs = multierror.Append(errs, err)
	}
	m.b.mu.Lock()
	delete(m.b.machines, m.id)
	delete(m.b.usedHosts, m.host)
	m.b.mu.Unlock()
	if err := errs.ErrorOrNil(); err != nil {
		return fmt.Errorf("delete machine %s: %w", m.name, err)
	}
	return nil
}

// MemoryPSS is the proportional set size, in bytes, of every process of the
// machine, nspawn included: what one more idle droplet costs the host.
func (b *Backend) MemoryPSS(id int) (int64, error) {
	m, err := b.machine(id)
	if err != nil {
		return 0, err
	}
	cgs := m.cgroups()
	if len(cgs) == 0 {
		return 0, errors.New("no cgroup hierarchy to find the machine's processes in")
	}
	var total int64
	for _, pid := range cgroupPIDs(cgs[len(cgs)-1]) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			continue // exited meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				total += kb * 1024
			}
		}
	}
	return total, nil
}
