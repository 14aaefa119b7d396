package packer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/recipe"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

var fixedNow = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func testOptions(base string, env map[string]string) Options {
	return Options{
		BaseDir: base,
		Env:     func(k string) string { return env[k] },
		Now:     func() time.Time { return fixedNow },
		UUID:    func() string { return "00000000-0000-4000-8000-000000000000" },
	}
}

// expected is what a template's provisioners should give, worked out from a
// plain encoding/json decode, independent of the importer's own parser.
type expected struct {
	kinds   []recipe.ActionKind // per provisioner
	actions []int               // actions per provisioner
	refused []string            // unsupported provisioner types present
}

func expectFromJSON(t *testing.T, data []byte, base string) expected {
	t.Helper()
	var tmpl struct {
		Provisioners []map[string]any `json:"provisioners"`
	}
	if err := json.Unmarshal(data, &tmpl); err != nil {
		t.Fatal(err)
	}
	var e expected
	touch := func(p string, body string) {
		p = filepath.Join(base, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, pr := range tmpl.Provisioners {
		switch pr["type"] {
		case "shell":
			e.kinds = append(e.kinds, recipe.KindShell)
			n := 0
			if _, ok := pr["inline"]; ok {
				n = 1
			}
			if s, ok := pr["script"].(string); ok {
				touch(s, "#!/bin/sh\n")
				n = 1
			}
			if list, ok := pr["scripts"].([]any); ok {
				for _, s := range list {
					touch(s.(string), "#!/bin/sh\n")
				}
				n = len(list)
			}
			e.actions = append(e.actions, n)
		case "file":
			e.kinds = append(e.kinds, recipe.KindUpload)
			src := pr["source"].(string)
			if strings.HasSuffix(src, "/") {
				touch(filepath.Join(src, "placeholder"), "x")
			} else {
				touch(src, "x")
			}
			e.actions = append(e.actions, 1)
		default:
			e.refused = append(e.refused, pr["type"].(string))
		}
	}
	return e
}

func TestRealTemplates(t *testing.T) {
	shared, err := testutil.SharedDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(shared, "data", "packer-templates")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Skipf("no templates in %s: the shared data folder is absent (set MP_SHARED_DIR)", dir)
	}
	files = append(files, filepath.Join("testdata", "ansible.json")) // the refused kind, in the real style
	loaded := 0
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			base := t.TempDir()
			want := expectFromJSON(t, data, base)
			plan, err := Load(f, testOptions(base, map[string]string{"DIGITALOCEAN_API_TOKEN": "dop_v1_secret"}))
			if len(want.refused) > 0 {
				if err == nil {
					t.Fatalf("template with %v provisioners loaded; want it refused", want.refused)
				}
				for _, typ := range want.refused {
					if !strings.Contains(err.Error(), fmt.Sprintf("provisioner type %q is not supported", typ)) {
						t.Errorf("error lacks the refused type %q: %v", typ, err)
					}
				}
				if !strings.Contains(err.Error(), f+":") {
					t.Errorf("error does not name the template file and line: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			loaded++
			// Group actions by provisioner step; steps must run 1..n in order.
			var kinds []recipe.ActionKind
			var counts []int
			last := 0
			for _, a := range plan.Actions {
				if a.Step != last {
					if a.Step != last+1 {
						t.Fatalf("action %q has step %d after step %d", a.Name, a.Step, last)
					}
					kinds = append(kinds, a.Kind)
					counts = append(counts, 0)
					last = a.Step
				}
				counts[len(counts)-1]++
			}
			if !reflect.DeepEqual(kinds, want.kinds) {
				t.Errorf("provisioner kinds = %v, want %v", kinds, want.kinds)
			}
			if !reflect.DeepEqual(counts, want.actions) {
				t.Errorf("actions per provisioner = %v, want %v", counts, want.actions)
			}
			if plan.Builder.Image == "" || plan.Builder.SnapshotName == "" || strings.Contains(plan.Builder.SnapshotName, "{{") {
				t.Errorf("builder not rendered: %+v", plan.Builder)
			}
			if plan.Builder.APIToken != "" && !contains(plan.Builder.Sensitive, plan.Builder.APIToken) {
				t.Errorf("api token not in the sensitive list")
			}
			var buf bytes.Buffer
			plan.Describe(&buf)
			if strings.Contains(buf.String(), "dop_v1_secret") {
				t.Errorf("plan listing shows the token:\n%s", buf.String())
			}
		})
	}
	if loaded == 0 {
		t.Error("no real template loaded")
	}
}

func TestFullTemplate(t *testing.T) {
	base := filepath.Join("testdata", "base")
	o := testOptions(base, map[string]string{"MP_TEST_TOKEN": "dop_v1_abc"})
	o.Vars = map[string]string{"version": "1.2"}
	plan, err := Load(filepath.Join(base, "template.json"), o)
	if err != nil {
		t.Fatal(err)
	}
	agent := false
	wantB := recipe.Builder{
		Name: "do", APIToken: "dop_v1_abc", Image: "debian-12-x64", Region: "nyc3", Size: "s-1vcpu-1gb",
		SSHUsername: "root", SnapshotName: fmt.Sprintf("demo-%d", fixedNow.Unix()),
		DropletName: "build-00000000-0000-4000-8000-000000000000", SnapshotRegions: []string{"nyc3", "ams3"},
		SnapshotTags: []string{"a", "b"}, Tags: []string{"build"}, UserData: "#cloud-config\n",
		Monitoring: true, IPv6: true, DropletAgent: &agent, PrivateNetworking: true, VPCUUID: "vpc-1",
		StateTimeout: 10 * time.Minute, SnapshotTimeout: 2 * time.Hour,
		Sensitive: []string{"dop_v1_abc", "hunter2"},
	}
	if !reflect.DeepEqual(plan.Builder, wantB) {
		t.Errorf("builder =\n%+v\nwant\n%+v", plan.Builder, wantB)
	}
	type act struct {
		kind     recipe.ActionKind
		step     int
		remote   string
		contents bool
	}
	want := []act{
		{recipe.KindShell, 1, "", false},
		{recipe.KindUpload, 2, "/etc", true},
		{recipe.KindUpload, 3, "/srv/etc", true},
		{recipe.KindUpload, 4, "/usr/local/bin/01-one.sh", false},
		{recipe.KindUpload, 4, "/usr/local/bin/02-two.sh", false},
		{recipe.KindShell, 5, "", false},
		{recipe.KindShell, 5, "", false},
		{recipe.KindShell, 7, "", false},
	}
	var got []act
	for _, a := range plan.Actions {
		got = append(got, act{a.Kind, a.Step, a.RemotePath, a.Contents})
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("actions =\n%+v\nwant\n%+v", got, want)
	}
	if s := string(plan.Actions[0].Script); s != "#!/bin/sh -e\necho 1.2\necho .\n" {
		t.Errorf("inline script = %q", s)
	}
	a := plan.Actions[5]
	if a.Env["APP"] != "demo" || a.Env["PACKER_BUILDER_TYPE"] != "digitalocean" || a.Env["PACKER_BUILD_NAME"] != "do" || a.Env["EMPTY"] != "" {
		t.Errorf("env = %v", a.Env)
	}
	if a.Command("/tmp/x") != `sudo -E sh -c 'APP='demo' EMPTY='' PACKER_BUILDER_TYPE='digitalocean' PACKER_BUILD_NAME='do' /tmp/x'` {
		t.Errorf("command = %s", a.Command("/tmp/x"))
	}
	if !reflect.DeepEqual(a.ValidExitCodes, []int{0, 2}) || !a.ExpectDisconnect || a.PauseBefore != 10*time.Second || a.Timeout != 5*time.Minute {
		t.Errorf("shell settings = %+v", a)
	}
	if string(a.Script) != "#!/bin/sh\necho one\n" || a.Name != "provisioner 5 (shell): scripts/01-one.sh" {
		t.Errorf("script action = %q %q", a.Name, a.Script)
	}
	if got := plan.Actions[7].ValidExitCodes; !reflect.DeepEqual(got, []int{3}) {
		t.Errorf("override not applied: valid_exit_codes = %v", got)
	}
	if plan.Manifest != filepath.Join(base, "out/manifest.json") {
		t.Errorf("manifest = %q", plan.Manifest)
	}
	wantWarn := []string{"ssh_timeout is ignored", "provisioner 6 (shell) is skipped"}
	for _, w := range wantWarn {
		if !strings.Contains(strings.Join(plan.Warnings, "\n"), w) {
			t.Errorf("warnings %q lack %q", plan.Warnings, w)
		}
	}
}

func TestRequiredVariable(t *testing.T) {
	base := filepath.Join("testdata", "base")
	_, err := Load(filepath.Join(base, "template.json"), testOptions(base, nil))
	if err == nil || !strings.Contains(err.Error(), `required variable "version" is not set: pass -var version=VALUE`) {
		t.Fatalf("err = %v", err)
	}
}

// lineOf finds the 1-based line of the first line containing s, by plain text scan.
func lineOf(t *testing.T, file, s string) int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.Contains(sc.Text(), s) {
			return n
		}
	}
	t.Fatalf("%q not in %s", s, file)
	return 0
}

