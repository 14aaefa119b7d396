package localcloud

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// state is the cloud's resources; every field is guarded by srv.mu except
// where noted.
type state struct {
	srv *Server

	nextDroplet, nextImage, nextAction, nextKey int

	keys     map[int]*sshKey
	droplets map[int]*droplet
	images   map[int]*image
	actions  map[int]*action
	tags     map[tagKey]bool
	apps     map[string]*VendorApp
}

type tagKey struct {
	team int
	name string
}

type sshKey struct {
	id, team      int
	name, pub, fp string
}

type image struct {
	id, team    int // team -1: public distribution image
	name, desc  string
	typ, dist   string
	slug        string
	regions     []string
	created     time.Time
	minDisk     int
	sizeGB      float64
	tags        []string
	base        *BaseImage // for distribution images
	fromDroplet int        // for snapshots
}

type droplet struct {
	id, team    int
	name        string
	size        Size
	region      Region
	image       imageJSON // as it was at creation
	status      string
	pending     int // id of the running action, 0 when unlocked
	created     time.Time
	features    []string
	tags        []string
	ipv4        string
	ipv6        bool
	vpc         string
	snapshotIDs []int
	machine     bool // Machines.Create was called: Delete must run

	ctx    context.Context
	cancel context.CancelFunc
	ops    sync.Mutex // serialises backend calls for this machine; not guarded by srv.mu
}

type action struct {
	id, team     int
	typ, status  string
	started      time.Time
	completed    time.Time
	resourceID   int
	resourceType string
	region       string
}

func newState(s *Server, bases []BaseImage, apps []VendorApp) state {
	st := state{
		srv:         s,
		nextDroplet: 510000000,
		nextImage:   160000000,
		nextAction:  2100000000,
		nextKey:     41000000,
		keys:        map[int]*sshKey{},
		droplets:    map[int]*droplet{},
		images:      map[int]*image{},
		actions:     map[int]*action{},
		tags:        map[tagKey]bool{},
		apps:        map[string]*VendorApp{},
	}
	all := make([]string, 0, len(s.cat.regions))
	for _, r := range s.cat.regions {
		all = append(all, r.Slug)
	}
	epoch := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range bases {
		b := bases[i]
		st.nextImage++
		st.images[st.nextImage] = &image{
			id: st.nextImage, team: -1, name: b.Name, typ: "base", dist: b.Distribution, slug: b.Slug,
			regions: all, created: epoch, minDisk: b.MinDiskGB, sizeGB: b.SizeGB, base: &b,
		}
	}
	for _, a := range apps {
		c := a
		st.apps[a.ID] = &c
	}
	return st
}

