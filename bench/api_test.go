package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/localcloud"
)

// shared lends the fast cloud's backend to a second emulator: droplet and
// snapshot IDs are offset (both emulators count from the same base) and
// Close is left to the backend's owner.
type shared struct {
	localcloud.Machines
	off int
}

func (s shared) Create(ctx context.Context, spec localcloud.MachineSpec) (string, error) {
	spec.ID += s.off
	if spec.SnapshotID != 0 {
		spec.SnapshotID += s.off
	}
	return s.Machines.Create(ctx, spec)
}
func (s shared) Shutdown(ctx context.Context, id int) error {
	return s.Machines.Shutdown(ctx, id+s.off)
}
func (s shared) PowerOff(ctx context.Context, id int) error {
	return s.Machines.PowerOff(ctx, id+s.off)
}
func (s shared) PowerOn(ctx context.Context, id int) error { return s.Machines.PowerOn(ctx, id+s.off) }
func (s shared) Reboot(ctx context.Context, id int) error  { return s.Machines.Reboot(ctx, id+s.off) }
func (s shared) Running(id int) bool                       { return s.Machines.Running(id + s.off) }
func (s shared) Snapshot(ctx context.Context, id, snap int) (float64, error) {
	return s.Machines.Snapshot(ctx, id+s.off, snap+s.off)
}
func (s shared) DeleteSnapshot(ctx context.Context, snap int) error {
	return s.Machines.DeleteSnapshot(ctx, snap+s.off)
}
func (s shared) Delete(ctx context.Context, id int) error { return s.Machines.Delete(ctx, id+s.off) }
func (s shared) Close(context.Context) error              { return nil }

// request is one API request the tool made, as the recording proxy saw it.
type request struct {
	at            time.Time
	method, route string
}

var idRe = regexp.MustCompile(`/[0-9]+`)

// recorder is a reverse proxy in front of the emulator that notes when each
// request arrived: the emulator counts requests by route but not by time.
type recorder struct {
	mu   sync.Mutex
	reqs []request
}

func (r *recorder) proxy(target string) *httptest.Server {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, request{time.Now(), req.Method, idRe.ReplaceAllString(req.URL.Path, "/{id}")})
		r.mu.Unlock()
		rp.ServeHTTP(w, req)
	}))
}

