//go:build linux

package nspawn

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// userDataFor pins host as the machine's host key (as the build pipeline
// does) and writes a file, so the test sees cloud-init ran user_data.
func userDataFor(host keyPair, marker string) string {
	indented := "    " + strings.ReplaceAll(strings.TrimSpace(host.privatePEM), "\n", "\n    ")
	return fmt.Sprintf(`#cloud-config
ssh_keys:
  ed25519_private: |
%s
  ed25519_public: %s
write_files:
  - path: /root/user-data-ran
    content: "%s\n"
`, indented, host.authorized, marker)
}

// perInstanceScript runs once per instance-id; it records which instance
// ran it.
const perInstanceScript = `#!/bin/sh
cat /var/lib/cloud/data/instance-id >> /root/per-instance-ran
`

func TestMachineLifecycle(t *testing.T) {
	b := newTestBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	client, host := newKeyPair(t), newKeyPair(t)

	ip, err := b.Create(ctx, localcloud.MachineSpec{
		ID: 101, Name: "first", Hostname: "first", ImageSlug: "debian-12-x64",
		InstanceID: "i-first-101", UserData: userDataFor(host, "marker-101"), SSHKeys: []string{client.authorized},
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if !b.Running(101) {
		t.Fatal("Running = false right after Create")
	}
	c, presented := testutil.DialRoot(ctx, t, ip, client.signer)
	if !bytes.Equal(presented.Marshal(), host.signer.PublicKey().Marshal()) {
		t.Errorf("machine presented host key %s, want the one user_data pinned", ssh.FingerprintSHA256(presented))
	}
	if state := testutil.SystemState(t, c); state != "running" {
		t.Errorf("systemctl is-system-running: %s", state)
	}
	checks := []struct{ cmd, want string }{
		{"cat /root/user-data-ran", "marker-101"},
		{"hostname", "first"},
		{"cat /var/lib/cloud/data/instance-id", "i-first-101"},
		// The droplet's address is its own, in its own namespace.
		{"ip -4 -o addr show dev eth0", ip + "/24"},
		// apt reaches the mirror only through the host's proxy.
		{"apt-config dump Acquire::http::Proxy", b.proxy.url},
	}
	for _, ch := range checks {
		out, err := testutil.SSHRun(c, ch.cmd)
		if err != nil || !strings.Contains(out, ch.want) {
			t.Errorf("%s = %q (%v), want it to contain %q", ch.cmd, out, err, ch.want)
		}
	}
	// user_data comes from outside the disk, read-only, as DigitalOcean's metadata service
	// serves it: cloud-init reads it, nothing can change it, the machine's layer lacks it.
	if out, err := testutil.SSHRun(c, "cat "+seedDir+"/user-data"); err != nil || !strings.Contains(out, "marker-101") {
		t.Errorf("the seed's user-data inside the machine: %q (%v)", out, err)
	}
	if out, err := testutil.SSHRun(c, "touch "+seedDir+"/user-data 2>&1 && echo writable"); err == nil || strings.Contains(out, "writable") {
		t.Errorf("the seed is writable from inside the machine: %q", out)
	}
	if _, err := os.Stat(filepath.Join(b.StateDir(), "machines", "101", "upper", seedDir, "user-data")); !os.IsNotExist(err) {
		t.Errorf("the seed's user-data is in the machine's own layer (stat: %v)", err)
	}
	if out, err := testutil.SSHRun(c, "cat /root/per-instance-ran 2>/dev/null; true"); err != nil || out != "" {
		t.Errorf("per-instance marker exists before the script was placed: %q %v", out, err)
	}
	place := fmt.Sprintf("mkdir -p /var/lib/cloud/scripts/per-instance && printf '%%s' '%s' > /var/lib/cloud/scripts/per-instance/mark.sh && chmod +x /var/lib/cloud/scripts/per-instance/mark.sh", perInstanceScript)
	if _, err := testutil.SSHRun(c, place); err != nil {
		t.Fatalf("place per-instance script: %v", err)
	}
	c.Close()

	shutdownStart := time.Now()
	if err := b.Shutdown(ctx, 101); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	t.Logf("shutdown took %s", time.Since(shutdownStart).Round(time.Millisecond))
	if b.Running(101) {
		t.Fatal("Running = true after Shutdown")
	}
	assertStopped(t, b, 101)
	// An orderly halt, not a kill: systemd inside said so on the console.
	if console, _ := os.ReadFile(filepath.Join(b.StateDir(), "machines", "101", "console.log")); !strings.Contains(string(console), "Halting system") && !strings.Contains(string(console), "Powering off") {
		t.Errorf("console shows no orderly halt:\n%s", lastLines(string(console), 15))
	} else {
		t.Logf("console tail:\n%s", lastLines(string(console), 6))
	}

	snapStart := time.Now()
	size, err := b.Snapshot(ctx, 101, 9001)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	t.Logf("snapshot took %s, size %.3f GB", time.Since(snapStart).Round(time.Millisecond), size)
	if size < 0.1 || size > 5 {
		t.Errorf("snapshot size %.3f GB, want the used size of a small Debian (0.1-5 GB)", size)
	}
	if seed, _ := os.ReadDir(filepath.Join(b.StateDir(), "snapshots", "9001", "layer", seedDir)); len(seed) > 0 {
		t.Errorf("the snapshot holds the machine's seed: %v", seed)
	}

	// From the snapshot, with a fresh instance-id, and ignoring the pinned host key.
	ip2, err := b.Create(ctx, localcloud.MachineSpec{
		ID: 102, Name: "second", Hostname: "second", SnapshotID: 9001,
		InstanceID: "i-second-102", UserData: userDataFor(host, "marker-102"), SSHKeys: []string{client.authorized},
		IgnoreHostKeys: true,
	})
	if err != nil {
		t.Fatalf("Create from snapshot: %v", err)
	}
	if ip2 == ip {
		t.Errorf("second machine got the first one's address %s", ip)
	}
	c2, presented2 := testutil.DialRoot(ctx, t, ip2, client.signer)
	defer c2.Close()
	if bytes.Equal(presented2.Marshal(), host.signer.PublicKey().Marshal()) {
		t.Error("IgnoreHostKeys: machine still presents the host key user_data pinned")
	}
	if state := testutil.SystemState(t, c2); state != "running" {
		t.Errorf("systemctl is-system-running on the snapshot's machine: %s", state)
	}
	out, err := testutil.SSHRun(c2, "cat /root/per-instance-ran")
	if err != nil || strings.TrimSpace(out) != "i-second-102" {
		t.Errorf("per-instance script on the new instance: got %q (%v), want exactly one run by i-second-102", out, err)
	}
	if out, _ := testutil.SSHRun(c2, "cat /root/user-data-ran"); !strings.Contains(out, "marker-102") {
		t.Errorf("the new instance's user_data did not run: /root/user-data-ran = %q", out)
	}
	if out, err := testutil.SSHRun(c2, "cat "+seedDir+"/user-data"); err != nil || !strings.Contains(out, "marker-102") || strings.Contains(out, "marker-101") {
		t.Errorf("the new instance's seed holds %q (%v): want its own user_data only", out, err)
	}

	// The source droplet is still usable after its snapshot.
	if err := b.PowerOn(ctx, 101); err != nil {
		t.Fatalf("PowerOn: %v", err)
	}
	c1, _ := testutil.DialRoot(ctx, t, ip, client.signer)
	if out, _ := testutil.SSHRun(c1, "cat /root/per-instance-ran 2>/dev/null; true"); strings.TrimSpace(out) != "" {
		t.Errorf("per-instance script ran again on the same instance after power on: %q", out)
	}
	c1.Close()

	for _, id := range []int{101, 102} {
		if err := b.Delete(ctx, id); err != nil {
			t.Errorf("Delete %d: %v", id, err)
		}
	}
	if err := b.DeleteSnapshot(ctx, 9001); err != nil {
		t.Errorf("DeleteSnapshot: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.StateDir(), "snapshots", "9001")); !os.IsNotExist(err) {
		t.Errorf("snapshot dir still there after DeleteSnapshot: %v", err)
	}
}

func TestMachinePowerCycleAndReboot(t *testing.T) {
	b := newTestBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client := newKeyPair(t)
	ip, err := b.Create(ctx, localcloud.MachineSpec{
		ID: 201, Name: "cycle", ImageSlug: "debian-12-x64", InstanceID: "i-cycle-201",
		UserData: "#!/bin/sh\necho script-ran > /root/script-ran\n", SSHKeys: []string{client.authorized},
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	bootID := func() string {
		c, _ := testutil.DialRoot(ctx, t, ip, client.signer)
		defer c.Close()
		testutil.SystemState(t, c)
		if out, err := testutil.SSHRun(c, "cat /root/script-ran"); err != nil || strings.TrimSpace(out) != "script-ran" {
			t.Errorf("user_data script: %q %v", out, err)
		}
		out, err := testutil.SSHRun(c, "cat /proc/sys/kernel/random/boot_id")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	first := bootID()

	steps := []struct {
		name string
		do   func() error
	}{
		{"reboot", func() error { return b.Reboot(ctx, 201) }},
		{"power off + power on", func() error {
			if err := b.PowerOff(ctx, 201); err != nil {
				return err
			}
			if b.Running(201) {
				return fmt.Errorf("still running after PowerOff")
			}
			assertStopped(t, b, 201)
			return b.PowerOn(ctx, 201)
		}},
	}
	prev := first
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !b.Running(201) {
			t.Fatalf("%s: not running afterwards", s.name)
		}
		now := bootID()
		if now == prev {
			t.Errorf("%s: boot id unchanged (%s): the OS did not restart", s.name, now)
		}
		prev = now
	}
	if err := b.Reboot(ctx, 999); err == nil {
		t.Error("Reboot of an unknown machine: want an error")
	}
}

// assertStopped checks the machine really stopped: no process in its
// cgroups and its overlay unmounted.
func assertStopped(t *testing.T, b *Backend, id int) {
	t.Helper()
	m, err := b.machine(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, cg := range m.cgroups() {
		if pids := cgroupPIDs(cg); len(pids) > 0 {
			t.Errorf("processes %v remain in %s after stop", pids, cg)
		}
	}
	if m.mounted() {
		t.Errorf("overlay of %s still mounted after stop", m.name)
	}
}

func TestTwoBackendsTakeDifferentSubnets(t *testing.T) {
	needMachines(t)
	ctx := context.Background()
	var subnets []string
	for i := 0; i < 2; i++ {
		b, err := New(ctx, Options{Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		prefix, state := b.Prefix(), b.StateDir()
		t.Cleanup(func() {
			if err := b.Close(ctx); err != nil {
				t.Error(err)
			}
			if left := Leftovers(prefix, state); len(left) > 0 {
				t.Errorf("leftovers of %s: %v", prefix, left)
			}
		})
		subnets = append(subnets, b.Subnet())
	}
	if subnets[0] == subnets[1] {
		t.Fatalf("both backends took %s", subnets[0])
	}
	// A subnet in use is refused when asked for explicitly.
	if b, err := New(ctx, Options{Subnet: subnets[0]}); err == nil {
		_ = b.Close(ctx)
		t.Fatalf("New with the busy subnet %s: want an error", subnets[0])
	}
}

// TestAptAndFirewallInside checks what every Marketplace build does first:
// apt through the host's proxy (including the security suite img_check
// looks at) and ufw, which must work inside the machine's own namespace.
func TestAptAndFirewallInside(t *testing.T) {
	b := newTestBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client := newKeyPair(t)
	ip, err := b.Create(ctx, localcloud.MachineSpec{ID: 301, ImageSlug: "debian-12-x64", InstanceID: "i-apt-301", SSHKeys: []string{client.authorized}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	c, _ := testutil.DialRoot(ctx, t, ip, client.signer)
	defer c.Close()
	testutil.SystemState(t, c)
	steps := []struct{ cmd, want string }{
		{"apt-get update 2>&1", "bookworm-security"},
		{"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends hello >/dev/null 2>&1 && hello", "Hello, world!"},
		// Programs run over SSH find the proxy too (pam_env reads /etc/environment).
		{"curl -fsS -o /dev/null -w '%{http_code}' http://deb.debian.org/debian/dists/bookworm/Release", "200"},
		{"ufw allow 22/tcp >/dev/null && ufw --force enable >/dev/null && ufw status", "Status: active"},
	}
	for _, s := range steps {
		start := time.Now()
		out, err := testutil.SSHRun(c, s.cmd)
		if err != nil || !strings.Contains(out, s.want) {
			t.Fatalf("%s: %v\n%s\nwant %q", s.cmd, err, lastLines(out, 10), s.want)
		}
		t.Logf("%s: %s", s.cmd, time.Since(start).Round(time.Millisecond))
	}
	// ufw enabled inside must not cut SSH from the host: it is the
	// machine's own firewall in its own namespace.
	c2, _ := testutil.DialRoot(ctx, t, ip, client.signer)
	c2.Close()
}
