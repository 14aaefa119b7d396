//go:build linux

package nspawn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

func TestSeedFiles(t *testing.T) {
	const cloudConfig = "#cloud-config\nssh_keys:\n  ed25519_public: ssh-ed25519 AAAAhost\n  ed25519_private: |\n    secret\nwrite_files:\n  - path: /root/x\n    content: hi\n"
	tests := []struct {
		name         string
		spec         localcloud.MachineSpec
		wantUserData string // exact, or "" to check wantKeep/wantDrop
		wantKeep     []string
		wantDrop     []string
		wantErr      bool
	}{
		{
			name:         "cloud-config is passed verbatim",
			spec:         localcloud.MachineSpec{ID: 1, InstanceID: "i-1", Hostname: "web", UserData: cloudConfig, SSHKeys: []string{"ssh-ed25519 AAAAkey1 a@b", " "}},
			wantUserData: cloudConfig,
		},
		{
			name:         "script is passed verbatim",
			spec:         localcloud.MachineSpec{ID: 2, InstanceID: "i-2", Name: "db", UserData: "#!/bin/sh\necho hi > /root/hi\n"},
			wantUserData: "#!/bin/sh\necho hi > /root/hi\n",
		},
		{
			name:     "ignored host keys are dropped, the rest kept",
			spec:     localcloud.MachineSpec{ID: 3, InstanceID: "i-3", UserData: cloudConfig, IgnoreHostKeys: true},
			wantKeep: []string{"#cloud-config", "write_files", "/root/x"},
			wantDrop: []string{"ssh_keys", "AAAAhost", "secret"},
		},
		{
			name:    "no instance id is refused",
			spec:    localcloud.MachineSpec{ID: 4},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := seedFiles(tt.spec, "10.213.9.5", "10.213.9.1")
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error, got none")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ud := string(files["user-data"])
			if tt.wantUserData != "" && ud != tt.wantUserData {
				t.Errorf("user-data = %q, want %q", ud, tt.wantUserData)
			}
			for _, s := range tt.wantKeep {
				if !strings.Contains(ud, s) {
					t.Errorf("user-data lost %q:\n%s", s, ud)
				}
			}
			for _, s := range tt.wantDrop {
				if strings.Contains(ud, s) {
					t.Errorf("user-data still has %q:\n%s", s, ud)
				}
			}
			var meta map[string]any
			if err := yaml.Unmarshal(files["meta-data"], &meta); err != nil {
				t.Fatalf("meta-data is not YAML: %v", err)
			}
			if meta["instance-id"] != tt.spec.InstanceID {
				t.Errorf("instance-id = %v, want %s", meta["instance-id"], tt.spec.InstanceID)
			}
			wantHost := tt.spec.Hostname
			if wantHost == "" {
				wantHost = tt.spec.Name
			}
			if wantHost != "" && meta["local-hostname"] != wantHost {
				t.Errorf("local-hostname = %v, want %s", meta["local-hostname"], wantHost)
			}
			var wantKeys []any
			for _, k := range tt.spec.SSHKeys {
				if strings.TrimSpace(k) != "" {
					wantKeys = append(wantKeys, strings.TrimSpace(k))
				}
			}
			gotKeys, _ := meta["public-keys"].([]any)
			if len(gotKeys) != len(wantKeys) {
				t.Errorf("public-keys = %v, want %v", gotKeys, wantKeys)
			}
			if !strings.Contains(string(files["network-config"]), "10.213.9.5/24") || !strings.Contains(string(files["network-config"]), "10.213.9.1") {
				t.Errorf("network-config lacks the address or gateway:\n%s", files["network-config"])
			}
		})
	}
}

