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
	kept := []string{"etc/ssh/sshd_config", "root/.ssh/known_hosts", "var/log/cloud-init.log", "var/log/journal/abc/system.journal",
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
	if b, _ := os.ReadFile(filepath.Join(root, "var/log/journal/abc/system.journal")); string(b) != "journal" {
		t.Error("journal file was truncated (that corrupts it)")
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
	for _, want := range []string{"==> vendor hook /opt/acme/cleanup.sh", "skipped package purge of droplet-agent", "truncate logs (last write)", "cleanup: done"} {
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
	for _, want := range []string{"apt-get -y -q -o DPkg::Lock::Timeout=120 purge droplet-agent", "autoremove --purge", "apt-get -y -q -o DPkg::Lock::Timeout=120 clean", "journalctl --vacuum-time=1s"} {
		if !strings.Contains(string(calls), want) {
			t.Errorf("calls lack %q:\n%s", want, calls)
		}
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
	if s := Script(Options{BuildKey: "it's"}); !strings.Contains(s, `BUILD_KEY='it'\''s'`) {
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
