package lint

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/packer"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
)

type hit struct {
	File string
	Line int
	Rule string
}

func hits(fs []Finding, root string) []hit {
	var out []hit
	for _, f := range fs {
		rel, err := filepath.Rel(root, f.File)
		if err != nil {
			rel = f.File
		}
		out = append(out, hit{filepath.ToSlash(rel), f.Line, f.Rule})
	}
	return out
}

// fixtureWant is one known problem per fixture file; scripts/10-clean.sh and
// the first-login and verify scripts have none.
var fixtureWant = []hit{
	{"files/etc/ssh/sshd_config", 0, "critical-file"},
	{"per-instance/001_onboot", 0, "executable"},
	{"per-instance/onboot", 0, "per-instance-name"},
	{"scripts/20-noshebang.sh", 1, "shebang"},
	{"scripts/30-crlf.sh", 1, "crlf"},
	{"scripts/40-apt-yes.sh", 3, "apt-yes"},
	{"scripts/45-apt-frontend.sh", 3, "apt-frontend"},
	{"scripts/50-read.sh", 3, "read-prompt"},
	{"scripts/60-ufw.sh", 3, "ufw-force"},
	{"scripts/70-debconf.sh", 4, "debconf-frontend"},
	{"scripts/80-secret.sh", 3, "secret"},
}

func TestFixtureExactFindings(t *testing.T) {
	dir := filepath.Join("testdata", "fixture")
	// git keeps only the executable bit; make sure the fixture's modes are the intended ones.
	os.Chmod(filepath.Join(dir, "per-instance", "001_onboot"), 0o644)
	os.Chmod(filepath.Join(dir, "per-instance", "onboot"), 0o755)
	got := hits(Dir(dir, Options{NoShellcheck: true}), dir)
	if !reflect.DeepEqual(got, fixtureWant) {
		t.Errorf("findings:\n%v\nwant exactly:\n%v", got, fixtureWant)
	}
}

func TestFixtureShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck is not installed (apt-get install shellcheck): its mapping is not tested")
	}
	dir := filepath.Join("testdata", "fixture")
	os.Chmod(filepath.Join(dir, "per-instance", "001_onboot"), 0o644)
	os.Chmod(filepath.Join(dir, "per-instance", "onboot"), 0o755)
	fs := Dir(dir, Options{})
	want := append([]hit(nil), fixtureWant...)
	want = append(want, hit{"scripts/90-shellcheck.sh", 3, "shellcheck/SC2086"})
	sortHits(want)
	if got := hits(fs, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("findings:\n%v\nwant exactly:\n%v", got, want)
	}
	for _, f := range fs {
		if f.Rule == "shellcheck/SC2086" && f.Severity != Info {
			t.Errorf("SC2086 is a shellcheck note: severity %s, want info", f.Severity)
		}
	}
}

func sortHits(h []hit) {
	fs := make([]Finding, len(h))
	for i, x := range h {
		fs[i] = Finding{File: x.File, Line: x.Line, Rule: x.Rule}
	}
	sortFindings(fs)
	for i, f := range fs {
		h[i] = hit{f.File, f.Line, f.Rule}
	}
}

