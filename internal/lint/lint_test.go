package lint

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/packer"
	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
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

// TestShellRules: each rule on commands the shell really runs, at their
// line; "rule:line" in the order found. The line-based heuristic this
// replaced got these wrong: a heredoc line starting with apt-get, one-line
// functions and ifs, a frontend exported after the command, a read inside a
// block fed by a file.
func TestShellRules(t *testing.T) {
	tests := []struct {
		name string
		body string
		env  map[string]string
		want []string
	}{
		// apt-yes: apt, apt-get and aptitude in every form.
		{"apt update needs no -y", "apt-get update\n", nil, nil},
		{"apt install -qqy with frontend", "DEBIAN_FRONTEND=noninteractive apt -qqy install x\n", nil, nil},
		{"sudo apt", "sudo apt install x\n", nil, []string{"apt-yes:1"}},
		{"sudo -E env apt-get", "sudo -E env LC_ALL=C /usr/bin/apt-get install x\n", nil, []string{"apt-yes:1"}},
		{"timeout wrapper", "timeout 600 apt-get install x\n", nil, []string{"apt-yes:1"}},
		{"full-upgrade no yes", "export DEBIAN_FRONTEND=noninteractive\napt full-upgrade\n", nil, []string{"apt-yes:2"}},
		{"assume-yes option", "export DEBIAN_FRONTEND=noninteractive\napt-get -o APT::Get::Assume-Yes=true install x\n", nil, nil},
		{"option value before the subcommand", "export DEBIAN_FRONTEND=noninteractive\napt-get -o Dpkg::Options::=--force-confold install x\n", nil, []string{"apt-yes:2"}},
		{"--yes after the packages", "export DEBIAN_FRONTEND=noninteractive\napt-get install x --yes\n", nil, nil},
		{"yes piped in", "export DEBIAN_FRONTEND=noninteractive\nyes | apt-get install x\n", nil, nil},
		{"after &&", "true && apt-get install x\n", nil, []string{"apt-yes:1"}},
		{"inside if and case", "if true; then\n  apt-get install x\nfi\ncase $1 in\n  a) apt-get remove y ;;\nesac\n", nil, []string{"apt-yes:2", "apt-yes:5"}},
		{"inside $(...)", "v=$(apt-get install x)\n", nil, []string{"apt-yes:1"}},
		{"inside sh -c", "sh -c 'echo start\napt-get install x'\n", nil, []string{"apt-yes:2"}},
		{"a function, at its line", "setup() {\n  echo setting up\n  apt-get install nginx\n}\nsetup\n", nil, []string{"apt-yes:3"}},
		{"a heredoc holding apt-get as text", "cat > /root/README <<'EOF'\napt-get install x\nEOF\n", nil, nil},
		{"a one-line function", "f() { apt-get install nginx; }\nf\n", nil, []string{"apt-yes:1"}},
		{"a one-line if", "if true; then apt-get install x; fi\n", nil, []string{"apt-yes:1"}},
		{"a continued line with -y on the next", "export DEBIAN_FRONTEND=noninteractive\napt-get install \\\n  -y nginx\n", nil, nil},
		{"a string, not a command", "echo 'apt-get install x'\n", nil, nil},
		{"comment ignored", "# apt-get install x\necho '# ufw enable'\n", nil, nil},
		{"program from a variable", "$APT install x\n", nil, nil},
		{"add-apt-repository", "add-apt-repository ppa:x/y\n", nil, []string{"apt-yes:1"}},
		{"add-apt-repository -y", "add-apt-repository -y ppa:x/y\n", nil, nil},
		{"add-apt-repository --yes via sudo", "sudo add-apt-repository --yes universe\n", nil, nil},
		// apt-frontend: DEBIAN_FRONTEND on the command, exported earlier, or from the template.
		{"frontend from env", "apt-get install -y x\n", map[string]string{"DEBIAN_FRONTEND": "noninteractive"}, nil},
		{"no frontend", "apt-get install -y x\n", nil, []string{"apt-frontend:1"}},
		{"frontend through env", "env DEBIAN_FRONTEND=noninteractive apt-get install -y x\n", nil, nil},
		{"frontend exported later", "apt-get install -y x\nexport DEBIAN_FRONTEND=noninteractive\n", nil, []string{"apt-frontend:1"}},
		{"frontend set, exported after", "DEBIAN_FRONTEND=noninteractive\nexport DEBIAN_FRONTEND\napt-get install -y x\n", nil, nil},
		{"frontend set, never exported", "DEBIAN_FRONTEND=noninteractive\napt-get install -y x\n", nil, []string{"apt-frontend:2"}},
		{"frontend exported in a subshell only", "(export DEBIAN_FRONTEND=noninteractive)\napt-get install -y x\n", nil, []string{"apt-frontend:2"}},
		{"frontend exported before the function's call", "f() { apt-get install -y x; }\nexport DEBIAN_FRONTEND=noninteractive\nf\n", nil, nil},
		{"redirect not a separator", "apt-get install -y x 2>&1 | tee log\n", map[string]string{"DEBIAN_FRONTEND": "noninteractive"}, nil},
		// read-prompt
		{"piped read", "echo x | read -r y\n", nil, nil},
		{"read from file", "read -r y < /etc/hostname\n", nil, nil},
		{"read from a here-string", "read -r a b <<< \"$pair\"\n", nil, nil},
		{"read in a while condition", "while read -r l; do echo \"$l\"; done < f\n", nil, nil},
		{"read in a loop body", "for i in 1 2; do\n  read -r -p 'Name? ' n\ndone\n", nil, []string{"read-prompt:2"}},
		{"read inside a block fed by a file", "{\n  read -r a\n  read -r b\n} < /etc/pair\n", nil, nil},
		{"read -u", "read -r -u 3 x\n", nil, nil},
		{"bare read", "read answer\n", nil, []string{"read-prompt:1"}},
		// ufw-force
		{"yes ufw", "ufw --force enable\n", nil, nil},
		{"ufw enable", "sudo ufw enable\n", nil, []string{"ufw-force:1"}},
		{"ufw enable answered by echo", "echo y | ufw enable\n", nil, nil},
		{"ufw allow", "ufw allow enable\n", nil, nil},
		// debconf-frontend
		{"dpkg-reconfigure -f", "dpkg-reconfigure -f noninteractive x\n", nil, nil},
		{"dpkg-reconfigure frontend=", "dpkg-reconfigure --frontend=noninteractive x\n", nil, nil},
		{"dpkg-reconfigure after export", "export DEBIAN_FRONTEND=noninteractive\ndpkg-reconfigure tzdata\n", nil, nil},
		{"dpkg-reconfigure bare", "dpkg-reconfigure tzdata\n", nil, []string{"debconf-frontend:1"}},
		// curl-pipe-shell
		{"curl | sh", "curl -fsSL https://get.example.com | sh\n", nil, []string{"curl-pipe-shell:1"}},
		{"wget | sudo bash -s", "wget -qO- https://x.example/i.sh | sudo bash -s -- --yes\n", nil, []string{"curl-pipe-shell:1"}},
		{"sh -c $(curl)", "sh -c \"$(curl -fsSL https://x.example/i.sh)\"\n", nil, []string{"curl-pipe-shell:1"}},
		{"bash <(curl)", "bash <(curl -fsSL https://x.example/i.sh)\n", nil, []string{"curl-pipe-shell:1"}},
		{"curl | gpg", "curl -fsSL https://x.example/key | gpg --dearmor -o /usr/share/keyrings/x.gpg\n", nil, nil},
		{"curl to a file, then sh", "curl -fsSLo /tmp/i.sh https://x.example/i.sh\nsha256sum -c i.sha256\nsh /tmp/i.sh\n", nil, nil},
		{"curl | sh in a heredoc", "cat > /root/howto <<EOF\ncurl https://x | sh\nEOF\n", nil, nil},
		// critical-file from a script
		{"sshd_config written wholesale", "cat > /etc/ssh/sshd_config <<'EOF'\nPort 22\nEOF\n", nil, []string{"critical-file:1"}},
		{"sshd_config copied over", "cp /tmp/sshd_config /etc/ssh/sshd_config\n", nil, []string{"critical-file:1"}},
		{"sshd_config by tee", "echo 'Port 22' | tee /etc/ssh/sshd_config\n", nil, []string{"critical-file:1"}},
		{"sshd_config appended", "echo 'ClientAliveInterval 60' >> /etc/ssh/sshd_config\n", nil, nil},
		{"sshd_config drop-in", "cp 50-x.conf /etc/ssh/sshd_config.d/\ncat > /etc/ssh/sshd_config.d/60.conf <<'EOF'\nX11Forwarding no\nEOF\n", nil, nil},
		{"sshd_config edited", "sed -i 's/^#Port 22/Port 22/' /etc/ssh/sshd_config\n", nil, nil},
		// secret: in words and here-documents, at their line
		{"password in a heredoc", "cat > /etc/app.conf <<EOF\nuser = app\npassword = hunter2hunter2\nEOF\n", nil, []string{"secret:3"}},
		{"password from a variable", "cat > /etc/app.conf <<EOF\npassword = $DB_PASS\nEOF\n", nil, nil},
		{"password documented in a comment", "# set password=yourpassword in the env input\n", nil, nil},
		// parse
		{"parse error at its line", "echo ok\nif true; then\n  echo missing fi\n", nil, []string{"parse:2"}},
		{"unclosed quote", "echo ok\necho 'open\n", nil, []string{"parse:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte("#!/bin/bash\n" + tt.body)
			s := parseScript("s.sh", body, tt.env, 0)
			s.secrets(body)
			var got []string
			for _, f := range s.out {
				got = append(got, fmt.Sprintf("%s:%d", f.Rule, f.Line-1)) // line 1 is the shebang
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("findings = %v, want %v", got, tt.want)
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
		{info, "info", 1}, {errs, "never", 0}, {warn, "error", 0},
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

// TestRecipeRules: the rules that need the whole recipe, each with a case
// that fires and one that must not.
func TestRecipeRules(t *testing.T) {
	const sh = "#!/bin/sh\nset -e\nexport DEBIAN_FRONTEND=noninteractive\n"
	const wait = "cat >> /etc/ssh/sshd_config <<'CONF'\nMatch User root\n  ForceCommand echo 'Please wait'\nCONF\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []hit
	}{
		{"unit nothing installs", map[string]string{
			"scripts/10.sh": sh + "apt-get install -y nginx\nsystemctl enable --now ngnix\n",
		}, []hit{{"scripts/10.sh", 5, "systemctl-unit"}}},
		{"unit of a package installed", map[string]string{
			"scripts/10.sh": sh + "apt-get install -y mariadb-server nginx\nsystemctl enable mariadb nginx.service\n",
		}, nil},
		{"unit of the base image", map[string]string{
			"scripts/10.sh": sh + "systemctl enable ssh ufw systemd-timesyncd multi-user.target\n",
		}, nil},
		{"unit file in files/", map[string]string{
			"files/etc/systemd/system/myapp.service": "[Service]\nExecStart=/opt/myapp\n",
			"scripts/10.sh":                          sh + "systemctl enable myapp\n",
		}, nil},
		{"unit file written by a script", map[string]string{
			"scripts/10.sh": sh + "cat > /etc/systemd/system/worker.service <<'EOF'\n[Service]\nExecStart=/opt/w\nEOF\n",
			"scripts/20.sh": sh + "systemctl enable worker\n",
		}, nil},
		{"ForceCommand nothing removes", map[string]string{
			"scripts/90-wait.sh":      sh + wait,
			"per-instance/001_onboot": "#!/bin/sh\necho first boot\n",
		}, []hit{{"scripts/90-wait.sh", 4, "force-command"}}},
		{"ForceCommand removed on first boot", map[string]string{
			"scripts/90-wait.sh":      sh + wait,
			"per-instance/001_onboot": "#!/bin/sh\nsed -i '/^Match User root$/,/ForceCommand/d' /etc/ssh/sshd_config\nsystemctl restart ssh\n",
		}, nil},
		{"ForceCommand removed by a build script only", map[string]string{
			"scripts/90-wait.sh":      sh + wait,
			"scripts/95-unwait.sh":    sh + "sed -i '/ForceCommand/d' /etc/ssh/sshd_config\n",
			"per-instance/001_onboot": "#!/bin/sh\necho first boot\n",
		}, []hit{{"scripts/90-wait.sh", 4, "force-command"}}},
		{"per-instance script adds its own and never removes it", map[string]string{
			"per-instance/001_onboot": "#!/bin/sh\necho 'ForceCommand /opt/setup' >> /etc/ssh/sshd_config.d/wait.conf\n",
		}, []hit{{"per-instance/001_onboot", 2, "force-command"}}},
		{"per-instance drop-in removed", map[string]string{
			"files/etc/ssh/sshd_config.d/99-wait.conf": "Match User root\n  ForceCommand echo wait\n",
			"per-instance/001_onboot":                  "#!/bin/sh\nrm -f /etc/ssh/sshd_config.d/99-wait.conf\n",
		}, nil},
		{"drop-in in files/ nothing removes", map[string]string{
			"files/etc/ssh/sshd_config.d/99-wait.conf": "Match User root\n  ForceCommand echo wait\n",
		}, []hit{{"files/etc/ssh/sshd_config.d/99-wait.conf", 2, "force-command"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testutil.WriteTree(t, tt.files)
			if got := hits(Dir(dir, Options{NoShellcheck: true}), dir); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("findings %v, want %v", got, tt.want)
			}
		})
	}
}

// TestTemplateForceCommand: a template's per-instance scripts are the files
// it uploads to cloud-init's per-instance folder.
func TestTemplateForceCommand(t *testing.T) {
	for _, remover := range []bool{false, true} {
		dir := t.TempDir()
		onboot := "#!/bin/sh\necho first boot\n"
		if remover {
			onboot += "sed -i '/ForceCommand/d' /etc/ssh/sshd_config\n"
		}
		os.MkdirAll(filepath.Join(dir, "files", "var", "lib", "cloud", "scripts", "per-instance"), 0o755)
		os.WriteFile(filepath.Join(dir, "files", "var", "lib", "cloud", "scripts", "per-instance", "001_onboot"), []byte(onboot), 0o755)
		tmpl := `{
  "builders": [{"type": "digitalocean"}],
  "provisioners": [
    {"type": "file", "source": "files/var/", "destination": "/var/"},
    {"type": "shell", "environment_vars": ["DEBIAN_FRONTEND=noninteractive"],
     "inline": ["echo 'ForceCommand echo wait' >> /etc/ssh/sshd_config"]}
  ]
}`
		f := filepath.Join(dir, "t.json")
		os.WriteFile(f, []byte(tmpl), 0o644)
		plan, err := packer.Load(f, packer.Options{BaseDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		got := hits(Template(plan, Options{NoShellcheck: true}), dir)
		var want []hit
		if !remover {
			want = []hit{{"t.json", 5, "force-command"}}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("per-instance script removes it: %v; findings %v, want %v", remover, got, want)
		}
	}
}
