package cleanup

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// treeRunner runs the script on this host confined to a throwaway tree by MPI_ROOT.
type treeRunner struct{ env []string }

func (r treeRunner) Run(ctx context.Context, cmd string, stdout, stderr func(string)) error {
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Env = append(os.Environ(), r.env...)
	op, err := c.StdoutPipe()
	if err != nil {
		return err
	}
	ep, err := c.StderrPipe()
	if err != nil {
		return err
	}
	if err := c.Start(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	pump := func(rd io.Reader, f func(string)) {
		defer wg.Done()
		sc := bufio.NewScanner(rd)
		for sc.Scan() {
			f(sc.Text())
		}
	}
	wg.Add(2)
	go pump(op, stdout)
	go pump(ep, stderr)
	wg.Wait()
	return c.Wait()
}

const (
	buildKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBuildKeyBuildKeyBuildKeyBuildKeyBuildKey0 mp-image-build"
	otherKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOtherKey0 admin"
)

func write(t *testing.T, root, p, body string, mode os.FileMode) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

func fixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"etc/passwd":                             "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\napp:x:1000:1000::/home/app:/bin/bash\ngit:x:998:998::/var/opt/git:/bin/sh\n",
		"root/.ssh/authorized_keys":              buildKey + "\n",
		"root/.ssh/known_hosts":                  "kept",
		"root/.bash_history":                     "secret commands\n",
		"root/.mysql_history":                    "select\n",
		"home/app/.ssh/authorized_keys":          otherKey + "\n",
		"home/app/.bash_history":                 "ls\n",
		"etc/ssh/sshd_config":                    "PermitRootLogin prohibit-password\n",
		"etc/ssh/ssh_host_ed25519_key":           "private",
		"etc/ssh/ssh_host_ed25519_key.pub":       "public",
		"etc/ssh/authorized_keys.d/extra":        "no-pty " + buildKey + "\n" + otherKey + "\n",
		"var/opt/git/.ssh/authorized_keys":       otherKey + "\n" + buildKey + "\n",
		"tmp/build.tar":                          "x",
		"tmp/.hidden":                            "x",
		"tmp/dir/nested/file":                    "x",
		"var/tmp/cache":                          "x",
		"var/log/syslog":                         "recent syslog line\n",
		"var/log/syslog.1":                       "old",
		"var/log/auth.log.2.gz":                  "old",
		"var/log/dpkg.log-20240101":              "old",
		"var/log/cloud-init.log":                 "cloud-init says hi\n",
		"var/log/apt/history.log":                "Start-Date\n",
		"var/log/apt/term.log.1.gz":              "old",
		"var/log/journal/abc/system.journal":     "journal",
		"opt/digitalocean/bin/droplet-agent":     "bin",
		"var/lib/cloud/instances/i-1/user-data":  "x",
		"var/lib/dpkg/info/droplet-agent.list":   "/opt/digitalocean\n",
		"var/lib/cloud/scripts/per-instance/001": "#!/bin/sh\n",
	}
	for p, b := range files {
		write(t, root, p, b, 0o644)
	}
	// The vendor's hook runs first: what it leaves in /tmp must be gone afterwards.
	write(t, root, "opt/acme/cleanup.sh", "#!/bin/sh\necho vendor-ran > \"$MPI_ROOT/var/lib/acme-cleaned\"\necho leftover > \"$MPI_ROOT/tmp/vendor-leftover\"\n", 0o755)
	write(t, root, "opt/acme/cleanup-notes.txt", "not executable: never run\n", 0o644)
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	return root
}

func exists(root, p string) bool {
	_, err := os.Lstat(filepath.Join(root, p))
	return err == nil
}

