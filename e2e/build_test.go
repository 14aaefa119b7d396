package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// TestActionHelloFirstLogin runs build_image exactly as a GitHub runner runs
// the docker action (INPUT_* with hyphens, runner files), checks every
// output, then boots a droplet from the snapshot: the greeting shows on the
// first login shell and not on the second.
func TestActionHelloFirstLogin(t *testing.T) {
	need(t)
	dir := t.TempDir()
	files := map[string]string{}
	for _, f := range []string{"GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH"} {
		p := filepath.Join(dir, strings.ToLower(f))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		files[f] = p
	}
	runnerEnv := map[string]string{
		"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_WORKSPACE": env.root, "RUNNER_TEMP": dir,
		"INPUT_TOKEN": env.token, "INPUT_API-URL": env.srv.URL(), "INPUT_DIR": "examples/hello-first-login",
		"INPUT_VENDOR": "hello", "INPUT_IMAGE": "debian-12-x64", "INPUT_SECURE-ERASE": "false",
		"INPUT_MODE": "build_image", "INPUT_SNAPSHOT-NAME": "hello-{{date}}-{{run_id}}",
		"INPUT_APPLICATION-NAME": "Hello", "INPUT_APPLICATION-VERSION": "1.2.3",
		"INPUT_MANIFEST": filepath.Join(dir, "manifest.json"), "INPUT_REPORT": filepath.Join(dir, "report.json"),
		// Declared inputs the user left empty arrive as empty strings.
		"INPUT_REGION": "", "INPUT_SNAPSHOT-REGIONS": "",
	}
	for k, v := range files {
		runnerEnv[k] = v
	}
	r := runBin(t, runnerEnv, "action")
	if r.code != 0 {
		t.Fatalf("action exited %d", r.code)
	}
	raw, _ := os.ReadFile(files["GITHUB_OUTPUT"])
	outs, err := report.ParseFileCommands(string(raw))
	if err != nil {
		t.Fatalf("GITHUB_OUTPUT is not in the file-command format: %v\n%s", err, raw)
	}
	for _, name := range report.BuildOutputNames() {
		if _, ok := outs[name]; !ok {
			t.Errorf("output %s missing; got %v", name, outs)
		}
	}
	snap := atoi(outs["snapshot-id"])
	if snap == 0 || !strings.HasPrefix(outs["snapshot-name"], "hello-") || outs["snapshot-regions"] == "" {
		t.Fatalf("outputs %v", outs)
	}
	if outs["validation"] != "pass" {
		t.Errorf("validation = %q, want pass (hello enables ufw and sets a version)", outs["validation"])
	}
	var m report.Manifest
	data, _ := os.ReadFile(outs["manifest"])
	if err := json.Unmarshal(data, &m); err != nil || m.SnapshotID != snap || m.SnapshotName != outs["snapshot-name"] {
		t.Fatalf("manifest %s: %v %+v", outs["manifest"], err, m)
	}
	if _, err := os.Stat(outs["report"]); err != nil {
		t.Errorf("report: %v", err)
	}
	summary, _ := os.ReadFile(files["GITHUB_STEP_SUMMARY"])
	for _, want := range []string{"snapshot", "API requests", outs["snapshot-id"]} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("job summary lacks %q:\n%s", want, summary)
		}
	}
	state, _ := os.ReadFile(files["GITHUB_STATE"])
	if !strings.Contains(string(state), report.StateDone) {
		t.Errorf("GITHUB_STATE lacks %s: %s", report.StateDone, state)
	}
	// The ::add-mask:: line carries the literal token (the runner needs it to
	// mask it); nowhere else may it appear.
	for _, blob := range []string{withoutMaskLines(r.stdout), r.stderr, string(raw), string(summary), string(data), string(state)} {
		if strings.Contains(blob, env.token) {
			t.Fatal("the token appears in the output or a runner file")
		}
		if strings.Contains(blob, "PRIVATE KEY") {
			t.Fatal("key material appears in the output or a runner file")
		}
	}
	if !strings.HasPrefix(r.stdout, "::add-mask::"+env.token+"\n") {
		t.Errorf("stdout does not start with the ::add-mask:: line of the literal token (the runner masks only what follows it):\n%s", tail(r.stdout, 5))
	}
	requireNothingLeft(t)

	d := bootFrom(t, snap, "hello-check")
	first := d.loginShell(t)
	if !strings.Contains(first, "Welcome to your Hello 1-Click droplet!") {
		t.Fatalf("first login did not greet:\n%s", first)
	}
	second := d.loginShell(t)
	if strings.Contains(second, "Welcome to your Hello") {
		t.Fatalf("second login greeted again:\n%s", second)
	}
	info, err := d.run(t, "cat /var/lib/digitalocean/application.info")
	if err != nil || !strings.Contains(info, `application_name="Hello"`) || !strings.Contains(info, `application_version="1.2.3"`) {
		t.Fatalf("application.info: %v\n%s", err, info)
	}
	env.godo.Images.Delete(context.Background(), snap)
}