func TestErrorLines(t *testing.T) {
	file := filepath.Join("testdata", "bad", "unsupported.json")
	_, err := Load(file, testOptions(t.TempDir(), nil))
	if err == nil {
		t.Fatal("bad template loaded")
	}
	want := []string{
		fmt.Sprintf("%s:%d: builder 1 (digitalocean): ssh_usernme: unknown setting", file, lineOf(t, file, `"ssh_usernme"`)),
		fmt.Sprintf("%s:%d: provisioner 2 (ansible): provisioner type \"ansible\" is not supported", file, lineOf(t, file, `"type": "ansible"`)),
		fmt.Sprintf("%s:%d: provisioner 3 (file): source: cannot read does-not-exist/", file, lineOf(t, file, `"source": "does-not-exist/"`)),
		fmt.Sprintf("%s:%d: provisioner 4 (shell-local): provisioner type \"shell-local\" is not supported: it runs on the CI host", file, lineOf(t, file, `"type": "shell-local"`)),
		fmt.Sprintf("%s:%d: provisioner 5 (breakpoint): provisioner type \"breakpoint\" is not supported", file, lineOf(t, file, `"type": "breakpoint"`)),
		fmt.Sprintf("%s:%d: post-processor 1 (compress): post-processor type \"compress\" is not supported", file, lineOf(t, file, `"compress"`)),
		"6 problems",
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q\ngot:\n%v", w, err)
		}
	}

	file = filepath.Join("testdata", "bad", "two-builders.json")
	_, err = Load(file, testOptions(t.TempDir(), nil))
	for _, w := range []string{
		fmt.Sprintf("%s:%d: builder 2 (amazon-ebs): builder type \"amazon-ebs\" is not supported", file, lineOf(t, file, "amazon-ebs")),
		fmt.Sprintf("%s:%d: 2 builders", file, lineOf(t, file, `"builders"`)),
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q\ngot: %v", w, err)
		}
	}
}

