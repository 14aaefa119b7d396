package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mp-image-action/mp-image-action/internal/report"
)

// TestLEMP builds examples/lemp twice at once: with plain output (a pipe, as
// in CI) and on a terminal (tmux). The plain build's snapshot then boots two
// droplets: on each nginx serves the PHP page with a working database, root
// gets "please wait" only until first boot is done, and the two database
// passwords made by the per-instance script differ. The droplets make their
// own host keys (none is pinned), and checkSysprep proves the image gave
// them no shared identity and none of the build's secrets. The boot test (on
// by default) ran first: its droplet finished first boot, validated, and the
// verify script saw the page reach the database.
//
// The plain build writes an SBOM and a provenance statement and submits with
// software versions taken from the image: the SBOM's versions of nginx,
// mariadb-server and php-fpm are what dpkg-query says on a droplet booted
// from the snapshot, and the SBOM validates against CycloneDX 1.6.
func TestLEMP(t *testing.T) {
	need(t)
	out := t.TempDir()
	manifest := filepath.Join(out, "manifest.json")
	sbomPath := filepath.Join(out, "sbom.cdx.json")
	provPath := filepath.Join(out, "provenance.intoto.json")
	build := append([]string{"build", "--dir", "examples/lemp", "--application-version", "1.0"}, apiArgs()...)
	tty := startTerminal(t, build...)
	r := runBin(t, nil, append(build, "--manifest", manifest, "--sbom", sbomPath, "--provenance", provPath,
		"--submit-app-id", "app-lemp", "--submit-version", "1.0",
		"--submit-software", "nginx, MariaDB;package=mariadb-server, PHP-FPM;package=php-fpm, Website=1.0")...)
	rows, ttyCode := tty.wait(t)
	deleteSnapshotOnExit(t, rows)
	if m, err := report.ReadManifest(manifest); err == nil && m.SnapshotID != 0 {
		defer env.godo.Images.Delete(context.Background(), m.SnapshotID)
	}
	if r.code != 0 || ttyCode != 0 {
		t.Fatalf("the builds exited %d (plain) and %d (terminal)", r.code, ttyCode)
	}
	for _, want := range []string{"sbom=" + sbomPath, "provenance=" + provPath} {
		if !slices.Contains(strings.Split(r.stdout, "\n"), want) {
			t.Errorf("the outputs lack the line %q:\n%s", want, tail(r.stdout, 15))
		}
	}
	m, err := report.ReadManifest(manifest)
	if err != nil || m.SnapshotID == 0 {
		t.Fatalf("manifest: %v %+v", err, m)
	}
	if m.Validation != "pass" {
		t.Errorf("validation %q, want pass after cleanup (ufw is enabled, version set)", m.Validation)
	}
	requireNothingLeft(t)

	logPlain(t, r)
	logTerminal(t, rows, r)

	pw := regexp.MustCompile(`mysql_app_password="([A-Za-z0-9]{16,})"`)
	var passwords []string
	var dpkgVersions map[string]string // on the first droplet booted from the snapshot
	names := []string{"lemp-a", "lemp-b"}
	var droplets []*testDroplet
	for _, name := range names {
		d := bootUnpinned(t, m.SnapshotID, name)
		droplets = append(droplets, d)
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
		if dpkgVersions == nil {
			dpkgVersions = map[string]string{}
			for _, pkg := range []string{"nginx", "mariadb-server", "php-fpm"} {
				v, err := d.run(t, "dpkg-query -W -f '${Version}' "+pkg)
				if err != nil {
					t.Fatalf("dpkg-query %s on the droplet: %v", pkg, err)
				}
				dpkgVersions[pkg] = strings.TrimSpace(v)
			}
		}
		if sshd, _ := d.run(t, "grep -c 'Please wait' /etc/ssh/sshd_config || true"); strings.TrimSpace(sshd) != "0" {
			t.Errorf("%s: the please-wait ForceCommand is still in sshd_config", name)
		}
	}
	if passwords[0] == passwords[1] {
		t.Fatalf("both droplets got the same database password")
	}
	checkSysprep(t, m, droplets, names)
	checkAttestations(t, m, manifest, sbomPath, provPath, dpkgVersions)
}

