// Package e2e drives the local cloud with DigitalOcean's own godo client against real nspawn machines.
package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/godo"
	"golang.org/x/crypto/ssh"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
	"github.com/mp-image-action/mp-image-action/internal/localcloud/nspawn"
	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// cloud is the one emulator with real machines every test here shares:
// starting a backend and its proxy per test would only slow them down.
var cloud struct {
	skip    string // why machines cannot run here
	srv     *localcloud.Server
	backend *nspawn.Backend
	token   string
	apiURL  string // the server, or Prism validating in front of it
	prism   *prism // nil when conformance is not checked
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if err := nspawn.Available(); err != nil {
		cloud.skip = err.Error()
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	b, err := nspawn.New(ctx, nspawn.Options{Logf: logf})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: nspawn backend: %v\n", err)
		return 1
	}
	prefix, state := b.Prefix(), b.StateDir()
	if err := b.EnsureBaseImage(ctx, "debian-12-x64"); err != nil {
		_ = b.Close(context.Background())
		fmt.Fprintf(os.Stderr, "e2e: base image: %v\n", err)
		return 1
	}
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	cloud.token = hex.EncodeToString(raw)
	// The API's modelled delays are shortened; the machines' own are real.
	srv, err := localcloud.Start(ctx, localcloud.Options{Token: cloud.token, Machines: b, TimeScale: 0.01, Logf: logf})
	if err != nil {
		_ = b.Close(context.Background())
		fmt.Fprintf(os.Stderr, "e2e: start local cloud: %v\n", err)
		return 1
	}
	cloud.srv, cloud.backend, cloud.apiURL = srv, b, srv.URL()
	p, err := startPrism(ctx, srv.URL())
	switch {
	case err != nil:
		_ = srv.Close(context.Background())
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	case p != nil:
		cloud.prism, cloud.apiURL = p, p.url
		defer p.stop()
	}
	code := m.Run()
	if p != nil {
		if os.Getenv("MP_PRISM_LOG") != "" {
			p.mu.Lock()
			_ = os.WriteFile(os.Getenv("MP_PRISM_LOG"), p.out.Bytes(), 0o644)
			p.mu.Unlock()
		}
		if v := p.violations(); v != "" {
			fmt.Fprintf(os.Stderr, "e2e: Prism found OpenAPI violations:\n%s\n", v)
			code = 1
		}
	}
	// Server.Close deletes every droplet and closes the backend.
	if err := srv.Close(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: close: %v\n", err)
		code = 1
	}
	if left := nspawn.Leftovers(prefix, state); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: after Close, still on the host:\n%s\n", strings.Join(left, "\n"))
		code = 1
	}
	return code
}