func TestSyntaxErrorLine(t *testing.T) {
	f := filepath.Join(t.TempDir(), "t.json")
	os.WriteFile(f, []byte("{\n  \"builders\": [\n    {\"type\": \"digitalocean\",}\n  ]\n}\n"), 0o644)
	_, err := Load(f, testOptions(t.TempDir(), nil))
	if err == nil || !strings.Contains(err.Error(), f+": line 3:") {
		t.Fatalf("err = %v, want the line of the stray comma", err)
	}
}

// render loads a one-builder template whose snapshot_name is expr.
func render(t *testing.T, vars map[string]any, expr string, o Options) (string, error) {
	t.Helper()
	tmpl := map[string]any{
		"variables": vars,
		"builders":  []any{map[string]any{"type": "digitalocean", "snapshot_name": expr}},
	}
	data, _ := json.Marshal(tmpl)
	f := filepath.Join(t.TempDir(), "t.json")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err := Load(f, o)
	if err != nil {
		return "", err
	}
	return plan.Builder.SnapshotName, nil
}

func TestInterpolation(t *testing.T) {
	base := t.TempDir()
	tests := []struct {
		name string
		vars map[string]any
		expr string
		want string
		err  string
	}{
		{"user", map[string]any{"a": "x"}, "{{user `a`}}", "x", ""},
		{"undefined user is empty", nil, "v{{user `nope`}}v", "vv", ""},
		{"env", nil, "{{env `HOME_X`}}", "home", ""},
		{"var uses env", map[string]any{"a": "{{env `HOME_X`}}-1"}, "{{user `a`}}", "home-1", ""},
		{"var uses var", map[string]any{"a": "{{user `b`}}!", "b": "{{user `c`}}", "c": "deep"}, "{{user `a`}}", "deep!", ""},
		{"timestamp", nil, "s-{{timestamp}}", fmt.Sprintf("s-%d", fixedNow.Unix()), ""},
		{"isotime default", nil, "{{isotime}}", "2025-03-04T05:06:07Z", ""},
		{"isotime format", nil, "{{isotime `2006-01-02`}}", "2025-03-04", ""},
		{"uuid", nil, "{{uuid}}", "00000000-0000-4000-8000-000000000000", ""},
		{"pwd", nil, "{{pwd}}", base, ""},
		{"upper lower", nil, "{{upper `a`}}{{lower `B`}}", "Ab", ""},
		{"split", nil, "{{split `a-b-c` `-` 1}}", "b", ""},
		{"replace_all", nil, "{{replace_all `.` `-` `1.2.3`}}", "1-2-3", ""},
		{"clean_resource_name", nil, "{{clean_resource_name `My App_1`}}", "my-app-1", ""},
		{"number default", map[string]any{"n": 3}, "{{user `n`}}", "3", ""},
		{"no template", nil, "plain", "plain", ""},
		{"unknown function", nil, "{{vault `x`}}", "", `function "vault" not defined`},
		{"bad syntax", nil, "{{user `a`", "", "unclosed action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render(t, tt.vars, tt.expr, testOptions(base, map[string]string{"HOME_X": "home"}))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("template_dir", func(t *testing.T) {
		got, err := render(t, nil, "{{template_dir}}", testOptions(base, nil))
		if err != nil || !filepath.IsAbs(got) || filepath.Base(filepath.Dir(got)) == "" {
			t.Fatalf("template_dir = %q, %v", got, err)
		}
	})
}

