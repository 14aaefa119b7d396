package vendorapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/godo"

	"github.com/mp-image-action/mp-image-action/internal/cloud"
	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

const (
	token0 = "vendor-test-token-team0-5f2c"
	token1 = "vendor-test-token-team1-9a7e"
	// patchRoute is how the local cloud counts requests to the endpoint.
	patchRoute = "PATCH /api/v1/vendor-portal/apps/{app}"
)

// startCloud starts an API-only local cloud with the given apps; every
// app without a Token belongs to team 0.
func startCloud(t *testing.T, apps ...localcloud.VendorApp) *localcloud.Server {
	t.Helper()
	for i := range apps {
		if apps[i].Token == "" {
			apps[i].Token = token0
		}
	}
	s, err := localcloud.Start(context.Background(), localcloud.Options{
		Token: token0, ExtraTokens: []string{token1}, TimeScale: 0.0005, VendorApps: apps,
	})
	if err != nil {
		t.Fatalf("start local cloud: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close local cloud: %v", err)
		}
	})
	return s
}

// snapshot builds a snapshot image for the team of token the way a build
// does (droplet, power off, snapshot) and returns its image ID.
func snapshot(t *testing.T, s *localcloud.Server, token string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := godo.NewFromToken(token)
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	d, _, err := c.Droplets.Create(ctx, &godo.DropletCreateRequest{
		Name: "vendor-test", Region: "fra1", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"},
	})
	if err != nil {
		t.Fatalf("create droplet: %v", err)
	}
	waitFor(ctx, t, "droplet active", func() bool {
		d, _, err = c.Droplets.Get(ctx, d.ID)
		return err == nil && d.Status == "active" && !d.Locked
	})
	a, _, err := c.DropletActions.PowerOff(ctx, d.ID)
	if err != nil {
		t.Fatalf("power off: %v", err)
	}
	waitAction(ctx, t, c, a.ID)
	a, _, err = c.DropletActions.Snapshot(ctx, d.ID, "vendor-test-snap")
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	waitAction(ctx, t, c, a.ID)
	snaps, _, err := c.Droplets.Snapshots(ctx, d.ID, nil)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("droplet snapshots: %+v %v", snaps, err)
	}
	return snaps[0].ID
}

func waitAction(ctx context.Context, t *testing.T, c *godo.Client, id int) {
	t.Helper()
	var a *godo.Action
	waitFor(ctx, t, "action "+strconv.Itoa(id), func() bool {
		var err error
		a, _, err = c.Actions.Get(ctx, id)
		return err == nil && a.Status != "in-progress"
	})
	if a.Status != "completed" {
		t.Fatalf("action %d %s ended %s", id, a.Type, a.Status)
	}
}

