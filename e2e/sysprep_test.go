package e2e

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/digitalocean/godo"
	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/imagecheck"
	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/remote"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/testutil/cloudenv"
)

// bootUnpinned creates a droplet from image with no host key in its
// user_data, so it makes its own host keys as a customer's droplet does; the
// test reads them instead of pinning one (the machine is on this host's own
// bridge: no one can be in the middle).
func bootUnpinned(t *testing.T, image int, name string) *testDroplet {
	t.Helper()
	d := cloudenv.BootUnpinned(t, env.godo, godo.DropletCreateImage{ID: image}, name)
	return &testDroplet{id: d.ID, ip: d.IP, signer: d.Key.Signer, key: d.Key}
}

// runInput runs cmd on the droplet with stdin, so what the test searches for
// never appears on the droplet's command lines.
func (d *testDroplet) runInput(t *testing.T, cmd, stdin string) (string, error) {
	t.Helper()
	if _, err := d.run(t, "true"); err != nil {
		return "", err
	}
	s, err := d.client.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	s.Stdin = strings.NewReader(stdin)
	out, err := s.CombinedOutput(cmd)
	return string(out), err
}

// runSecrets is what a build run handed out that must never be on a disk:
// the private host keys its droplets' user_data carried (every droplet
// tagged with the run), the user_data lines themselves, and the token.
type runSecrets struct {
	patterns []string            // fixed strings to grep for
	hostKeys map[string]bool     // SHA256 fingerprints of the pinned host keys
	keys     map[string]bool     // MD5 fingerprints of the run's account keys
	names    map[string]string   // pattern -> what it is, for messages
	userData map[int]string      // droplet id -> its user_data
	records  []localcloud.Record // the run's droplets
}

func secretsOfRun(t *testing.T, runID string) runSecrets {
	t.Helper()
	rs := runSecrets{hostKeys: map[string]bool{}, keys: map[string]bool{}, names: map[string]string{}, userData: map[int]string{}}
	add := func(p, what string) {
		if _, dup := rs.names[p]; !dup {
			rs.names[p] = what
			rs.patterns = append(rs.patterns, p)
		}
	}
	add(env.token, "the API token")
	// Lines every OpenSSH ed25519 private key shares (format header, key type).
	common := map[string]bool{}
	ref, err := remote.NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(ref.PrivateKeyPEM()), "\n") {
		common[strings.TrimSpace(l)] = true
	}
	for _, r := range env.srv.Ledger().All() {
		switch {
		case r.Kind == localcloud.KindDroplet && hasTag(r.Tags, "mp-image-run-"+runID):
			rs.records = append(rs.records, r)
			ud, ok := env.srv.UserData(atoi(r.ID))
			if !ok || ud == "" {
				t.Fatalf("droplet %s of run %s: the emulator has no user_data for it", r.ID, runID)
			}
			rs.userData[atoi(r.ID)] = ud
			// The secret in user_data is the host key's private half: its PEM
			// body lines, less those every key of its kind shares.
			inKey := false
			for _, l := range strings.Split(ud, "\n") {
				l = strings.TrimSpace(l)
				switch {
				case strings.HasPrefix(l, "-----BEGIN"):
					inKey = true
				case strings.HasPrefix(l, "-----END"):
					inKey = false
				case inKey && len(l) >= 20 && !common[l]:
					add(l, fmt.Sprintf("a line of droplet %s's user_data", r.ID))
				}
			}
			rest := []byte(ud)
			for {
				var block *pem.Block
				i := strings.Index(string(rest), "-----BEGIN")
				if i < 0 {
					break
				}
				// user_data indents the PEM in YAML: undo it to decode.
				block, rest = pem.Decode([]byte(dedent(string(rest[i:]))))
				if block == nil {
					break
				}
				raw, err := ssh.ParseRawPrivateKey(pem.EncodeToMemory(block))
				if err != nil {
					t.Fatalf("droplet %s's user_data holds a PEM block that is no private key: %v", r.ID, err)
				}
				signer, err := ssh.NewSignerFromKey(raw)
				if err != nil {
					t.Fatal(err)
				}
				rs.hostKeys[ssh.FingerprintSHA256(signer.PublicKey())] = true
			}
		case r.Kind == localcloud.KindKey && strings.HasPrefix(r.Name, "mp-image-") && strings.Contains(r.Name, runID):
			rs.keys[r.Fingerprint] = true
		}
	}
	if len(rs.records) == 0 || len(rs.hostKeys) == 0 || len(rs.keys) == 0 {
		t.Fatalf("run %s: found %d droplets, %d pinned host keys, %d account keys in the emulator; want at least one each", runID, len(rs.records), len(rs.hostKeys), len(rs.keys))
	}
	return rs
}

