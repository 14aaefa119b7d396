package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitalocean/godo"
)

func newTestClient(t *testing.T, h http.Handler) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(Options{Token: "tok", APIURL: srv.URL, MinBackoff: time.Millisecond, PollTick: time.Millisecond,
		AttemptTimeout: 200 * time.Millisecond, ExpectActive: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTransportRetriesIdempotentOn5xx(t *testing.T) {
	var n atomic.Int32
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			return
		}
		if n.Add(1) <= 2 {
			w.WriteHeader(503)
			return
		}
		w.Header().Set("RateLimit-Limit", "5000")
		w.Header().Set("RateLimit-Remaining", "4990")
		fmt.Fprint(w, `{"droplet":{"id":7,"status":"active","networks":{"v4":[{"ip_address":"10.0.0.7","type":"public"}]}}}`)
	}))
	d, err := c.Droplet(context.Background(), 7)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != 7 || n.Load() != 3 {
		t.Fatalf("got droplet %d after %d requests, want 7 after 3", d.ID, n.Load())
	}
	st := c.Stats()
	if st.Requests != 3 || st.Retries != 2 || st.Remaining != 4990 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTransportRetriesSlowAnswer(t *testing.T) {
	var n atomic.Int32
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		fmt.Fprint(w, `{"droplet":{"id":8}}`)
	}))
	if _, err := c.Droplet(context.Background(), 8); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 {
		t.Fatalf("%d requests, want 2", n.Load())
	}
}

func TestTransportPostNotRetriedOn500But429Is(t *testing.T) {
	var posts atomic.Int32
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := posts.Add(1); n {
		case 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
			fmt.Fprint(w, `{"id":"too_many_requests","message":"API Rate limit exceeded."}`)
		default:
			w.WriteHeader(500)
		}
	}))
	_, _, err := c.godo.Keys.Create(context.Background(), &godo.KeyCreateRequest{Name: "k", PublicKey: "ssh-ed25519 AAAA"})
	var te *TransientError
	if !errors.As(err, &te) || te.Status != 500 {
		t.Fatalf("err = %v, want a transient 500", err)
	}
	if posts.Load() != 2 {
		t.Fatalf("%d POSTs, want 2 (429 retried, 500 not)", posts.Load())
	}
	if c.Stats().Limited != 1 {
		t.Fatalf("limited = %d", c.Stats().Limited)
	}
}

// fakeDroplets is a minimal droplet API whose create fails ambiguously: the
// droplet is made, then the answer is a 500.
type fakeDroplets struct {
	mu       sync.Mutex
	droplets []map[string]any
	creates  int
	failN    int
}

func (f *fakeDroplets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == "POST" && r.URL.Path == "/v2/droplets":
		var req godo.DropletCreateRequest
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &req)
		f.creates++
		d := map[string]any{"id": 100 + len(f.droplets), "name": req.Name, "tags": req.Tags, "status": "new"}
		f.droplets = append(f.droplets, d)
		if f.creates <= f.failN {
			w.WriteHeader(500)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"droplet": d})
	case r.Method == "GET" && r.URL.Path == "/v2/droplets":
		tag := r.URL.Query().Get("tag_name")
		var out []map[string]any
		for _, d := range f.droplets {
			for _, t := range d["tags"].([]string) {
				if t == tag {
					out = append(out, d)
				}
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"droplets": out, "links": map[string]any{}, "meta": map[string]any{"total": len(out)}})
	default:
		w.WriteHeader(404)
		fmt.Fprint(w, `{"id":"not_found","message":"The resource you were accessing could not be found."}`)
	}
}

func TestCreateDropletAdoptsAfterAmbiguousFailure(t *testing.T) {
	f := &fakeDroplets{failN: 1}
	c := newTestClient(t, f)
	d, err := c.CreateDroplet(context.Background(), &godo.DropletCreateRequest{Name: "build", Tags: []string{"mp-image-run-x"}}, "mp-image-run-x")
	if err != nil {
		t.Fatal(err)
	}
	if d == nil || d.ID != 100 {
		t.Fatalf("droplet %+v, want the adopted 100", d)
	}
	if f.creates != 1 || len(f.droplets) != 1 {
		t.Fatalf("%d creates, %d droplets; want exactly one", f.creates, len(f.droplets))
	}
}

func TestCreateDropletRetriesWhenNothingWasCreated(t *testing.T) {
	var posts atomic.Int32
	f := &fakeDroplets{}
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" && posts.Add(1) == 1 {
			w.WriteHeader(503) // rejected before anything was made
			return
		}
		f.ServeHTTP(w, r)
	}))
	d, err := c.CreateDroplet(context.Background(), &godo.DropletCreateRequest{Name: "build", Tags: []string{"t1"}}, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != 100 || len(f.droplets) != 1 || posts.Load() != 2 {
		t.Fatalf("droplet %d, %d droplets, %d posts", d.ID, len(f.droplets), posts.Load())
	}
}

func TestWaitHonoursCancellation(t *testing.T) {
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"droplet":{"id":9,"status":"new"}}`)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := c.WaitActive(ctx, 9)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("cancellation took %s", time.Since(start))
	}
}

func TestAPIErrorsSayWhatToDo(t *testing.T) {
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		fmt.Fprint(w, `{"id":"unauthorized","message":"Unable to authenticate you"}`)
	}))
	_, err := c.CheckAccount(context.Background())
	if err == nil || !strings.Contains(err.Error(), "token was rejected") || StatusOf(err) != 401 {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "tok") && strings.Contains(err.Error(), "Bearer") {
		t.Fatalf("error leaks the token: %v", err)
	}
}

func TestPaceSlowsDownNearTheLimit(t *testing.T) {
	tr := &Transport{}
	tr.limit, tr.remaining, tr.reset = 5000, 4000, time.Now().Add(time.Hour)
	if p := tr.Pace(); p != 0 {
		t.Fatalf("pace with a healthy budget = %s", p)
	}
	tr.remaining = 20
	if p := tr.Pace(); p < 5*time.Minute {
		t.Fatalf("pace with 20 left for an hour = %s, want >= 5m", p)
	}
}
