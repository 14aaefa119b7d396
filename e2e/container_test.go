package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/report"
)

// TestContainerAction runs the action image, built from the Dockerfile by
// scripts/image, as GitHub's runner runs a Docker action (see ghRunner), on
// real local droplets, and checks each case by what the runner and the next
// steps read: the parsed runner files, the workflow commands in the log, the
// files in the workspace, the emulator's ledger. Each case reads only what
// its own run made, so all run at once.
func TestContainerAction(t *testing.T) {
	img := needImage(t)
	t.Cleanup(removeImage)
	start := time.Now()
	t.Cleanup(func() { t.Logf("container cases took %s", time.Since(start).Round(time.Second)) })
	// Every case checks only its own run's resources, so they all run at once.
	t.Run("cases", func(t *testing.T) {
		t.Run("build_image", func(t *testing.T) { t.Parallel(); containerBuildImage(t, img) })
		t.Run("build_base_keep_droplet", func(t *testing.T) { t.Parallel(); containerKeepDroplet(t, img) })
		t.Run("lint", func(t *testing.T) { t.Parallel(); containerLint(t, img) })
		t.Run("multiarch", func(t *testing.T) { t.Parallel(); containerMultiArch(t) })
		containerCancel(t, img)
	})
}

// actionInputs are the with: of a workflow that points the action at the
// shared local cloud.
func actionInputs(extra map[string]string) map[string]string {
	in := map[string]string{"token": env.token, "api-url": env.srv.URL(), "image": "debian-12-x64", "secure-erase": "false"}
	for k, v := range extra {
		in[k] = v
	}
	return in
}

// copyTree copies a folder of the repository into the workspace.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(dst, info.Mode().Perm())
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// masksFirst checks that each secret appears exactly once in the step's
// output, in an ::add-mask:: line among the first lines, before any other
// output; and nowhere in the given files.
func masksFirst(t *testing.T, s *stepRun, secrets map[string]string, files ...string) {
	t.Helper()
	out := s.out.String()
	lines := strings.Split(out, "\n")
	cmds := parseCommands(out)
	seenOther := false
	for i, l := range lines {
		isMask := false
		for _, c := range cmds {
			if c.index == i && c.name == "add-mask" {
				isMask = true
			}
		}
		if !isMask {
			if strings.TrimSpace(l) != "" {
				seenOther = true
			}
			continue
		}
		if seenOther {
			t.Errorf("an ::add-mask:: line comes after other output (line %d)", i+1)
		}
	}
	for what, v := range secrets {
		masked := 0
		for _, c := range cmds {
			if c.name == "add-mask" && c.data == v {
				masked++
			}
		}
		if masked != 1 {
			t.Errorf("%s: %d ::add-mask:: lines with its literal value, want 1", what, masked)
		}
		if n := strings.Count(out, v); n != 1 {
			t.Errorf("%s appears %d times in the step's output, want once (its mask line)", what, n)
		}
		for _, f := range files {
			data, _ := os.ReadFile(f)
			if strings.Contains(string(data), v) {
				t.Errorf("%s appears in %s", what, f)
			}
		}
	}
}

// annotations are the step's error/warning/notice commands.
func annotations(s *stepRun) []workflowCmd {
	var out []workflowCmd
	for _, c := range parseCommands(s.out.String()) {
		if c.name == "error" || c.name == "warning" || c.name == "notice" {
			out = append(out, c)
		}
	}
	return out
}