func TestVarOverrides(t *testing.T) {
	dir := t.TempDir()
	vf1 := filepath.Join(dir, "a.json")
	vf2 := filepath.Join(dir, "b.json")
	os.WriteFile(vf1, []byte(`{"x": "file1", "y": "file1", "z": "file1"}`), 0o644)
	os.WriteFile(vf2, []byte(`{"y": "file2", "z": "file2"}`), 0o644)
	vars := map[string]any{"w": "default", "x": "default", "y": "default", "z": "default"}
	tests := []struct {
		name     string
		files    []string
		cli      map[string]string
		want     string
		wantWarn bool
	}{
		{"defaults", nil, nil, "default default default default", false},
		{"one var file", []string{vf1}, nil, "default file1 file1 file1", false},
		{"later var file wins", []string{vf1, vf2}, nil, "default file1 file2 file2", false},
		{"-var wins over files", []string{vf1, vf2}, map[string]string{"z": "cli"}, "default file1 file2 cli", false},
		{"-var taken literally", nil, map[string]string{"w": "{{timestamp}}"}, "{{timestamp}} default default default", false},
		{"undeclared warns", nil, map[string]string{"typo": "1"}, "default default default default", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(dir, nil)
			o.VarFiles, o.Vars = tt.files, tt.cli
			tmpl := map[string]any{
				"variables": vars,
				"builders":  []any{map[string]any{"type": "digitalocean", "snapshot_name": "{{user `w`}} {{user `x`}} {{user `y`}} {{user `z`}}"}},
			}
			data, _ := json.Marshal(tmpl)
			f := filepath.Join(t.TempDir(), "t.json")
			os.WriteFile(f, data, 0o644)
			plan, err := Load(f, o)
			if err != nil {
				t.Fatal(err)
			}
			if plan.Builder.SnapshotName != tt.want {
				t.Errorf("got %q, want %q", plan.Builder.SnapshotName, tt.want)
			}
			if warned := strings.Contains(strings.Join(plan.Warnings, "\n"), `"typo"`); warned != tt.wantWarn {
				t.Errorf("warnings = %q, want warning %v", plan.Warnings, tt.wantWarn)
			}
		})
	}
}