func waitFor(ctx context.Context, t *testing.T, what string, f func() bool) {
	t.Helper()
	for !f() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// fast retries quickly so tests of retries take milliseconds.
var fastOpts = []Option{WithRetries(3, time.Millisecond, 5*time.Millisecond), WithAttemptTimeout(5 * time.Second)}

func str(s string) *string { return &s }

// checkNoToken fails when an error string shows any token.
func checkNoToken(t *testing.T, err error, tokens ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, tok := range append(tokens, token0, token1) {
		if strings.Contains(err.Error(), tok) {
			t.Errorf("error %q shows a token", err)
		}
	}
}

func TestUpdateAppAnswers(t *testing.T) {
	s := startCloud(t,
		localcloud.VendorApp{ID: "ok", Name: "App OK", State: localcloud.AppApproved, Version: "1.0"},
		localcloud.VendorApp{ID: "pending", Name: "New App", State: localcloud.AppPending},
		localcloud.VendorApp{ID: "reviewing", Name: "In Review", State: localcloud.AppInReview},
		localcloud.VendorApp{ID: "noimage", Name: "No Image", State: localcloud.AppApproved},
		localcloud.VendorApp{ID: "unknownimage", Name: "Unknown Image", State: localcloud.AppApproved},
		localcloud.VendorApp{ID: "badtoken", Name: "Bad Token", State: localcloud.AppApproved},
		localcloud.VendorApp{ID: "otherteam", Name: "Other Team's Image", State: localcloud.AppApproved},
		localcloud.VendorApp{ID: "otherapp", Name: "Team 1 App", State: localcloud.AppApproved, Token: token1},
	)
	img0 := snapshot(t, s, token0)
	img1 := snapshot(t, s, token1)

	tests := []struct {
		name      string
		app       string
		token     string
		image     int
		status    int    // 0: success
		hint      string // expected Error.Hint
		wantState string // app state in the portal afterwards
	}{
		{"success", "ok", token0, img0, 0, "", localcloud.AppInReview},
		{"pending app", "pending", token0, img0, 400, HintInReview, localcloud.AppPending},
		{"app in review", "reviewing", token0, img0, 400, HintInReview, localcloud.AppInReview},
		{"image id missing", "noimage", token0, 0, 400, HintImage, localcloud.AppApproved},
		{"image id unknown", "unknownimage", token0, 987654, 400, HintImage, localcloud.AppApproved},
		{"bad token", "badtoken", "not-a-real-token-3141", img0, 403, HintForbidden, localcloud.AppApproved},
		{"other team's image", "otherteam", token0, img1, 403, HintForbidden, localcloud.AppApproved},
		{"other team's app", "otherapp", token0, img0, 403, HintForbidden, localcloud.AppApproved},
		{"unknown app", "nosuchapp", token0, img0, 404, HintNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats().Requests[patchRoute]
			app, err := New(s.URL(), tc.token, fastOpts...).UpdateApp(context.Background(), tc.app,
				Update{ImageID: tc.image, Version: str("2.0"), ReasonForUpdate: str("security updates")})
			checkNoToken(t, err, tc.token)
			if n := s.Stats().Requests[patchRoute] - before; n != 1 {
				t.Errorf("%d requests, want 1 (4xx is never retried, success needs one)", n)
			}
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("UpdateApp: %v", err)
				}
				if app.ID != tc.app || app.State != StateInReview || app.ImageID != tc.image || app.Version != "2.0" || app.ReasonForUpdate != "security updates" {
					t.Errorf("app = %+v", app)
				}
			} else {
				var ae *Error
				if !errors.As(err, &ae) {
					t.Fatalf("err = %v (%T), want *Error", err, err)
				}
				if ae.Status != tc.status || ae.Hint != tc.hint || ae.Message == "" || ae.AppID != tc.app {
					t.Errorf("error = %+v, want status %d hint %q", ae, tc.status, tc.hint)
				}
				if !strings.Contains(err.Error(), strconv.Itoa(tc.status)) || !strings.Contains(err.Error(), tc.hint) {
					t.Errorf("message %q lacks status or hint", err)
				}
				if ae.Temporary() {
					t.Errorf("%d reported as temporary", ae.Status)
				}
			}
			if tc.wantState != "" {
				got, ok := s.VendorApp(tc.app)
				if !ok || got.State != tc.wantState {
					t.Errorf("portal state = %q (found %v), want %q", got.State, ok, tc.wantState)
				}
				if tc.status != 0 && got.ImageID == tc.image && tc.image != 0 {
					t.Errorf("refused update still set imageId %d", got.ImageID)
				}
			}
		})
	}
}

// A second submission while the first is in review is refused, and the
// first one's image stays.
func TestSecondSubmitWhileInReview(t *testing.T) {
	s := startCloud(t, localcloud.VendorApp{ID: "app", Name: "App", State: localcloud.AppApproved})
	first, second := snapshot(t, s, token0), snapshot(t, s, token0)
	c := New(s.URL(), token0, fastOpts...)
	app, err := c.UpdateApp(context.Background(), "app", Update{ImageID: first, Version: str("1.1")})
	if err != nil || app.State != StateInReview {
		t.Fatalf("first submit: %+v %v", app, err)
	}
	_, err = c.UpdateApp(context.Background(), "app", Update{ImageID: second, Version: str("1.2")})
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Hint != HintInReview || !strings.Contains(ae.Message, "in_review") {
		t.Fatalf("second submit: %v, want 400 in review", err)
	}
	got, _ := s.VendorApp("app")
	if got.ImageID != first || got.Version != "1.1" {
		t.Errorf("portal app = %+v, want the first submission kept", got)
	}
}

