package localcloud

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/godo"
)

const testToken = "test-token-team0"

// startTest starts a fast server and returns it with a godo client for it.
func startTest(t *testing.T, mod func(*Options)) (*Server, *godo.Client) {
	t.Helper()
	o := Options{Token: testToken, ExtraTokens: []string{"test-token-team1"}, TimeScale: 0.0005, Logf: t.Logf}
	if mod != nil {
		mod(&o)
	}
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("start local cloud: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, client(t, s.URL(), o.Token)
}

// client is a godo client without retries, so tests see every answer.
func client(t *testing.T, base, token string) *godo.Client {
	t.Helper()
	c, err := godo.New(&http.Client{Transport: bearer(token)}, godo.SetBaseURL(base))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// retryingClient is godo as most users build it (NewFromToken retries 429s and 5xx).
func retryingClient(t *testing.T, base, token string) *godo.Client {
	t.Helper()
	c := godo.NewFromToken(token)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

func readKey(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// eventually polls f until it is true or 5 s pass.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitStatus(t *testing.T, c *godo.Client, id int, status string) *godo.Droplet {
	t.Helper()
	var d *godo.Droplet
	eventually(t, "droplet "+status, func() bool {
		var err error
		d, _, err = c.Droplets.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("get droplet %d: %v", id, err)
		}
		return d.Status == status && !d.Locked
	})
	return d
}

func waitAction(t *testing.T, c *godo.Client, id int) *godo.Action {
	t.Helper()
	var a *godo.Action
	eventually(t, "action done", func() bool {
		var err error
		a, _, err = c.Actions.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("get action %d: %v", id, err)
		}
		return a.Status != "in-progress"
	})
	return a
}

// raw sends a request with a body and returns status, headers and body.
func raw(t *testing.T, s *Server, method, path, token, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(s.URL(), "/")+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// recordingMachines wraps NoMachines and records the calls, for tests.
type recordingMachines struct {
	Machines
	mu      sync.Mutex
	specs   []MachineSpec
	calls   []string
	deleted []int
	closed  bool
}

func newRecording() *recordingMachines { return &recordingMachines{Machines: NoMachines()} }

func (r *recordingMachines) note(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recordingMachines) Create(ctx context.Context, spec MachineSpec) (string, error) {
	r.mu.Lock()
	r.specs = append(r.specs, spec)
	r.mu.Unlock()
	r.note("create")
	return r.Machines.Create(ctx, spec)
}

func (r *recordingMachines) Shutdown(ctx context.Context, id int) error {
	r.note("shutdown")
	return r.Machines.Shutdown(ctx, id)
}

func (r *recordingMachines) Delete(ctx context.Context, id int) error {
	r.mu.Lock()
	r.deleted = append(r.deleted, id)
	r.mu.Unlock()
	return r.Machines.Delete(ctx, id)
}

func (r *recordingMachines) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return r.Machines.Close(ctx)
}