// noDuplicateAnnotations: each annotation is issued once, not printed again
// as a plain line (the log shows the annotation itself), and the runner
// keeps at most 10 per level.
func noDuplicateAnnotations(t *testing.T, s *stepRun) map[string]int {
	t.Helper()
	seen := map[string]bool{}
	per := map[string]int{}
	lines := strings.Split(s.out.String(), "\n")
	for _, a := range annotations(s) {
		key := fmt.Sprint(a.name, a.props, a.data)
		if seen[key] {
			t.Errorf("annotation issued twice: %s %v %q", a.name, a.props, a.data)
		}
		seen[key] = true
		per[a.name]++
		// The plain form a console prints: level: [file[:line]: ]title: message.
		where := a.props["file"]
		if where != "" && a.props["line"] != "" {
			where += ":" + a.props["line"]
		}
		plain := a.name + ": "
		if where != "" {
			plain += where + ": "
		}
		plain += a.props["title"] + ": " + strings.SplitN(a.data, "\n", 2)[0]
		for i, l := range lines {
			if strings.HasPrefix(l, plain) {
				t.Errorf("annotation printed again as line %d: %q", i+1, l)
				break
			}
		}
	}
	for level, n := range per {
		if n > report.MaxAnnotations {
			t.Errorf("%d %s annotations: the runner keeps %d", n, level, report.MaxAnnotations)
		}
	}
	return per
}

