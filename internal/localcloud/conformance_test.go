package localcloud

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/testutil"
)

// prismVersion is the pinned @stoplight/prism-cli release the conformance test runs.
const prismVersion = "5.16.0"

// prismBin returns the pinned Prism, installing it into the user cache once.
func prismBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MP_PRISM_BIN"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skipf("skipping: no home directory for the Prism cache: %v", err)
	}
	prefix := filepath.Join(home, ".cache", "mp-image", "prism")
	bin := filepath.Join(prefix, "node_modules", ".bin", "prism")
	if out, err := exec.Command(bin, "--version").Output(); err == nil && strings.TrimSpace(string(out)) == prismVersion {
		return bin
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("skipping: npm is not installed, so Prism cannot be installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Logf("installing @stoplight/prism-cli@%s into %s", prismVersion, prefix)
	if out, err := exec.CommandContext(ctx, "npm", "install", "--prefix", prefix, "@stoplight/prism-cli@"+prismVersion).CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot install Prism (%v): %s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// violationRecorder notes every answer Prism marks as a violation.
type violationRecorder struct {
	mu    sync.Mutex
	found []string
	base  http.RoundTripper
}

func (v *violationRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := v.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	viol := resp.Header.Get("sl-violations")
	var body []byte
	if strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		if !strings.Contains(string(body), "prism/errors") {
			body = nil
		}
	}
	if viol != "" || body != nil {
		v.mu.Lock()
		v.found = append(v.found, fmt.Sprintf("%s %s -> %d: %s %s", r.Method, r.URL.Path, resp.StatusCode, viol, body))
		v.mu.Unlock()
	}
	return resp, nil
}

// TestConformancePrism sends representative godo traffic through Prism
// validating against DigitalOcean's OpenAPI spec, and fails on any
// request or response violation. Opt in with MP_PRISM=1 (CI does).
func TestConformancePrism(t *testing.T) {
	if os.Getenv("MP_PRISM") != "1" {
		t.Skip("skipping: set MP_PRISM=1 to validate the emulator against the OpenAPI spec with Prism")
	}
	shared, err := testutil.SharedDir()
	if err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(shared, "data", "digitalocean-openapi.yaml")
	if _, err := os.Stat(spec); err != nil {
		t.Skipf("skipping: the OpenAPI spec is absent (%v); put the shared dir at ../shared or set MP_SHARED_DIR", err)
	}
	bin := prismBin(t)
	s, _ := startTest(t, nil)
	port := freePort(t)
	cmd := exec.Command(bin, "proxy", spec, strings.TrimSuffix(s.URL(), "/"), "--errors", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-v", "warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = cmd.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Skipf("skipping: cannot start Prism: %v", err)
	}
	var logMu sync.Mutex
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
		}
	}()
	t.Cleanup(func() {
		// Only the process group this test started.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			break
		}
		if time.Since(start) > 3*time.Minute {
			logMu.Lock()
			defer logMu.Unlock()
			t.Fatalf("Prism did not listen within 3 minutes:\n%s", log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("Prism loaded the spec and listened after %v", time.Since(start).Round(time.Millisecond))

	rec := &violationRecorder{base: bearer(testToken)}
	c, err := godo.New(&http.Client{Transport: rec}, godo.SetBaseURL("http://"+addr+"/"))
	if err != nil {
		t.Fatal(err)
	}
	// First prove the detector works: a scripted answer that breaks the
	// account schema must be reported.
	s.Faults().Add(Fault{Method: "GET", Path: "/v2/account", Status: 200, Times: 1, Body: `{"account":{"droplet_limit":"many"}}`})
	_, _, _ = c.Account.Get(context.Background())
	rec.mu.Lock()
	caught := len(rec.found)
	rec.found = nil
	rec.mu.Unlock()
	if caught == 0 {
		t.Fatal("Prism did not report a response that breaks the spec; the conformance check would pass vacuously")
	}

	driveConformance(t, c)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, v := range rec.found {
		t.Errorf("violation: %s", v)
	}
	if t.Failed() {
		logMu.Lock()
		defer logMu.Unlock()
		t.Logf("Prism log:\n%s", log.String())
	}
}

// driveConformance is the traffic a build makes, plus the error answers.
func driveConformance(t *testing.T, c *godo.Client) {
	ctx := context.Background()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, _, err := c.Account.Get(ctx)
	must("account", err)
	_, _, err = c.Regions.List(ctx, nil)
	must("regions", err)
	_, _, err = c.Sizes.List(ctx, &godo.ListOptions{PerPage: 3})
	must("sizes", err)
	_, _, err = c.Images.ListDistribution(ctx, nil)
	must("distribution images", err)
	_, _, err = c.Images.GetBySlug(ctx, "debian-12-x64")
	must("image by slug", err)
	key, _, err := c.Keys.Create(ctx, &godo.KeyCreateRequest{Name: "build", PublicKey: readKey(t, "key1.pub")})
	must("create key", err)
	_, _, err = c.Keys.List(ctx, nil)
	must("list keys", err)
	_, _, err = c.Keys.GetByFingerprint(ctx, key.Fingerprint)
	must("key by fingerprint", err)
	d, _, err := c.Droplets.Create(ctx, &godo.DropletCreateRequest{
		Name: "conformance", Region: "nyc3", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"},
		SSHKeys: []godo.DropletCreateSSHKey{{ID: key.ID}}, Tags: []string{"mp-image"}, UserData: "#!/bin/sh\ntrue\n", Monitoring: true,
	})
	must("create droplet", err)
	waitStatus(t, c, d.ID, "active")
	_, _, err = c.Droplets.ListByTag(ctx, "mp-image", &godo.ListOptions{PerPage: 1})
	must("droplets by tag", err)
	a, _, err := c.DropletActions.Shutdown(ctx, d.ID)
	must("shutdown", err)
	_, _, err = c.DropletActions.PowerOff(ctx, d.ID)
	assertAPIError(t, err, 422, "unprocessable_entity")
	waitAction(t, c, a.ID)
	waitStatus(t, c, d.ID, "off")
	a, _, err = c.DropletActions.Snapshot(ctx, d.ID, "conformance-snap")
	must("snapshot", err)
	_, _, err = c.DropletActions.Get(ctx, d.ID, a.ID)
	must("droplet action", err)
	waitAction(t, c, a.ID)
	snaps, _, err := c.Droplets.Snapshots(ctx, d.ID, nil)
	must("droplet snapshots", err)
	if len(snaps) != 1 {
		t.Fatalf("snapshots = %+v", snaps)
	}
	id := snaps[0].ID
	_, _, err = c.Images.GetByID(ctx, id)
	must("image", err)
	_, _, err = c.Images.ListUser(ctx, nil)
	must("private images", err)
	_, _, err = c.Images.Update(ctx, id, &godo.ImageUpdateRequest{Name: "renamed"})
	must("update image", err)
	_, _, err = c.Snapshots.ListDroplet(ctx, nil)
	must("snapshots", err)
	_, _, err = c.Snapshots.Get(ctx, strconv.Itoa(id))
	must("snapshot", err)
	ta, _, err := c.ImageActions.Transfer(ctx, id, &godo.ActionRequest{"type": "transfer", "region": "ams3"})
	must("transfer", err)
	_, _, err = c.ImageActions.Get(ctx, id, ta.ID)
	must("image action", err)
	_, _, err = c.Tags.Create(ctx, &godo.TagCreateRequest{Name: "submitted"})
	must("create tag", err)
	_, err = c.Tags.TagResources(ctx, "submitted", &godo.TagResourcesRequest{Resources: []godo.Resource{{ID: strconv.Itoa(id), Type: godo.ImageResourceType}}})
	must("tag image", err)
	_, _, err = c.Droplets.Get(ctx, 1)
	assertAPIError(t, err, 404, "not_found")
	// godo sends "ssh_keys": null for a nil slice, which the spec forbids; send [].
	_, _, err = c.Droplets.Create(ctx, &godo.DropletCreateRequest{Name: "bad", Region: "mars1", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"}, SSHKeys: []godo.DropletCreateSSHKey{}})
	assertAPIError(t, err, 422, "unprocessable_entity")
	_, err = c.Droplets.Delete(ctx, d.ID)
	must("delete droplet", err)
	_, err = c.Snapshots.Delete(ctx, strconv.Itoa(id))
	must("delete snapshot", err)
	_, err = c.Keys.DeleteByID(ctx, key.ID)
	must("delete key", err)
}