func TestScriptInTree(t *testing.T) {
	root := fixture(t)
	var lines []string
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Run(ctx, treeRunner{env: []string{"MPI_ROOT=" + root}}, Options{BuildKey: buildKey, Vendor: "acme",
		Progress: func(l string) { lines = append(lines, l) }})
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(lines, "\n"))
	}
	out := strings.Join(lines, "\n")
	gone := []string{"root/.ssh/authorized_keys", "home/app/.ssh/authorized_keys", "root/.bash_history", "root/.mysql_history",
		"home/app/.bash_history", "etc/ssh/ssh_host_ed25519_key", "etc/ssh/ssh_host_ed25519_key.pub",
		"tmp/build.tar", "tmp/.hidden", "tmp/dir", "tmp/vendor-leftover", "var/tmp/cache",
		"var/log/syslog.1", "var/log/auth.log.2.gz", "var/log/dpkg.log-20240101", "var/log/apt/term.log.1.gz",
		"opt/digitalocean", "var/lib/cloud/instances/i-1"}
	for _, p := range gone {
		if exists(root, p) {
			t.Errorf("/%s is still there", p)
		}
	}
	kept := []string{"etc/ssh/sshd_config", "root/.ssh/known_hosts", "var/log/cloud-init.log", "var/log/journal",
		"var/lib/cloud/instances", "var/lib/cloud/scripts/per-instance/001", "etc/ssh/revoked_keys", "var/lib/acme-cleaned"}
	for _, p := range kept {
		if !exists(root, p) {
			t.Errorf("/%s was removed", p)
		}
	}
	for _, p := range []string{"var/log/syslog", "var/log/cloud-init.log", "var/log/apt/history.log"} {
		if fi, err := os.Stat(filepath.Join(root, p)); err != nil || fi.Size() != 0 {
			t.Errorf("/%s not truncated: %v %v", p, fi.Size(), err)
		}
	}
	// The build machine's journal goes whole (truncating a journal file would corrupt it).
	if exists(root, "var/log/journal/abc") {
		t.Error("/var/log/journal/abc (the build machine's journal) is still there")
	}
	for _, d := range []string{"tmp", "var/tmp"} {
		fi, err := os.Stat(filepath.Join(root, d))
		if err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
			t.Errorf("/%s mode = %v (%v), want 1777", d, fi.Mode(), err)
		}
	}
	extra, _ := os.ReadFile(filepath.Join(root, "etc/ssh/authorized_keys.d/extra"))
	if strings.Contains(string(extra), "BuildKey") || !strings.Contains(string(extra), otherKey) {
		t.Errorf("authorized_keys.d/extra = %q: want the build key gone and the other key kept", extra)
	}
	// Found on a local-cloud droplet (e2e TestImageCheckFixtures): the build key in a system
	// account's keys, outside /root and /home, stayed in the image.
	git, _ := os.ReadFile(filepath.Join(root, "var/opt/git/.ssh/authorized_keys"))
	if strings.Contains(string(git), "BuildKey") || !strings.Contains(string(git), otherKey) {
		t.Errorf("/var/opt/git/.ssh/authorized_keys = %q: want the build key gone and the other key kept", git)
	}
	for _, want := range []string{"-> vendor hook /opt/acme/cleanup.sh", "skipped package purge of droplet-agent", "truncate logs (last write)", "cleanup: done"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cleanup-notes") {
		t.Error("a non-executable file named *cleanup* was run")
	}
	if strings.Contains(out, "secure erase") {
		t.Error("secure erase ran although it was off")
	}
	if strings.Index(out, "vendor hook") > strings.Index(out, "contents of /tmp") {
		t.Error("vendor hooks must run before the cleanup of their leftovers")
	}
}

func TestPackageStepsUseTheSystemTools(t *testing.T) {
	root := fixture(t)
	shims := t.TempDir()
	log := filepath.Join(shims, "calls.log")
	for _, name := range []string{"apt-get", "journalctl"} {
		write(t, shims, name, "#!/bin/sh\necho \""+name+" $*\" >> "+log+"\n", 0o755)
	}
	// Stopping systemd-random-seed saves a seed, as the real one does: the cleanup must remove it after.
	write(t, shims, "systemctl", "#!/bin/sh\necho \"systemctl $*\" >> "+log+"\n"+
		"[ \"$1\" = stop ] && mkdir -p \"$MPI_ROOT/var/lib/systemd\" && echo seed > \"$MPI_ROOT/var/lib/systemd/random-seed\"\nexit 0\n", 0o755)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := []string{"MPI_ROOT=" + root, "MPI_SYSTEM=1", "PATH=" + shims + ":/usr/bin:/bin"}
	if err := Run(ctx, treeRunner{env: env}, Options{}); err != nil {
		t.Fatal(err)
	}
	calls, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if exists(root, "var/lib/systemd/random-seed") {
		t.Error("the seed systemd-random-seed saved when stopped is still there")
	}
	for _, want := range []string{"apt-get -y -q -o DPkg::Lock::Timeout=120 purge droplet-agent", "autoremove --purge", "apt-get -y -q -o DPkg::Lock::Timeout=120 clean", "journalctl --vacuum-time=1s",
		// Stopped during cleanup, the seed service saves no seed at shutdown (it would be in the snapshot).
		"systemctl stop systemd-random-seed.service", "journalctl --relinquish-var"} {
		if !strings.Contains(string(calls), want) {
			t.Errorf("calls lack %q:\n%s", want, calls)
		}
	}
}

