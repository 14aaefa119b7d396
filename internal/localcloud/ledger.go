package localcloud

import (
	"slices"
	"sync"
	"time"
)

// Resource kinds the ledger records.
const (
	KindDroplet  = "droplet"
	KindKey      = "key"
	KindSnapshot = "snapshot"
	KindTag      = "tag"
	KindAction   = "action"
)

// Record is one resource the emulator ever created.
type Record struct {
	Kind    string // KindDroplet, KindKey, KindSnapshot, KindTag or KindAction
	ID      string // numeric ids in decimal; a tag's id is its name
	Name    string
	Tags    []string
	Created time.Time
	Deleted time.Time // zero while it exists
	Exists  bool
	// Fingerprint is a key's MD5 fingerprint, as the API shows it: tests
	// recognise the key's private half where it must never be.
	Fingerprint string `json:",omitempty"`
}

// Ledger remembers every resource ever created so tests can prove nothing
// leaked; it is safe for concurrent use.
type Ledger struct {
	mu   sync.Mutex
	recs []*Record
}

func (l *Ledger) add(kind, id, name string, tags []string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, &Record{Kind: kind, ID: id, Name: name, Tags: slices.Clone(tags), Created: at, Exists: true})
}

// update changes the live record of kind and id.
func (l *Ledger) update(kind, id string, f func(r *Record)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.Kind == kind && r.ID == id && r.Exists {
			f(r)
		}
	}
}

func (l *Ledger) setFingerprint(kind, id, fp string) {
	l.update(kind, id, func(r *Record) { r.Fingerprint = fp })
}

func (l *Ledger) setTags(kind, id string, tags []string) {
	l.update(kind, id, func(r *Record) { r.Tags = slices.Clone(tags) })
}

func (l *Ledger) rename(kind, id, name string) {
	l.update(kind, id, func(r *Record) { r.Name = name })
}

func (l *Ledger) remove(kind, id string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.Kind == kind && r.ID == id && r.Exists {
			r.Exists = false
			r.Deleted = at
		}
	}
}

// All returns a copy of every record, in creation order.
func (l *Ledger) All() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Record, 0, len(l.recs))
	for _, r := range l.recs {
		c := *r
		c.Tags = slices.Clone(r.Tags)
		out = append(out, c)
	}
	return out
}

// Live returns the records of kind that still exist.
func (l *Ledger) Live(kind string) []Record {
	var out []Record
	for _, r := range l.All() {
		if r.Kind == kind && r.Exists {
			out = append(out, r)
		}
	}
	return out
}

// Count returns how many resources of kind were ever created.
func (l *Ledger) Count(kind string) int {
	n := 0
	for _, r := range l.All() {
		if r.Kind == kind {
			n++
		}
	}
	return n
}

// Event is one state change of a droplet or action: when it happened and
// when a response first showed it to a client (zero if none did yet), so
// tests can measure how late a poller notices.
type Event struct {
	Kind     string // KindDroplet or KindAction
	ID       int
	Name     string // droplet name, or action type
	From, To string // statuses, e.g. "new" -> "active", "in-progress" -> "completed"
	At       time.Time
	Revealed time.Time
}
