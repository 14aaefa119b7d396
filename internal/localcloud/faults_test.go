package localcloud

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/digitalocean/godo"
)

func createActive(t *testing.T, c *godo.Client, name string) *godo.Droplet {
	t.Helper()
	d, _, err := c.Droplets.Create(context.Background(), &godo.DropletCreateRequest{Name: name, Region: "nyc3", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"}})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return waitStatus(t, c, d.ID, "active")
}

func TestRateLimit(t *testing.T) {
	s, c := startTest(t, func(o *Options) { o.RateLimitPerHour = 10; o.RateLimitPerMinute = 3 })
	ctx := context.Background()
	for i := range 3 {
		_, resp, err := c.Regions.List(ctx, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.Rate.Limit != 10 || resp.Rate.Remaining != 10-(i+1) || resp.Rate.Reset.Before(time.Now()) {
			t.Fatalf("request %d rate = %+v", i, resp.Rate)
		}
	}
	_, _, err := c.Regions.List(ctx, nil)
	assertAPIError(t, err, http.StatusTooManyRequests, "too_many_requests")
	status, hdr, body := raw(t, s, "GET", "/v2/regions", testToken, "")
	if status != 429 || hdr.Get("Retry-After") == "" || body != `{"id":"too_many_requests","message":"API Rate limit exceeded.","request_id":"`+hdr.Get("X-Request-Id")+`"}`+"\n" {
		t.Fatalf("429 = %d %v %s", status, hdr, body)
	}
	// Another token has its own budget.
	if _, _, err := client(t, s.URL(), "test-token-team1").Regions.List(ctx, nil); err != nil {
		t.Fatalf("other token limited too: %v", err)
	}
	if got := s.Stats().RateLimited; got != 2 {
		t.Fatalf("stats 429s = %d, want 2", got)
	}
}

func TestRouteFaults(t *testing.T) {
	tests := []struct {
		name    string
		fault   Fault
		status  int
		retry   string
		dropped bool
		minTime time.Duration
	}{
		{name: "429 with Retry-After", fault: Fault{Path: "/v2/droplets/*", Status: 429, RetryAfter: 3 * time.Second}, status: 429, retry: "3"},
		{name: "500", fault: Fault{Method: "GET", Path: "/v2/droplets/*", Status: 500}, status: 500},
		{name: "503 custom body", fault: Fault{Path: "/v2/droplets/*", Status: 503, Body: `{"id":"service_unavailable","message":"down"}`}, status: 503},
		{name: "slow", fault: Fault{Path: "/v2/droplets/*", Delay: 150 * time.Millisecond}, status: 200, minTime: 150 * time.Millisecond},
		{name: "dropped", fault: Fault{Path: "/v2/droplets/*", Drop: true}, dropped: true},
		{name: "other method untouched", fault: Fault{Method: "DELETE", Path: "/v2/droplets/*", Status: 500}, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := startTest(t, nil)
			d := createActive(t, c, "f")
			tt.fault.Times = 1
			s.Faults().Add(tt.fault)
			start := time.Now()
			req, _ := http.NewRequest("GET", s.URL()+"v2/droplets/"+strconv.Itoa(d.ID), nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			// A fresh connection: Go retries a GET whose reused connection drops.
			fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := fresh.Do(req)
			if tt.dropped {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got status %d, want a dropped connection", resp.StatusCode)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.status || resp.Header.Get("Retry-After") != tt.retry {
					t.Fatalf("status %d retry %q, want %d %q", resp.StatusCode, resp.Header.Get("Retry-After"), tt.status, tt.retry)
				}
			}
			if took := time.Since(start); took < tt.minTime {
				t.Fatalf("answered in %v, want at least %v", took, tt.minTime)
			}
			// Times: 1 means the next request is served normally.
			if _, _, err := c.Droplets.Get(context.Background(), d.ID); err != nil {
				t.Fatalf("second request still faulted: %v", err)
			}
		})
	}
}

func TestFaultTimesAndReset(t *testing.T) {
	s, c := startTest(t, nil)
	s.Faults().Add(Fault{Path: "/v2/regions", Status: 500, Times: 2})
	ctx := context.Background()
	for i := range 2 {
		_, _, err := c.Regions.List(ctx, nil)
		assertAPIError(t, err, 500, "server_error")
		_ = i
	}
	if _, _, err := c.Regions.List(ctx, nil); err != nil {
		t.Fatalf("third request: %v", err)
	}
	s.Faults().Add(Fault{Path: "/v2/regions", Status: 500})
	for range 3 {
		_, _, err := c.Regions.List(ctx, nil)
		assertAPIError(t, err, 500, "server_error")
	}
	s.Faults().Reset()
	if _, _, err := c.Regions.List(ctx, nil); err != nil {
		t.Fatalf("after reset: %v", err)
	}
	if st := s.Stats(); st.Faulted != 5 || st.Requests["GET /v2/regions"] != 7 {
		t.Fatalf("stats = %+v", st)
	}
}

// TestRetryAfterHonouredByGodo: godo's retrying client waits out our Retry-After and succeeds.
func TestRetryAfterHonouredByGodo(t *testing.T) {
	s, _ := startTest(t, nil)
	s.Faults().Add(Fault{Path: "/v2/regions", Status: 429, RetryAfter: time.Second, Times: 1})
	start := time.Now()
	if _, _, err := retryingClient(t, s.URL(), testToken).Regions.List(context.Background(), nil); err != nil {
		t.Fatalf("retrying client: %v", err)
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Fatalf("retried after %v, before Retry-After", took)
	}
}

func TestBehaviourFaults(t *testing.T) {
	ctx := context.Background()
	t.Run("never active", func(t *testing.T) {
		s, c := startTest(t, nil)
		s.Faults().NeverActive("stuck")
		stuck, _, err := c.Droplets.Create(ctx, &godo.DropletCreateRequest{Name: "stuck-1", Region: "nyc3", Size: "s-1vcpu-1gb", Image: godo.DropletCreateImage{Slug: "debian-12-x64"}})
		if err != nil {
			t.Fatal(err)
		}
		createActive(t, c, "fine") // takes longer than DropletActive
		time.Sleep(50 * time.Millisecond)
		if d, _, _ := c.Droplets.Get(ctx, stuck.ID); d.Status != "new" {
			t.Fatalf("stuck droplet status = %s", d.Status)
		}
		if _, _, err := c.DropletActions.Shutdown(ctx, stuck.ID); err == nil {
			t.Fatal("action on a new droplet accepted")
		}
		if _, err := c.Droplets.Delete(ctx, stuck.ID); err != nil {
			t.Fatalf("delete stuck droplet: %v", err)
		}
	})
	t.Run("shutdown ignored", func(t *testing.T) {
		s, c := startTest(t, nil)
		d := createActive(t, c, "deaf")
		s.Faults().IgnoreShutdown()
		a, _, err := c.DropletActions.Shutdown(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := waitAction(t, c, a.ID); got.Status != "errored" {
			t.Fatalf("shutdown action = %s, want errored", got.Status)
		}
		waitStatus(t, c, d.ID, "active")
		pa, _, err := c.DropletActions.PowerOff(ctx, d.ID)
		if err != nil {
			t.Fatalf("power_off after ignored shutdown: %v", err)
		}
		waitAction(t, c, pa.ID)
		waitStatus(t, c, d.ID, "off")
	})
	t.Run("snapshot errored", func(t *testing.T) {
		s, c := startTest(t, nil)
		d := createActive(t, c, "snap")
		s.Faults().FailSnapshots()
		a, _, err := c.DropletActions.Snapshot(ctx, d.ID, "x")
		if err != nil {
			t.Fatal(err)
		}
		if got := waitAction(t, c, a.ID); got.Status != "errored" {
			t.Fatalf("snapshot action = %s", got.Status)
		}
		if n := s.Ledger().Count(KindSnapshot); n != 0 {
			t.Fatalf("%d snapshots recorded after errored snapshot", n)
		}
	})
	t.Run("transfer errored", func(t *testing.T) {
		s, c := startTest(t, nil)
		d := createActive(t, c, "tr")
		a, _, _ := c.DropletActions.Snapshot(ctx, d.ID, "img")
		waitAction(t, c, a.ID)
		snaps, _, _ := c.Droplets.Snapshots(ctx, d.ID, nil)
		if len(snaps) != 1 {
			t.Fatalf("snapshots = %+v", snaps)
		}
		s.Faults().FailTransfers()
		ta, _, err := c.ImageActions.Transfer(ctx, snaps[0].ID, &godo.ActionRequest{"type": "transfer", "region": "sgp1"})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "transfer errored", func() bool {
			got, _, err := c.ImageActions.Get(ctx, snaps[0].ID, ta.ID)
			return err == nil && got.Status == "errored"
		})
		if im, _, _ := c.Images.GetByID(ctx, snaps[0].ID); len(im.Regions) != 1 {
			t.Fatalf("regions after failed transfer = %v", im.Regions)
		}
	})
	t.Run("mitm host keys", func(t *testing.T) {
		rec := newRecording()
		s, c := startTest(t, func(o *Options) { o.Machines = rec })
		createActive(t, c, "honest")
		s.Faults().MITMHostKeys()
		createActive(t, c, "spoofed")
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.specs) != 2 || rec.specs[0].IgnoreHostKeys || !rec.specs[1].IgnoreHostKeys {
			t.Fatalf("specs = %+v", rec.specs)
		}
	})
}

// TestFaultAfter: an After fault lets the request take effect and then
// loses the answer, so the client sees a failure for a create that happened.
func TestFaultAfter(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		fault Fault
	}{
		{"500 after create", Fault{Method: "POST", Path: "/v2/droplets", Status: 500, After: true, Times: 1}},
		{"drop after create", Fault{Method: "POST", Path: "/v2/droplets", Drop: true, After: true, Times: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, c := startTest(t, nil)
			s.Faults().Add(tt.fault)
			req := &godo.DropletCreateRequest{Name: "after", Region: "nyc3", Size: "s-1vcpu-1gb",
				Image: godo.DropletCreateImage{Slug: "debian-12-x64"}, Tags: []string{"run-after"}}
			// A fresh connection: Go's transport may resend a request whose
			// reused idle connection drops.
			g, err := godo.New(&http.Client{Transport: bearerFresh(testToken)}, godo.SetBaseURL(s.URL()))
			if err != nil {
				t.Fatal(err)
			}
			_, resp, err := g.Droplets.Create(ctx, req)
			if err == nil {
				t.Fatalf("create answered %d, want the fault", resp.StatusCode)
			}
			if tt.fault.Status != 0 {
				assertAPIError(t, err, tt.fault.Status, "server_error")
			}
			ds, _, err := c.Droplets.ListByTag(ctx, "run-after", nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 1 {
				t.Fatalf("%d droplets with the run tag after the faulted create, want exactly 1 (it took effect)", len(ds))
			}
			if n := len(s.Ledger().Live(KindDroplet)); n != 1 {
				t.Fatalf("ledger: %d live droplets, want 1", n)
			}
			if st := s.Stats(); st.Faulted != 1 {
				t.Fatalf("faulted = %d, want 1", st.Faulted)
			}
			// Times: 1, so the next create is served and answered.
			if _, _, err := c.Droplets.Create(ctx, req); err != nil {
				t.Fatalf("second create: %v", err)
			}
		})
	}
	t.Run("after without status or drop does nothing", func(t *testing.T) {
		s, c := startTest(t, nil)
		s.Faults().Add(Fault{Method: "POST", Path: "/v2/account/keys", After: true, Times: 1})
		if _, _, err := c.Keys.Create(ctx, &godo.KeyCreateRequest{Name: "k", PublicKey: readKey(t, "key1.pub")}); err != nil {
			t.Fatal(err)
		}
		if n := len(s.Ledger().Live(KindKey)); n != 1 {
			t.Fatalf("%d keys, want 1 (served once, not twice)", n)
		}
	})
}

type bearerFresh string

func (b bearerFresh) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return (&http.Transport{DisableKeepAlives: true}).RoundTrip(r)
}

// SetRateLimit lowers a running server's limit (for a test sharing it) and
// puts it back.
func TestSetRateLimit(t *testing.T) {
	s, c := startTest(t, nil)
	ctx := context.Background()
	oldMin, oldHour := s.SetRateLimit(2, 0)
	if oldMin != 250 || oldHour != 5000 {
		t.Fatalf("previous limits %d/min %d/h, want the defaults 250 and 5000", oldMin, oldHour)
	}
	for i := range 2 {
		if _, _, err := c.Regions.List(ctx, nil); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, _, err := c.Regions.List(ctx, nil)
	assertAPIError(t, err, http.StatusTooManyRequests, "too_many_requests")
	s.SetRateLimit(oldMin, oldHour)
	if _, _, err := c.Regions.List(ctx, nil); err != nil {
		t.Fatalf("after restoring the limit: %v", err)
	}
	if got := s.Stats().RateLimited; got != 1 {
		t.Fatalf("429s = %d, want 1", got)
	}
}
