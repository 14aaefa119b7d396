package localcloud

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/digitalocean/godo"
)

// TestEventsRevealTimes: an event's Revealed is the first response showing it, never before At.
func TestEventsRevealTimes(t *testing.T) {
	s, c := startTest(t, func(o *Options) { o.TimeScale = 1; o.Timing = Timing{DropletActive: 50 * time.Millisecond} })
	ctx := context.Background()
	d, _, err := c.Droplets.Create(ctx, &godo.DropletCreateRequest{Name: "ev", Region: "nyc3", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // active happens unseen meanwhile
	var active *Event
	for _, e := range s.Events() {
		if e.Kind == KindDroplet && e.ID == d.ID && e.To == "active" {
			active = &e
		}
	}
	if active == nil || active.From != "new" || !active.Revealed.IsZero() {
		t.Fatalf("active event before any GET = %+v", active)
	}
	before := time.Now()
	waitStatus(t, c, d.ID, "active")
	for _, e := range s.Events() {
		if e.Kind == KindDroplet && e.ID == d.ID && e.To == "active" {
			if e.Revealed.Before(before) || e.Revealed.Before(e.At) {
				t.Fatalf("active event = %+v, revealed should be the GET after %v", e, before)
			}
		}
	}
	var created bool
	for _, e := range s.Events() {
		if e.Kind == KindDroplet && e.To == "new" && !e.Revealed.IsZero() {
			created = true // the create response itself revealed "new"
		}
	}
	if !created {
		t.Fatal("the create response did not reveal status new")
	}
}

func TestSnapshotTimingGrowsWithDisk(t *testing.T) {
	// NoMachines reports 0.9 GB for debian and 2.36 GB for ubuntu-24-04.
	s, c := startTest(t, func(o *Options) {
		o.TimeScale = 1
		o.Timing = Timing{DropletActive: time.Millisecond, SnapshotBase: 10 * time.Millisecond, SnapshotPerGB: 100 * time.Millisecond}
	})
	dur := []time.Duration{snapshotTakes(t, s, c, "debian-12-x64"), snapshotTakes(t, s, c, "ubuntu-24-04-x64")}
	if dur[0] < 90*time.Millisecond || dur[1] < 236*time.Millisecond || dur[1] <= dur[0] {
		t.Fatalf("snapshot durations = %v, want >= 100ms and >= 246ms", dur)
	}
}

// snapshotTakes snapshots a new droplet of image slug and returns how long
// the action took, from the emulator's events (an action's RFC3339 times
// have whole seconds).
func snapshotTakes(t *testing.T, s *Server, c *godo.Client, slug string) time.Duration {
	t.Helper()
	ctx := context.Background()
	d, _, err := c.Droplets.Create(ctx, &godo.DropletCreateRequest{Name: "s", Region: "nyc3", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: slug}})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, d.ID, "active")
	a, _, err := c.DropletActions.Snapshot(ctx, d.ID, slug)
	if err != nil {
		t.Fatal(err)
	}
	waitAction(t, c, a.ID)
	var start time.Time
	for _, e := range s.Events() {
		if e.Kind == KindAction && e.ID == a.ID {
			if e.To == "in-progress" {
				start = e.At
			} else {
				return e.At.Sub(start)
			}
		}
	}
	t.Fatalf("no events of action %d", a.ID)
	return 0
}

// TestSnapshotDurationIsSet: Timing.Snapshot makes every snapshot take that
// long whatever its size, and SetTiming changes it for later snapshots (a
// benchmark sweeps durations on one server). The emulator may finish late on
// a busy machine, never early: only lower bounds are asserted.
func TestSnapshotDurationIsSet(t *testing.T) {
	s, c := startTest(t, func(o *Options) {
		o.TimeScale = 1
		o.Timing = Timing{DropletActive: time.Millisecond, SnapshotBase: time.Millisecond, Snapshot: 150 * time.Millisecond}
	})
	snap := func(slug string) time.Duration { return snapshotTakes(t, s, c, slug) }
	// 0.9 GB and 2.36 GB of used disk: the set duration either way.
	for _, slug := range []string{"debian-12-x64", "ubuntu-24-04-x64"} {
		if d := snap(slug); d < 150*time.Millisecond {
			t.Errorf("%s: snapshot took %s, set to 150ms", slug, d)
		}
	}
	old := s.SetTiming(Timing{DropletActive: time.Millisecond, Snapshot: 400 * time.Millisecond})
	if old.Snapshot != 150*time.Millisecond {
		t.Errorf("SetTiming returned %+v, want the timing given at Start", old)
	}
	if d := snap("debian-12-x64"); d < 400*time.Millisecond {
		t.Errorf("after SetTiming: snapshot took %s, set to 400ms", d)
	}
}

