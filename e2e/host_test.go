package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/pipeline"
	"github.com/mp-image-action/mp-image-action/internal/report"
	"github.com/mp-image-action/mp-image-action/internal/shell"
)

// TestExistingHost provisions a server that already exists over SSH with a
// given key (the Fabric `fab build_image -H IP` flow), with no API token and
// no droplet created; a second build_image on the same server is refused by
// the marker unless --force, and after a build_image (whose cleanup takes
// the marker off the disk) as long as the server runs.
func TestExistingHost(t *testing.T) {
	need(t)
	d := boot(t, godo.DropletCreateImage{Slug: "debian-12-x64"}, "existing-host")
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := d.key.WritePrivateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	before := env.srv.Ledger().Count("droplet")
	r := runBin(t, nil, "build", "--host", d.ip, "--ssh-key", keyFile, "--mode", "build_base", "--dir", "examples/hello-first-login", "--vendor", "hello")
	if r.code != 0 {
		t.Fatalf("build_base --host exited %d", r.code)
	}
	out, err := d.run(t, "cat /opt/hello/greeting.sh /var/lib/mp-image/provisioned && ufw status")
	if err != nil || !strings.Contains(out, "Welcome to your Hello") || !strings.Contains(out, "Status: active") {
		t.Fatalf("the server was not provisioned: %v\n%s", err, out)
	}
	if n := env.srv.Ledger().Count("droplet"); n != before {
		t.Fatalf("a --host build created %d droplet(s)", n-before)
	}
	r = runBin(t, nil, "build", "--host", d.ip, "--ssh-key", keyFile, "--mode", "build_image", "--secure-erase=false", "--dir", "examples/hello-first-login", "--vendor", "hello")
	if r.code == 0 || !strings.Contains(r.stderr, "already provisioned") || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("second build_image on the same host: exit %d, want a refusal naming --force:\n%s", r.code, r.stderr)
	}

	// build_image --force cleans the server as for an image: the marker leaves
	// the disk (no snapshot of it can hold it) for /run, and the server still
	// refuses another build_image while it runs.
	r = runBin(t, nil, "build", "--host", d.ip, "--ssh-key", keyFile, "--mode", "build_image", "--force", "--secure-erase=false", "--dir", "examples/hello-first-login", "--vendor", "hello")
	if r.code != 0 {
		t.Fatalf("build_image --force on the host exited %d", r.code)
	}
	out, err = d.run(t, "test -e /var/lib/mp-image && echo still on disk; cat /run/mp-image/provisioned")
	if strings.Contains(out, "still on disk") || !strings.HasPrefix(out, "run ") {
		t.Fatalf("after build_image's cleanup: %v\n%s\nwant the marker gone from the disk and kept in /run", err, out)
	}
	// The cleanup removed root's keys and the host keys, as an image must not
	// carry them: the server's owner puts keys back to log in again.
	if out, err := d.run(t, "ssh-keygen -A && install -d -m 700 /root/.ssh && printf '%s\\n' "+shell.Quote(d.key.AuthorizedKey)+" > /root/.ssh/authorized_keys"); err != nil {
		t.Fatalf("restore keys: %v\n%s", err, out)
	}
	r = runBin(t, nil, "build", "--host", d.ip, "--ssh-key", keyFile, "--mode", "build_image", "--secure-erase=false", "--dir", "examples/hello-first-login", "--vendor", "hello")
	if r.code == 0 || !strings.Contains(r.stderr, "already provisioned") {
		t.Fatalf("build_image after a build_image on the same running host: exit %d, want a refusal:\n%s", r.code, r.stderr)
	}

	// With DIGITALOCEAN_TOKEN exported (as many CI setups do), --host is
	// Fabric's build_image to its end: the droplet at that address is
	// cleaned, validated, powered off and snapshotted, and never deleted.
	// An address no droplet of the account has stops the build first.
	tokenEnv := map[string]string{"DIGITALOCEAN_TOKEN": env.token}
	r = runBin(t, tokenEnv, "build", "--api-url", env.srv.URL(), "--host", "192.0.2.99", "--ssh-key", keyFile,
		"--secure-erase=false", "--dir", "examples/hello-first-login", "--vendor", "hello")
	if r.code == 0 || !strings.Contains(r.stderr, "no droplet in this account has the address 192.0.2.99") || strings.Contains(r.stdout, "connect over SSH") {
		t.Fatalf("--host with a token at an address no droplet has: exit %d, want a clear error before connecting:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	manifest := filepath.Join(t.TempDir(), "manifest.json")
	r = runBin(t, tokenEnv, "build", "--api-url", env.srv.URL(), "--host", d.ip, "--ssh-key", keyFile, "--force",
		"--secure-erase=false", "--boot-test=false", "--dir", "examples/hello-first-login", "--vendor", "hello", "--manifest", manifest)
	if r.code != 0 {
		t.Fatalf("build_image --host with DIGITALOCEAN_TOKEN exited %d", r.code)
	}
	m, err := report.ReadManifest(manifest)
	if err != nil || m.SnapshotID == 0 {
		t.Fatalf("no snapshot in the manifest: %v %+v", err, m)
	}
	t.Cleanup(func() { env.godo.Images.Delete(context.Background(), m.SnapshotID) })
	var img *godo.Image
	img, _, err = env.godo.Images.GetByID(context.Background(), m.SnapshotID)
	if err != nil {
		t.Fatalf("snapshot %d: %v", m.SnapshotID, err)
	}
	if _, pending := pipeline.PendingRun(img.Tags); pending {
		t.Errorf("snapshot %d is still marked pending: %v", img.ID, img.Tags)
	}
	got, _, err := env.godo.Droplets.Get(context.Background(), d.id)
	if err != nil {
		t.Fatalf("the --host droplet %d is gone: %v", d.id, err)
	}
	if got.Status != "off" {
		t.Errorf("the --host droplet is %q after the build, want off (as after Fabric's build_image)", got.Status)
	}
	if n := env.srv.Ledger().Count("droplet"); n != before {
		t.Fatalf("a --host build created %d droplet(s)", n-before)
	}
}