// TestSysprepOperations: the virt-sysprep default operations that apply to a droplet, each
// on a fixture tree holding what a build leaves.
func TestSysprepOperations(t *testing.T) {
	machineID := "4e94cf32293d4ef1b6f81ce2d54ab2ac\n"
	tests := []struct {
		name  string
		files map[string]string
		links map[string]string // path -> target
		gone  []string
		kept  []string
		empty []string // present and empty
		check func(t *testing.T, root string)
	}{
		{name: "machine-id emptied, D-Bus copy replaced by a link",
			files: map[string]string{"etc/machine-id": machineID, "var/lib/dbus/machine-id": machineID},
			empty: []string{"etc/machine-id"},
			check: func(t *testing.T, root string) {
				if l, err := os.Readlink(filepath.Join(root, "var/lib/dbus/machine-id")); err != nil || l != "/etc/machine-id" {
					t.Errorf("/var/lib/dbus/machine-id -> %q (%v), want a link to /etc/machine-id", l, err)
				}
			}},
		{name: "machine-id: D-Bus link kept, missing machine-id created empty",
			links: map[string]string{"var/lib/dbus/machine-id": "/etc/machine-id"},
			empty: []string{"etc/machine-id"},
			check: func(t *testing.T, root string) {
				if l, _ := os.Readlink(filepath.Join(root, "var/lib/dbus/machine-id")); l != "/etc/machine-id" {
					t.Errorf("the D-Bus link now points to %q", l)
				}
				if fi, err := os.Stat(filepath.Join(root, "etc/machine-id")); err != nil {
					t.Error(err)
				} else if fi.Mode().Perm() != 0o444 {
					t.Errorf("/etc/machine-id mode %v, want 0444 as systemd makes it", fi.Mode())
				}
			}},
		{name: "random seeds",
			files: map[string]string{"var/lib/systemd/random-seed": "seed", "var/lib/urandom/random-seed": "seed", "var/lib/random-seed": "seed"},
			gone:  []string{"var/lib/systemd/random-seed", "var/lib/urandom/random-seed", "var/lib/random-seed"},
			kept:  []string{"var/lib/systemd", "var/lib/urandom"}},
		{name: "cloud-init cached instance data",
			files: map[string]string{"var/lib/cloud/data/instance-id": "i-1", "var/lib/cloud/data/previous-hostname": "build-1",
				"var/lib/cloud/data/previous-instance-id": "i-0", "var/lib/cloud/data/set-hostname": `{"hostname": "build-1"}`,
				"var/lib/cloud/data/previous-datasource": "DataSourceNoCloud", "var/lib/cloud/data/result.json": "{}",
				"var/lib/cloud/data/status.json":                 "{}",
				"var/lib/cloud/sem/config_scripts_per_once.once": "", "var/lib/cloud/handlers/part-001": "x",
				"var/lib/cloud/instances/i-1/user-data.txt": "#cloud-config", "var/lib/cloud/seed/nocloud/meta-data": "instance-id: i-1",
				"var/lib/cloud/scripts/per-once/setup": "#!/bin/sh\n"},
			links: map[string]string{"var/lib/cloud/instance": "/var/lib/cloud/instances/i-1"},
			gone: []string{"var/lib/cloud/data/instance-id", "var/lib/cloud/data/previous-hostname", "var/lib/cloud/data/previous-instance-id",
				"var/lib/cloud/data/set-hostname", "var/lib/cloud/data/previous-datasource",
				"var/lib/cloud/sem/config_scripts_per_once.once", "var/lib/cloud/handlers/part-001",
				"var/lib/cloud/instances/i-1", "var/lib/cloud/instance"},
			// status.json and result.json: `cloud-init status --wait` on the running server reads them
			// (found by e2e TestExistingHost: without them it waited forever).
			kept: []string{"var/lib/cloud/data/status.json", "var/lib/cloud/data/result.json", "var/lib/cloud/sem",
				"var/lib/cloud/seed/nocloud/meta-data", "var/lib/cloud/scripts/per-once/setup"}},
		{name: "DHCP leases and network manager state",
			files: map[string]string{"var/lib/dhcp/dhclient.eth0.leases": "lease {}", "var/lib/dhcp/dhclient.leases~": "old",
				"var/lib/dhclient/dhclient--eth0.lease": "lease {}", "var/lib/dhcp/dhcpd.leases": "lease 10.0.0.9 {}",
				"var/lib/NetworkManager/internal-abc-eth0.lease": "ADDRESS=10.0.0.2", "var/lib/NetworkManager/secret_key": "k",
				"var/lib/NetworkManager/timestamps": "t", "var/lib/NetworkManager/seen-bssids": "b",
				"var/lib/NetworkManager/NetworkManager.state": "[main]\nNetworkingEnabled=true\n",
				"etc/udev/rules.d/70-persistent-net.rules":    "SUBSYSTEM==\"net\"", "etc/udev/rules.d/99-vendor.rules": "x"},
			gone: []string{"var/lib/dhcp/dhclient.eth0.leases", "var/lib/dhcp/dhclient.leases~", "var/lib/dhclient/dhclient--eth0.lease",
				"var/lib/NetworkManager/internal-abc-eth0.lease", "var/lib/NetworkManager/secret_key", "var/lib/NetworkManager/timestamps",
				"var/lib/NetworkManager/seen-bssids", "etc/udev/rules.d/70-persistent-net.rules"},
			kept:  []string{"var/lib/NetworkManager/NetworkManager.state", "etc/udev/rules.d/99-vendor.rules"},
			empty: []string{"var/lib/dhcp/dhcpd.leases"}},
		{name: "at jobs and mail, crontabs kept",
			files: map[string]string{"var/spool/cron/atjobs/a0000101a": "job", "var/spool/cron/atjobs/.SEQ": "1",
				"var/spool/cron/atspool/=0000101a": "out", "var/spool/at/a0000201a": "job", "var/spool/at/spool/a0000201a": "out",
				"var/spool/cron/crontabs/root": "@daily /opt/app/renew\n", "var/mail/root": "From cron\nSubject: build\n",
				"var/spool/mail/app": "From x\n"},
			gone:  []string{"var/spool/cron/atjobs/a0000101a", "var/spool/cron/atspool/=0000101a", "var/spool/at/a0000201a", "var/spool/at/spool/a0000201a"},
			kept:  []string{"var/spool/cron/atjobs/.SEQ", "var/spool/cron/crontabs/root"},
			empty: []string{"var/mail/root", "var/spool/mail/app"}},
		{name: "editor backups under /etc and password file backups",
			files: map[string]string{"etc/nginx/nginx.conf~": "old", "etc/nginx/sites-available/default.bak": "old",
				"etc/nginx/.nginx.conf.swp": "swap", "etc/#hosts#": "emacs", "etc/nginx/nginx.conf": "new",
				"etc/passwd-": "old", "etc/shadow-": "root:$6$old:1::::::\n", "etc/group-": "old", "etc/gshadow-": "old",
				"etc/subuid-": "old", "etc/subgid-": "old", "opt/app/config.bak": "vendor's own, outside /etc",
				"var/backups/shadow.bak": "root:$6$old:1::::::\n", "var/backups/passwd.bak": "old", "var/backups/dpkg.status.0": "kept"},
			gone: []string{"etc/nginx/nginx.conf~", "etc/nginx/sites-available/default.bak", "etc/nginx/.nginx.conf.swp", "etc/#hosts#",
				"etc/passwd-", "etc/shadow-", "etc/group-", "etc/gshadow-", "etc/subuid-", "etc/subgid-",
				"var/backups/shadow.bak", "var/backups/passwd.bak"},
			kept: []string{"etc/nginx/nginx.conf", "etc/passwd", "opt/app/config.bak", "var/backups/dpkg.status.0"}},
		{name: "crash dumps",
			files: map[string]string{"var/crash/_usr_bin_php.0.crash": "core", "var/lib/systemd/coredump/core.php.1.zst": "core",
				"var/spool/abrt/ccpp-1/coredump": "core"},
			gone: []string{"var/crash/_usr_bin_php.0.crash", "var/lib/systemd/coredump/core.php.1.zst", "var/spool/abrt/ccpp-1"},
			kept: []string{"var/crash", "var/lib/systemd/coredump"}},
		{name: "host-specific package manager and Kerberos state",
			files: map[string]string{"var/lib/rpm/__db.001": "x", "var/lib/rpm/rpmdb.sqlite": "db", "var/lib/yum/uuid": "u", "etc/krb5.keytab": "k"},
			gone:  []string{"var/lib/rpm/__db.001", "var/lib/yum/uuid", "etc/krb5.keytab"},
			kept:  []string{"var/lib/rpm/rpmdb.sqlite"}},
		{name: "the tool's marker moves to /run",
			files: map[string]string{"var/lib/mp-image/provisioned": "run 3bfa693d 2026-11-30T18:49:00Z\n"},
			gone:  []string{"var/lib/mp-image"},
			check: func(t *testing.T, root string) {
				if b, err := os.ReadFile(filepath.Join(root, RunMarkerPath)); err != nil || string(b) != "run 3bfa693d 2026-11-30T18:49:00Z\n" {
					t.Errorf("%s = %q (%v), want the marker's content", RunMarkerPath, b, err)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			write(t, root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o644)
			for p, b := range tc.files {
				write(t, root, p, b, 0o644)
			}
			for p, target := range tc.links {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
					t.Fatal(err)
				}
			}
			var lines []string
			err := Run(context.Background(), treeRunner{env: []string{"MPI_ROOT=" + root}}, Options{Progress: func(l string) { lines = append(lines, l) }})
			if err != nil {
				t.Fatalf("%v\n%s", err, strings.Join(lines, "\n"))
			}
			for _, p := range tc.gone {
				if exists(root, p) {
					t.Errorf("/%s is still there", p)
				}
			}
			for _, p := range tc.kept {
				if !exists(root, p) {
					t.Errorf("/%s was removed", p)
				}
			}
			for _, p := range tc.empty {
				if fi, err := os.Stat(filepath.Join(root, p)); err != nil || fi.Size() != 0 {
					t.Errorf("/%s: want present and empty, got %v", p, err)
				}
			}
			if tc.check != nil {
				tc.check(t, root)
			}
		})
	}
}

