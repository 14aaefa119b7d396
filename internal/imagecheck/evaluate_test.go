package imagecheck

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testKey returns a deterministic authorized_keys line and its parsed Key.
func testKey(t *testing.T, seed byte, file string) (string, Key) {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(s).Public())
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " key" + string('a'+seed)
	keys := parseAuthorizedKeys(file, line+"\n")
	if len(keys) != 1 || keys[0].Unparsed {
		t.Fatalf("test key does not parse: %+v", keys)
	}
	return line, keys[0]
}

const cleanSSHD = "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin prohibit-password\nMatch User root\n        ForceCommand echo \"Please wait while we get your droplet ready...\"\n"

// cleanFacts is a Debian 12 image that passes every rule.
func cleanFacts() *Facts {
	return &Facts{
		Host: "build-1", UID: 0, EUID: 0,
		OSRelease: map[string]string{"NAME": "Debian GNU/Linux", "VERSION_ID": "12", "ID": "debian"},
		Commands:  map[string]string{"cloud-init": "/usr/bin/cloud-init", "ufw": "/usr/sbin/ufw", "apt-get": "/usr/bin/apt-get", "systemctl": "/usr/bin/systemctl"},
		Firewall: Firewall{UFWConfEnabled: "yes", UFWStatus: "Status: active",
			Units: map[string]Unit{"ufw": {"active", "enabled"}, "firewalld": {"inactive", ""}}},
		Updates:         Updates{Manager: "apt", Refreshed: true},
		Shadow:          map[string]string{"root": "*", "daemon": "*", "app": "!"},
		ShadowReadable:  true,
		LfdFilteredSize: -1,
		LogHeads:        map[string][]string{},
		Users: []User{
			{Name: "root", UID: 0, Home: "/root", HomeExists: true, SSHDir: true,
				Histories: []Entry{{Type: "f", Size: 0, Mode: 0o600, Name: ".bash_history"}}},
			{Name: "app", UID: 1000, Home: "/home/app", HomeExists: true},
		},
		VarLog: []Entry{{"f", 0, 0, "dpkg.log"}, {"f", 50, 0, "cloud-init.log"}, {"d", 4096, 0, "apt"}, {"f", 0, 0, "cpanel-install.log"}},
		Tmp: []TmpDir{
			{Path: "/tmp", Exists: true, Mode: 0o1777, Entries: []Entry{{"d", 4096, 0, ".X11-unix"}, {"d", 4096, 0, "systemd-private-abc-ssh.service-x"}, {"d", 4096, 0, "systemd-private-abc-ssh.service-x/tmp"}}},
			{Path: "/var/tmp", Exists: true, Mode: 0o1777},
		},
		Scripts: []Script{{Dir: "per-instance", Name: "001_onboot", FileType: "regular file", Mode: 0o755, Size: 300,
			FirstLine: "#!/bin/sh", ForceCommand: 1, MatchRoot: 1, SSHDConfig: 1}},
		SSHDConfig: []File{{Path: "/etc/ssh/sshd_config", Content: cleanSSHD}},
		Identity:   Identity{MachineID: "empty", DBusMachineID: "link:/etc/machine-id"},
		AppInfo: &File{Path: "/var/lib/digitalocean/application.info", Content: `application_name="App"
build_date="2025-01-01"
distro="Debian"
distro_release="12"
distro_codename="bookworm"
distro_arch="amd64"
application_version="1.0"
`},
	}
}

func user(f *Facts, name string) *User {
	for i := range f.Users {
		if f.Users[i].Name == name {
			return &f.Users[i]
		}
	}
	panic("no user " + name)
}