func hasTag(tags []string, tag string) bool {
	for _, x := range tags {
		if x == tag {
			return true
		}
	}
	return false
}

// dedent strips the indentation of every line by that of the first.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	var out []string
	for _, l := range lines {
		out = append(out, strings.TrimLeft(l, " "))
	}
	return strings.Join(out, "\n")
}

// scanDisk greps every file of the droplet's disk (its root file system and
// any other writable disk-backed mount, as a snapshot would hold them) for
// the run's secrets, and parses every private key file it finds: none may be
// the build's key or a pinned host key.
func scanDisk(t *testing.T, d *testDroplet, name string, rs runSecrets) {
	t.Helper()
	const grepAll = `set -e; p=$(mktemp /dev/shm/e2e-scan.XXXXXX); trap 'rm -f "$p"' EXIT; cat > "$p"
find / -xdev -type f -print0 | xargs -0 -r grep -l -F -f "$p" -- 2>/dev/null || true`
	out, err := d.runInput(t, grepAll, strings.Join(rs.patterns, "\n")+"\n")
	if err != nil {
		t.Fatalf("%s: grep the disk: %v\n%s", name, err, out)
	}
	for _, f := range strings.Fields(out) {
		t.Errorf("%s: %s holds the build's secrets (the token, a pinned host key or user_data)", name, f)
	}
	keys, err := d.run(t, `find / -xdev -type f -size -64k -print0 | xargs -0 -r grep -l -Z -- 'PRIVATE KEY-----' 2>/dev/null | xargs -0 -r -n 1 sh -c 'printf "@@file %s\n" "$1"; cat "$1"' sh || true`)
	if err != nil {
		t.Fatalf("%s: look for private keys: %v", name, err)
	}
	for _, part := range strings.Split(keys, "@@file ")[1:] {
		file, body, _ := strings.Cut(part, "\n")
		rest := []byte(body)
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			raw, err := ssh.ParseRawPrivateKey(pem.EncodeToMemory(block))
			if err != nil {
				continue // documentation examples and the like
			}
			signer, err := ssh.NewSignerFromKey(raw)
			if err != nil {
				continue
			}
			pub := signer.PublicKey()
			if rs.hostKeys[ssh.FingerprintSHA256(pub)] {
				t.Errorf("%s: %s holds the private half of a host key the build pinned through user_data", name, file)
			}
			if rs.keys[ssh.FingerprintLegacyMD5(pub)] {
				t.Errorf("%s: %s holds the private half of the build's own key", name, file)
			}
		}
	}
}

var machineIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// checkSysprep is issue 19's proof on two droplets booted from one snapshot:
// each has its own machine-id and host keys, and neither holds the build's
// user_data, keys or token, nor the tool's marker, anywhere on its disk.
func checkSysprep(t *testing.T, m *report.Manifest, ds []*testDroplet, names []string) {
	t.Helper()
	rs := secretsOfRun(t, m.RunID)
	ids := map[string]string{}
	hostKeys := map[string]string{}
	for i, d := range ds {
		name := names[i]
		id, err := d.run(t, "cat /etc/machine-id")
		id = strings.TrimSpace(id)
		if err != nil || !machineIDRe.MatchString(id) {
			t.Errorf("%s: /etc/machine-id = %q (%v): want the droplet's own ID, made at its first boot", name, id, err)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s and %s have the same machine-id: the image carried it", other, name)
		}
		ids[id] = name
		pubs, err := d.run(t, "cat /etc/ssh/ssh_host_*_key.pub")
		if err != nil || strings.TrimSpace(pubs) == "" {
			t.Errorf("%s: host keys: %q (%v)", name, pubs, err)
		}
		for _, l := range strings.Split(strings.TrimSpace(pubs), "\n") {
			pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(l))
			if err != nil {
				t.Errorf("%s: host key line %q: %v", name, l, err)
				continue
			}
			fp := ssh.FingerprintSHA256(pk)
			if other, dup := hostKeys[fp]; dup {
				t.Errorf("%s and %s share the host key %s: the image carried it", other, name, fp)
			}
			if rs.hostKeys[fp] {
				t.Errorf("%s presents the host key the build pinned (%s)", name, fp)
			}
			hostKeys[fp] = name
		}
		if out, _ := d.run(t, "for p in /var/lib/mp-image /run/mp-image; do test -e $p && echo $p; done; true"); strings.TrimSpace(out) != "" {
			t.Errorf("%s: the tool's marker came with the image: %s", name, out)
		}
		scanDisk(t, d, name, rs)
	}
	t.Logf("%d droplets from snapshot %d: own machine-ids and host keys; none holds the token, the %d pinned host keys, the build key or %d droplets' user_data",
		len(ds), m.SnapshotID, len(rs.hostKeys), len(rs.userData))
}

