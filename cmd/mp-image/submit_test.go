package main

import (
	"bytes"
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

const submitToken = "submit-cli-test-token-8d1f"

func TestRunSubmit(t *testing.T) {
	s, err := localcloud.Start(context.Background(), localcloud.Options{Token: submitToken, TimeScale: 0.0005,
		VendorApps: []localcloud.VendorApp{
			{ID: "app", Name: "LEMP", Token: submitToken, State: localcloud.AppApproved, OSVersion: "12", ReasonForUpdate: "old"},
			{ID: "clear", Name: "Clear", Token: submitToken, State: localcloud.AppApproved, OSVersion: "12",
				SoftwareIncluded: []localcloud.Software{{Name: "nginx"}}},
			{ID: "pending", Name: "P", Token: submitToken, State: localcloud.AppPending},
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	img := submitSnapshot(t, s)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	okEnv := env(map[string]string{"DIGITALOCEAN_TOKEN": submitToken, "DIGITALOCEAN_API_URL": s.URL()})
	id := func() string { return strconv.Itoa(img) }

	tests := []struct {
		name   string
		args   []string
		env    func(string) string
		code   int
		stdout string
		stderr string
	}{
		{"success", []string{"--app-id", "app", "--image-id", id(), "--version", "2.0", "--software", "nginx=1.24,php=8.2"}, okEnv, 0, "status: in_review", ""},
		{"in review now", []string{"--app-id", "app", "--image-id", id()}, okEnv, 1, "", "wait for the review to end; not retried"},
		{"pending", []string{"--app-id", "pending", "--image-id", id()}, okEnv, 1, "", "400"},
		{"unknown app", []string{"--app-id", "nope", "--image-id", id()}, okEnv, 1, "", "check the app id in the Vendor Portal URL"},
		{"bad token flag", []string{"--app-id", "clear", "--image-id", id(), "--token", "wrong-token-77"}, okEnv, 1, "", "403"},
		{"access token env and api-url flag", []string{"--app-id", "clear", "--image-id", id(), "--os-version", "", "--software", "", "--api-url", s.URL()},
			env(map[string]string{"DIGITALOCEAN_ACCESS_TOKEN": submitToken}), 0, "status: in_review", ""},
		{"no app id", []string{"--image-id", id()}, okEnv, 2, "", "--app-id is required"},
		{"no image id", []string{"--app-id", "app"}, okEnv, 2, "", "--image-id is required"},
		{"bad image id", []string{"--app-id", "app", "--image-id", "x"}, okEnv, 2, "", "invalid value"},
		{"bad software", []string{"--app-id", "app", "--image-id", id(), "--software", "nginx;homepage=x"}, okEnv, 2, "", "unknown key"},
		{"no token", []string{"--app-id", "app", "--image-id", id()}, env(nil), 2, "", "no API token"},
		{"extra arg", []string{"--app-id", "app", "--image-id", id(), "x"}, okEnv, 2, "", "unexpected argument"},
		{"help", []string{"--help"}, okEnv, 0, "--app-id", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runSubmit(context.Background(), tc.args, tc.env, &out, &errb)
			if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) {
				t.Fatalf("code %d stdout %q stderr %q", code, out.String(), errb.String())
			}
			if strings.Contains(out.String()+errb.String(), submitToken) {
				t.Fatal("token printed")
			}
		})
	}
	a, _ := s.VendorApp("app")
	if a.OSVersion != "12" || a.ReasonForUpdate != "old" || a.Version != "2.0" || len(a.SoftwareIncluded) != 2 {
		t.Errorf("app = %+v", a)
	}
	c, _ := s.VendorApp("clear")
	if c.OSVersion != "" || len(c.SoftwareIncluded) != 0 || c.State != "in_review" {
		t.Errorf("clear = %+v", c)
	}
}

func submitSnapshot(t *testing.T, s *localcloud.Server) int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := godo.NewFromToken(submitToken)
	c.BaseURL, _ = url.Parse(s.URL())
	d, _, err := c.Droplets.Create(ctx, &godo.DropletCreateRequest{Name: "x", Region: "fra1", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, _, _ = c.Droplets.Get(ctx, d.ID)
		if d.Status == "active" && !d.Locked {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	a, _, err := c.DropletActions.Snapshot(ctx, d.ID, "s")
	if err != nil {
		t.Fatal(err)
	}
	for {
		a, _, _ = c.Actions.Get(ctx, a.ID)
		if a.Status != "in-progress" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	sn, _, err := c.Droplets.Snapshots(ctx, d.ID, nil)
	if err != nil || len(sn) != 1 {
		t.Fatal(sn, err)
	}
	return sn[0].ID
}
