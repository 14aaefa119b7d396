package e2e

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/report"
)

// TestLEMP builds examples/lemp, then boots two droplets from the snapshot:
// on each nginx serves the PHP page with a working database, root gets
// "please wait" only until first boot is done, and the two database
// passwords made by the per-instance script differ.
func TestLEMP(t *testing.T) {
	need(t)
	manifest := filepath.Join(t.TempDir(), "manifest.json")
	r := runBin(t, nil, append([]string{"build", "--dir", "examples/lemp", "--manifest", manifest, "--application-version", "1.0"}, apiArgs()...)...)
	if r.code != 0 {
		t.Fatalf("build exited %d", r.code)
	}
	m, err := report.ReadManifest(manifest)
	if err != nil || m.SnapshotID == 0 {
		t.Fatalf("manifest: %v %+v", err, m)
	}
	if m.Validation != "pass" {
		t.Errorf("validation %q, want pass after cleanup (ufw is enabled, version set)", m.Validation)
	}
	requireNothingLeft(t)
	defer env.godo.Images.Delete(context.Background(), m.SnapshotID)

	pw := regexp.MustCompile(`mysql_app_password="([A-Za-z0-9]{16,})"`)
	var passwords []string
	for _, name := range []string{"lemp-a", "lemp-b"} {
		d := bootFrom(t, m.SnapshotID, name)
		d.waitFirstBoot(t)
		page, err := d.run(t, "curl -fsS http://localhost/")
		if err != nil || !strings.Contains(page, "database connected") {
			t.Fatalf("%s: page %q: %v", name, page, err)
		}
		out, err := d.run(t, "cat /root/.digitalocean_password")
		match := pw.FindStringSubmatch(out)
		if err != nil || match == nil {
			t.Fatalf("%s: password file %q: %v", name, out, err)
		}
		passwords = append(passwords, match[1])
		if sshd, _ := d.run(t, "grep -c 'Please wait' /etc/ssh/sshd_config || true"); strings.TrimSpace(sshd) != "0" {
			t.Errorf("%s: the please-wait ForceCommand is still in sshd_config", name)
		}
	}
	if passwords[0] == passwords[1] {
		t.Fatalf("both droplets got the same database password")
	}
}