func TestWriteProxyConfig(t *testing.T) {
	tests := []struct {
		name     string
		before   string
		proxy    string
		wantKeep []string
	}{
		{name: "empty environment", before: "", proxy: "http://10.213.1.1:3142"},
		{name: "user lines survive, our old proxy is replaced", before: "LANG=C.UTF-8\nhttp_proxy=http://10.213.7.1:3142\nFOO=bar\n", proxy: "http://10.213.2.1:3142", wantKeep: []string{"LANG=C.UTF-8", "FOO=bar"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			if tt.before != "" {
				if err := os.WriteFile(filepath.Join(dir, "etc/environment"), []byte(tt.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// Twice: rewriting at every boot must not pile up lines.
			for i := 0; i < 2; i++ {
				if err := writeProxyConfig(r, tt.proxy); err != nil {
					t.Fatal(err)
				}
			}
			env, _ := os.ReadFile(filepath.Join(dir, "etc/environment"))
			if n := strings.Count(string(env), "http_proxy="); n != 1 {
				t.Errorf("http_proxy lines = %d, want 1:\n%s", n, env)
			}
			if !strings.Contains(string(env), "http_proxy="+tt.proxy+"\n") {
				t.Errorf("environment lacks the proxy %s:\n%s", tt.proxy, env)
			}
			for _, k := range tt.wantKeep {
				if !strings.Contains(string(env), k) {
					t.Errorf("environment lost %q:\n%s", k, env)
				}
			}
			apt, _ := os.ReadFile(filepath.Join(dir, "etc/apt/apt.conf.d/00mp-image-local-proxy"))
			if !strings.Contains(string(apt), `Acquire::http::Proxy "`+tt.proxy+`";`) {
				t.Errorf("apt proxy config:\n%s", apt)
			}
		})
	}
}

func TestWriteProxyConfigStaysInsideTheMachine(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "host-file")
	if err := os.WriteFile(outside, []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A machine can point its own files anywhere; the host must not follow.
	if err := os.MkdirAll(filepath.Join(dir, "etc/apt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "etc/apt/apt.conf.d")); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_ = writeProxyConfig(r, "http://10.213.1.1:3142")
	if b, _ := os.ReadFile(outside); string(b) != "host\n" {
		t.Fatalf("host file outside the machine changed to %q", b)
	}
}

func TestImagesListsUnavailableSlugsWithReason(t *testing.T) {
	tests := []struct {
		name         string
		ubuntuMirror string
		slug         string
		wantAvail    bool
	}{
		{"debian needs only the Debian mirror", "", "debian-12-x64", true},
		{"ubuntu without a mirror", "", "ubuntu-24-04-x64", false},
		{"ubuntu with a mirror", "http://archive.ubuntu.com/ubuntu", "ubuntu-22-04-x64", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &Backend{opts: Options{CacheDir: t.TempDir(), Mirror: "http://deb.debian.org/debian", UbuntuMirror: tt.ubuntuMirror}}
			found := false
			for _, img := range b.Images() {
				if img.Slug != tt.slug {
					continue
				}
				found = true
				if img.Available != tt.wantAvail {
					t.Errorf("%s available = %v, want %v", img.Slug, img.Available, tt.wantAvail)
				}
				if !img.Available && !strings.Contains(img.Reason, "MP_IMAGE_UBUNTU_MIRROR") {
					t.Errorf("reason %q does not say how to enable it", img.Reason)
				}
				if img.MinDiskGB <= 0 || img.Distribution == "" || img.Name == "" {
					t.Errorf("incomplete image %+v", img)
				}
			}
			if !found {
				t.Fatalf("slug %s not listed", tt.slug)
			}
		})
	}
}

// TestWriteSeed: the seed lives in a host directory of its own (mounted read-only into the
// machine), private to root, and a new seed replaces every file of the old one.
func TestWriteSeed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "machines", "7", "seed")
	if err := writeSeed(dir, map[string][]byte{"user-data": []byte("old"), "vendor-data": []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := writeSeed(dir, map[string][]byte{"user-data": []byte("#cloud-config\n"), "meta-data": []byte("instance-id: i-7\n")}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("seed dir mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "user-data")); string(b) != "#cloud-config\n" {
		t.Errorf("user-data = %q", b)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "user-data")); fi.Mode().Perm() != 0o600 {
		t.Errorf("user-data mode %v, want 0600 (it may carry private host keys)", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, "vendor-data")); !os.IsNotExist(err) {
		t.Errorf("a file of the old seed survived: %v", err)
	}
	if got := seedHostDir("/state/machines/7"); got != "/state/machines/7/seed" {
		t.Errorf("seedHostDir = %s: the seed must sit next to the machine's layers, not in them", got)
	}
}
