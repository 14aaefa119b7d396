package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/digitalocean/godo"
)

// TestExistingHost provisions a server that already exists over SSH with a
// given key (the Fabric `fab build_image -H IP` flow), with no API token and
// no droplet created; a second build_image on the same server is refused by
// the marker unless --force.
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
}