// logPlain checks the plain output of a successful build: no carriage
// return, each output once in the final block, no FAIL, the boot test's
// exemptions shown as expected, the verify script's line.
func logPlain(t *testing.T, r result) {
	t.Helper()
	all := r.stdout + r.stderr
	if strings.Contains(all, "\r") {
		t.Error("a carriage return reached the plain output")
	}
	if strings.Contains(all, "(Reading database ... 5%") {
		t.Error("dpkg's progress fragments reached the plain output")
	}
	if !strings.Contains(r.stdout, "[scripts/10-packages.sh] (Reading database ... ") {
		t.Error("dpkg's last fragment (the files installed) is not in the plain output")
	}
	for _, out := range []string{"snapshot-id", "snapshot-name", "snapshot-regions", "validation", "sbom", "provenance", "log"} {
		if n := count(strings.Split(r.stdout, "\n"), regexp.MustCompile("^"+out+"=")); n != 1 {
			t.Errorf("output %s is printed %d times, want once", out, n)
		}
	}
	if strings.Contains(all, "FAIL") {
		t.Errorf("a successful build prints FAIL:\n%s", grepLines(all, "FAIL"))
	}
	// One ==> level: the steps. Remote output may hold its own (dpkg's
	// conffile notes); the tool's lines below a step do not.
	step := regexp.MustCompile(`^\[[ 0-9:]+\] ==> `)
	remote := regexp.MustCompile(`^\[[^\]]*[a-z][^\]]*\] `)
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.Contains(l, "==> ") && !step.MatchString(l) && !remote.MatchString(l) {
			t.Errorf("==> below the step level: %q", l)
		}
	}
	wantAll(t, r.stdout,
		"EXPECTED  log-files",                           // the boot test's table
		"expected on a running droplet: pass",           // its totals
		"ok boot test (review simulation) (",            // its result line
		"skipped transfer and tag the snapshot: ",       // a reason for the skip
		"[verify/10-http.sh] LEMP 1-Click: nginx + PHP", // the verify script ran
		"database connected",
	)
}

// logTerminal checks the terminal's screen of the same build: the step list
// with results and the outputs, no raw apt line; and the log file, which
// holds the whole apt output (what the plain build printed of it).
func logTerminal(t *testing.T, rows []string, plain result) {
	t.Helper()
	screen := strings.Join(rows, "\n")
	for _, raw := range []string{"[apt]", "[scripts/", "Setting up", "Reading database", "[boot-test]"} {
		if strings.Contains(screen, raw) {
			t.Errorf("the screen holds a raw line %q:\n%s", raw, grepLines(screen, raw))
		}
	}
	wantRows(t, rows, "✓ check token, region, size and image (", "✓ apt update, full-upgrade, install (", "✓ provision (",
		"✓ Marketplace cleanup (", "✓ validate (Marketplace img_check rules) (", "✓ snapshot (",
		"✓ boot test (review simulation) (", "- skipped transfer and tag the snapshot: ", "snapshot-id=", "validation=pass")
	if strings.Contains(screen, "FAIL") || strings.Contains(screen, "✗") {
		t.Errorf("a successful build's screen shows a failure:\n%s", screen)
	}
	data, err := os.ReadFile(logPath(t, rows))
	if err != nil {
		t.Fatal(err)
	}
	log := string(data)
	if !strings.Contains(log, `[scripts/10-packages.sh] (Reading database ... \r(Reading database ... 5%\r`) {
		t.Error("the log file does not keep dpkg's carriage-return progress")
	}
	setUp := regexp.MustCompile(`\[(?:apt|scripts/10-packages\.sh)\] (Setting up|Unpacking) \S+`)
	inLog, inPlain := setUp.FindAllString(log, -1), setUp.FindAllString(plain.stdout, -1)
	sort.Strings(inLog)
	sort.Strings(inPlain)
	if len(inLog) < 50 || strings.Join(inLog, "\n") != strings.Join(inPlain, "\n") {
		t.Errorf("the log file's apt output (%d Setting up/Unpacking lines) differs from the plain build's (%d)", len(inLog), len(inPlain))
	}
	t.Logf("LEMP build: terminal screen %d rows, plain output %d lines, log file %d lines; the screen:\n%s",
		len(rows), strings.Count(plain.stdout+plain.stderr, "\n"), strings.Count(log, "\n"), screen)
}

// grepLines is the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
