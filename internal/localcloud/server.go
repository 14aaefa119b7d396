// Package localcloud is a DigitalOcean v2 API emulator whose droplets run on a pluggable Machines backend.
package localcloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mp-image-action/mp-image-action/internal/errlist"
	"github.com/mp-image-action/mp-image-action/internal/retry"
)

// Options configures a local cloud server.
type Options struct {
	Addr        string   // listen address, default "127.0.0.1:0"
	Token       string   // bearer token of the primary team; required
	ExtraTokens []string // more valid tokens, each its own team (sees only its own resources)
	Machines    Machines // nil means NoMachines()
	TimeScale   float64  // multiplies every modelled duration; 0 means 1
	Timing      Timing   // modelled durations; zero fields take defaults
	// RateLimitPerHour and RateLimitPerMinute are per token; 0 means 5000 and 250.
	RateLimitPerHour, RateLimitPerMinute int
	Logf                                 func(format string, args ...any) // nil means silent
	VendorApps                           []VendorApp                      // seeded Vendor Portal apps
}

// Timing holds the modelled durations of the cloud, before TimeScale.
type Timing struct {
	DropletActive   time.Duration // create until "active" (at least; also waits for Machines.Create)
	Shutdown        time.Duration // graceful shutdown action (at least)
	ShutdownTimeout time.Duration // a shutdown the machine ignores errors after this
	PowerOff        time.Duration
	PowerOn         time.Duration
	Reboot          time.Duration
	SnapshotBase    time.Duration // snapshot takes SnapshotBase + SnapshotPerGB * used GB
	SnapshotPerGB   time.Duration
	// Snapshot, when set, is how long every snapshot takes whatever its
	// size: what a test or benchmark sets to sweep durations.
	Snapshot time.Duration
	Transfer time.Duration // image transfer to another region
}

func (t Timing) withDefaults(scale float64) Timing {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
		*d = time.Duration(float64(*d) * scale)
	}
	def(&t.DropletActive, 30*time.Second)
	def(&t.Shutdown, 5*time.Second)
	def(&t.ShutdownTimeout, 60*time.Second)
	def(&t.PowerOff, 3*time.Second)
	def(&t.PowerOn, 10*time.Second)
	def(&t.Reboot, 10*time.Second)
	def(&t.SnapshotBase, 60*time.Second)
	def(&t.SnapshotPerGB, 20*time.Second)
	def(&t.Transfer, 120*time.Second)
	t.Snapshot = time.Duration(float64(t.Snapshot) * scale)
	return t
}

// snapshot is how long a snapshot of gb used gigabytes takes.
func (t Timing) snapshot(gb float64) time.Duration {
	if t.Snapshot > 0 {
		return t.Snapshot
	}
	return t.SnapshotBase + time.Duration(float64(t.SnapshotPerGB)*gb)
}

// SetTiming changes the modelled durations from now on (zero fields take
// defaults; TimeScale applies) and returns the previous ones, as given. A
// test sharing one server with others puts them back when done; actions
// already running keep the durations they started with.
func (s *Server) SetTiming(t Timing) (old Timing) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old = s.o.Timing
	s.o.Timing, s.timing = t, t.withDefaults(s.o.TimeScale)
	return old
}

// currentTiming is the modelled durations now.
func (s *Server) currentTiming() Timing {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.timing
}

// Stats counts what the server answered.
type Stats struct {
	Total       int            // every request, authenticated or not
	Requests    map[string]int // by route, e.g. "GET /v2/droplets/{id}"
	Statuses    map[int]int    // by status code
	RateLimited int            // 429s from the rate limiter (not from faults)
	Faulted     int            // requests a route fault answered, delayed or dropped
}

// Server is a running local cloud.
type Server struct {
	o       Options
	timing  Timing // guarded by mu: SetTiming changes it
	cat     catalog
	ln      net.Listener
	http    *http.Server
	handler http.Handler

	// ctx ends every background action when the server closes.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	ledger Ledger
	faults Faults

	mu     sync.Mutex // guards everything below
	st     state
	stats  Stats
	events []Event
	limits map[string]*bucket
	closed bool
	// userData is every droplet's user_data, kept after the droplet is gone
	// (see UserData).
	userData map[int]string
}