func timeJSON(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// uuidFrom derives a stable UUID-shaped string, e.g. a region's default VPC.
func uuidFrom(s string) string {
	h := sha1.Sum([]byte(s))
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// ----- JSON shapes, field for field as in DigitalOcean's OpenAPI spec -----

type imageJSON struct {
	ID            int      `json:"id"`
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Distribution  string   `json:"distribution"`
	Slug          *string  `json:"slug"`
	Public        bool     `json:"public"`
	Regions       []string `json:"regions"`
	CreatedAt     string   `json:"created_at"`
	MinDiskSize   int      `json:"min_disk_size"`
	SizeGigabytes float64  `json:"size_gigabytes"`
	Description   string   `json:"description"`
	Tags          []string `json:"tags"`
	Status        string   `json:"status"`
	ErrorMessage  string   `json:"error_message"`
}

func (im *image) json() imageJSON {
	j := imageJSON{
		ID: im.id, Name: im.name, Type: im.typ, Distribution: im.dist, Public: im.team < 0,
		Regions: slices.Clone(im.regions), CreatedAt: timeJSON(im.created), MinDiskSize: im.minDisk,
		SizeGigabytes: im.sizeGB, Description: im.desc, Tags: slices.Clone(im.tags), Status: "available",
	}
	if im.slug != "" {
		s := im.slug
		j.Slug = &s
	}
	if im.base != nil && !im.base.Available {
		// Listed, as DigitalOcean lists it, but in no region: no droplet can
		// be made from it here, and error_message says why.
		j.Regions, j.ErrorMessage = []string{}, im.base.Reason
	}
	if j.Tags == nil {
		j.Tags = []string{}
	}
	if j.Distribution == "" {
		j.Distribution = "Unknown"
	}
	return j
}

type networkV4 struct {
	IPAddress string `json:"ip_address"`
	Netmask   string `json:"netmask"`
	Gateway   string `json:"gateway"`
	Type      string `json:"type"`
}
type networkV6 struct {
	IPAddress string `json:"ip_address"`
	Netmask   int    `json:"netmask"`
	Gateway   string `json:"gateway"`
	Type      string `json:"type"`
}
type networks struct {
	V4 []networkV4 `json:"v4"`
	V6 []networkV6 `json:"v6"`
}

type dropletJSON struct {
	ID               int       `json:"id"`
	Name             string    `json:"name"`
	Memory           int       `json:"memory"`
	Vcpus            int       `json:"vcpus"`
	Disk             int       `json:"disk"`
	Locked           bool      `json:"locked"`
	Status           string    `json:"status"`
	Kernel           *struct{} `json:"kernel"`
	CreatedAt        string    `json:"created_at"`
	Features         []string  `json:"features"`
	BackupIDs        []int     `json:"backup_ids"`
	NextBackupWindow *struct{} `json:"next_backup_window"`
	SnapshotIDs      []int     `json:"snapshot_ids"`
	Image            imageJSON `json:"image"`
	VolumeIDs        []string  `json:"volume_ids"`
	Size             Size      `json:"size"`
	SizeSlug         string    `json:"size_slug"`
	Networks         networks  `json:"networks"`
	Region           Region    `json:"region"`
	Tags             []string  `json:"tags"`
	VPCUUID          string    `json:"vpc_uuid"`
}

// dropletJSON renders d and notes that its status was revealed; the caller holds srv.mu.
func (st *state) dropletJSON(d *droplet) dropletJSON {
	st.srv.reveal(KindDroplet, d.id, d.status)
	j := dropletJSON{
		ID: d.id, Name: d.name, Memory: d.size.Memory, Vcpus: d.size.Vcpus, Disk: d.size.Disk,
		Locked: d.pending != 0, Status: d.status, CreatedAt: timeJSON(d.created),
		Features: slices.Clone(d.features), BackupIDs: []int{}, SnapshotIDs: slices.Clone(d.snapshotIDs),
		Image: d.image, VolumeIDs: []string{}, Size: d.size, SizeSlug: d.size.Slug,
		Networks: networks{V4: []networkV4{}, V6: []networkV6{}}, Region: d.region,
		Tags: slices.Clone(d.tags), VPCUUID: d.vpc,
	}
	if j.SnapshotIDs == nil {
		j.SnapshotIDs = []int{}
	}
	if j.Tags == nil {
		j.Tags = []string{}
	}
	if d.ipv4 != "" {
		j.Networks.V4 = append(j.Networks.V4, networkV4{IPAddress: d.ipv4, Netmask: "255.255.255.0", Gateway: gateway(d.ipv4), Type: "public"})
		if d.ipv6 {
			// The documentation prefix: real IPv6 is not routed to machines.
			j.Networks.V6 = append(j.Networks.V6, networkV6{IPAddress: fmt.Sprintf("2001:db8::%x", d.id&0xffff), Netmask: 64, Gateway: "2001:db8::1", Type: "public"})
		}
	}
	return j
}

// gateway is the .1 of the droplet's /24, where the backends put the bridge.
func gateway(ip string) string {
	for i := len(ip) - 1; i >= 0; i-- {
		if ip[i] == '.' {
			return ip[:i] + ".1"
		}
	}
	return ""
}

type actionJSON struct {
	ID           int     `json:"id"`
	Status       string  `json:"status"`
	Type         string  `json:"type"`
	StartedAt    string  `json:"started_at"`
	CompletedAt  *string `json:"completed_at"`
	ResourceID   int     `json:"resource_id"`
	ResourceType string  `json:"resource_type"`
	Region       *Region `json:"region,omitempty"`
	RegionSlug   *string `json:"region_slug"`
}

// actionJSON renders a and notes that its status was revealed; the caller holds srv.mu.
func (st *state) actionJSON(a *action) actionJSON {
	st.srv.reveal(KindAction, a.id, a.status)
	j := actionJSON{ID: a.id, Status: a.status, Type: a.typ, StartedAt: timeJSON(a.started), ResourceID: a.resourceID, ResourceType: a.resourceType}
	if !a.completed.IsZero() {
		c := timeJSON(a.completed)
		j.CompletedAt = &c
	}
	if r, ok := st.srv.cat.region(a.region); ok {
		j.Region = &r
		slug := r.Slug
		j.RegionSlug = &slug
	}
	return j
}

// newAction registers an in-progress action; the caller holds srv.mu.
func (st *state) newAction(team int, typ, resourceType string, resourceID int, region string) *action {
	st.nextAction++
	a := &action{id: st.nextAction, team: team, typ: typ, status: "in-progress", started: time.Now(), resourceID: resourceID, resourceType: resourceType, region: region}
	st.actions[a.id] = a
	st.srv.ledger.add(KindAction, strconv.Itoa(a.id), typ, nil, a.started)
	st.srv.record(KindAction, a.id, typ, "", "in-progress")
	return a
}

// finishAction ends a; the caller holds srv.mu.
func (st *state) finishAction(a *action, err error) {
	a.completed = time.Now()
	a.status = "completed"
	if err != nil {
		a.status = "errored"
		st.srv.o.Logf("local cloud: action %d (%s on %s %d) errored: %v", a.id, a.typ, a.resourceType, a.resourceID, err)
	}
	st.srv.record(KindAction, a.id, a.typ, "in-progress", a.status)
}

// setStatus changes a droplet's status and records it; the caller holds srv.mu.
func (st *state) setStatus(d *droplet, to string) {
	if d.status == to {
		return
	}
	st.srv.record(KindDroplet, d.id, d.name, d.status, to)
	d.status = to
}

// deleteAll removes every droplet and snapshot through the backend at Close.
func (st *state) deleteAll(ctx context.Context) []error {
	s := st.srv
	s.mu.Lock()
	var ds []*droplet
	for _, d := range st.droplets {
		ds = append(ds, d)
	}
	var snaps []int
	for id, im := range st.images {
		if im.team >= 0 {
			snaps = append(snaps, id)
		}
	}
	st.droplets = map[int]*droplet{}
	for _, id := range snaps {
		delete(st.images, id)
	}
	s.mu.Unlock()
	var errs []error
	now := time.Now()
	for _, d := range ds {
		d.cancel()
		d.ops.Lock()
		if d.machine {
			if err := s.o.Machines.Delete(ctx, d.id); err != nil {
				errs = append(errs, fmt.Errorf("delete droplet %d (%s): %w", d.id, d.name, err))
			}
		}
		d.ops.Unlock()
		s.ledger.remove(KindDroplet, strconv.Itoa(d.id), now)
	}
	for _, id := range snaps {
		if err := s.o.Machines.DeleteSnapshot(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("delete snapshot %d: %w", id, err))
		}
		s.ledger.remove(KindSnapshot, strconv.Itoa(id), now)
	}
	return errs
}

var errIgnoredShutdown = errors.New("the machine ignored the shutdown request (fault injected)")
