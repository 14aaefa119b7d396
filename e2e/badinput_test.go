package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// TestBadInput: each mistake is a clear error naming the fix, and the
// emulator's ledger shows that no droplet was created.
func TestBadInput(t *testing.T) {
	if env.bin == "" {
		t.Skip("the binary is built only where local droplets can run: " + env.skip)
	}
	ctx := context.Background()
	srv, err := localcloud.Start(ctx, localcloud.Options{Token: "bad-input-token", TimeScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(ctx)
	g := testutil.Godo(srv.URL(), "bad-input-token")
	bigSnap := snapshotOn25GB(t, g)

	dir := t.TempDir()
	mk := func(name string, files map[string]string, modes map[string]os.FileMode) string {
		root := filepath.Join(dir, name)
		for p, body := range files {
			full := filepath.Join(root, p)
			os.MkdirAll(filepath.Dir(full), 0o755)
			mode := os.FileMode(0o755)
			if m, ok := modes[p]; ok {
				mode = m
			}
			if err := os.WriteFile(full, []byte(body), mode); err != nil {
				t.Fatal(err)
			}
		}
		os.MkdirAll(root, 0o755)
		return root
	}
	good := mk("good", map[string]string{"scripts/10-ok.sh": "#!/bin/sh\necho ok\n"}, nil)
	noShebang := mk("noshebang", map[string]string{"scripts/10-x.sh": "echo hi\n"}, nil)
	crlf := mk("crlf", map[string]string{"scripts/10-x.sh": "#!/bin/sh\r\necho hi\r\n"}, nil)
	notExec := mk("notexec", map[string]string{"per-instance/001_onboot": "#!/bin/sh\necho hi\n"}, map[string]os.FileMode{"per-instance/001_onboot": 0o644})
	empty := mk("empty", nil, nil)
	emptyScript := mk("emptyscript", map[string]string{"scripts/10-x.sh": ""}, nil)
	firstLogin := mk("firstlogin", map[string]string{"first-login/greet.sh": "#!/bin/sh\necho hi\n"}, nil)
	ansible := filepath.Join(dir, "ansible.json")
	os.WriteFile(ansible, []byte(`{"builders":[{"type":"digitalocean","image":"debian-12-x64","region":"nyc3","size":"s-1vcpu-1gb","ssh_username":"root","snapshot_name":"x"}],
"provisioners":[{"type":"ansible","playbook_file":"site.yml"}]}`), 0o644)

	ubuntuUser := filepath.Join(dir, "ubuntu-user.json")
	os.WriteFile(ubuntuUser, []byte(`{"builders":[{"type":"digitalocean","image":"debian-12-x64","region":"nyc3","size":"s-1vcpu-1gb","ssh_username":"ubuntu","snapshot_name":"x"}],
"provisioners":[{"type":"shell","inline":["true"]}]}`), 0o644)
	api := []string{"--api-url", srv.URL(), "--token", "bad-input-token", "--image", "debian-12-x64"}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string // in the error
	}{
		{"missing token", []string{"--api-url", srv.URL(), "--dir", good}, nil, "token"},
		{"neither dir nor template", api, nil, "dir"},
		{"dir and template", append([]string{"--dir", good, "--packer-template", ansible}, api...), nil, "packer-template"},
		{"missing dir", append([]string{"--dir", filepath.Join(dir, "nope")}, api...), nil, "does not exist"},
		{"dir is a file", append([]string{"--dir", ansible}, api...), nil, "not a folder"},
		{"empty dir", append([]string{"--dir", empty}, api...), nil, "empty"},
		{"unknown mode", append([]string{"--dir", good, "--mode", "build_all"}, api...), nil, "mode"},
		{"script without shebang", append([]string{"--dir", noShebang}, api...), nil, "shebang"},
		{"CRLF script", append([]string{"--dir", crlf}, api...), nil, "CRLF"},
		{"empty script", append([]string{"--dir", emptyScript}, api...), nil, "empty"},
		{"per-instance not executable", append([]string{"--dir", notExec}, api...), nil, "chmod +x"},
		{"first-login without vendor", append([]string{"--dir", firstLogin}, api...), nil, "vendor"},
		{"bad vendor name", append([]string{"--dir", firstLogin, "--vendor", "a b"}, api...), nil, "vendor"},
		{"malformed region", append([]string{"--dir", good, "--region", "Mars-1"}, api...), nil, "region"},
		{"unknown region", append([]string{"--dir", good, "--region", "abc9"}, api...), nil, "unknown region"},
		{"unknown size", append([]string{"--dir", good, "--size", "s-99vcpu"}, api...), nil, "unknown size"},
		{"unknown image", append([]string{"--dir", good, "--image", "windows-11"}, api[:4]...), nil, "unknown image"},
		{"size smaller than min disk", append([]string{"--dir", good, "--size", "s-1vcpu-512mb-10gb", "--image", bigSnap}, api[:4]...), nil, "needs at least"},
		{"invalid snapshot name", append([]string{"--dir", good, "--snapshot-name", "bad/name"}, api...), nil, "snapshot-name"},
		{"unknown fail-on", append([]string{"--dir", good, "--fail-on", "sometimes"}, api...), nil, "fail-on"},
		{"bad token", []string{"--dir", good, "--api-url", srv.URL(), "--token", "wrong-token"}, nil, "token was rejected"},
		{"unreachable API", []string{"--dir", good, "--api-url", "http://127.0.0.1:1/", "--token", "x", "--active-timeout", "5s"}, nil, "127.0.0.1:1"},
		{"API URL not http", []string{"--dir", good, "--api-url", "ftp://example.invalid/", "--token", "x"}, nil, "api-url"},
		{"unknown flag", append([]string{"--dir", good, "--colour", "blue"}, api...), nil, "colour"},
		{"bad boolean", append([]string{"--dir", good, "--keep-droplet=maybe"}, api...), nil, "keep-droplet"},
		{"negative timeout", append([]string{"--dir", good, "--active-timeout", "-1s"}, api...), nil, "timeout"},
		{"ansible template", append([]string{"--packer-template", ansible}, api...), nil, "ansible"},
		{"missing template", append([]string{"--packer-template", filepath.Join(dir, "none.json")}, api...), nil, "none.json"},
		{"var without =", append([]string{"--packer-template", ansible, "--var", "novalue"}, api...), nil, "var"},
		{"unknown snapshot region", append([]string{"--dir", good, "--snapshot-regions", "nyc3,atlantis9"}, api...), nil, "atlantis9"},
		{"non-root ssh-user", append([]string{"--dir", good, "--ssh-user", "admin"}, api...), nil, "ssh-user is \"admin\": only root is supported"},
		{"template's non-root ssh_username", append([]string{"--packer-template", ubuntuUser}, api...), nil, "the template's ssh_username is \"ubuntu\""},
		{"secret-env not set", append([]string{"--dir", good, "--secret-env", "NOT_SET_ANYWHERE"}, api...), nil, "secret-env NOT_SET_ANYWHERE is not set"},
		{"token from env is checked too", []string{"--dir", good, "--api-url", srv.URL()}, map[string]string{"DIGITALOCEAN_TOKEN": "wrong"}, "token was rejected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Ledger().Count(localcloud.KindDroplet)
			r := runBin(t, tc.env, append([]string{"build"}, tc.args...)...)
			if r.code == 0 {
				t.Fatalf("exit 0, want an error")
			}
			msg := strings.TrimSpace(r.stderr)
			if !strings.Contains(strings.ToLower(msg), strings.ToLower(tc.want)) {
				t.Fatalf("error does not mention %q:\n%s", tc.want, msg)
			}
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "mp-image: ") {
					t.Errorf("error line without the mp-image: prefix: %q", line)
				}
			}
			if strings.Contains(r.stdout+r.stderr, "bad-input-token") {
				t.Fatal("the token appears in the output")
			}
			if n := srv.Ledger().Count(localcloud.KindDroplet); n != before {
				t.Fatalf("%d droplet(s) created for bad input", n-before)
			}
		})
	}
	if len(cases) < 25 {
		t.Fatalf("only %d cases", len(cases))
	}
}