// null leaves a field alone; "" and [] overwrite it.
func TestNullVersusEmpty(t *testing.T) {
	seed := func(id string) localcloud.VendorApp {
		return localcloud.VendorApp{ID: id, Name: id, State: localcloud.AppApproved, Version: "1.0", OSVersion: "12",
			ReasonForUpdate: "first", SoftwareIncluded: []localcloud.Software{{Name: "nginx", Version: "1.22"}}}
	}
	s := startCloud(t, seed("nulls"), seed("empties"), seed("values"))
	img := snapshot(t, s, token0)
	empty := []Software{}
	tests := []struct {
		app     string
		u       Update
		version string
		os      string
		reason  string
		sw      []string // names
	}{
		{"nulls", Update{ImageID: img}, "1.0", "12", "first", []string{"nginx"}},
		{"empties", Update{ImageID: img, Version: str(""), OSVersion: str(""), ReasonForUpdate: str(""), SoftwareIncluded: &empty}, "", "", "", nil},
		{"values", Update{ImageID: img, Version: str("2.0"), OSVersion: str("13"), ReasonForUpdate: str("r"),
			SoftwareIncluded: &[]Software{{Name: "caddy", Version: "2.7"}, {Name: "php", Version: "8.2"}}}, "2.0", "13", "r", []string{"caddy", "php"}},
	}
	for _, tc := range tests {
		t.Run(tc.app, func(t *testing.T) {
			if _, err := New(s.URL(), token0, fastOpts...).UpdateApp(context.Background(), tc.app, tc.u); err != nil {
				t.Fatalf("UpdateApp: %v", err)
			}
			got, _ := s.VendorApp(tc.app)
			var names []string
			for _, sw := range got.SoftwareIncluded {
				names = append(names, sw.Name)
			}
			if got.Version != tc.version || got.OSVersion != tc.os || got.ReasonForUpdate != tc.reason || strings.Join(names, ",") != strings.Join(tc.sw, ",") {
				t.Errorf("portal app = %+v, want version %q os %q reason %q software %v", got, tc.version, tc.os, tc.reason, tc.sw)
			}
		})
	}
}

func TestUpdateWireShape(t *testing.T) {
	empty := []Software{}
	tests := []struct {
		u    Update
		want string
	}{
		{Update{ImageID: 7}, `{"imageId":7,"reasonForUpdate":null,"version":null,"osVersion":null,"softwareIncluded":null}`},
		{Update{}, `{"imageId":null,"reasonForUpdate":null,"version":null,"osVersion":null,"softwareIncluded":null}`},
		{Update{ImageID: 7, ReasonForUpdate: str(""), Version: str("1"), OSVersion: str(""), SoftwareIncluded: &empty},
			`{"imageId":7,"reasonForUpdate":"","version":"1","osVersion":"","softwareIncluded":[]}`},
		{Update{ImageID: 7, SoftwareIncluded: &[]Software{{Name: "a", Version: "1", Website: "w"}}},
			`{"imageId":7,"reasonForUpdate":null,"version":null,"osVersion":null,"softwareIncluded":[{"name":"a","version":"1","releaseNotes":"","website":"w","licenseType":"","licenseLink":""}]}`},
	}
	for _, tc := range tests {
		b, err := json.Marshal(tc.u)
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%+v) = %s %v, want %s", tc.u, b, err, tc.want)
		}
	}
}