func TestEvaluate(t *testing.T) {
	buildLine, buildKey := testKey(t, 1, "/root/.ssh/authorized_keys")
	_, otherKey := testKey(t, 2, "/home/app/.ssh/authorized_keys")
	rootOther := otherKey
	rootOther.File = "/root/.ssh/authorized_keys"

	tests := []struct {
		name   string
		opts   Options
		break_ func(f *Facts)
		want   map[string]Status // the only results that are not PASS
		detail string            // a detail line of the first broken result must contain it
	}{
		{name: "clean", opts: Options{BuildKey: buildLine}, break_: func(*Facts) {}},
		{name: "clean without build key", break_: func(*Facts) {}},
		{name: "not root", break_: func(f *Facts) { f.EUID = 1000 }, want: map[string]Status{"run-as-root": Fail}},
		{name: "root password set", break_: func(f *Facts) { f.Shadow["root"] = "<hash>" }, want: map[string]Status{"password:root": Fail}},
		{name: "root empty password", break_: func(f *Facts) { f.Shadow["root"] = "<empty>" }, want: map[string]Status{"password:root": Fail}},
		{name: "root locked hash", break_: func(f *Facts) { f.Shadow["root"] = "<locked>" }, want: map[string]Status{"password:root": Fail}},
		{name: "root authorized_keys", opts: Options{BuildKey: buildLine}, break_: func(f *Facts) {
			u := user(f, "root")
			u.SSH = append(u.SSH, Entry{"f", 120, 0o600, "authorized_keys"})
			u.AuthorizedKeys = []Key{rootOther}
		}, want: map[string]Status{"authorized-keys:root": Fail}, detail: "/root/.ssh/authorized_keys"},
		{name: "short authorized_keys with a key", break_: func(f *Facts) {
			u := user(f, "root")
			u.SSH = append(u.SSH, Entry{"f", 40, 0o600, "authorized_keys"})
			u.AuthorizedKeys = []Key{rootOther}
		}, want: map[string]Status{"authorized-keys:root": Fail}},
		{name: "empty authorized_keys", break_: func(f *Facts) {
			user(f, "root").SSH = []Entry{{"f", 0, 0o600, "authorized_keys"}}
		}},
		{name: "id_rsa", break_: func(f *Facts) {
			user(f, "root").SSH = []Entry{{"f", 2600, 0o600, "id_rsa"}}
		}, want: map[string]Status{"private-key:root": Fail}, detail: "/root/.ssh/id_rsa"},
		{name: "id_ed25519", break_: func(f *Facts) {
			user(f, "root").SSH = []Entry{{"f", 400, 0o600, "id_ed25519"}}
		}, want: map[string]Status{"private-key:root": Fail}},
		{name: "empty id_rsa", break_: func(f *Facts) {
			user(f, "root").SSH = []Entry{{"f", 0, 0o600, "id_rsa"}}
		}, want: map[string]Status{"private-key:root": Warn}},
		{name: "known_hosts", break_: func(f *Facts) {
			user(f, "root").SSH = []Entry{{"f", 51, 0o600, "known_hosts"}}
		}, want: map[string]Status{"ssh-files:root": Warn}},
		{name: "small known_hosts", break_: func(f *Facts) {
			user(f, "root").SSH = []Entry{{"f", 50, 0o600, "known_hosts"}}
		}},
		{name: "other file in .ssh", break_: func(f *Facts) {
			user(f, "root").SSH = []Entry{{"f", 90, 0o644, "id_rsa.pub"}}
		}, want: map[string]Status{"ssh-files:root": Warn}},
		{name: "bash history", break_: func(f *Facts) {
			user(f, "root").Histories = []Entry{{"f", 200, 0o600, ".bash_history"}}
		}, want: map[string]Status{"bash-history:root": Fail}},
		{name: "short bash history", break_: func(f *Facts) {
			user(f, "root").Histories = []Entry{{"f", 199, 0o600, ".bash_history"}}
		}},
		{name: "mysql history", break_: func(f *Facts) {
			user(f, "root").Histories = []Entry{{"f", 10, 0o600, ".mysql_history"}}
		}, want: map[string]Status{"bash-history:root": Warn}},
		{name: "log archive .1", break_: func(f *Facts) {
			f.VarLog = append(f.VarLog, Entry{"f", 10, 0, "syslog.1"})
			f.LogHeads["/var/log/syslog.1"] = []string{"Jan 1 first line"}
		}, want: map[string]Status{"log-archives": Warn}, detail: "Jan 1 first line"},
		{name: "log archive dated", break_: func(f *Facts) {
			f.VarLog = append(f.VarLog, Entry{"f", 10, 0, "syslog-20240101"})
		}, want: map[string]Status{"log-archives": Warn}},
		{name: "log archive gz", break_: func(f *Facts) {
			f.VarLog = append(f.VarLog, Entry{"f", 10, 0, "auth.log.2.gz"})
		}, want: map[string]Status{"log-archives": Warn}},
		{name: "big log", break_: func(f *Facts) {
			f.VarLog = append(f.VarLog, Entry{"f", 51, 0, "ufw.log"})
			f.LogHeads["/var/log/ufw.log"] = []string{"[UFW BLOCK] IN=eth0"}
		}, want: map[string]Status{"log-files": Warn}, detail: "/var/log/ufw.log (51 bytes)"},
		{name: "lfd.log with only reset lines", break_: func(f *Facts) {
			f.VarLog = append(f.VarLog, Entry{"f", 400, 0, "lfd.log"})
			f.LfdFilteredSize = 0
		}},
		{name: "opt digitalocean", break_: func(f *Facts) {
			f.DOAgent = []string{"/opt/digitalocean"}
		}, want: map[string]Status{"do-agent": Fail}},
		{name: "no cloud-init", break_: func(f *Facts) { delete(f.Commands, "cloud-init") }, want: map[string]Status{"cloud-init": Fail}},
		{name: "ufw inactive", break_: func(f *Facts) { f.Firewall.UFWStatus = "Status: inactive" }, want: map[string]Status{"firewall": Warn}},
		{name: "ufw active but disabled at boot", break_: func(f *Facts) { f.Firewall.UFWConfEnabled = "no" }, want: map[string]Status{"firewall": Warn}},
		{name: "no ufw, ip_tables only", break_: func(f *Facts) {
			delete(f.Commands, "ufw")
			f.Firewall = Firewall{IPTablesLoaded: true, Units: map[string]Unit{}}
		}, want: map[string]Status{"firewall": Warn}},
		{name: "no ufw, firewalld active", break_: func(f *Facts) {
			delete(f.Commands, "ufw")
			f.Firewall = Firewall{Units: map[string]Unit{"firewalld": {"active", "enabled"}}}
		}},
		{name: "unsupported os", break_: func(f *Facts) {
			f.OSRelease = map[string]string{"NAME": "Fedora Linux", "VERSION_ID": "40"}
		}, want: map[string]Status{"os-family": Fail, "os-version": Fail}},
		{name: "unsupported debian version", break_: func(f *Facts) { f.OSRelease["VERSION_ID"] = "8" }, want: map[string]Status{"os-version": Fail}},
		{name: "debian testing", break_: func(f *Facts) { delete(f.OSRelease, "VERSION_ID") }, want: map[string]Status{"os-version": Fail}},
		{name: "ubuntu 24.04", break_: func(f *Facts) { f.OSRelease = map[string]string{"NAME": "Ubuntu", "VERSION_ID": "24.04"} }},
		{name: "ubuntu 23.04", break_: func(f *Facts) { f.OSRelease = map[string]string{"NAME": "Ubuntu", "VERSION_ID": "23.04"} }, want: map[string]Status{"os-version": Fail}},
		{name: "user with password", break_: func(f *Facts) { f.Shadow["app"] = "<hash>" }, want: map[string]Status{"password:app": Fail}},
		{name: "user with authorized_keys", break_: func(f *Facts) {
			u := user(f, "app")
			u.SSHDir = true
			u.SSH = []Entry{{"f", 100, 0o600, "authorized_keys"}}
			u.AuthorizedKeys = []Key{otherKey}
		}, want: map[string]Status{"authorized-keys:app": Fail}, detail: otherKey.SHA256},
		{name: "user with bash history", break_: func(f *Facts) {
			user(f, "app").Histories = []Entry{{"f", 300, 0o600, ".bash_history"}}
		}, want: map[string]Status{"bash-history:app": Fail}},
		{name: "pending security update", break_: func(f *Facts) {
			f.Updates.Lines = []string{
				"Inst mpi-dummy [1.0] (1.1 local:bookworm-security [all])",
				"Conf mpi-dummy (1.1 local:bookworm-security [all])",
			}
			f.Updates.Packages = aptSecurityPackages(f.Updates.Lines)
		}, want: map[string]Status{"security-updates": Fail}, detail: "mpi-dummy"},
		{name: "apt update failed", break_: func(f *Facts) {
			f.Updates.RefreshExit = 100
			f.Updates.RefreshMsgs = []string{"E: Failed to fetch"}
		}, want: map[string]Status{"security-updates": Fail}},
		{name: "no package manager", break_: func(f *Facts) { f.Updates = Updates{} }, want: map[string]Status{"security-updates": Fail}},
		{name: "build key left", opts: Options{BuildKey: buildKey.SHA256}, break_: func(f *Facts) {
			u := user(f, "root")
			u.SSH = []Entry{{"f", 100, 0o600, "authorized_keys"}}
			u.AuthorizedKeys = []Key{buildKey}
		}, want: map[string]Status{"build-key": Fail, "authorized-keys:root": Fail}},
		{name: "build key by line in a user's keys", opts: Options{BuildKey: buildLine}, break_: func(f *Facts) {
			u := user(f, "app")
			k := buildKey
			k.File = "/home/app/.ssh/authorized_keys2"
			u.SSH = []Entry{{"f", 100, 0o600, "authorized_keys2"}}
			u.AuthorizedKeys = []Key{k}
		}, want: map[string]Status{"build-key": Fail, "authorized-keys:app": Fail}, detail: "authorized_keys2"},
		{name: "build key in a system account", opts: Options{BuildKey: buildKey.SHA256}, break_: func(f *Facts) {
			k := buildKey
			k.File = "/var/opt/git/.ssh/authorized_keys"
			f.OtherKeys = map[string][]Key{"git": {k}}
		}, want: map[string]Status{"build-key": Fail}, detail: "git: /var/opt/git/.ssh/authorized_keys"},
		{name: "build key under /etc/ssh", opts: Options{BuildKey: buildLine}, break_: func(f *Facts) {
			k := buildKey
			k.File = "/etc/ssh/authorized_keys/root"
			f.OtherKeys = map[string][]Key{"": {k}}
		}, want: map[string]Status{"build-key": Fail}, detail: "sshd: /etc/ssh/authorized_keys/root"},
		{name: "unparseable build key", opts: Options{BuildKey: "not a key"}, break_: func(*Facts) {}, want: map[string]Status{"build-key": Fail}},
		{name: "per-instance script not executable", break_: func(f *Facts) {
			f.Scripts = append(f.Scripts, Script{Dir: "per-instance", Name: "002_app", FileType: "regular file", Mode: 0o644, FirstLine: "#!/bin/bash"})
		}, want: map[string]Status{"per-instance-scripts": Fail}, detail: "not executable"},
		{name: "per-instance script without shebang", break_: func(f *Facts) {
			f.Scripts = append(f.Scripts, Script{Dir: "per-instance", Name: "002_app", FileType: "regular file", Mode: 0o755, FirstLine: "echo hi"})
		}, want: map[string]Status{"per-instance-scripts": Fail}, detail: "no #! line"},
		{name: "ForceCommand without remover", break_: func(f *Facts) {
			f.Scripts[0].ForceCommand, f.Scripts[0].MatchRoot, f.Scripts[0].SSHDConfig = 0, 0, 0
		}, want: map[string]Status{"forcecommand": Fail}, detail: "sshd_config:4"},
		{name: "ForceCommand in sshd_config.d without scripts", break_: func(f *Facts) {
			f.Scripts = nil
			f.SSHDConfig = []File{{Path: "/etc/ssh/sshd_config.d/50-wait.conf", Content: "ForceCommand echo wait\n"}}
		}, want: map[string]Status{"forcecommand": Fail}},
		{name: "sftp ForceCommand is not a please-wait block", break_: func(f *Facts) {
			f.Scripts[0].ForceCommand, f.Scripts[0].MatchRoot, f.Scripts[0].SSHDConfig = 0, 0, 0
			f.SSHDConfig = []File{{Path: "/etc/ssh/sshd_config", Content: "Match Group sftp\n  ForceCommand internal-sftp\n"}}
		}},
		{name: "stock LEMP motd", break_: func(f *Facts) {
			f.MOTD = []MOTDHit{{"/etc/update-motd.d/99-one-click", 9, "Welcome to DigitalOcean's 1-Click LEMP Droplet."}}
		}, want: map[string]Status{"motd": Warn}},
		{name: "file left in tmp", break_: func(f *Facts) {
			f.Tmp[0].Entries = append(f.Tmp[0].Entries, Entry{"f", 12, 0, "install.sh"})
		}, want: map[string]Status{"tmp": Warn}, detail: "/tmp/install.sh"},
		{name: "socket left in X11 dir", break_: func(f *Facts) {
			f.Tmp[0].Entries = append(f.Tmp[0].Entries, Entry{"s", 0, 0, ".X11-unix/X0"})
		}, want: map[string]Status{"tmp": Warn}},
		{name: "file left in var tmp", break_: func(f *Facts) {
			f.Tmp[1].Entries = []Entry{{"d", 4096, 0, "cache"}}
		}, want: map[string]Status{"tmp": Warn}},
		{name: "tmp wrong mode", break_: func(f *Facts) { f.Tmp[0].Mode = 0o755 }, want: map[string]Status{"tmp": Fail}},
		{name: "tmp missing", break_: func(f *Facts) { f.Tmp[0] = TmpDir{Path: "/tmp"} }, want: map[string]Status{"tmp": Fail}},
		{name: "machine-id set", break_: func(f *Facts) { f.Identity.MachineID = "set" },
			want: map[string]Status{"machine-id": Fail}, detail: "every droplet made from the image would share it"},
		{name: "machine-id a link", break_: func(f *Facts) { f.Identity.MachineID = "link" }, want: map[string]Status{"machine-id": Fail}},
		{name: "machine-id uninitialized", break_: func(f *Facts) { f.Identity.MachineID = "uninitialized" }},
		{name: "machine-id missing", break_: func(f *Facts) { f.Identity.MachineID = "missing" }},
		{name: "machine-id not collected", break_: func(f *Facts) { f.Identity = Identity{} }, want: map[string]Status{"machine-id": Fail}},
		{name: "D-Bus keeps a copy of the machine-id", break_: func(f *Facts) { f.Identity.DBusMachineID = "set" },
			want: map[string]Status{"machine-id": Fail}, detail: "/var/lib/dbus/machine-id is a copy"},
		{name: "no D-Bus machine-id", break_: func(f *Facts) { f.Identity.DBusMachineID = "" }},
		{name: "random seed present", break_: func(f *Facts) {
			f.Identity.RandomSeeds = []Entry{{"f", 512, 0, "/var/lib/systemd/random-seed"}}
		}, want: map[string]Status{"random-seed": Warn}, detail: "/var/lib/systemd/random-seed (512 bytes)"},
		{name: "empty random seed", break_: func(f *Facts) {
			f.Identity.RandomSeeds = []Entry{{"f", 0, 0, "/var/lib/systemd/random-seed"}}
		}},
		{name: "application.info missing", break_: func(f *Facts) { f.AppInfo = nil }, want: map[string]Status{"application-info": Warn}},
		{name: "application.info incomplete", break_: func(f *Facts) {
			f.AppInfo.Content = strings.Replace(f.AppInfo.Content, `application_version="1.0"`, "", 1)
		}, want: map[string]Status{"application-info": Warn}, detail: "application_version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := cleanFacts()
			tc.break_(f)
			r := Evaluate(f, tc.opts)
			got := map[string]Status{}
			ids := map[string]bool{}
			for _, x := range r.Results {
				if ids[x.ID] {
					t.Errorf("duplicate result id %s", x.ID)
				}
				ids[x.ID] = true
				if x.Status != Pass {
					got[x.ID] = x.Status
					if x.Remedy == "" {
						t.Errorf("%s is %s without a remedy", x.ID, x.Status)
					}
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("non-PASS results = %v, want %v", got, tc.want)
			}
			for id, st := range tc.want {
				if got[id] != st {
					t.Errorf("%s = %q, want %q (all: %v)", id, got[id], st, got)
				}
			}
			if tc.detail != "" {
				found := false
				for _, x := range r.Results {
					if _, ok := tc.want[x.ID]; ok && strings.Contains(strings.Join(x.Details, "\n"), tc.detail) {
						found = true
					}
				}
				if !found {
					t.Errorf("no broken result's details contain %q", tc.detail)
				}
			}
			for _, id := range []string{"run-as-root", "os-family", "os-version", "cloud-init", "firewall", "security-updates",
				"log-archives", "log-files", "password:root", "authorized-keys:root", "private-key:root", "ssh-files:root",
				"bash-history:root", "password:app", "do-agent", "per-instance-scripts", "forcecommand", "motd", "tmp", "application-info",
				"machine-id", "random-seed"} {
				if !ids[id] {
					t.Errorf("result %s is missing", id)
				}
			}
			if tc.opts.BuildKey != "" && !ids["build-key"] {
				t.Error("build key given but no build-key result")
			}
			if tc.opts.BuildKey == "" && ids["build-key"] {
				t.Error("build-key result without a build key")
			}
		})
	}
}