func TestVendorPortal(t *testing.T) {
	ctx := context.Background()
	apps := []VendorApp{
		{ID: "app-ok", Name: "LEMP", Token: testToken, State: AppApproved, Version: "1.0", SoftwareIncluded: []Software{{Name: "nginx", Version: "1.22"}}},
		{ID: "app-pending", Token: testToken, State: AppPending},
		{ID: "app-review", Token: testToken, State: AppInReview},
		{ID: "app-other", Token: "test-token-team1", State: AppApproved},
	}
	s, c := startTest(t, func(o *Options) { o.VendorApps = apps })
	snapID := func(cl *godo.Client, name string) int {
		d := createActive(t, cl, name)
		a, _, err := cl.DropletActions.Snapshot(ctx, d.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		waitAction(t, cl, a.ID)
		sn, _, _ := cl.Droplets.Snapshots(ctx, d.ID, nil)
		return sn[0].ID
	}
	mine := snapID(c, "mine")
	theirs := snapID(client(t, s.URL(), "test-token-team1"), "theirs")
	body := func(id int) string {
		return `{"imageId":` + strconv.Itoa(id) + `,"reasonForUpdate":"security updates","version":"1.1","osVersion":null,"softwareIncluded":[]}`
	}
	tests := []struct {
		name, app, token, body string
		status                 int
	}{
		{"bad token", "app-ok", "nope", body(mine), 403},
		{"unknown app", "app-nope", testToken, body(mine), 404},
		{"other team's app", "app-other", testToken, body(mine), 403},
		{"pending", "app-pending", testToken, body(mine), 400},
		{"in review", "app-review", testToken, body(mine), 400},
		{"missing imageId", "app-ok", testToken, `{"version":"2"}`, 400},
		{"unknown image", "app-ok", testToken, body(999), 400},
		{"not my image", "app-ok", testToken, body(theirs), 403},
		{"malformed", "app-ok", testToken, `{`, 400},
		{"ok", "app-ok", testToken, body(mine), 200},
		{"again while in review", "app-ok", testToken, body(mine), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, resp := raw(t, s, "PATCH", "/api/v1/vendor-portal/apps/"+tt.app, tt.token, tt.body)
			if status != tt.status {
				t.Fatalf("status = %d, want %d: %s", status, tt.status, resp)
			}
			if status != 200 {
				var e apiError
				if err := json.Unmarshal([]byte(resp), &e); err != nil || e.ID == "" || e.Message == "" {
					t.Fatalf("error body = %s", resp)
				}
				return
			}
			var got struct{ App VendorApp }
			if err := json.Unmarshal([]byte(resp), &got); err != nil {
				t.Fatal(err)
			}
			if got.App.ImageID != mine || got.App.Version != "1.1" || got.App.OSVersion != "" || len(got.App.SoftwareIncluded) != 0 || got.App.State != AppInReview {
				t.Fatalf("app = %+v", got.App)
			}
		})
	}
	app, _ := s.VendorApp("app-ok")
	if app.ReasonForUpdate != "security updates" || app.Name != "LEMP" {
		t.Fatalf("stored app = %+v", app)
	}
}

// TestCloseDeletesEverything: Close removes every droplet and snapshot through the backend.
func TestCloseDeletesEverything(t *testing.T) {
	rec := newRecording()
	s, err := Start(context.Background(), Options{Token: testToken, Machines: rec, TimeScale: 0.0005})
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, s.URL(), testToken)
	d := createActive(t, c, "left-behind")
	a, _, _ := c.DropletActions.Snapshot(context.Background(), d.ID, "snap")
	waitAction(t, c, a.ID)
	if _, _, err := c.Droplets.Create(context.Background(), &godo.DropletCreateRequest{Name: "booting", Region: "nyc3", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !rec.closed || !slices.Contains(rec.deleted, d.ID) || len(rec.deleted) != 2 {
		t.Fatalf("closed=%v deleted=%v", rec.closed, rec.deleted)
	}
	for _, k := range []string{KindDroplet, KindSnapshot} {
		if live := s.Ledger().Live(k); len(live) != 0 {
			t.Fatalf("live %s after close: %+v", k, live)
		}
	}
	if _, _, err := c.Account.Get(context.Background()); err == nil {
		t.Fatal("server still answers after Close")
	}
}
