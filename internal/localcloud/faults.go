package localcloud

import (
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// Fault scripts one misbehaviour of a route. A fault with only Delay set
// slows the answer and then serves it normally.
type Fault struct {
	Method     string        // "" matches every method
	Path       string        // exact path, or a path.Match pattern such as "/v2/droplets/*"
	Status     int           // answer with this status instead of serving the request
	RetryAfter time.Duration // sent as Retry-After (whole seconds, at least 1) when set
	Delay      time.Duration // wait this long before answering
	Drop       bool          // close the connection without an answer
	Times      int           // how many requests it applies to; 0 means every one
	Body       string        // body for Status; default is the API's error body for it
	// After serves the request first (it takes effect: a droplet is created,
	// an action started) and only then answers with Status or drops the
	// connection, as a gateway that fails after the backend acted does. The
	// client cannot tell this from a request that never arrived. Without
	// Status or Drop it does nothing.
	After bool
}

// Faults holds the scripted faults of one server; it is safe for concurrent use.
type Faults struct {
	mu             sync.Mutex
	routes         []*Fault
	neverActive    []string
	ignoreShutdown bool
	failSnapshots  bool
	// The two outcomes of deleting a droplet during its snapshot that
	// DigitalOcean may give (see RefuseDeleteDuringSnapshot).
	refuseDeleteDuringSnapshot, snapshotOutlivesDelete bool
	failTransfers                                      bool
	mitmHostKeys                                       bool
}

// Add scripts a route fault; faults are tried in the order added.
func (f *Faults) Add(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := ft
	f.routes = append(f.routes, &c)
}

// NeverActive keeps droplets whose name contains substr in status "new"
// forever; "" matches every droplet.
func (f *Faults) NeverActive(substr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.neverActive = append(f.neverActive, substr)
}

// IgnoreShutdown makes machines ignore graceful shutdowns: the shutdown
// action stays in progress until Timing.ShutdownTimeout, then errors, and
// the droplet stays active (power_off still works).
func (f *Faults) IgnoreShutdown() { f.set(&f.ignoreShutdown) }

// FailSnapshots makes snapshot actions end "errored" without an image.
func (f *Faults) FailSnapshots() { f.set(&f.failSnapshots) }

// RefuseDeleteDuringSnapshot makes deleting a droplet whose snapshot action
// runs answer 422 "pending event", as DigitalOcean may: the droplet and the
// snapshot stay until the action ends. (By default a delete aborts it.)
func (f *Faults) RefuseDeleteDuringSnapshot() { f.set(&f.refuseDeleteDuringSnapshot) }

// SnapshotOutlivesDelete makes a snapshot action finish, and its image
// appear, although its droplet was deleted meanwhile, as DigitalOcean may.
func (f *Faults) SnapshotOutlivesDelete() { f.set(&f.snapshotOutlivesDelete) }

// FailTransfers makes image transfer actions end "errored".
func (f *Faults) FailTransfers() { f.set(&f.failTransfers) }

// MITMHostKeys makes new machines present host keys other than the ones
// user_data delivers, as a man in the middle would.
func (f *Faults) MITMHostKeys() { f.set(&f.mitmHostKeys) }

func (f *Faults) set(b *bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*b = true
}

func (f *Faults) get(b *bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *b
}

// Reset removes every fault.
func (f *Faults) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = nil
	f.neverActive = nil
	f.ignoreShutdown, f.failSnapshots, f.failTransfers, f.mitmHostKeys = false, false, false, false
	f.refuseDeleteDuringSnapshot, f.snapshotOutlivesDelete = false, false
}

func (f *Faults) isNeverActive(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.neverActive {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// match returns the first route fault for r and uses up one of its Times.
func (f *Faults) match(r *http.Request) (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, ft := range f.routes {
		if ft.Method != "" && !strings.EqualFold(ft.Method, r.Method) {
			continue
		}
		if ft.Path != r.URL.Path {
			if ok, err := path.Match(ft.Path, r.URL.Path); err != nil || !ok {
				continue
			}
		}
		out := *ft
		if ft.Times > 0 {
			ft.Times--
			if ft.Times == 0 {
				f.routes = append(f.routes[:i:i], f.routes[i+1:]...)
			}
		}
		return out, true
	}
	return Fault{}, false
}