func TestEvaluateRHEL(t *testing.T) {
	rocky := func(f *Facts) {
		f.OSRelease = map[string]string{"NAME": "Rocky Linux", "VERSION_ID": "9.4"}
		delete(f.Commands, "ufw")
		delete(f.Commands, "apt-get")
		f.Commands["dnf"] = "/usr/bin/dnf"
		f.Firewall = Firewall{Units: map[string]Unit{"firewalld": {"active", "enabled"}}}
		f.Updates = Updates{Manager: "dnf", Refreshed: false, CheckExit: 0}
	}
	tests := []struct {
		name   string
		break_ func(f *Facts)
		want   map[string]Status
		pkgs   string
	}{
		{name: "rocky clean", break_: rocky},
		{name: "alma 8.10", break_: func(f *Facts) { rocky(f); f.OSRelease = map[string]string{"NAME": "AlmaLinux", "VERSION_ID": "8.10"} }},
		{name: "cloudlinux 9.3", break_: func(f *Facts) { rocky(f); f.OSRelease = map[string]string{"NAME": "CloudLinux", "VERSION_ID": "9.3"} }},
		{name: "centos stream 9", break_: func(f *Facts) { rocky(f); f.OSRelease = map[string]string{"NAME": "CentOS Stream", "VERSION_ID": "9"} }},
		{name: "centos 7", break_: func(f *Facts) { rocky(f); f.OSRelease = map[string]string{"NAME": "CentOS Linux", "VERSION_ID": "7"} }},
		{name: "rocky 10", break_: func(f *Facts) { rocky(f); f.OSRelease["VERSION_ID"] = "10.0" }, want: map[string]Status{"os-version": Fail}},
		{name: "csf active", break_: func(f *Facts) {
			rocky(f)
			f.Firewall = Firewall{CSFUnit: "/usr/lib/systemd/system/csf.service", Units: map[string]Unit{"csf": {"active", "enabled"}, "firewalld": {"inactive", "disabled"}}}
		}},
		{name: "no firewall", break_: func(f *Facts) { rocky(f); f.Firewall.Units["firewalld"] = Unit{"inactive", "disabled"} }, want: map[string]Status{"firewall": Warn}},
		{name: "ufw does not count on rhel", break_: func(f *Facts) {
			rocky(f)
			f.Commands["ufw"] = "/usr/sbin/ufw"
			f.Firewall = Firewall{UFWStatus: "Status: active", UFWConfEnabled: "yes", Units: map[string]Unit{}}
		}, want: map[string]Status{"firewall": Warn}},
		{name: "security updates", break_: func(f *Facts) {
			rocky(f)
			f.Updates.CheckExit = 100
			f.Updates.Lines = []string{"", "openssl-libs.x86_64    1:3.0.7-27.el9    baseos", "kernel.x86_64  5.14.0-427.el9  baseos"}
			f.Updates.Packages = yumSecurityPackages(f.Updates.Lines)
		}, want: map[string]Status{"security-updates": Fail}, pkgs: "kernel,openssl-libs"},
		{name: "dnf error", break_: func(f *Facts) { rocky(f); f.Updates.CheckExit = 1 }, want: map[string]Status{"security-updates": Fail}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := cleanFacts()
			tc.break_(f)
			r := Evaluate(f, Options{})
			got := map[string]Status{}
			for _, x := range r.Results {
				if x.Status != Pass {
					got[x.ID] = x.Status
				}
				if x.ID == "security-updates" && tc.pkgs != "" && strings.Join(x.Details, ",") != tc.pkgs {
					t.Errorf("security update details = %v, want %s", x.Details, tc.pkgs)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("non-PASS results = %v, want %v", got, tc.want)
			}
			for id, st := range tc.want {
				if got[id] != st {
					t.Errorf("%s = %q, want %q", id, got[id], st)
				}
			}
		})
	}
}

