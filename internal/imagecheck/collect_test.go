package imagecheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// shRunner runs commands on this host with sh; tests only give it read-only work.
type shRunner struct{}

func (shRunner) Output(ctx context.Context, cmd string) ([]byte, []byte, int, error) {
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.Bytes(), errb.Bytes(), ee.ExitCode(), nil
	}
	return out.Bytes(), errb.Bytes(), 0, err
}

type node struct {
	mode os.FileMode // 0 means 0644 for files, 0755 for dirs
	dir  bool
	body string
}

// cleanTree is a Debian 12 root file system that passes every rule collectable from files.
func cleanTree() map[string]node {
	return map[string]node{
		"etc/os-release":          {body: "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n"},
		"etc/passwd":              {body: "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\napp:x:1000:1000::/home/app:/bin/bash\n"},
		"etc/shadow":              {mode: 0o640, body: "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\napp:!:19000:0:99999:7:::\n"},
		"usr/bin/cloud-init":      {mode: 0o755, body: "#!/bin/sh\n"},
		"usr/sbin/ufw":            {mode: 0o755, body: "#!/bin/sh\n"},
		"usr/bin/apt-get":         {mode: 0o755, body: "#!/bin/sh\n"},
		"etc/ufw/ufw.conf":        {body: "# comment\nENABLED=yes\nLOGLEVEL=low\n"},
		"root":                    {dir: true, mode: 0o700},
		"root/.ssh":               {dir: true, mode: 0o700},
		"root/.bash_history":      {mode: 0o600},
		"home/app":                {dir: true},
		"var/log/dpkg.log":        {},
		"var/log/cloud-init.log":  {body: "short"},
		"var/log/apt/history.log": {body: strings.Repeat("x", 500)},
		"tmp":                     {dir: true, mode: 0o1777},
		"tmp/.X11-unix":           {dir: true, mode: 0o1777},
		"var/tmp":                 {dir: true, mode: 0o1777},
		"var/lib/cloud/scripts/per-instance/001_onboot": {mode: 0o755, body: "#!/bin/sh\nsed -e '/Match User root/d' -e '/.*ForceCommand.*droplet.*/d' -i /etc/ssh/sshd_config\nsystemctl restart ssh\n"},
		"etc/ssh/sshd_config":                           {body: cleanSSHD},
		"etc/ssh/sshd_config.d/50-cloud.conf":           {body: "PasswordAuthentication no\n"},
		"etc/update-motd.d/99-one-click":                {mode: 0o755, body: "#!/bin/sh\necho 'Welcome to App'\n"},
		"etc/machine-id":                                {mode: 0o444},
		"var/lib/digitalocean/application.info":         {body: "application_name=\"App\"\nbuild_date=\"2025-01-01\"\ndistro=\"Debian\"\ndistro_release=\"12\"\ndistro_codename=\"bookworm\"\ndistro_arch=\"amd64\"\napplication_version=\"1.0\"\n"},
	}
}

