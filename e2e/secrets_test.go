package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsInEveryFile: a failing script prints the token, a sensitive
// Packer variable and a secret env value. The script sees all three, and
// none appears in stdout, stderr, the runner's files, the manifest or the
// dotenv file; the only place each value is written literally is its
// ::add-mask:: line, which the runner needs. A variable with commas in the
// action's var input arrives whole. (One droplet, about a minute.)
func TestSecretsInEveryFile(t *testing.T) {
	need(t)
	t.Cleanup(func() { requireNothingLeft(t) })
	dir := t.TempDir()
	const password, appSecret = "pw-Very-Secret-42", "env-secret-value-77"
	tmpl := filepath.Join(dir, "template.json")
	if err := os.WriteFile(tmpl, []byte(`{
  "variables": {"db_password": "", "regions": "", "do_token": "{{env `+"`DIGITALOCEAN_TOKEN`"+`}}"},
  "sensitive-variables": ["db_password"],
  "builders": [{"type": "digitalocean", "api_token": "{{user `+"`do_token`"+`}}", "image": "debian-12-x64",
    "region": "nyc3", "size": "s-1vcpu-1gb", "ssh_username": "root"}],
  "provisioners": [{"type": "shell", "inline": [
    "echo token={{user `+"`do_token`"+`}}",
    "echo password={{user `+"`db_password`"+`}}",
    "echo regions={{user `+"`regions`"+`}}",
    "echo secret=$APP_SECRET",
    "echo \"failing with {{user `+"`db_password`"+`}} $APP_SECRET {{user `+"`do_token`"+`}}\"",
    "echo \"failing with {{user `+"`db_password`"+`}} $APP_SECRET {{user `+"`do_token`"+`}}\" >&2",
    "exit 7"]}]
}`), 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range []string{"GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH"} {
		files[f] = filepath.Join(dir, strings.ToLower(f))
		if err := os.WriteFile(files[f], nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files["manifest"], files["dotenv"] = filepath.Join(dir, "manifest.json"), filepath.Join(dir, "build.env")
	files["log"] = filepath.Join(dir, "build.log") // the transcript: every remote line
	runnerEnv := map[string]string{
		"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_WORKSPACE": env.root, "RUNNER_TEMP": dir,
		"DIGITALOCEAN_TOKEN": env.token, "APP_SECRET": appSecret,
		"INPUT_API-URL": env.srv.URL(), "INPUT_PACKER-TEMPLATE": tmpl, "INPUT_VAR": "db_password=" + password + "\nregions=nyc3,sfo3",
		"INPUT_SECRET-ENV": "APP_SECRET", "INPUT_SECURE-ERASE": "false", "INPUT_BOOT-TEST": "false",
		"INPUT_MANIFEST": files["manifest"], "INPUT_DOTENV": files["dotenv"], "INPUT_LOG-FILE": files["log"],
	}
	for k, v := range files {
		if strings.HasPrefix(k, "GITHUB_") {
			runnerEnv[k] = v
		}
	}
	r := runBin(t, runnerEnv, "action")
	if r.code == 0 {
		t.Fatal("the failing script did not fail the build")
	}
	// The script saw every value: each line shows where it was replaced.
	// One --var per line, commas kept (Packer's -var): issue 14 split it.
	for _, want := range []string{"token=***", "password=***", "secret=***", "regions=nyc3,sfo3"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q: the script did not get the value, or it was not replaced", want)
		}
	}
	secrets := map[string]string{"token": env.token, "sensitive variable": password, "secret env value": appSecret}
	for name, v := range secrets {
		if !strings.Contains(r.stdout, "::add-mask::"+v+"\n") {
			t.Errorf("no ::add-mask:: line with the literal %s: the runner would not mask it", name)
		}
	}
	sinks := map[string]string{"stdout": withoutMaskLines(r.stdout), "stderr": r.stderr}
	for k, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", k, err)
		}
		sinks[k] = string(data)
	}
	if !strings.Contains(sinks["manifest"], "***") {
		t.Errorf("the manifest does not carry the failing line, redacted:\n%s", sinks["manifest"])
	}
	for sink, text := range sinks {
		for name, v := range secrets {
			if strings.Contains(text, v) {
				t.Errorf("the %s appears in %s", name, sink)
			}
		}
	}
}

func withoutMaskLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "::add-mask::") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