func TestRetries(t *testing.T) {
	const path = "/api/v1/vendor-portal/apps/app"
	tests := []struct {
		name     string
		fault    localcloud.Fault
		attempts int // requests the client makes
		status   int // 0: success in the end
	}{
		{"503 once", localcloud.Fault{Method: "PATCH", Path: path, Status: 503, Times: 1}, 2, 0},
		{"429 once with Retry-After", localcloud.Fault{Method: "PATCH", Path: path, Status: 429, RetryAfter: time.Second, Times: 1}, 2, 0},
		{"connection dropped twice", localcloud.Fault{Method: "PATCH", Path: path, Drop: true, Times: 2}, 3, 0},
		{"500 always", localcloud.Fault{Method: "PATCH", Path: path, Status: 500}, 3, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startCloud(t, localcloud.VendorApp{ID: "app", Name: "App", State: localcloud.AppApproved})
			img := snapshot(t, s, token0)
			s.Faults().Add(tc.fault)
			var logs []string
			c := New(s.URL(), token0, append(fastOpts, WithLogf(func(f string, a ...any) { logs = append(logs, f) }))...)
			app, err := c.UpdateApp(context.Background(), "app", Update{ImageID: img})
			checkNoToken(t, err)
			if n := s.Stats().Requests[patchRoute]; n != tc.attempts {
				t.Errorf("%d requests, want %d", n, tc.attempts)
			}
			if len(logs) != min(tc.attempts-1, 2) {
				t.Errorf("%d retry log lines, want %d", len(logs), tc.attempts-1)
			}
			if tc.status == 0 {
				if err != nil || app.State != StateInReview || app.ImageID != img {
					t.Fatalf("UpdateApp = %+v %v, want success after retries", app, err)
				}
				return
			}
			var ae *Error
			if !errors.As(err, &ae) || ae.Status != tc.status || !ae.Temporary() || !strings.Contains(ae.Hint, "tried 3 times") {
				t.Fatalf("err = %v, want %d after 3 attempts", err, tc.status)
			}
			if got, _ := s.VendorApp("app"); got.State != localcloud.AppApproved {
				t.Errorf("portal state %q after failed submits", got.State)
			}
		})
	}
}

// Cancelling the context stops the waits between retries.
func TestRetryHonoursContext(t *testing.T) {
	s := startCloud(t, localcloud.VendorApp{ID: "app", Name: "App", State: localcloud.AppApproved})
	s.Faults().Add(localcloud.Fault{Method: "PATCH", Status: 503, Path: "/api/v1/vendor-portal/apps/app"})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c := New(s.URL(), token0, WithRetries(10, time.Hour, time.Hour))
	_, err := c.UpdateApp(ctx, "app", Update{ImageID: 1})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want deadline exceeded mentioning the last 503", err)
	}
	if n := s.Stats().Requests[patchRoute]; n != 1 {
		t.Errorf("%d requests, want 1 before the context ended", n)
	}
	checkNoToken(t, err)
}

// A server that echoes the token in its message does not get it into our errors.
func TestTokenNeverInErrors(t *testing.T) {
	s := startCloud(t, localcloud.VendorApp{ID: "app", Name: "App", State: localcloud.AppApproved})
	s.Faults().Add(localcloud.Fault{Method: "PATCH", Path: "/api/v1/vendor-portal/apps/app", Status: 400,
		Body: `{"id":"bad_request","message":"token ` + token0 + ` cannot do that"}`})
	_, err := New(s.URL(), token0, fastOpts...).UpdateApp(context.Background(), "app", Update{ImageID: 1})
	if err == nil || !strings.Contains(err.Error(), "[token]") {
		t.Fatalf("err = %v, want the echoed token replaced", err)
	}
	checkNoToken(t, err)

	// And a request that never reaches a server names no token either.
	_, err = New("http://127.0.0.1:1/", token0, fastOpts...).UpdateApp(context.Background(), "app", Update{ImageID: 1})
	if err == nil || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("err = %v, want a connection failure after 3 attempts", err)
	}
	checkNoToken(t, err)
}

func TestUpdateAppRefusesBadInput(t *testing.T) {
	tests := []struct {
		name, base, token, app, want string
	}{
		{"no app id", "", token0, " ", "no app id"},
		{"no token", "", "", "app", "no API token"},
		{"bad url", "ftp://example.com/", token0, "app", "not an http(s) URL"},
		{"relative url", "api.digitalocean.com", token0, "app", "not an http(s) URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.base, tc.token, fastOpts...).UpdateApp(context.Background(), tc.app, Update{ImageID: 1})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			checkNoToken(t, err)
		})
	}
}

