package recipe

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// file describes one fixture file: contents and mode.
type file struct {
	body string
	mode os.FileMode
}

// writeTree creates a recipe folder from a spec; a name ending in "/" is an empty folder.
func writeTree(t *testing.T, spec map[string]file) string {
	t.Helper()
	dir := t.TempDir()
	for name, f := range spec {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := f.mode
		if mode == 0 {
			mode = 0o644
		}
		if err := os.WriteFile(p, []byte(f.body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask must not change the fixture
			t.Fatal(err)
		}
	}
	return dir
}

const sh = "#!/bin/sh\necho hi\n"

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		spec map[string]file
		want []string // every substring must appear in the error
	}{
		{"empty folder", map[string]file{}, []string{"is empty: add files/"}},
		{"only empty subfolders", map[string]file{"scripts/": {}, "files/": {}}, []string{"is empty"}},
		{"no shebang", map[string]file{"scripts/10-a.sh": {body: "echo hi\n"}}, []string{"scripts/10-a.sh has no shebang: add a first line such as #!/bin/bash"}},
		{"crlf", map[string]file{"scripts/10-a.sh": {body: "#!/bin/sh\r\necho hi\r\n"}}, []string{"scripts/10-a.sh has CRLF", "dos2unix"}},
		{"per-instance not executable", map[string]file{"per-instance/001_onboot": {body: sh, mode: 0o644}},
			[]string{"per-instance/001_onboot is not executable: chmod +x ", "per-instance/001_onboot"}},
		{"empty script", map[string]file{"scripts/10-a.sh": {body: "  \n"}}, []string{"scripts/10-a.sh is empty"}},
		{"folder in scripts", map[string]file{"scripts/lib/x.sh": {body: sh}}, []string{"scripts/lib is a folder"}},
		{"bad name", map[string]file{"scripts/10 a.sh": {body: sh}}, []string{"name may hold only"}},
		{"scripts is a file", map[string]file{"scripts": {body: sh}}, []string{"is a file: it must be a folder"}},
		{"first-login without run", map[string]file{"first-login/a.sh": {body: sh}, "first-login/b.sh": {body: sh}},
			[]string{`holds 2 files but no "run"`}},
		{"all problems collected", map[string]file{
			"scripts/10-a.sh":         {body: "echo\n"},
			"scripts/20-b.sh":         {body: "#!/bin/sh\r\n"},
			"per-instance/001_onboot": {body: sh, mode: 0o600},
		}, []string{"3 problems", "10-a.sh has no shebang", "20-b.sh has CRLF", "001_onboot is not executable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, tt.spec)
			_, err := Load(dir)
			if err == nil {
				t.Fatalf("Load succeeded, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, dir, want string
	}{
		{"unset", "", "no recipe folder given: pass --dir"},
		{"missing", filepath.Join(dir, "nope"), "does not exist: check --dir"},
		{"a file", writeTree(t, map[string]file{"x": {body: "x"}}) + "/x", "is a file, not a folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load(%q) = %v, want error containing %q", tt.dir, err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("want a one-line error, got %q", err)
			}
		})
	}
}

func TestPlanOrderAndKinds(t *testing.T) {
	dir := writeTree(t, map[string]file{
		"files/etc/motd":          {body: "hello\n"},
		"scripts/20-b.sh":         {body: "#!/bin/bash\necho b\n"},
		"scripts/10-a.sh":         {body: "#!/bin/sh\necho a\n"},
		"per-instance/001_onboot": {body: sh, mode: 0o755},
		"first-login/greeting.sh": {body: sh, mode: 0o644},
		"verify/01-check.sh":      {body: sh},
		"README.md":               {body: "docs"},
		"Makefile":                {body: "all:"},
	})
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "Makefile") {
		t.Errorf("warnings = %q, want one about Makefile only", r.Warnings)
	}
	p, err := r.Plan(PlanOptions{Vendor: "acme", Env: map[string]string{"APP": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		kind       ActionKind
		name       string
		remotePath string
	}
	want := []step{
		{KindUpload, "files/", "/"},
		{KindShell, "scripts/10-a.sh", ""},
		{KindShell, "scripts/20-b.sh", ""},
		{KindPerInstance, "per-instance/001_onboot", "/var/lib/cloud/scripts/per-instance/001_onboot"},
		{KindFirstLogin, "first-login/", "/opt/acme"},
		{KindShell, "first-login hook in /root/.bashrc", ""},
	}
	if len(p.Actions) != len(want) {
		t.Fatalf("got %d actions, want %d: %+v", len(p.Actions), len(want), p.Actions)
	}
	for i, w := range want {
		a := p.Actions[i]
		if a.Kind != w.kind || a.Name != w.name || a.RemotePath != w.remotePath {
			t.Errorf("action %d = %s %q %q, want %s %q %q", i+1, a.Kind, a.Name, a.RemotePath, w.kind, w.name, w.remotePath)
		}
	}
	if got := p.Actions[1].Env["APP"]; got != "x" {
		t.Errorf("script env APP = %q, want x", got)
	}
	if p.Actions[3].Mode != 0o755 {
		t.Errorf("per-instance mode = %o, want 755", p.Actions[3].Mode)
	}
	if !bytes.Contains(p.Actions[5].Script, []byte("/opt/acme/greeting.sh")) {
		t.Errorf("hook does not call the single first-login file:\n%s", p.Actions[5].Script)
	}
	if len(p.Verify) != 1 || p.Verify[0].Name != "verify/01-check.sh" {
		t.Errorf("verify = %+v", p.Verify)
	}
	var buf bytes.Buffer
	p.Describe(&buf)
	for _, w := range []string{"1.", "upload", "files/ -> /", "6.", "scripts/10-a.sh", "Boot test verify scripts (1)"} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("Describe output lacks %q:\n%s", w, buf.String())
		}
	}
}