// TestSecretScanFixture is issue 19's secret-scan fixture: a recipe script
// keeps the token, passed as a secret env value, in /opt/app/config.
// Validation FAILs naming /opt/app/config (and which secrets, never their
// values), no snapshot is created, and the value appears in no output or
// file; with skip-cleanup (no validation) the search still runs and still
// stops the snapshot. (Two droplets, deleted at the end: about four minutes.)
func TestSecretScanFixture(t *testing.T) {
	need(t)
	requireNothingLeft(t)
	snapshots := func() int {
		n := 0
		for _, r := range env.srv.Ledger().All() {
			if r.Kind == localcloud.KindSnapshot {
				n++
			}
		}
		return n
	}
	snaps0 := snapshots()
	recipe := writeRecipe(t, map[string]string{"scripts/10-keep-token": "#!/bin/sh\nset -e\nmkdir -p /opt/app\n" +
		"printf 'API_TOKEN=%s\\n' \"$APP_TOKEN\" > /opt/app/config\n"})
	dir := t.TempDir()
	reportPath, manifest := filepath.Join(dir, "report.json"), filepath.Join(dir, "manifest.json")
	r := runBin(t, map[string]string{"APP_TOKEN": env.token}, append([]string{"build", "--dir", recipe, "--secret-env", "APP_TOKEN",
		"--report", reportPath, "--manifest", manifest}, apiArgs()...)...)
	if r.code == 0 {
		t.Fatal("the build succeeded with the token in /opt/app/config")
	}
	if !strings.Contains(r.stderr, "/opt/app/config") || !strings.Contains(r.stderr, "no snapshot is taken") {
		t.Errorf("stderr does not name /opt/app/config and say no snapshot is taken:\n%s", r.stderr)
	}
	raw, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep imagecheck.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	var got *imagecheck.Result
	for i := range rep.Results {
		if rep.Results[i].ID == imagecheck.SecretsID {
			got = &rep.Results[i]
		}
	}
	if got == nil || got.Status != imagecheck.Fail || len(got.Details) == 0 ||
		got.Details[0] != "/opt/app/config: the API token, secret-env APP_TOKEN" {
		t.Fatalf("the report's %s result = %+v, want FAIL naming /opt/app/config first", imagecheck.SecretsID, got)
	}
	if n := snapshots(); n != snaps0 {
		t.Errorf("%d snapshot(s) were created", n-snaps0)
	}
	m, err := report.ReadManifest(manifest)
	if err != nil || m.SnapshotID != 0 {
		t.Errorf("manifest: %v, snapshot %d: want none", err, m.SnapshotID)
	}
	mf, _ := os.ReadFile(manifest)
	checkNoSecrets(t, r.stdout, r.stderr, string(raw), string(mf))
	requireNothingLeft(t)

	// skip-cleanup skips cleanup and validation (a template cleans and
	// validates itself), never this search: the same recipe still gets no
	// snapshot.
	r = runBin(t, map[string]string{"APP_TOKEN": env.token}, append([]string{"build", "--dir", recipe, "--secret-env", "APP_TOKEN",
		"--skip-cleanup", "--boot-test=false"}, apiArgs()...)...)
	if r.code == 0 {
		t.Fatal("with skip-cleanup, the build succeeded with the token in /opt/app/config")
	}
	if !strings.Contains(r.stderr, "/opt/app/config") || !strings.Contains(r.stderr, "no snapshot is taken") {
		t.Errorf("with skip-cleanup, stderr does not name /opt/app/config and say no snapshot is taken:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "search the disk for the build's secrets") {
		t.Errorf("with skip-cleanup, the output does not show the search as a step:\n%s", tail(r.stdout, 20))
	}
	if n := snapshots(); n != snaps0 {
		t.Errorf("with skip-cleanup, %d snapshot(s) were created", n-snaps0)
	}
	checkNoSecrets(t, r.stdout, r.stderr)
	requireNothingLeft(t)
}