func TestSubmit(t *testing.T) {
	s := startCloud(t,
		localcloud.VendorApp{ID: "app", Name: "App", State: localcloud.AppApproved, OSVersion: "12", ReasonForUpdate: "old"},
		localcloud.VendorApp{ID: "app2", Name: "App 2", State: localcloud.AppApproved})
	img := snapshot(t, s, token0)
	ctx := context.Background()

	sw, err := ParseSoftware([]string{"nginx=1.24.0;website=https://nginx.org;package=nginx-full", "php=8.2\nmariadb"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := Submit(ctx, s.URL(), token0, "app", img, "2.1.0", "", "", sw, fastOpts...)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if app.State != StateInReview || app.ImageID != img || app.Version != "2.1.0" {
		t.Errorf("app = %+v", app)
	}
	got, _ := s.VendorApp("app")
	if got.OSVersion != "12" || got.ReasonForUpdate != "old" {
		t.Errorf("empty strings overwrote fields: %+v", got)
	}
	want := []localcloud.Software{{Name: "nginx", Version: "1.24.0", Website: "https://nginx.org"}, {Name: "php", Version: "8.2"}, {Name: "mariadb"}}
	if len(got.SoftwareIncluded) != len(want) {
		t.Fatalf("software = %+v, want %+v", got.SoftwareIncluded, want)
	}
	for i := range want {
		if got.SoftwareIncluded[i] != want[i] {
			t.Errorf("software[%d] = %+v, want %+v", i, got.SoftwareIncluded[i], want[i])
		}
	}

	// Inputs that cannot be right are refused before any request.
	before := s.Stats().Requests[patchRoute]
	for _, bad := range []struct {
		app   string
		image int
		sw    []Software
		want  string
	}{
		{"app2", 0, nil, "not a snapshot id"},
		{"", img, nil, "no app id"},
	} {
		if _, err := Submit(ctx, s.URL(), token0, bad.app, bad.image, "1", "", "", bad.sw, fastOpts...); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Submit(%q, %d, %q) = %v, want %q", bad.app, bad.image, bad.sw, err, bad.want)
		}
	}
	if n := s.Stats().Requests[patchRoute] - before; n != 0 {
		t.Errorf("%d requests for refused inputs", n)
	}
}

// A 429 the build's API client heard pauses the submit too (WithPause): the
// portal is part of the same API, rate-limited per token, so a PATCH sent
// during Retry-After would only earn another 429. (With the option removed,
// the PATCH arrives at once and this fails.)
func TestSubmitSharesTheBuildsPause(t *testing.T) {
	var mu sync.Mutex
	var limitedAt, patchedAt time.Time
	gets := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v2/account":
			if gets++; gets == 1 {
				limitedAt = time.Now()
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			io.WriteString(w, `{"account":{"status":"active"}}`)
		case r.Method == http.MethodPatch:
			patchedAt = time.Now()
			io.WriteString(w, `{"app":{"id":"app","state":"IN_REVIEW","imageId":7}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	c, err := cloud.New(cloud.Options{Token: token0, APIURL: srv.URL, MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { _, _, err := c.Godo().Account.Get(ctx); done <- err }()
	for c.Stats().Limited == 0 {
		select {
		case err := <-done:
			t.Fatalf("the account request ended (%v) without a 429", err)
		case <-time.After(time.Millisecond):
		}
	}
	if _, err := Submit(ctx, srv.URL, token0, "app", 7, "1.0", "", "", nil, append(fastOpts, WithPause(c.Pause()))...); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the account request after its 429: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if gap := patchedAt.Sub(limitedAt); gap < 2*time.Second {
		t.Errorf("the PATCH came %v after the build's 429 with Retry-After: 2: it did not wait for the shared pause", gap)
	}
}