func TestVendorHookFailureStops(t *testing.T) {
	root := fixture(t)
	write(t, root, "opt/acme/cleanup.sh", "#!/bin/sh\nexit 3\n", 0o755)
	err := Run(context.Background(), treeRunner{env: []string{"MPI_ROOT=" + root}}, Options{Vendor: "/opt/acme"})
	if err == nil || !strings.Contains(err.Error(), "/opt/acme/cleanup.sh exited 3") {
		t.Fatalf("err = %v, want the failing hook named", err)
	}
	if !exists(root, "root/.ssh/authorized_keys") {
		t.Error("cleanup went on after a failed vendor hook")
	}
}

func TestBadBuildKeyFails(t *testing.T) {
	root := fixture(t)
	err := Run(context.Background(), treeRunner{env: []string{"MPI_ROOT=" + root}}, Options{BuildKey: "not a key"})
	if err == nil || !strings.Contains(err.Error(), "not an authorized_keys line") {
		t.Fatalf("err = %v", err)
	}
}

func TestSecureEraseStopsAtLimit(t *testing.T) {
	root := fixture(t)
	var lines []string
	env := []string{"MPI_ROOT=" + root, "MPI_ERASE_CHUNK_MB=1", "MPI_ERASE_MAX_MB=3"}
	err := Run(context.Background(), treeRunner{env: env}, Options{SecureErase: true, Progress: func(l string) { lines = append(lines, l) }})
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(lines, "\n"))
	}
	out := strings.Join(lines, "\n")
	for _, want := range []string{"secure erase: 1 MiB written", "secure erase: 3 MiB written", "secure erase: done, 3 MiB zeroed"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	if exists(root, "zerofile") {
		t.Error("zerofile left behind")
	}
}