// snapshotOn25GB makes a snapshot whose min_disk_size is 25 GB, on the
// API-only emulator.
func snapshotOn25GB(t *testing.T, g *godo.Client) string {
	return snapshotOfBase(t, g, "big", 10*time.Second)
}

// snapshotOfBase snapshots a droplet of debian-12-x64 as it comes (no
// application.info, nothing mp-image made), powered off as a snapshot
// wants, and deletes the droplet.
func snapshotOfBase(t *testing.T, g *godo.Client, name string, wait time.Duration) string {
	t.Helper()
	ctx := context.Background()
	d, _, err := g.Droplets.Create(ctx, &godo.DropletCreateRequest{Name: name, Region: "nyc3", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Droplets.Delete(ctx, d.ID)
	for end := time.Now().Add(wait); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if d, _, err = g.Droplets.Get(ctx, d.ID); err == nil && d.Status == "active" && !d.Locked {
			break
		}
	}
	do := func(what string, a *godo.Action, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for end := time.Now().Add(wait); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			got, _, err := g.Actions.Get(ctx, a.ID)
			if err == nil && got.Status == "completed" {
				return
			}
			if err == nil && got.Status == "errored" {
				t.Fatalf("%s of droplet %d errored", what, d.ID)
			}
		}
		t.Fatalf("%s of droplet %d not done in %s", what, d.ID, wait)
	}
	a, _, err := g.DropletActions.PowerOff(ctx, d.ID)
	do("power off", a, err)
	a, _, err = g.DropletActions.Snapshot(ctx, d.ID, name+"-snap")
	do("snapshot", a, err)
	snaps, _, err := g.Droplets.Snapshots(ctx, d.ID, nil)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots: %v %v", snaps, err)
	}
	return itoa(snaps[0].ID)
}