func TestPlanVendor(t *testing.T) {
	dir := writeTree(t, map[string]file{"first-login/run": {body: sh}, "first-login/lib.sh": {body: sh}})
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Entry != "run" {
		t.Errorf("entry = %q, want run", r.Entry)
	}
	for _, v := range []string{"", "../etc", "a b"} {
		if _, err := r.Plan(PlanOptions{Vendor: v}); err == nil {
			t.Errorf("Plan with vendor %q succeeded, want an error", v)
		}
	}
}

func TestCommand(t *testing.T) {
	tests := []struct {
		name string
		a    Action
		want string
	}{
		{"default", Action{Env: map[string]string{"B": "2", "A": "it's"}},
			`chmod +x /tmp/s.sh; A='it'"'"'s' B='2' /tmp/s.sh`},
		{"custom", Action{ExecuteCommand: "sudo -E sh -c '{{ .Vars }} {{ .Path }}'", Env: map[string]string{"X": "1"}},
			`sudo -E sh -c 'X='1' /tmp/s.sh'`},
		{"no env", Action{}, "chmod +x /tmp/s.sh;  /tmp/s.sh"},
		{"dollar kept literal", Action{Env: map[string]string{"P": "$1${x}"}}, "chmod +x /tmp/s.sh; P='$1${x}' /tmp/s.sh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Command("/tmp/s.sh"); got != tt.want {
				t.Errorf("Command = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExitOK(t *testing.T) {
	tests := []struct {
		codes []int
		code  int
		want  bool
	}{{nil, 0, true}, {nil, 1, false}, {[]int{0, 2}, 2, true}, {[]int{2}, 0, false}}
	for _, tt := range tests {
		if got := (Action{ValidExitCodes: tt.codes}).ExitOK(tt.code); got != tt.want {
			t.Errorf("ExitOK(%v, %d) = %v, want %v", tt.codes, tt.code, got, tt.want)
		}
	}
}

// TestFirstLoginHook runs the generated hook against a fake root in a temp
// HOME-like layout by rewriting its absolute paths, then checks that an
// interactive bash runs the entry once and a non-interactive one never does.
func TestFirstLoginHook(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed: cannot run the first-login hook")
	}
	root := t.TempDir()
	for _, d := range []string{"root", "etc/skel", "opt/acme"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	skel := "# skel bashrc\n"
	os.WriteFile(filepath.Join(root, "etc/skel/.bashrc"), []byte(skel), 0o644)
	os.WriteFile(filepath.Join(root, "root/.bashrc"), []byte(skel), 0o644)
	counter := filepath.Join(root, "count")
	os.WriteFile(filepath.Join(root, "opt/acme/run"), []byte("#!/bin/sh\necho greeting >> "+counter+"\n"), 0o644)

	hook := strings.ReplaceAll(string(FirstLoginHook("/opt/acme/run")), "/opt/", root+"/opt/")
	hook = strings.ReplaceAll(hook, "/root/", root+"/root/")
	hook = strings.ReplaceAll(hook, "/etc/skel/", root+"/etc/skel/")
	for i := 0; i < 2; i++ { // idempotent: the second install adds nothing
		if out, err := exec.Command("sh", "-c", hook).CombinedOutput(); err != nil {
			t.Fatalf("hook: %v\n%s", err, out)
		}
	}
	rc := filepath.Join(root, "root/.bashrc")
	if b, _ := os.ReadFile(rc); strings.Count(string(b), FirstLoginMarker) != 2 {
		t.Fatalf("bashrc after two installs:\n%s", b)
	}
	// Non-interactive: no greeting, call kept.
	if out, err := exec.Command(bash, "--rcfile", rc, "-c", "source "+rc).CombinedOutput(); err != nil {
		t.Fatalf("non-interactive: %v\n%s", err, out)
	}
	if _, err := os.Stat(counter); err == nil {
		t.Fatal("non-interactive shell ran the first-login script")
	}
	for i := 0; i < 2; i++ {
		if out, err := exec.Command(bash, "--rcfile", rc, "-i", "-c", "true").CombinedOutput(); err != nil {
			t.Fatalf("interactive login %d: %v\n%s", i+1, err, out)
		}
	}
	b, err := os.ReadFile(counter)
	if err != nil || string(b) != "greeting\n" {
		t.Fatalf("greeting count file = %q (%v), want exactly one greeting", b, err)
	}
	if b, _ := os.ReadFile(rc); string(b) != skel {
		t.Errorf("bashrc not restored from skel: %q", b)
	}
}