func TestAptSecurityPackages(t *testing.T) {
	lines := []string{
		"Inst libperl5.36 [5.36.0-7+deb12u2] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64]) [perl:amd64 ]",
		"Inst perl [5.36.0-7+deb12u2] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64]) []",
		"Conf perl (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64])",
		"Conf libperl5.36 (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64])",
		"Inst lone [1] (2 Debian-Security:12/oldstable-security [amd64])",
		"  security is mentioned in some other line",
	}
	got := strings.Join(aptSecurityPackages(lines), ",")
	if want := "libperl5.36,lone,perl"; got != want {
		t.Errorf("packages = %s, want %s (one lone Inst line counts, unlike upstream's halving)", got, want)
	}
}

func TestFailed(t *testing.T) {
	mk := func(mode string, results ...Result) *Report { return &Report{Mode: mode, Results: results} }
	pass := Result{ID: "a", Status: Pass}
	warn := Result{ID: "w", Status: Warn}
	fail := Result{ID: "f", Status: Fail}
	fixable := Result{ID: "k", Status: Fail, CleanupFixes: true}
	fixableWarn := Result{ID: "l", Status: Warn, CleanupFixes: true}
	tests := []struct {
		name    string
		r       *Report
		failOn  string
		failed  bool
		verdict string
	}{
		{"pass", mk(ModeBuildImage, pass), "fail", false, "pass"},
		{"warn under fail", mk(ModeBuildImage, pass, warn), "fail", false, "warn"},
		{"warn under warn", mk(ModeBuildImage, pass, warn), "warn", true, "warn"},
		{"fail under fail", mk(ModeBuildImage, fail, warn), "fail", true, "fail"},
		{"fail under never", mk(ModeBuildImage, fail), "never", false, "fail"},
		{"cleanup-fixable fail in build_image", mk(ModeBuildImage, fixable), "fail", true, "fail"},
		// The cleanup fixes these: a clean dry run passes (issue 13 saw "fail" here).
		{"cleanup-fixable fail in build_base", mk(ModeBuildBase, fixable), "fail", false, "pass"},
		{"cleanup-fixable warn in build_base", mk(ModeBuildBase, fixableWarn), "warn", false, "pass"},
		{"other fail in build_base", mk(ModeBuildBase, fixable, fail), "fail", true, "fail"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Failed(tc.failOn); got != tc.failed {
				t.Errorf("Failed(%s) = %v, want %v", tc.failOn, got, tc.failed)
			}
			wantCode := 0
			if tc.failed {
				wantCode = 1
			}
			if got := ExitCode(tc.r, tc.failOn); got != wantCode {
				t.Errorf("ExitCode = %d, want %d", got, wantCode)
			}
			if got := tc.r.Verdict(); got != tc.verdict {
				t.Errorf("Verdict = %s, want %s", got, tc.verdict)
			}
		})
	}
}