func TestShellRules(t *testing.T) {
	tests := []struct {
		name string
		body string
		env  map[string]string
		want []string // rules, in line order
	}{
		{"apt update needs no -y", "apt-get update\n", nil, nil},
		{"apt install -qqy with frontend", "DEBIAN_FRONTEND=noninteractive apt -qqy install x\n", nil, nil},
		{"frontend from env", "apt-get install -y x\n", map[string]string{"DEBIAN_FRONTEND": "noninteractive"}, nil},
		{"sudo apt", "sudo apt install x\n", nil, []string{"apt-yes"}},
		{"full-upgrade no yes", "export DEBIAN_FRONTEND=noninteractive\napt full-upgrade\n", nil, []string{"apt-yes"}},
		{"assume-yes option", "export DEBIAN_FRONTEND=noninteractive\napt-get -o APT::Get::Assume-Yes=true install x\n", nil, nil},
		{"after &&", "true && apt-get install x\n", nil, []string{"apt-yes"}},
		{"comment ignored", "# apt-get install x\necho '# ufw enable'\n", nil, nil},
		{"add-apt-repository", "add-apt-repository ppa:x/y\n", nil, []string{"apt-yes"}},
		{"piped read", "echo x | read -r y\n", nil, nil},
		{"read from file", "read -r y < /etc/hostname\n", nil, nil},
		{"bare read", "read answer\n", nil, []string{"read-prompt"}},
		{"yes ufw", "ufw --force enable\n", nil, nil},
		{"ufw enable", "sudo ufw enable\n", nil, []string{"ufw-force"}},
		{"dpkg-reconfigure -f", "dpkg-reconfigure -f noninteractive x\n", nil, nil},
		{"dpkg-reconfigure frontend=", "dpkg-reconfigure --frontend=noninteractive x\n", nil, nil},
		{"redirect not a separator", "apt-get install -y x 2>&1 | tee log\n", map[string]string{"DEBIAN_FRONTEND": "noninteractive"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range checkShell("s.sh", []byte(tt.body), tt.env, 0) {
				got = append(got, f.Rule)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rules = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	// Built at run time so the repository never holds a token-shaped string.
	doToken := "dop_v1_" + strings.Repeat("ab12", 16)
	key := "-----BEGIN OPENSSH " + "PRIVATE KEY-----"
	tests := []struct {
		name, body string
		want       int
	}{
		{"do token", "TOKEN=" + doToken, 1},
		{"private key", "x\n" + key + "\nabc\n", 2},
		{"aws key", "aws_access_key_id = AKIA" + "ABCDEFGHIJKLMNOP", 1},
		{"password literal", `mysql_password: "s3cretpass"`, 1},
		{"password from variable", `password="$DB_PASS"`, 0},
		{"password generated", `PASSWORD=$(openssl rand -hex 8)`, 0},
		{"password placeholder template", `password={{ db_pass }}`, 0},
		{"no secret", "echo hello", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := checkSecrets("f", []byte(tt.body))
			switch {
			case tt.want == 0 && len(fs) != 0:
				t.Errorf("findings %v, want none", fs)
			case tt.want > 0 && (len(fs) != 1 || fs[0].Line != tt.want):
				t.Errorf("findings %v, want one at line %d", fs, tt.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	warn := []Finding{{Severity: Warning}}
	errs := []Finding{{Severity: Info}, {Severity: Error}}
	info := []Finding{{Severity: Info}}
	tests := []struct {
		f      []Finding
		failOn string
		want   int
	}{
		{nil, "", 0}, {warn, "", 0}, {errs, "", 1}, {warn, "warning", 1}, {info, "warning", 0},
		{info, "info", 1}, {errs, "never", 0}, {warn, "error", 0}, {warn, "bogus", 2},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.f, tt.failOn); got != tt.want {
			t.Errorf("ExitCode(%v, %q) = %d, want %d", tt.f, tt.failOn, got, tt.want)
		}
	}
}

func TestTemplate(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "files", "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "files", "etc", "sudoers"), []byte("root ALL=(ALL) ALL\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "setup.sh"), []byte("#!/bin/sh\necho ok\nufw enable\n"), 0o644)
	tmpl := `{
  "builders": [{"type": "digitalocean"}],
  "provisioners": [
    {"type": "file", "source": "files/", "destination": "/"},
    {"type": "shell", "inline": ["apt-get install nginx"]},
    {"type": "shell", "script": "setup.sh"}
  ]
}`
	f := filepath.Join(dir, "t.json")
	os.WriteFile(f, []byte(tmpl), 0o644)
	plan, err := packer.Load(f, packer.Options{BaseDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	got := hits(Template(plan, Options{NoShellcheck: true}), dir)
	want := []hit{
		{"files/etc/sudoers", 0, "critical-file"},
		{"setup.sh", 3, "ufw-force"},
		{"t.json", 5, "apt-yes"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
}

// TestCleanRecipesAreClean: the project's own e2e recipe must lint clean,
// so lint's rules do not fight the recipes the product ships.
func TestCleanRecipesAreClean(t *testing.T) {
	dir := filepath.Join("..", "packer", "testdata", "e2e", "recipe")
	if _, err := recipe.Load(dir); err != nil {
		t.Fatalf("e2e recipe does not load: %v", err)
	}
	if fs := Dir(dir, Options{}); len(fs) != 0 {
		t.Errorf("findings in a clean recipe: %v", fs)
	}
}
