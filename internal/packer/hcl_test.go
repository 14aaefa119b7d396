package packer

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/recipe"
)

func TestHCLTemplate(t *testing.T) {
	base := filepath.Join("testdata", "base")
	file := filepath.Join("testdata", "hcl", "template.pkr.hcl")
	o := testOptions(base, map[string]string{"MP_TEST_TOKEN": "dop_v1_hcl"})
	o.Vars = map[string]string{"version": "v2"}
	plan, err := Load(file, o)
	if err != nil {
		t.Fatal(err)
	}
	agent := false
	wantB := recipe.Builder{
		Name: "main", APIToken: "dop_v1_hcl", Image: "debian-12-x64", Region: "nyc3", Size: "s-1vcpu-1gb",
		SSHUsername: "root", SnapshotName: "demo-app-v2-20250304", SnapshotRegions: []string{"nyc3", "ams3"},
		Tags: []string{"a", "b"}, DropletAgent: &agent, StateTimeout: 7 * time.Minute,
		Sensitive: []string{"s3cret-pw", "dop_v1_hcl"},
	}
	if !reflect.DeepEqual(plan.Builder, wantB) {
		t.Errorf("builder =\n%+v\nwant\n%+v", plan.Builder, wantB)
	}
	if len(plan.Actions) != 4 {
		t.Fatalf("got %d actions: %+v", len(plan.Actions), plan.Actions)
	}
	wantSteps := []int{1, 2, 3, 3}
	wantKinds := []recipe.ActionKind{recipe.KindShell, recipe.KindUpload, recipe.KindShell, recipe.KindShell}
	for i, a := range plan.Actions {
		if a.Step != wantSteps[i] || a.Kind != wantKinds[i] {
			t.Errorf("action %d: step %d kind %s, want %d %s", i, a.Step, a.Kind, wantSteps[i], wantKinds[i])
		}
	}
	if s := string(plan.Actions[0].Script); s != "#!/bin/sh -e\ncloud-init status --wait\necho APP=demo-app VERSION=V2\n" {
		t.Errorf("inline = %q", s)
	}
	up := plan.Actions[1]
	if up.RemotePath != "/etc" || !up.Contents || up.LocalPath != filepath.Join(base, "files/etc/") {
		t.Errorf("upload = %+v", up)
	}
	sh := plan.Actions[2]
	if got := sh.Command("/tmp/s"); got != "APP='demo-app' PACKER_BUILDER_TYPE='digitalocean' PACKER_BUILD_NAME='main' VERSION='V2' bash /tmp/s" {
		t.Errorf("command = %q", got)
	}
	if !reflect.DeepEqual(sh.ValidExitCodes, []int{0, 1}) {
		t.Errorf("valid exit codes = %v", sh.ValidExitCodes)
	}
	wantLine := lineOf(t, file, `provisioner "shell" {`)
	if plan.Actions[0].Line != wantLine || plan.Actions[0].File != file {
		t.Errorf("first action from %s:%d, want %s:%d", plan.Actions[0].File, plan.Actions[0].Line, file, wantLine)
	}
	if plan.Manifest != filepath.Join(base, "manifest.json") {
		t.Errorf("manifest = %q", plan.Manifest)
	}
}

func TestHCLVariables(t *testing.T) {
	base := filepath.Join("testdata", "base")
	file := filepath.Join("testdata", "hcl", "template.pkr.hcl")
	dir := t.TempDir()
	vf := filepath.Join(dir, "x.pkrvars.hcl")
	os.WriteFile(vf, []byte("version = \"file\"\napp_name = \"From File\"\n"), 0o644)
	tests := []struct {
		name     string
		vars     map[string]string
		env      map[string]string
		files    []string
		wantSnap string
		wantRegs []string
		err      string
	}{
		{"required missing", nil, nil, nil, "", nil, `required variable "version" is not set`},
		{"-var", map[string]string{"version": "1"}, nil, nil, "demo-app-1-20250304", []string{"nyc3", "ams3"}, ""},
		{"PKR_VAR env", nil, map[string]string{"PKR_VAR_version": "env"}, nil, "demo-app-env-20250304", []string{"nyc3", "ams3"}, ""},
		{"var file", nil, nil, []string{vf}, "from-file-file-20250304", []string{"nyc3", "ams3"}, ""},
		{"-var beats var file", map[string]string{"version": "cli"}, nil, []string{vf}, "from-file-cli-20250304", []string{"nyc3", "ams3"}, ""},
		{"list from -var", map[string]string{"version": "1", "regions": `["sfo3", "lon1"]`}, nil, nil, "demo-app-1-20250304", []string{"sfo3", "lon1", "ams3"}, ""},
		{"bad list from -var", map[string]string{"version": "1", "regions": `["sfo3"`}, nil, nil, "", nil, "-var regions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(base, tt.env)
			o.Vars, o.VarFiles = tt.vars, tt.files
			plan, err := Load(file, o)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.Builder.SnapshotName != tt.wantSnap || !reflect.DeepEqual(plan.Builder.SnapshotRegions, tt.wantRegs) {
				t.Errorf("snapshot %q regions %v, want %q %v", plan.Builder.SnapshotName, plan.Builder.SnapshotRegions, tt.wantSnap, tt.wantRegs)
			}
		})
	}
}

func TestHCLErrors(t *testing.T) {
	file := filepath.Join("testdata", "bad", "unsupported.pkr.hcl")
	_, err := Load(file, testOptions(t.TempDir(), nil))
	if err == nil {
		t.Fatal("bad template loaded")
	}
	want := []string{
		fmt.Sprintf("%s:%d: source \"amazon-ebs\" \"other\": builder type \"amazon-ebs\" is not supported", file, lineOf(t, file, `source "amazon-ebs"`)),
		fmt.Sprintf("%s:%d: Unsupported attribute", file, lineOf(t, file, "var.nope")),
		fmt.Sprintf("%s:%d: provisioner 2 (ansible): provisioner type \"ansible\" is not supported", file, lineOf(t, file, `provisioner "ansible"`)),
		fmt.Sprintf("%s:%d: provisioner 3 (shell): script: cannot read script missing.sh", file, lineOf(t, file, `script = "missing.sh"`)),
		fmt.Sprintf("%s:%d: post-processor (shell-local): post-processor type \"shell-local\" is not supported: it runs on the CI host", file, lineOf(t, file, `post-processor "shell-local"`)),
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q\ngot:\n%v", w, err)
		}
	}
}

func TestHCLSyntaxError(t *testing.T) {
	f := filepath.Join(t.TempDir(), "t.pkr.hcl")
	os.WriteFile(f, []byte("build {\n  sources = [\n}\n"), 0o644)
	_, err := Load(f, testOptions(t.TempDir(), nil))
	if err == nil || !strings.Contains(err.Error(), f+":3:") {
		t.Fatalf("err = %v, want a syntax error at line 3", err)
	}
}

func TestHCLFolder(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "vars.pkr.hcl"), []byte(`variable "img" { default = "debian-12-x64" }`+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.pkr.hcl"), []byte(`
source "digitalocean" "x" { image = var.img }
build {
  sources = [source.digitalocean.x]
  provisioner "shell" { inline = ["echo ${var.img}"] }
}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "a.auto.pkrvars.hcl"), []byte(`img = "ubuntu-24-04-x64"`+"\n"), 0o644)
	plan, err := Load(dir, testOptions(dir, nil))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Builder.Image != "ubuntu-24-04-x64" || len(plan.Actions) != 1 {
		t.Errorf("image %q, %d actions; want the auto var file's image and one action", plan.Builder.Image, len(plan.Actions))
	}
}