// Start listens on o.Addr and serves the API until Close.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Token == "" {
		return nil, errors.New("local cloud: Options.Token is required: pick any secret string and give it to the client")
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Machines == nil {
		o.Machines = NoMachines()
	}
	if o.TimeScale == 0 {
		o.TimeScale = 1
	}
	if o.RateLimitPerHour == 0 {
		o.RateLimitPerHour = 5000
	}
	if o.RateLimitPerMinute == 0 {
		o.RateLimitPerMinute = 250
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("local cloud: listen on %s: %w (choose a free --addr)", o.Addr, err)
	}
	s := &Server{
		o:      o,
		timing: o.Timing.withDefaults(o.TimeScale),
		cat:    newCatalog(),
		ln:     ln,
		limits: map[string]*bucket{},
		stats:  Stats{Requests: map[string]int{}, Statuses: map[int]int{}},
	}
	// Background work must outlive the ctx of Start, which may be a short
	// startup deadline; Close cancels it.
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.st = newState(s, o.Machines.Images(), o.VendorApps)
	s.handler = s.routes()
	s.http = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logf("local cloud: serve: %v", err)
		}
	}()
	o.Logf("local cloud: API at %s", s.URL())
	return s, nil
}

// URL is the API base URL in godo's BaseURL form, with a trailing slash.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + "/" }

// Ledger returns every resource ever created.
func (s *Server) Ledger() *Ledger { return &s.ledger }

// UserData is the user_data droplet id was created with, kept after the
// droplet is deleted: tests look for it where it must never be (a snapshot,
// another droplet's disk). DigitalOcean serves it to the droplet alone.
func (s *Server) UserData(id int) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ud, ok := s.userData[id]
	return ud, ok
}

// Faults returns the scriptable faults of this server.
func (s *Server) Faults() *Faults { return &s.faults }

// SetRateLimit changes the per-token limits from now on (0 keeps one) and
// returns the previous ones; a test shares one server with others, so it
// puts them back when done. Requests already counted in the current windows
// still count.
func (s *Server) SetRateLimit(perMinute, perHour int) (oldPerMinute, oldPerHour int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	oldPerMinute, oldPerHour = s.o.RateLimitPerMinute, s.o.RateLimitPerHour
	if perMinute > 0 {
		s.o.RateLimitPerMinute = perMinute
	}
	if perHour > 0 {
		s.o.RateLimitPerHour = perHour
	}
	return oldPerMinute, oldPerHour
}

// Stats returns a copy of the request counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.stats
	c.Requests = make(map[string]int, len(s.stats.Requests))
	for k, v := range s.stats.Requests {
		c.Requests[k] = v
	}
	c.Statuses = make(map[int]int, len(s.stats.Statuses))
	for k, v := range s.stats.Statuses {
		c.Statuses[k] = v
	}
	return c
}

// Events returns every state change so far, in the order they happened.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Close stops serving, ends background actions, deletes every droplet and
// snapshot through the backend and closes it. It is safe to call twice.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	var errs []error
	if err := s.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop HTTP server: %w", err))
		_ = s.http.Close()
	}
	s.cancel()
	s.wg.Wait()
	errs = append(errs, s.st.deleteAll(ctx)...)
	if err := s.o.Machines.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close machines backend: %w", err))
	}
	if err := errlist.Join(errs...); err != nil {
		return fmt.Errorf("local cloud: close: %w", err)
	}
	return nil
}

// record appends a state change; the caller holds s.mu.
func (s *Server) record(kind string, id int, name, from, to string) {
	s.events = append(s.events, Event{Kind: kind, ID: id, Name: name, From: from, To: to, At: time.Now()})
}

// reveal notes that a response is showing status to a client; the caller holds s.mu.
func (s *Server) reveal(kind string, id int, status string) {
	for i := len(s.events) - 1; i >= 0; i-- {
		e := &s.events[i]
		if e.Kind == kind && e.ID == id {
			if e.To == status && e.Revealed.IsZero() {
				e.Revealed = time.Now()
			}
			if e.To == status {
				return
			}
		}
	}
}

// sleep waits d or until ctx ends.
var sleep = retry.Sleep

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