// TestSecureEraseFillsDisk fills a small tmpfs: "No space left on device" must end the
// erase as success, and the zero file must be removed.
func TestSecureEraseFillsDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	root := t.TempDir()
	if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=6m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(root, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", root, err)
		}
	})
	write(t, root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o644)
	var lines []string
	env := []string{"MPI_ROOT=" + root, "MPI_ERASE_CHUNK_MB=2"}
	err := Run(context.Background(), treeRunner{env: env}, Options{SecureErase: true, Progress: func(l string) { lines = append(lines, l) }})
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(lines, "\n"))
	}
	out := strings.Join(lines, "\n")
	if !strings.Contains(out, "secure erase: done, 6 MiB zeroed") && !strings.Contains(out, "secure erase: done, 5 MiB zeroed") {
		t.Errorf("want about 6 MiB zeroed:\n%s", out)
	}
	if exists(root, "zerofile") {
		t.Error("zerofile left behind")
	}
}

func TestScriptSettings(t *testing.T) {
	s := Script(Options{SecureErase: true, BuildKey: buildKey + "\n", Vendor: "acme"})
	for _, want := range []string{"SECURE_ERASE=1\n", "BUILD_KEY='" + buildKey + "'\n", "VENDOR='/opt/acme'\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	if s := Script(Options{BuildKey: "it's"}); !strings.Contains(s, `BUILD_KEY='it'"'"'s'`) {
		t.Error("build key is not shell-quoted")
	}
}

func TestScriptPassesShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck is not installed")
	}
	c := exec.Command("shellcheck", "-s", "sh", "-")
	c.Stdin = strings.NewReader(Script(Options{SecureErase: true, BuildKey: buildKey, Vendor: "acme"}))
	if out, err := c.CombinedOutput(); err != nil {
		var ee *exec.ExitError
		errors.As(err, &ee)
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