// BenchmarkAPIRequests runs one build_image of examples/hello-first-login
// (boot test off) against a second emulator with DigitalOcean's timings at
// time scale 1 (droplet active after 30 s, shutdown 10 s, snapshot 3 min),
// on the same machine backend. It prints the requests per pipeline step and
// each state change's noticing delay (emulator's Events: when it happened,
// when a response first showed it), and reports the total, the median delay,
// and what a fixed 3 s poller (Packer's) would have needed, computed from
// the same measured state-change times.
func BenchmarkAPIRequests(b *testing.B) {
	need(b)
	ctx := context.Background()
	token := env.e.Token + "-realistic"
	srv, err := localcloud.Start(ctx, localcloud.Options{Token: token, Machines: shared{env.e.Backend, 1_000_000}, TimeScale: 1,
		Timing: localcloud.Timing{DropletActive: 30 * time.Second, Shutdown: 10 * time.Second, SnapshotBase: 3 * time.Minute, SnapshotPerGB: 0}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := srv.Close(cctx); err != nil {
			b.Error(err)
		}
	}()
	var rec recorder
	px := rec.proxy(srv.URL())
	defer px.Close()

	manifest := filepath.Join(b.TempDir(), "manifest.json")
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	so, se, _, err := runTool(b, rctx, "build", "--dir", "examples/hello-first-login", "--vendor", "hello",
		"--api-url", px.URL, "--token", token, "--image", "debian-12-x64", "--secure-erase=false",
		"--boot-test=false", "--manifest", manifest)
	if err != nil {
		b.Fatalf("build_image: %v\nstdout:\n%s\nstderr:\n%s", err, tail(so, 60), tail(se, 20))
	}
	if n := len(srv.Ledger().Live(localcloud.KindDroplet)); n != 0 {
		b.Fatalf("%d droplets left behind", n)
	}
	m := readManifest(b, manifest)
	if m.SnapshotID == 0 {
		b.Fatal("no snapshot in the manifest")
	}
	rec.mu.Lock()
	reqs := append([]request(nil), rec.reqs...)
	rec.mu.Unlock()
	if got := srv.Stats().Total; got != len(reqs) || m.APIRequests != len(reqs) {
		b.Fatalf("requests: proxy saw %d, emulator %d, the tool's manifest %d", len(reqs), got, m.APIRequests)
	}

	// Steps run one after the other from m.Started; what comes after the
	// last one is the cleanup (key deletion, checks that all is gone).
	type phase struct {
		name       string
		start, end time.Time
		n          int
	}
	var phases []*phase
	at := m.Started
	for _, s := range m.Steps {
		phases = append(phases, &phase{name: s.Name, start: at, end: at.Add(s.Duration)})
		at = at.Add(s.Duration)
	}
	phases = append(phases, &phase{name: "(cleanup and report)", start: at, end: time.Now()})
	for _, r := range reqs {
		for _, p := range phases {
			if !r.at.After(p.end) || p == phases[len(phases)-1] {
				p.n++
				break
			}
		}
	}
	fmt.Fprintf(os.Stdout, "\nAPI requests per step (one build_image, emulator at time scale 1):\n")
	for _, p := range phases {
		if p.n > 0 || p.end.Sub(p.start) > time.Second {
			fmt.Fprintf(os.Stdout, "  %-40s %6.1fs %4d requests\n", p.name, p.end.Sub(p.start).Seconds(), p.n)
		}
	}

	// Noticing delays, and a fixed 3 s poller on the same timeline: a wait
	// starts at the request that caused it (the last POST before the
	// change); the fixed poller looks at start+3s, +6s, ... and needs
	// floor(wait/3)+1 looks; the tool's looks are its GETs in between.
	var delays, fixedDelays []float64
	fixedPolls, toolPolls := 0, 0
	fmt.Fprintf(os.Stdout, "\nState changes (emulator Events):\n")
	for _, e := range srv.Events() {
		if e.Revealed.IsZero() || e.At.Before(start) {
			continue
		}
		delay := e.Revealed.Sub(e.At).Seconds()
		var cause time.Time
		for _, r := range reqs {
			if r.method == "POST" && r.at.Before(e.At) {
				cause = r.at
			}
		}
		wait := e.At.Sub(cause).Seconds()
		looks := int(math.Floor(wait/3)) + 1
		fixedDelay := float64(looks)*3 - wait
		polls := 0
		for _, r := range reqs {
			if r.method == "GET" && r.at.After(cause) && !r.at.After(e.Revealed) {
				polls++
			}
		}
		if e.To != "active" && e.To != "completed" {
			// Not something the tool waits for (shown in the response that made it, or a side effect).
			fmt.Fprintf(os.Stdout, "  %-8s %-22s %-28s noticed after %5.2fs\n", e.Kind, e.Name, e.From+" -> "+e.To, delay)
			continue
		}
		fmt.Fprintf(os.Stdout, "  %-8s %-22s %-28s after %6.1fs, noticed after %5.2fs (%d looks; fixed 3 s poller: %d looks, %.2fs)\n",
			e.Kind, e.Name, e.From+" -> "+e.To, wait, delay, polls, looks, fixedDelay)
		delays = append(delays, delay)
		fixedDelays = append(fixedDelays, fixedDelay)
		toolPolls += polls
		fixedPolls += looks
	}
	if len(delays) == 0 {
		b.Fatal("no revealed state changes: the emulator's Events recorded nothing")
	}
	routes := map[string]int{}
	for _, r := range reqs {
		routes[r.method+" "+r.route]++
	}
	keys := make([]string, 0, len(routes))
	for k := range routes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(os.Stdout, "\nRequests by route:\n")
	for _, k := range keys {
		fmt.Fprintf(os.Stdout, "  %-45s %d\n", k, routes[k])
	}
	fmt.Fprintln(os.Stdout, strings.Repeat("-", 60))
	b.ReportMetric(float64(len(reqs)), "requests")
	b.ReportMetric(median(delays), "median-notice-s")
	b.ReportMetric(float64(len(reqs)-toolPolls+fixedPolls), "fixed3s-requests")
	b.ReportMetric(median(fixedDelays), "fixed3s-median-notice-s")
	b.ReportMetric(time.Since(start).Seconds(), "build-s")
}
