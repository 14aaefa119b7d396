package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// e2eBase holds the same machine three ways: template.json, template.pkr.hcl
// and the native recipe/ (see internal/packer/testdata/e2e).
const e2eBase = "internal/packer/testdata/e2e"

// machineProbe prints what the e2e recipe does to a machine, one fact per
// line, leaving out what must differ between droplets (the password itself,
// dates); those are checked separately.
const machineProbe = `set -u
for f in /usr/local/bin/e2e-app /opt/e2e-app/app.conf /opt/e2e-app/version /opt/e2e/run /var/lib/cloud/scripts/per-instance/001_onboot; do
  echo "file $f $(stat -c '%a %U:%G' "$f" 2>&1) $(sha256sum < "$f" 2>&1 | cut -c1-16)"
done
echo "dir /var/lib/e2e-app $(stat -c '%a %U' /var/lib/e2e-app 2>&1)"
echo "dir /opt/e2e-app: $(ls -A /opt/e2e-app 2>&1 | tr '\n' ' ')"
echo "dir /opt/e2e: $(ls -A /opt/e2e 2>&1 | tr '\n' ' ')"
echo "run e2e-app: $(/usr/local/bin/e2e-app 2>&1)"
echo "after-cleanup: $(test -s /opt/e2e-app/provisioned-after-cleanup && echo present || echo missing)"
echo "password: $(stat -c '%a %s' /var/lib/e2e-app/password 2>&1)"
echo "bashrc hook lines: $(grep -c 'mp-image first-login' /root/.bashrc)"
grep -E '^application_(name|version)=' /var/lib/digitalocean/application.info 2>&1
`

type packerBuild struct {
	name, snapshotPrefix string
	args                 []string
}