func TestSensitive(t *testing.T) {
	tests := []struct {
		name      string
		vars      map[string]any
		sensitive []string
		token     string
		want      []string
	}{
		{"token from sensitive var", map[string]any{"t": "dop_v1_x"}, []string{"t"}, "{{user `t`}}", []string{"dop_v1_x"}},
		{"literal token", nil, nil, "dop_v1_lit", []string{"dop_v1_lit"}},
		{"empty sensitive values skipped", map[string]any{"t": "", "p": "pw"}, []string{"t", "p"}, "", []string{"pw"}},
		{"nothing sensitive", map[string]any{"a": "b"}, nil, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := map[string]any{
				"variables":           tt.vars,
				"sensitive-variables": tt.sensitive,
				"builders":            []any{map[string]any{"type": "digitalocean", "api_token": tt.token, "snapshot_name": "img"}},
			}
			data, _ := json.Marshal(tmpl)
			f := filepath.Join(t.TempDir(), "t.json")
			os.WriteFile(f, data, 0o644)
			plan, err := Load(f, testOptions(t.TempDir(), nil))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(plan.Builder.Sensitive, tt.want) {
				t.Errorf("sensitive = %q, want %q", plan.Builder.Sensitive, tt.want)
			}
		})
	}
}

func TestResolveDest(t *testing.T) {
	tests := []struct {
		src, dest    string
		isDir        bool
		wantRemote   string
		wantContents bool
	}{
		{"files/etc/", "/etc/", true, "/etc", true},
		{"files/etc/", "/etc", true, "/etc", true},
		{"files/etc", "/srv/", true, "/srv/etc", true},
		{"files/etc", "/srv", true, "/srv/etc", true},
		{"a/motd", "/etc/", false, "/etc/motd", false},
		{"a/motd", "/etc/motd.new", false, "/etc/motd.new", false},
		{"/abs/dir/", "/opt/x/", true, "/opt/x", true},
	}
	for _, tt := range tests {
		t.Run(tt.src+"->"+tt.dest, func(t *testing.T) {
			r, c := resolveDest(tt.src, tt.dest, tt.isDir)
			if r != tt.wantRemote || c != tt.wantContents {
				t.Errorf("resolveDest = %q %v, want %q %v", r, c, tt.wantRemote, tt.wantContents)
			}
		})
	}
}

func TestMissingTemplate(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.json"), testOptions(t.TempDir(), nil))
	if err == nil || !strings.Contains(err.Error(), "does not exist: check --packer-template") {
		t.Fatalf("err = %v", err)
	}
}