// containerBuildImage: build_image from a Packer template with a sensitive
// variable from a var-file; outputs from the parsed GITHUB_OUTPUT, the job
// summary, report and manifest in the workspace, and the literal token and
// secret only in their mask lines; then the post step finds nothing to do.
func containerBuildImage(t *testing.T, img string) {
	r := newRunner(t, img)
	copyTree(t, filepath.Join(env.root, e2eBase, "recipe"), filepath.Join(r.workspace, "recipe"))
	secret := "s3cr3t-" + randomHex(12)
	template := `{
  "variables": {"app_secret": null, "app_version": "1.0"},
  "sensitive-variables": ["app_secret"],
  "builders": [{"type": "digitalocean", "image": "debian-12-x64", "region": "nyc3", "size": "s-1vcpu-1gb",
    "ssh_username": "root", "snapshot_name": "ctr-{{timestamp}}"}],
  "provisioners": [
    {"type": "file", "source": "recipe/files/", "destination": "/"},
    {"type": "shell", "environment_vars": ["APP_VERSION={{user ` + "`app_version`" + `}}", "APP_SECRET={{user ` + "`app_secret`" + `}}"],
     "inline": ["echo \"the app secret is $APP_SECRET\"", "sh /tmp/10-app.sh || true"]},
    {"type": "shell", "scripts": ["recipe/scripts/10-app.sh"]},
    {"type": "file", "source": "recipe/per-instance/001_onboot", "destination": "/var/lib/cloud/scripts/per-instance/001_onboot"},
    {"type": "shell", "inline": ["chmod 0755 /var/lib/cloud/scripts/per-instance/001_onboot"]}
  ]
}`
	if err := os.WriteFile(filepath.Join(r.workspace, "template.json"), []byte(template), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.workspace, "secrets.json"), []byte(`{"app_secret": "`+secret+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := r.run(t, "main", actionInputs(map[string]string{
		"packer-template": "template.json", "var-file": "secrets.json", "application-name": "Container",
		"application-version": "1.0", "manifest": "mp-image-manifest.json", "report": "mp-image-report.json",
	}), nil)
	outs := s.fileCmd(t, "GITHUB_OUTPUT")
	state := s.fileCmd(t, "GITHUB_STATE")
	if id := atoi(outs["snapshot-id"]); id != 0 {
		t.Cleanup(func() { env.godo.Images.Delete(context.Background(), id) })
	}
	if s.code != 0 {
		t.Fatalf("main step exited %d", s.code)
	}
	masksFirst(t, s, map[string]string{"the token": env.token, "the sensitive variable": secret},
		s.files["GITHUB_OUTPUT"], s.files["GITHUB_STATE"], s.files["GITHUB_ENV"], s.files["GITHUB_STEP_SUMMARY"],
		filepath.Join(r.workspace, "mp-image-manifest.json"), filepath.Join(r.workspace, "mp-image-report.json"))
	if !strings.Contains(s.out.String(), "the app secret is ***") {
		t.Errorf("the script's line with the secret is not shown redacted")
	}
	snap := atoi(outs["snapshot-id"])
	if snap == 0 || !strings.HasPrefix(outs["snapshot-name"], "ctr-") || outs["snapshot-regions"] != "nyc3" {
		t.Errorf("outputs %v", outs)
	}
	if v := outs["validation"]; v != "pass" && v != "warn" {
		t.Errorf("validation = %q", v)
	}
	// The next step (on the host, in the workspace) opens the paths as given.
	var m report.Manifest
	if outs["manifest"] != "mp-image-manifest.json" || outs["report"] != "mp-image-report.json" {
		t.Errorf("manifest/report outputs %q %q, want the workspace-relative paths given", outs["manifest"], outs["report"])
	}
	data, err := os.ReadFile(filepath.Join(r.workspace, outs["manifest"]))
	if err != nil || json.Unmarshal(data, &m) != nil || m.SnapshotID != snap {
		t.Errorf("manifest at %s: %v %+v", outs["manifest"], err, m)
	}
	var rep struct {
		Verdict string `json:"verdict"`
		Results []any  `json:"results"`
	}
	data, err = os.ReadFile(filepath.Join(r.workspace, outs["report"]))
	if err != nil || json.Unmarshal(data, &rep) != nil || len(rep.Results) == 0 {
		t.Errorf("report at %s: %v %s", outs["report"], err, tail(string(data), 5))
	}
	summary := s.raw(t, "GITHUB_STEP_SUMMARY")
	for _, want := range []string{"## mp-image build", "| snapshot |", "### Marketplace image check", "| Status | Check |", outs["snapshot-id"]} {
		if !strings.Contains(summary, want) {
			t.Errorf("job summary lacks %q:\n%s", want, summary)
		}
	}
	noDuplicateAnnotations(t, s)
	if state[report.StateDone] != "true" {
		t.Errorf("state %v lacks done=true", state)
	}
	run := state[report.StateRunID]
	requireRunGone(t, run, 0)
	post := r.run(t, "post", actionInputs(nil), state)
	if post.code != 0 || !strings.Contains(post.out.String(), "cleaned up after itself") {
		t.Errorf("post step: exit %d\n%s", post.code, post.out.String())
	}
}

// requireRunGone fails when a droplet, a key or a snapshot of the run still
// exists (snapshot: other than keep, the build's result).
func requireRunGone(t *testing.T, run string, keep int) {
	t.Helper()
	if run == "" {
		t.Fatal("no run id in the state file")
	}
	for _, rec := range env.srv.Ledger().All() {
		if !rec.Exists {
			continue
		}
		ours := strings.Contains(rec.Name, run)
		for _, tag := range rec.Tags {
			ours = ours || tag == "mp-image-run-"+run
		}
		if !ours || rec.Kind == localcloud.KindAction || rec.Kind == localcloud.KindTag || rec.Kind == localcloud.KindSnapshot && atoi(rec.ID) == keep {
			continue
		}
		t.Errorf("left behind by run %s: %s %s %q", run, rec.Kind, rec.ID, rec.Name)
	}
}

// containerKeepDroplet: a PR dry run (build_base) of a clean recipe with
// keep-droplet, on a runner that does not mount RUNNER_TEMP. The key lands
// where the next steps read it; a validate step in the container uses it and
// annotates; a scheduled reap leaves the kept droplet alone.
func containerKeepDroplet(t *testing.T, img string) {
	r := newRunner(t, img)
	r.legacyTemp = true
	copyTree(t, filepath.Join(env.root, "examples", "hello-first-login"), filepath.Join(r.workspace, "marketplace", "hello"))
	s := r.run(t, "main", actionInputs(map[string]string{"dir": "marketplace/hello", "vendor": "hello",
		"mode": "build_base", "keep-droplet": "true"}), nil)
	outs := s.fileCmd(t, "GITHUB_OUTPUT")
	if id := atoi(outs["droplet-id"]); id != 0 {
		t.Cleanup(func() { env.godo.Droplets.Delete(context.Background(), id) })
	}
	if s.code != 0 {
		t.Fatalf("main step exited %d", s.code)
	}
	if v := outs["validation"]; v != "pass" && v != "warn" {
		t.Errorf("validation = %q for a clean recipe's dry run, want pass or warn", v)
	}
	for _, a := range annotations(s) {
		if a.name == "error" {
			t.Errorf("a clean dry run annotates an error: %v %q", a.props, a.data)
		}
	}
	noDuplicateAnnotations(t, s)
	keyPath := outs["ssh-key-path"]
	if keyPath == "" || filepath.IsAbs(keyPath) {
		t.Fatalf("ssh-key-path = %q, want a path relative to the workspace", keyPath)
	}
	st, err := os.Stat(filepath.Join(r.workspace, keyPath))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kept key %s in the workspace: %v %v", keyPath, err, st)
	}
	ip := outs["droplet-ip"]
	if ip == "" {
		t.Fatalf("no droplet-ip output: %v", outs)
	}

	// The next step: validate in the same image (uses: docker://... with args),
	// with the key from the output.
	t.Run("validate", func(t *testing.T) {
		vs := r.runArgs(t, nil, []string{"validate", "--host", ip, "--ssh-key", keyPath, "--fail-on", "never", "--skip-apt-update"})
		if vs.code != 0 {
			t.Fatalf("validate exited %d", vs.code)
		}
		per := noDuplicateAnnotations(t, vs)
		if per["error"]+per["warning"] == 0 {
			t.Errorf("validate of an uncleaned build droplet annotated nothing:\n%s", tail(vs.out.String(), 30))
		}
		if !strings.Contains(vs.raw(t, "GITHUB_STEP_SUMMARY"), "### Marketplace image check") {
			t.Error("validate wrote no job summary")
		}
	})
	t.Run("reap", func(t *testing.T) {
		// Narrowed to this run: the other cases build at the same time.
		run := s.fileCmd(t, "GITHUB_STATE")[report.StateRunID]
		rs := r.runArgs(t, map[string]string{"DIGITALOCEAN_TOKEN": env.token, "DIGITALOCEAN_API_URL": env.srv.URL()},
			[]string{"reap", "--yes", "--older-than", "0s", "--tag", "mp-image-run-" + run})
		if rs.code != 0 {
			t.Fatalf("reap exited %d", rs.code)
		}
		if _, _, err := env.godo.Droplets.Get(context.Background(), atoi(outs["droplet-id"])); err != nil {
			t.Errorf("reap deleted the kept droplet: %v\n%s", err, rs.out.String())
		}
	})
}