func writeTree(t *testing.T, tree map[string]node) string {
	t.Helper()
	root := t.TempDir()
	// Directories first, so explicit modes are not overwritten by MkdirAll of a child.
	for p, n := range tree {
		if !n.dir {
			continue
		}
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, n := range tree {
		full := filepath.Join(root, p)
		if n.dir {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := n.mode
		if mode == 0 {
			mode = 0o644
		}
		if err := os.WriteFile(full, []byte(n.body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
	for p, n := range tree {
		if n.dir {
			mode := n.mode
			if mode == 0 {
				mode = 0o755
			}
			if err := os.Chmod(filepath.Join(root, p), mode|os.ModeSticky&mode); err != nil {
				t.Fatal(err)
			}
			if mode&0o1000 != 0 {
				if err := os.Chmod(filepath.Join(root, p), os.ModeSticky|0o777); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return root
}

func treeOptions(root string, o Options) Options {
	o.root, o.noFirewallProbe, o.SkipAptUpdate = root, true, true
	return o
}

// TestCollectFixtureTrees runs the real collect script against fixture file systems, each
// breaking one rule, and evaluates what it collected.
func TestCollectFixtureTrees(t *testing.T) {
	buildLine, buildKey := testKey(t, 1, "")
	otherLine, _ := testKey(t, 2, "")
	tests := []struct {
		name   string
		edit   func(tr map[string]node)
		opts   Options
		want   map[string]Status
		detail string
	}{
		{name: "clean", opts: Options{BuildKey: buildLine}, edit: func(map[string]node) {}},
		{name: "root password set", edit: func(tr map[string]node) {
			tr["etc/shadow"] = node{mode: 0o640, body: "root:$6$salt$hash:19000:0:99999:7:::\napp:!:19000::::::\n"}
		}, want: map[string]Status{"password:root": Fail}},
		{name: "root authorized_keys", opts: Options{BuildKey: buildKey.SHA256}, edit: func(tr map[string]node) {
			tr["root/.ssh/authorized_keys"] = node{mode: 0o600, body: "# vendor key\n" + otherLine + "\n"}
		}, want: map[string]Status{"authorized-keys:root": Fail}, detail: "ssh-ed25519"},
		{name: "id_rsa", edit: func(tr map[string]node) {
			tr["root/.ssh/id_rsa"] = node{mode: 0o600, body: "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n"}
		}, want: map[string]Status{"private-key:root": Fail}},
		{name: "bash history", edit: func(tr map[string]node) {
			tr["root/.bash_history"] = node{mode: 0o600, body: strings.Repeat("ls -la\n", 40)}
		}, want: map[string]Status{"bash-history:root": Fail}},
		{name: "log archives", edit: func(tr map[string]node) {
			tr["var/log/syslog.1"] = node{body: "Jan  1 00:00:00 host first archived line\n"}
			tr["var/log/auth.log-20240101"] = node{body: "x"}
		}, want: map[string]Status{"log-archives": Warn}, detail: "first archived line"},
		{name: "big log", edit: func(tr map[string]node) {
			tr["var/log/dpkg.log"] = node{body: "2025-01-01 00:00:00 startup archives unpack\n" + strings.Repeat("x", 60) + "\n"}
		}, want: map[string]Status{"log-files": Warn}, detail: "startup archives unpack"},
		{name: "opt digitalocean", edit: func(tr map[string]node) {
			tr["opt/digitalocean/bin/droplet-agent"] = node{mode: 0o755}
		}, want: map[string]Status{"do-agent": Fail}, detail: "/opt/digitalocean/bin/droplet-agent"},
		{name: "no cloud-init", edit: func(tr map[string]node) { delete(tr, "usr/bin/cloud-init") }, want: map[string]Status{"cloud-init": Fail}},
		{name: "ufw disabled", edit: func(tr map[string]node) { tr["etc/ufw/ufw.conf"] = node{body: "ENABLED=no\n"} }, want: map[string]Status{"firewall": Warn}},
		{name: "unsupported os-release", edit: func(tr map[string]node) {
			tr["etc/os-release"] = node{body: "NAME=\"Arch Linux\"\nID=arch\n"}
		}, want: map[string]Status{"os-family": Fail, "os-version": Fail}},
		{name: "user with password", edit: func(tr map[string]node) {
			tr["etc/shadow"] = node{mode: 0o640, body: "root:*:19000::::::\napp:$y$j9T$abc:19000::::::\n"}
		}, want: map[string]Status{"password:app": Fail}},
		{name: "user with authorized_keys", edit: func(tr map[string]node) {
			tr["home/app/.ssh/authorized_keys"] = node{mode: 0o600, body: otherLine + "\n"}
		}, want: map[string]Status{"authorized-keys:app": Fail}, detail: "/home/app/.ssh/authorized_keys"},
		{name: "build key left", opts: Options{BuildKey: buildLine}, edit: func(tr map[string]node) {
			tr["home/app/.ssh/authorized_keys"] = node{mode: 0o600, body: otherLine + "\n" + buildLine + "\n"}
		}, want: map[string]Status{"authorized-keys:app": Fail, "build-key": Fail}, detail: "line 2"},
		// Found on a local-cloud droplet (e2e TestImageCheckFixtures): the build key in a
		// system account's authorized_keys (home outside /home) passed unseen.
		{name: "build key in a system account", opts: Options{BuildKey: buildLine}, edit: func(tr map[string]node) {
			tr["etc/passwd"] = node{body: cleanTree()["etc/passwd"].body + "git:x:998:998::/var/opt/git:/bin/sh\nsvc:x:997:997::/var/opt/git:/bin/sh\n"}
			tr["var/opt/git/.ssh/authorized_keys"] = node{mode: 0o600, body: otherLine + "\n" + buildLine + "\n"}
		}, want: map[string]Status{"build-key": Fail}, detail: "git: /var/opt/git/.ssh/authorized_keys line 2"},
		{name: "build key under /etc/ssh", opts: Options{BuildKey: buildKey.SHA256}, edit: func(tr map[string]node) {
			tr["etc/ssh/authorized_keys/root"] = node{body: buildLine + "\n"}
		}, want: map[string]Status{"build-key": Fail}, detail: "sshd: /etc/ssh/authorized_keys/root line 1"},
		{name: "other key in a system account", opts: Options{BuildKey: buildLine}, edit: func(tr map[string]node) {
			tr["etc/passwd"] = node{body: cleanTree()["etc/passwd"].body + "git:x:998:998::/var/opt/git:/bin/sh\n"}
			tr["var/opt/git/.ssh/authorized_keys"] = node{mode: 0o600, body: otherLine + "\n"}
		}},
		{name: "per-instance not executable", edit: func(tr map[string]node) {
			tr["var/lib/cloud/scripts/per-instance/002_app"] = node{mode: 0o644, body: "#!/bin/sh\n"}
		}, want: map[string]Status{"per-instance-scripts": Fail}},
		{name: "per-instance without shebang", edit: func(tr map[string]node) {
			tr["var/lib/cloud/scripts/per-instance/002_app"] = node{mode: 0o755, body: "echo hi\n"}
		}, want: map[string]Status{"per-instance-scripts": Fail}},
		{name: "ForceCommand left", edit: func(tr map[string]node) {
			tr["var/lib/cloud/scripts/per-instance/001_onboot"] = node{mode: 0o755, body: "#!/bin/sh\necho setup\n"}
		}, want: map[string]Status{"forcecommand": Fail}, detail: "ForceCommand echo"},
		{name: "stock LAMP motd", edit: func(tr map[string]node) {
			tr["etc/update-motd.d/99-one-click"] = node{mode: 0o755, body: "#!/bin/sh\ncat <<EOF\nWelcome to DigitalOcean's 1-Click LAMP Droplet.\nEOF\n"}
		}, want: map[string]Status{"motd": Warn}, detail: "99-one-click:3"},
		{name: "file in tmp", edit: func(tr map[string]node) { tr["tmp/build.tar"] = node{body: "x"} }, want: map[string]Status{"tmp": Warn}, detail: "/tmp/build.tar"},
		{name: "tmp wrong mode", edit: func(tr map[string]node) { tr["var/tmp"] = node{dir: true, mode: 0o755} }, want: map[string]Status{"tmp": Fail}},
		{name: "machine-id set", edit: func(tr map[string]node) {
			tr["etc/machine-id"] = node{mode: 0o444, body: "4e94cf32293d4ef1b6f81ce2d54ab2ac\n"}
		}, want: map[string]Status{"machine-id": Fail}, detail: "every droplet made from the image would share it"},
		{name: "machine-id uninitialized", edit: func(tr map[string]node) {
			tr["etc/machine-id"] = node{mode: 0o444, body: "uninitialized\n"}
		}},
		{name: "machine-id missing", edit: func(tr map[string]node) { delete(tr, "etc/machine-id") }},
		{name: "D-Bus copy of the machine-id", edit: func(tr map[string]node) {
			tr["var/lib/dbus/machine-id"] = node{body: "4e94cf32293d4ef1b6f81ce2d54ab2ac\n"}
		}, want: map[string]Status{"machine-id": Fail}, detail: "/var/lib/dbus/machine-id is a copy"},
		{name: "random seed", edit: func(tr map[string]node) {
			tr["var/lib/systemd/random-seed"] = node{mode: 0o600, body: strings.Repeat("\x8f", 512)}
		}, want: map[string]Status{"random-seed": Warn}, detail: "/var/lib/systemd/random-seed (512 bytes)"},
		{name: "old Debian random seed", edit: func(tr map[string]node) {
			tr["var/lib/urandom/random-seed"] = node{mode: 0o600, body: "seed"}
		}, want: map[string]Status{"random-seed": Warn}, detail: "/var/lib/urandom/random-seed (4 bytes)"},
		{name: "no application.info", edit: func(tr map[string]node) { delete(tr, "var/lib/digitalocean/application.info") }, want: map[string]Status{"application-info": Warn}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := cleanTree()
			tc.edit(tr)
			root := writeTree(t, tr)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rep, err := Run(ctx, shRunner{}, treeOptions(root, tc.opts))
			if err != nil {
				t.Fatal(err)
			}
			// A fixture tree has no package manager to ask: that one always fails here.
			want := map[string]Status{"security-updates": Fail}
			for k, v := range tc.want {
				want[k] = v
			}
			got := map[string]Status{}
			for _, x := range rep.Results {
				if x.Status != Pass {
					got[x.ID] = x.Status
				}
			}
			if len(got) != len(want) {
				var b bytes.Buffer
				rep.Table(&b)
				t.Fatalf("non-PASS = %v, want %v\n%s", got, want, b.String())
			}
			for id, st := range want {
				if got[id] != st {
					t.Errorf("%s = %q, want %q", id, got[id], st)
				}
			}
			if tc.detail != "" && !strings.Contains(rep.Markdown(), tc.detail) {
				t.Errorf("report does not mention %q:\n%s", tc.detail, rep.Markdown())
			}
			if md := rep.Markdown(); strings.Contains(md, "secret") || strings.Contains(md, "$6$") {
				t.Log(md)
				t.Error("report leaks private key or password hash content")
			}
		})
	}
}

// TestParseGolden parses collect output recorded from the script (go test -update re-records
// it from a fixture tree) and compares the facts with the golden JSON.
func TestParseGolden(t *testing.T) {
	outPath := filepath.Join("testdata", "collect-debian12.out")
	factsPath := filepath.Join("testdata", "collect-debian12.facts.json")
	if *update {
		tr := cleanTree()
		line, _ := testKey(t, 4, "")
		tr["home/app/.ssh/authorized_keys"] = node{mode: 0o600, body: "# comment\n" + line + "\ngarbage line\n"}
		tr["home/app/.ssh/known_hosts"] = node{body: strings.Repeat("k", 80)}
		tr["var/log/syslog.1"] = node{body: "line one\x1b[31m\nline two\nline three\nline four\n"}
		tr["var/log/lfd.log"] = node{body: "Jan 1 lfd: /var/log/messages has been reset\n"}
		tr["tmp/a b\tc.txt"] = node{body: "spaces and a tab"}
		tr["opt/digitalocean/do-agent"] = node{}
		tr["var/lib/cloud/scripts/per-boot/10-x"] = node{mode: 0o700, body: "#!/bin/bash\n"}
		tr["var/lib/dpkg/status"] = node{body: dpkgStatus}
		root := writeTree(t, tr)
		out, _, _, err := shRunner{}.Output(context.Background(), collectCommand(treeOptions(root, Options{})))
		if err != nil {
			t.Fatal(err)
		}
		// Host-specific lines are replaced so the golden file is the same on every machine.
		var lines []string
		sect := ""
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, marker) {
				sect = strings.Split(l[len(marker):], "\t")[0]
			} else if sect == "hostname" && l != "" {
				l = "golden-host"
			} else if sect == "updates" && l == "" {
				continue
			}
			lines = append(lines, l)
		}
		text := strings.Join(lines, "\n")
		// The fixture tree has no apt; splice in what the script prints on a Debian 12 droplet.
		text = strings.Replace(text, marker+"updates\n", marker+"updates\nmanager\tapt\nupdate-exit\t0\nsimulate-exit\t0\n"+
			"line\tInst perl [5.36.0-7+deb12u2] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64]) []\n"+
			"line\tConf perl (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64])\n"+
			"pending\tInst perl [5.36.0-7+deb12u2] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64]) []\n"+
			"pending\tInst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.11/oldstable, Debian:12-updates/oldstable-updates [all])\n", 1)
		if err := os.WriteFile(outPath, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatalf("%v (run go test -update to record it)", err)
	}
	f, err := parseFacts(raw)
	if err != nil {
		t.Fatal(err)
	}
	f.UID, f.EUID = 0, 0 // recorded as whoever ran -update
	got, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(factsPath, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(factsPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(bytes.TrimSpace(want)) != string(bytes.TrimSpace(got)) {
		t.Errorf("parsed facts differ from %s; got:\n%s", factsPath, got)
	}
	// Spot checks that the golden JSON itself says the right things.
	if f.Host != "golden-host" || f.OSRelease["VERSION_ID"] != "12" || len(f.Users) != 2 {
		t.Errorf("host %q os %v users %d", f.Host, f.OSRelease, len(f.Users))
	}
	app := f.Users[1]
	if len(app.AuthorizedKeys) != 2 || app.AuthorizedKeys[0].Line != 2 || !app.AuthorizedKeys[1].Unparsed {
		t.Errorf("app keys = %+v", app.AuthorizedKeys)
	}
	if strings.Join(f.Updates.Packages, ",") != "perl" || f.LfdFilteredSize != 0 {
		t.Errorf("packages %v lfd %d", f.Updates.Packages, f.LfdFilteredSize)
	}
	wantPending := []Pending{
		{Name: "perl", Installed: "5.36.0-7+deb12u2", Candidate: "5.36.0-7+deb12u4", Origin: "Debian-Security:12/oldstable-security", Security: true},
		{Name: "tzdata", Installed: "2024a-0+deb12u1", Candidate: "2025b-0+deb12u1", Origin: "Debian:12.11/oldstable, Debian:12-updates/oldstable-updates"},
	}
	if !reflect.DeepEqual(f.Updates.Pending, wantPending) {
		t.Errorf("pending = %+v, want %+v", f.Updates.Pending, wantPending)
	}
	// Installed packages only (not config-files), binNMU source versions kept.
	wantPkgs := Packages{Manager: "dpkg", List: []Package{
		{Name: "bash", Version: "5.2.15-2+b8", Arch: "amd64", Source: "bash", SourceVersion: "5.2.15-2"},
		{Name: "libc6", Version: "2.36-9+deb12u10", Arch: "amd64", Source: "glibc", SourceVersion: "2.36-9+deb12u10"},
		{Name: "nginx", Version: "1.22.1-9+deb12u2", Arch: "amd64", Source: "nginx", SourceVersion: "1.22.1-9+deb12u2"},
	}}
	if !reflect.DeepEqual(f.Packages, wantPkgs) {
		t.Errorf("packages = %+v, want %+v", f.Packages, wantPkgs)
	}
	if h := f.LogHeads["/var/log/syslog.1"]; len(h) != 3 || h[0] != "line one?[31m" {
		t.Errorf("syslog.1 head = %q", h)
	}
	// A clean image (the pipeline's mode matrix answers with this file): the identity
	// rules' other states are collected from fixture trees in TestCollectFixtureTrees.
	if id := f.Identity; id.MachineID != "empty" || id.DBusMachineID != "" || len(id.RandomSeeds) != 0 {
		t.Errorf("identity = %+v", id)
	}
	foundTab := false
	for _, d := range f.Tmp {
		for _, e := range d.Entries {
			foundTab = foundTab || e.Name == "a b\tc.txt"
		}
	}
	if !foundTab {
		t.Errorf("tmp entries lost the name with a tab: %+v", f.Tmp)
	}
}

func TestParseRejectsTruncated(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "collect-debian12.out"))
	if err != nil {
		t.Fatal(err)
	}
	cut := raw[:bytes.Index(raw, []byte(marker+"tmp"))]
	if _, err := parseFacts(cut); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated output: err = %v, want truncated", err)
	}
	if _, err := parseFacts([]byte("bash: sh: not found\n")); err == nil {
		t.Error("garbage output parsed without error")
	}
}

// TestCollectThisHost runs the script for real on this machine, read-only: no apt-get
// update, no ufw, package lists as they are.
func TestCollectThisHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("collecting the host's facts needs root (it reads /etc/shadow)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := Options{SkipAptUpdate: true, noFirewallProbe: true}
	usedBefore := dfUsed(t)
	f, err := Collect(ctx, shRunner{}, o)
	if err != nil {
		t.Fatal(err)
	}
	if f.EUID != 0 || !f.ShadowReadable || f.OSRelease["NAME"] == "" {
		t.Errorf("euid %d shadow %v os %v", f.EUID, f.ShadowReadable, f.OSRelease)
	}
	if len(f.Users) == 0 || f.Users[0].Name != "root" || f.Users[0].Home != "/root" {
		t.Errorf("users = %+v", f.Users)
	}
	if len(f.Tmp) != 2 || !f.Tmp[0].Exists {
		t.Errorf("tmp = %+v", f.Tmp)
	}
	if _, err := exec.LookPath("apt-get"); err == nil && f.Updates.Manager != "apt" {
		t.Errorf("apt-get is installed but the update manager is %q", f.Updates.Manager)
	}
	if f.Updates.Refreshed {
		t.Error("apt-get update ran although SkipAptUpdate was set")
	}
	if f.Firewall.UFWStatus != "" {
		t.Error("ufw status ran although the probe was off")
	}
	// The snapshot's hint: what df says is used on /. Others write to this
	// disk meanwhile: df's figures before and after bracket it, within 2%.
	if lo, hi := min(usedBefore, dfUsed(t)), max(usedBefore, dfUsed(t)); f.DiskUsed < lo*98/100 || f.DiskUsed > hi*102/100 {
		t.Errorf("disk used %d bytes; df says %d to %d", f.DiskUsed, lo, hi)
	}
	rep := Evaluate(f, o)
	if rep.DiskUsed != f.DiskUsed {
		t.Errorf("the report carries disk used %d, the facts %d", rep.DiskUsed, f.DiskUsed)
	}
	var b bytes.Buffer
	rep.Table(&b)
	t.Logf("this host:\n%s", b.String())
}

// dfUsed is the bytes df reports used on /.
func dfUsed(t *testing.T) int64 {
	out, err := exec.Command("df", "-P", "-k", "/").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(out), "\n")
	if len(lines) < 2 || len(strings.Fields(lines[1])) < 3 {
		t.Fatalf("df -P -k /: %q", out)
	}
	kb, err := strconv.ParseInt(strings.Fields(lines[1])[2], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return kb << 10
}

func TestScriptsPassShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck is not installed")
	}
	for name, script := range map[string]string{"collect.sh": collectScript, "secrets.sh": secretsScript} {
		c := exec.Command("shellcheck", "-s", "sh", "-")
		c.Stdin = strings.NewReader(script)
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", name, err, out)
		}
	}
}

// dpkgStatus is a dpkg database: two installed packages, one binNMU (its
// source version differs), one package removed with its config files left.
const dpkgStatus = `Package: bash
Essential: yes
Status: install ok installed
Priority: required
Section: shells
Installed-Size: 7164
Maintainer: Matthias Klose <doko@debian.org>
Architecture: amd64
Multi-Arch: foreign
Source: bash (5.2.15-2)
Version: 5.2.15-2+b8
Description: GNU Bourne Again SHell

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u10
Description: GNU C Library: Shared libraries

Package: apache2
Status: deinstall ok config-files
Priority: optional
Section: httpd
Maintainer: Debian Apache Maintainers <debian-apache@lists.debian.org>
Architecture: amd64
Version: 2.4.62-1~deb12u2
Conffiles:
 /etc/apache2/apache2.conf 354c9e6d2b88a0a3e0548f853840674c
Description: Apache HTTP Server

Package: nginx
Status: install ok installed
Priority: optional
Section: httpd
Maintainer: Debian Nginx Maintainers <pkg-nginx-maintainers@alioth-lists.debian.net>
Architecture: amd64
Version: 1.22.1-9+deb12u2
Description: small, powerful, scalable web/proxy server
`