func needCloud(t testing.TB) *godo.Client {
	t.Helper()
	if cloud.skip != "" {
		t.Skipf("skipping: end-to-end tests boot real systemd-nspawn machines: %s", cloud.skip)
	}
	c := godo.NewFromToken(cloud.token)
	if cloud.prism == nil {
		t.Logf("conformance NOT checked: %s", prismSkipReason())
	}
	u, err := url.Parse(cloud.apiURL)
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

// perInstanceScript records which instance ran it; cloud-init runs it once
// per instance-id.
const perInstanceScript = "#!/bin/sh\ncat /var/lib/cloud/data/instance-id >> /root/per-instance-ran\n"

func TestDropletSnapshotRoundTrip(t *testing.T) {
	c := needCloud(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	signer, authorized := newKey(t)
	key, _, err := c.Keys.Create(ctx, &godo.KeyCreateRequest{Name: "e2e", PublicKey: authorized})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	d1, _, err := c.Droplets.Create(ctx, &godo.DropletCreateRequest{
		Name: "e2e-build", Region: "nyc3", Size: "s-1vcpu-1gb",
		Image:    godo.DropletCreateImage{Slug: "debian-12-x64"},
		SSHKeys:  []godo.DropletCreateSSHKey{{ID: key.ID}},
		Tags:     []string{"e2e"},
		UserData: "#cloud-config\nwrite_files:\n  - path: /root/from-user-data\n    content: \"user_data ran\\n\"\n",
	})
	if err != nil {
		t.Fatalf("create droplet: %v", err)
	}
	d1 = waitStatus(ctx, t, c, d1.ID, "active")
	ip1, err := d1.PublicIPv4()
	if err != nil || ip1 == "" {
		t.Fatalf("droplet %d has no public IPv4: %v", d1.ID, err)
	}

	ssh1, _ := testutil.DialRoot(ctx, t, ip1, signer)
	if state := testutil.SystemState(t, ssh1); state != "running" {
		t.Errorf("systemctl is-system-running: %s", state)
	}
	if out, err := testutil.SSHRun(ssh1, "cat /root/from-user-data"); err != nil || strings.TrimSpace(out) != "user_data ran" {
		t.Errorf("user_data did not run: %q %v", out, err)
	}
	instance1, _ := testutil.SSHRun(ssh1, "cat /var/lib/cloud/data/instance-id")
	place := fmt.Sprintf("mkdir -p /var/lib/cloud/scripts/per-instance && printf '%%s' '%s' > /var/lib/cloud/scripts/per-instance/mark.sh && chmod +x /var/lib/cloud/scripts/per-instance/mark.sh", perInstanceScript)
	if _, err := testutil.SSHRun(ssh1, place); err != nil {
		t.Fatalf("place per-instance script: %v", err)
	}
	ssh1.Close()

	a, _, err := c.DropletActions.Shutdown(ctx, d1.ID)
	if err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	waitAction(ctx, t, c, d1.ID, a.ID)
	waitStatus(ctx, t, c, d1.ID, "off")
	if cloud.backend.Running(d1.ID) {
		t.Fatal("API says off but the machine still runs")
	}

	a, _, err = c.DropletActions.Snapshot(ctx, d1.ID, "e2e-snapshot")
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	waitAction(ctx, t, c, d1.ID, a.ID)
	snaps, _, err := c.Droplets.Snapshots(ctx, d1.ID, nil)
	if err != nil || len(snaps) != 1 || snaps[0].Name != "e2e-snapshot" {
		t.Fatalf("droplet snapshots = %+v, %v; want one named e2e-snapshot", snaps, err)
	}
	snap := snaps[0]
	if snap.SizeGigaBytes <= 0 {
		t.Errorf("snapshot size_gigabytes = %v, want the used size", snap.SizeGigaBytes)
	}

	d2, _, err := c.Droplets.Create(ctx, &godo.DropletCreateRequest{
		Name: "e2e-from-snapshot", Region: "nyc3", Size: "s-1vcpu-1gb",
		Image:   godo.DropletCreateImage{ID: snap.ID},
		SSHKeys: []godo.DropletCreateSSHKey{{Fingerprint: key.Fingerprint}},
	})
	if err != nil {
		t.Fatalf("create droplet from snapshot %d: %v", snap.ID, err)
	}
	d2 = waitStatus(ctx, t, c, d2.ID, "active")
	ip2, _ := d2.PublicIPv4()
	ssh2, _ := testutil.DialRoot(ctx, t, ip2, signer)
	if state := testutil.SystemState(t, ssh2); state != "running" {
		t.Errorf("systemctl is-system-running on the snapshot's droplet: %s", state)
	}
	instance2, _ := testutil.SSHRun(ssh2, "cat /var/lib/cloud/data/instance-id")
	ran, err := testutil.SSHRun(ssh2, "cat /root/per-instance-ran")
	if err != nil || strings.TrimSpace(ran) != strings.TrimSpace(instance2) || instance2 == instance1 {
		t.Errorf("per-instance script: ran by %q (%v); new instance %q, old %q: want exactly one run by the new one", ran, err, instance2, instance1)
	}
	ssh2.Close()

	for _, id := range []int{d1.ID, d2.ID} {
		if _, err := c.Droplets.Delete(ctx, id); err != nil {
			t.Errorf("delete droplet %d: %v", id, err)
		}
	}
	if _, err := c.Snapshots.Delete(ctx, strconv.Itoa(snap.ID)); err != nil {
		t.Errorf("delete snapshot: %v", err)
	}
	if _, err := c.Keys.DeleteByID(ctx, key.ID); err != nil {
		t.Errorf("delete key: %v", err)
	}
	// Deletes finish in the background: the machines' namespaces must go.
	for _, id := range []int{d1.ID, d2.ID} {
		ns := filepath.Join("/run/netns", cloud.backend.Prefix()+"-"+strconv.Itoa(id))
		waitFor(ctx, t, "netns "+ns+" removed", func() bool { _, err := os.Stat(ns); return os.IsNotExist(err) })
	}
	if left, _, err := c.Droplets.ListByTag(ctx, "e2e", nil); err != nil || len(left) != 0 {
		t.Errorf("droplets left: %d %v", len(left), err)
	}
}

func waitFor(ctx context.Context, t testing.TB, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func waitStatus(ctx context.Context, t testing.TB, c *godo.Client, id int, status string) *godo.Droplet {
	t.Helper()
	var d *godo.Droplet
	waitFor(ctx, t, fmt.Sprintf("droplet %d %s", id, status), func() bool {
		var err error
		d, _, err = c.Droplets.Get(ctx, id)
		if err != nil {
			t.Fatalf("get droplet %d: %v", id, err)
		}
		return d.Status == status
	})
	return d
}

func waitAction(ctx context.Context, t testing.TB, c *godo.Client, dropletID, actionID int) {
	t.Helper()
	waitFor(ctx, t, fmt.Sprintf("action %d", actionID), func() bool {
		a, _, err := c.DropletActions.Get(ctx, dropletID, actionID)
		if err != nil {
			t.Fatalf("get action %d: %v", actionID, err)
		}
		if a.Status == "errored" {
			t.Fatalf("action %d (%s) errored", actionID, a.Type)
		}
		return a.Status == "completed"
	})
}

func newKey(t testing.TB) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

// BenchmarkPostToSSH is what a build waits for: POST /v2/droplets until
// root's SSH login on the droplet's public address works.
//
//	go test -run '^$' -bench PostToSSH -benchtime 3x ./internal/localcloud/e2e/
func BenchmarkPostToSSH(bm *testing.B) {
	c := needCloud(bm)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	signer, authorized := newKey(bm)
	key, _, err := c.Keys.Create(ctx, &godo.KeyCreateRequest{Name: "bench", PublicKey: authorized})
	if err != nil {
		bm.Fatal(err)
	}
	var total time.Duration
	var pss int64
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		start := time.Now()
		d, _, err := c.Droplets.Create(ctx, &godo.DropletCreateRequest{
			Name: fmt.Sprintf("bench-%d", i), Region: "nyc3", Size: "s-1vcpu-512mb-10gb",
			Image: godo.DropletCreateImage{Slug: "debian-12-x64"}, SSHKeys: []godo.DropletCreateSSHKey{{ID: key.ID}},
		})
		if err != nil {
			bm.Fatal(err)
		}
		d = waitStatus(ctx, bm, c, d.ID, "active")
		ip, _ := d.PublicIPv4()
		s, _ := testutil.DialRoot(ctx, bm, ip, signer)
		total += time.Since(start)
		bm.StopTimer()
		if i == bm.N-1 {
			_, _ = testutil.SSHRun(s, "cloud-init status --wait")
			time.Sleep(3 * time.Second)
			if pss, err = cloud.backend.MemoryPSS(d.ID); err != nil {
				bm.Fatal(err)
			}
		}
		s.Close()
		if _, err := c.Droplets.Delete(ctx, d.ID); err != nil {
			bm.Fatal(err)
		}
		ns := filepath.Join("/run/netns", cloud.backend.Prefix()+"-"+strconv.Itoa(d.ID))
		waitFor(ctx, bm, "netns "+ns+" removed", func() bool { _, err := os.Stat(ns); return os.IsNotExist(err) })
		bm.StartTimer()
	}
	bm.ReportMetric(float64(total.Milliseconds())/float64(bm.N), "ms-POST-to-SSH")
	bm.ReportMetric(float64(pss)/(1<<20), "MB-PSS/idle-machine")
	_, _ = c.Keys.DeleteByID(ctx, key.ID)
}