// containerLint: lint in the container, on a recipe with 12 errors and 2
// warnings: annotations carry file and line, each once, at most 10 per
// level; the rest are plain lines; the last line points to the job summary,
// which lists all 14.
func containerLint(t *testing.T, img string) {
	r := newRunner(t, img)
	dir := filepath.Join(r.workspace, "marketplace", "bad")
	for i := 1; i <= 12; i++ {
		writeFile(t, filepath.Join(dir, "scripts", fmt.Sprintf("%02d-install.sh", i)), "#!/bin/sh\napt-get install nginx\n", 0o755)
	}
	writeFile(t, filepath.Join(dir, "per-instance", "onboot"), "#!/bin/sh\necho hi\n", 0o755)
	writeFile(t, filepath.Join(dir, "files", "etc", "ssh", "sshd_config"), "PermitRootLogin yes\n", 0o644)
	s := r.runArgs(t, nil, []string{"lint", "--dir", "marketplace/bad", "--no-shellcheck"})
	if s.code != 1 {
		t.Fatalf("lint exited %d, want 1 (errors found)", s.code)
	}
	per := noDuplicateAnnotations(t, s)
	if per["error"] != 10 || per["warning"] != 2 {
		t.Errorf("annotations per level %v, want 10 errors (the runner's limit) and 2 warnings", per)
	}
	for _, a := range annotations(s) {
		if a.props["file"] == "" || a.name == "error" && a.props["line"] != "2" {
			t.Errorf("annotation without its file and line: %s %v %q", a.name, a.props, a.data)
		}
		if !strings.HasPrefix(a.props["file"], "marketplace/bad/") {
			t.Errorf("annotation file %q is not relative to the workspace", a.props["file"])
		}
	}
	out := s.out.String()
	for i := 11; i <= 12; i++ {
		if n := strings.Count(out, fmt.Sprintf("error: marketplace/bad/scripts/%02d-install.sh:2: ", i)); n != 1 {
			t.Errorf("finding %d past the limit is printed %d times, want once", i, n)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "2 more error(s)") || !strings.Contains(last, "job summary") {
		t.Errorf("last line %q does not point to the job summary", last)
	}
	summary := s.raw(t, "GITHUB_STEP_SUMMARY")
	if got := len(regexp.MustCompile("(?m)^\\| (error|warning|info) \\|").FindAllString(summary, -1)); got != 14 {
		t.Errorf("job summary lists %d findings, want 14:\n%s", got, summary)
	}
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// containerCancel cancels build_image (boot test on) as the runner cancels a
// job, at three points, then runs the post step with what the main step
// saved. Nothing of the run may be left: no droplet, no key (the boot
// test's included), no snapshot. Two points get the runner's SIGINT, SIGTERM,
// SIGKILL sequence (the tool cleans up itself); during the boot test the
// container is killed outright, as when cleanup overruns the runner's 10 s,
// so the post step alone must delete the boot test's droplet and key.
func containerCancel(t *testing.T, img string) {
	points := []struct {
		name  string
		ready func(s *stepRun) bool
		kill  bool
	}{
		{"droplet created", func(s *stepRun) bool { return stateHas(s, report.StateDropletID) }, false},
		{"snapshot made", func(s *stepRun) bool { return stateHas(s, report.StateSnapshotID) }, false},
		{"boot test running, killed", func(s *stepRun) bool { return strings.Contains(s.out.String(), "boot test: droplet ") }, true},
	}
	for _, p := range points {
		t.Run("cancel_"+strings.ReplaceAll(p.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			r := newRunner(t, img)
			copyTree(t, filepath.Join(env.root, "examples", "hello-first-login"), filepath.Join(r.workspace, "hello"))
			s := r.start(t, "main", actionInputs(map[string]string{"dir": "hello", "vendor": "hello"}), nil)
			deadline := time.Now().Add(15 * time.Minute)
			for !p.ready(s) {
				select {
				case <-s.done:
					t.Fatalf("the build ended (exit %d) before %s", s.code, p.name)
				case <-time.After(200 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("no %s in 15 minutes", p.name)
				}
			}
			if p.kill {
				s.kill(t)
			} else {
				took := s.cancel(t)
				if s.code != 130 {
					t.Errorf("exit %d after SIGINT, want 130", s.code)
				}
				t.Logf("%s: the step ended %s after SIGINT", p.name, took.Round(10*time.Millisecond))
			}
			state := s.fileCmd(t, "GITHUB_STATE")
			post := r.run(t, "post", actionInputs(map[string]string{"dir": "hello", "vendor": "hello"}), state)
			if post.code != 0 {
				t.Errorf("post step exited %d:\n%s", post.code, post.out.String())
			}
			said := post.out.String()
			if p.kill {
				// Killed: the post step alone deletes the boot test's droplet
				// and key, the build key and the snapshot.
				for _, want := range []string{"deleted droplet", "deleted SSH key " + state[report.StateKeyID],
					"deleted SSH key " + state[report.StateBootKeyID], "deleted snapshot " + state[report.StateSnapshotID]} {
					if state[report.StateBootKeyID] == "" || !strings.Contains(said, want) {
						t.Errorf("post step did not say %q (state %v):\n%s", want, state, said)
					}
				}
			} else if !strings.Contains(said, "cleaned up after itself") {
				t.Errorf("post step after a graceful cancel:\n%s", said)
			}
			requireRunGone(t, state[report.StateRunID], 0)
		})
	}
}

func stateHas(s *stepRun, key string) bool {
	data, err := os.ReadFile(s.files["GITHUB_STATE"])
	if err != nil {
		return false
	}
	m, err := parseEnvFile(string(data))
	return err == nil && m[key] != ""
}

// containerMultiArch builds the image for linux/amd64 and linux/arm64 with
// scripts/image (a manifest list of both), then the arm64 image alone, and
// checks it by its files: a static arm64 binary, the post-step link, the CA
// bundle, nothing else, under 20 MB. (Only an arm64 runner can run it.)
func containerMultiArch(t *testing.T) {
	tag := "localhost/mp-image-action:e2e-multi-" + randomHex(4)
	image := func(tag, platforms string) {
		cmd := exec.Command(filepath.Join(env.root, "scripts", "image"), "--tag", tag, "--platform", platforms, "--version", "e2e")
		cmd.Dir = env.root
		cmd.Env = append(os.Environ(), "MP_IMAGE_ENGINE=podman")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scripts/image --platform %s: %v\n%s", platforms, err, tail(string(out), 20))
		}
	}
	t.Cleanup(func() {
		exec.Command("podman", "manifest", "rm", tag).Run()
		exec.Command("podman", "rmi", "-f", tag+"-arm64").Run()
		// The manifest list's instances are left untagged.
		exec.Command("podman", "image", "prune", "-f", "--filter", "label=org.opencontainers.image.version=e2e").Run()
	})
	image(tag, "linux/amd64,linux/arm64")
	out, err := exec.Command("podman", "manifest", "inspect", tag).Output()
	if err != nil {
		t.Fatalf("podman manifest inspect: %v", err)
	}
	var list struct {
		Manifests []struct {
			Platform struct{ Architecture, OS string }
		}
	}
	json.Unmarshal(out, &list)
	var plats []string
	for _, m := range list.Manifests {
		plats = append(plats, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	sort.Strings(plats) // the engine lists them in the order the builds finished
	if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("manifest list platforms %v, want linux/amd64 and linux/arm64", plats)
	}

	image(tag+"-arm64", "linux/arm64")
	cid, err := exec.Command("podman", "create", tag+"-arm64").Output()
	if err != nil {
		t.Fatalf("podman create: %v", err)
	}
	id := strings.TrimSpace(string(cid))
	defer exec.Command("podman", "rm", "-f", id).Run()
	export, err := exec.Command("podman", "export", id).Output()
	if err != nil {
		t.Fatalf("podman export: %v", err)
	}
	files := map[string]*tar.Header{}
	var bin []byte
	var size int64
	tr := tar.NewReader(bytes.NewReader(export))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		name := strings.TrimPrefix(h.Name, "/")
		files[name], size = h, size+h.Size
		if name == "mp-image" {
			bin, _ = io.ReadAll(tr)
		}
	}
	if len(bin) < 20 || string(bin[:4]) != "\x7fELF" || binary.LittleEndian.Uint16(bin[18:20]) != 0xb7 {
		t.Errorf("/mp-image of the arm64 image is not an arm64 (AArch64) ELF binary")
	}
	if h := files["mp-image-post"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "mp-image" {
		t.Errorf("/mp-image-post is not a link to mp-image: %+v", h)
	}
	if files["etc/ssl/certs/ca-certificates.crt"] == nil {
		t.Error("no CA bundle")
	}
	var regular []string
	for name, h := range files {
		if h.Typeflag != tar.TypeDir {
			regular = append(regular, name)
		}
	}
	if size >= 20_000_000 || len(regular) != 3 {
		t.Errorf("%d bytes in %v, want under 20 MB and only the binary, its link and the CA bundle", size, regular)
	}
	t.Logf("arm64 image: %.1f MB", float64(size)/1e6)
}