// TestBuildBaseKeepOrDelete: build_base deletes its droplet unless
// keep-droplet is set; then the key is saved 0600 and the droplet answers.
func TestBuildBaseKeepOrDelete(t *testing.T) {
	need(t)
	before := env.srv.Ledger().Count(localcloud.KindSnapshot)
	args := append([]string{"build", "--mode", "build_base", "--dir", "examples/hello-first-login", "--vendor", "hello"}, apiArgs()...)
	r := runBin(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("build_base exited %d", r.code)
	}
	requireNothingLeft(t)

	tmp := t.TempDir()
	r = runBin(t, map[string]string{"RUNNER_TEMP": tmp}, append(args, "--keep-droplet")...)
	if r.code != 0 {
		t.Fatalf("build_base --keep-droplet exited %d", r.code)
	}
	live := env.srv.Ledger().Live(localcloud.KindDroplet)
	if len(live) != 1 {
		t.Fatalf("%d droplets live, want the kept one", len(live))
	}
	keys, _ := filepath.Glob(filepath.Join(tmp, "mp-image-*.key"))
	if len(keys) != 1 {
		t.Fatalf("private key files: %v", keys)
	}
	st, err := os.Stat(keys[0])
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
	if !strings.Contains(r.stdout, "ssh -i "+keys[0]) {
		t.Errorf("the ssh command is not printed:\n%s", tail(r.stdout, 20))
	}
	id := atoi(live[0].ID)
	if _, err := env.godo.Droplets.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if n := env.srv.Ledger().Count(localcloud.KindSnapshot); n != before {
		t.Errorf("build_base made %d snapshots", n-before)
	}
	requireNothingLeft(t)
}

// TestPostEntrypointDeletesLeftover: the action's post step, given the
// STATE_* a killed main step recorded, deletes its droplet and key.
func TestPostEntrypointDeletesLeftover(t *testing.T) {
	need(t)
	ctx := context.Background()
	key, _, err := env.godo.Keys.Create(ctx, &godo.KeyCreateRequest{Name: "mp-image-deadbeef", PublicKey: mustKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := env.godo.Droplets.Create(ctx, &godo.DropletCreateRequest{Name: "mp-image-deadbeef", Region: "nyc3", Size: "s-1vcpu-1gb",
		Image: godo.DropletCreateImage{Slug: "debian-12-x64"}, Tags: []string{"mp-image", "mp-image-run-deadbeef"}})
	if err != nil {
		t.Fatal(err)
	}
	r := runBin(t, map[string]string{
		"GITHUB_ACTIONS": "true", "INPUT_TOKEN": env.token,
		"STATE_" + report.StateRunID: "deadbeef", "STATE_" + report.StateAPIURL: env.srv.URL(),
		"STATE_" + report.StateDropletID: itoa(d.ID), "STATE_" + report.StateKeyID: itoa(key.ID),
	}, "action-post")
	if r.code != 0 {
		t.Fatalf("action-post exited %d", r.code)
	}
	requireNothingLeft(t)
}