// TestPackerTemplates builds the e2e machine from the JSON template, the HCL2
// template and the native recipe, boots a droplet from each snapshot and
// requires the three machines to match: files placed, scripts' effects (also
// the one after the template's own authorized_keys cleanup), the per-instance
// script run on each droplet's own first boot, the first-login greeting once,
// and application.info.
func TestPackerTemplates(t *testing.T) {
	need(t)
	ctx := context.Background()
	t.Cleanup(func() { requireNothingLeft(t) }) // runs last: after the droplets' and keys' own cleanups
	// The boot test is compared here by booting each snapshot ourselves.
	common := []string{"--application-name", "E2E App", "--application-version", "1.0", "--boot-test=false"}
	// The HCL template's manifest post-processor writes here, in Packer's
	// format, with an earlier run's entry that must be kept (Packer appends).
	packerManifest := filepath.Join(t.TempDir(), "packer-manifest.json")
	if err := os.WriteFile(packerManifest, []byte(`{"builds":[{"name":"old","builder_type":"digitalocean","build_time":1,"files":null,"artifact_id":"ams3:1","packer_run_uuid":"old-run","custom_data":null}],"last_run_uuid":"old-run"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	builds := []packerBuild{
		{"json", "e2e-json-snapshot-", []string{"--packer-template", e2eBase + "/template.json", "--template-base", e2eBase}},
		{"hcl", "e2e-hcl-snapshot-", []string{"--packer-template", e2eBase + "/template.pkr.hcl", "--template-base", e2eBase, "--var", "manifest_output=" + packerManifest}},
		{"recipe", "", []string{"--dir", e2eBase + "/recipe", "--vendor", "e2e"}},
	}
	snaps := map[string]int{}
	for _, b := range builds {
		manifest := filepath.Join(t.TempDir(), "manifest.json")
		args := append(append(append([]string{"build"}, b.args...), common...), "--manifest", manifest)
		r := runBin(t, nil, append(args, apiArgs()...)...)
		var m report.Manifest
		data, _ := os.ReadFile(manifest)
		if err := json.Unmarshal(data, &m); err == nil && m.SnapshotID != 0 {
			id := m.SnapshotID
			t.Cleanup(func() { env.godo.Images.Delete(ctx, id) })
		}
		if r.code != 0 {
			t.Fatalf("%s build exited %d", b.name, r.code)
		}
		if m.SnapshotID == 0 {
			t.Fatalf("%s build: no snapshot in the manifest:\n%s", b.name, data)
		}
		if !strings.Contains(r.stdout, "snapshot-id="+strconv.Itoa(m.SnapshotID)) {
			t.Errorf("%s build: stdout does not print snapshot-id=%d", b.name, m.SnapshotID)
		}
		if b.snapshotPrefix != "" && !strings.HasPrefix(m.SnapshotName, b.snapshotPrefix) {
			t.Errorf("%s build: snapshot %q, want the template's snapshot_name %s<timestamp>", b.name, m.SnapshotName, b.snapshotPrefix)
		}
		if strings.Contains(r.stdout+r.stderr+string(data), env.token) {
			t.Fatalf("%s build: the token appears in the output or the manifest", b.name)
		}
		requireNothingLeft(t)
		snaps[b.name] = m.SnapshotID
		if b.name == "hcl" {
			checkPackerManifest(t, packerManifest, m.SnapshotID)
		}
	}

	facts := map[string]string{}
	passwords := map[string]string{}
	for _, b := range builds {
		d := bootFrom(t, snaps[b.name], "packer-"+b.name)
		d.waitFirstBoot(t)
		// Per-instance scripts run in cloud-init's final stage, which may
		// still be going when SSH answers.
		if out, err := d.run(t, "cloud-init status --wait >/dev/null; cloud-init status"); err != nil || !strings.Contains(out, "done") {
			t.Errorf("%s: cloud-init did not finish cleanly: %v\n%s", b.name, err, out)
		}
		out, err := d.run(t, machineProbe)
		if err != nil {
			t.Fatalf("%s: probe: %v\n%s", b.name, err, out)
		}
		facts[b.name] = out
		pw, err := d.run(t, "cat /var/lib/e2e-app/password")
		if err != nil || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(pw) {
			t.Errorf("%s: per-instance password %q (%v): the per-instance script did not run on first boot", b.name, pw, err)
		}
		passwords[b.name] = pw
		// An interactive bash (as a login on a terminal starts) runs the
		// first-login hook; run to completion rather than timed on a pty.
		login := "bash -i -c 'echo shell-done' </dev/null 2>&1"
		first, _ := d.run(t, login)
		if !strings.Contains(first, "Welcome to the e2e app.") || !strings.Contains(first, "shell-done") {
			t.Errorf("%s: first login did not greet:\n%s", b.name, first)
		}
		if second, _ := d.run(t, login); !strings.Contains(second, "shell-done") || strings.Contains(second, "Welcome to the e2e app.") {
			t.Errorf("%s: second login greeted again:\n%s", b.name, second)
		}
		if _, err := env.godo.Droplets.Delete(ctx, d.id); err != nil {
			t.Errorf("deleting droplet %d: %v", d.id, err)
		}
	}
	want := facts["recipe"]
	for _, line := range []string{
		"run e2e-app: e2e-app 1.0", "after-cleanup: present", "dir /var/lib/e2e-app 700 root",
		"password: 600 32", "bashrc hook lines: 2", // the hook (marker on two lines) waits for the first login `application_name="E2E App"`, `application_version="1.0"`,
	} {
		if !strings.Contains(want, line) {
			t.Errorf("the native recipe's machine lacks %q:\n%s", line, want)
		}
	}
	if strings.Contains(want, "No such file") {
		t.Errorf("the native recipe's machine misses files:\n%s", want)
	}
	for _, name := range []string{"json", "hcl"} {
		if facts[name] != want {
			t.Errorf("the %s template's machine differs from the native recipe's:\n%s\n--- recipe:\n%s", name, facts[name], want)
		}
	}
	seen := map[string]string{}
	for name, pw := range passwords {
		if len(pw) != 32 {
			continue
		}
		if other, ok := seen[pw]; ok {
			t.Errorf("droplets from %s and %s share the password: it was baked into the snapshot, not made on first boot", name, other)
		}
		seen[pw] = name
	}
}

// planStep is one provisioning line of `mp-image plan`: which template
// provisioner it comes from and that provisioner's type.
type planStep struct {
	provisioner int
	typ         string
}

var planStepLine = regexp.MustCompile(`^\s+\d+\.\s+\S+\s+provisioner (\d+) \(([\w-]+)\)`)

func parsePlanSteps(t *testing.T, out string) []planStep {
	t.Helper()
	var steps []planStep
	in := false
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Provisioning (") {
			in = true
			continue
		}
		if in && !strings.HasPrefix(l, " ") {
			break
		}
		if m := planStepLine.FindStringSubmatch(l); in && m != nil {
			n, _ := strconv.Atoi(m[1])
			steps = append(steps, planStep{n, m[2]})
		}
	}
	return steps
}

// TestPlanSharedTemplates runs `mp-image plan` on every real template in
// ../shared/data/packer-templates (with the scripts and files they name
// stubbed, since only the JSON is stored): each plans, and its provisioning
// steps match the template's provisioners in number, order and kind. The
// ansible template is refused naming ansible and its line.
func TestPlanSharedTemplates(t *testing.T) {
	shared, err := testutil.SharedDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(shared, "data", "packer-templates")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if env.bin == "" {
		t.Skip("the mp-image binary was not built: " + env.skip)
	}
	if len(files) == 0 {
		t.Skipf("no Packer templates in %s (the shared data set is absent)", dir)
	}
	sort.Strings(files)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			provs := testutil.Provisioners(t, f)
			var want []planStep
			for i, p := range provs {
				typ, _ := p["type"].(string)
				n := 1
				for _, k := range []string{"scripts", "sources"} {
					if l, ok := p[k].([]any); ok {
						n = len(l)
					}
				}
				for j := 0; j < n; j++ {
					want = append(want, planStep{i + 1, typ})
				}
			}
			base := t.TempDir()
			testutil.StubTemplateFiles(t, base, provs)
			r := runBin(t, nil, "plan", "--packer-template", f, "--template-base", base)
			if r.code != 0 {
				t.Fatalf("plan exited %d:\n%s", r.code, r.stderr)
			}
			got := parsePlanSteps(t, r.stdout)
			if len(got) == 0 {
				t.Fatalf("empty plan:\n%s", r.stdout)
			}
			if !strings.Contains(r.stdout, "Provisioning ("+strconv.Itoa(len(want))+" steps)") {
				t.Errorf("plan does not announce %d provisioning steps", len(want))
			}
			if len(got) != len(want) {
				t.Fatalf("plan has %d provisioning steps, the template's provisioners make %d:\n%s", len(got), len(want), r.stdout)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("step %d: plan has provisioner %d (%s), template order says %d (%s)", i+1, got[i].provisioner, got[i].typ, want[i].provisioner, want[i].typ)
				}
			}
		})
	}
	t.Run("ansible-refused", func(t *testing.T) {
		r := runBin(t, nil, "plan", "--packer-template", "internal/packer/testdata/ansible.json")
		if r.code == 0 {
			t.Fatalf("plan of an ansible template exited 0:\n%s", r.stdout)
		}
		raw, err := os.ReadFile(filepath.Join(env.root, "internal/packer/testdata/ansible.json"))
		if err != nil {
			t.Fatal(err)
		}
		line := 0
		for i, l := range strings.Split(string(raw), "\n") {
			if strings.Contains(l, `"type": "ansible"`) {
				line = i + 1
			}
		}
		// The line of the ansible provisioner (its object or its type) and the provisioner named.
		named := regexp.MustCompile(`ansible\.json:(\d+):.*\(ansible\)`).FindStringSubmatch(r.stderr)
		if named == nil {
			t.Fatalf("refusal does not name the template line and the ansible provisioner:\n%s", r.stderr)
		}
		if n, _ := strconv.Atoi(named[1]); n < line-2 || n > line {
			t.Errorf("refusal names line %d; the ansible provisioner is at line %d:\n%s", n, line, r.stderr)
		}
		if r.stdout != "" && strings.Contains(r.stdout, "Provisioning (") {
			t.Errorf("a plan was printed for a refused template:\n%s", r.stdout)
		}
		for _, want := range []string{`"ansible"`} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("refusal does not name %q:\n%s", want, r.stderr)
			}
		}
	})
}

// checkPackerManifest reads the manifest post-processor's file with the jq
// recipes Packer's documentation gives, as a workflow step would.
func checkPackerManifest(t *testing.T, path string, snapshotID int) {
	t.Helper()
	jq := func(filter string) string {
		out, err := exec.Command("jq", "-r", filter, path).CombinedOutput()
		if err != nil {
			t.Fatalf("jq %s: %v\n%s", filter, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	id := strconv.Itoa(snapshotID)
	// Packer's docs: the last build's artifact, "region:id", split on the colon.
	if got := jq(`.builds[-1].artifact_id | split(":") | .[1]`); got != id {
		t.Errorf("builds[-1].artifact_id's ID = %q, want %s", got, id)
	}
	if got := jq(`.builds[-1].artifact_id`); got != "nyc3:"+id {
		t.Errorf("artifact_id = %q, want nyc3:%s", got, id)
	}
	// The current run's build, found by last_run_uuid.
	if got := jq(`.last_run_uuid as $r | .builds[] | select(.packer_run_uuid == $r) | .artifact_id`); got != "nyc3:"+id {
		t.Errorf("the build of last_run_uuid has artifact_id %q", got)
	}
	if got := jq(`[.builds[-1].name, .builder_type // .builds[-1].builder_type, .builds[-1].custom_data.app_version, (.builds | length), .builds[0].packer_run_uuid] | join(" ")`); got != "e2e digitalocean 1.0 2 old-run" {
		t.Errorf("name, builder_type, custom_data, builds kept: %q, want \"e2e digitalocean 1.0 2 old-run\"", got)
	}
}
