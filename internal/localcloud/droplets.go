package localcloud

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"
)

var (
	hostnameRE = regexp.MustCompile(`^[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]$`)
	tagRE      = regexp.MustCompile(`^[a-zA-Z0-9_\-:]+$`)
)

const (
	msgHostname = "Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)"
	userDataMax = 64 << 10
)

type dropletCreate struct {
	Name             string            `json:"name"`
	Names            []string          `json:"names"`
	Region           string            `json:"region"`
	Size             string            `json:"size"`
	Image            json.RawMessage   `json:"image"`
	SSHKeys          []json.RawMessage `json:"ssh_keys"`
	Backups          bool              `json:"backups"`
	IPv6             bool              `json:"ipv6"`
	Monitoring       bool              `json:"monitoring"`
	Tags             []string          `json:"tags"`
	UserData         string            `json:"user_data"`
	VPCUUID          string            `json:"vpc_uuid"`
	WithDropletAgent *bool             `json:"with_droplet_agent"`
}

// findImage resolves an image by id or slug for team; the caller holds srv.mu.
func (st *state) findImage(team int, ident string) *image {
	if id, err := strconv.Atoi(ident); err == nil {
		if im := st.images[id]; im != nil && (im.team < 0 || im.team == team) {
			return im
		}
		return nil
	}
	for _, im := range st.images {
		if im.slug != "" && im.slug == ident {
			return im
		}
	}
	return nil
}

func (st *state) createDroplets(c call) (int, any, error) {
	var req dropletCreate
	if err := decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	names := req.Names
	multi := len(names) > 0
	if !multi {
		if req.Name == "" {
			return 0, nil, errUnprocessable("Name is required.")
		}
		names = []string{req.Name}
	}
	if len(names) > 10 {
		return 0, nil, errUnprocessable("You can create at most 10 Droplets at once.")
	}
	for _, n := range names {
		if !hostnameRE.MatchString(n) {
			return 0, nil, errUnprocessable(msgHostname)
		}
	}
	if req.Region == "" {
		req.Region = "nyc3" // the API picks a region when none is given
	}
	region, ok := st.srv.cat.region(req.Region)
	if !ok {
		return 0, nil, errUnprocessable("You specified an invalid region for Droplet creation.")
	}
	size, ok := st.srv.cat.size(req.Size)
	if !ok {
		return 0, nil, errUnprocessable("You specified an invalid size for Droplet creation.")
	}
	var imgIdent string
	if len(req.Image) > 0 {
		var sv string
		var iv int
		if json.Unmarshal(req.Image, &sv) == nil {
			imgIdent = sv
		} else if json.Unmarshal(req.Image, &iv) == nil {
			imgIdent = strconv.Itoa(iv)
		}
	}
	for _, t := range req.Tags {
		if !tagRE.MatchString(t) || len(t) > 255 {
			return 0, nil, errUnprocessable("Tag names may only contain letters, numbers, colons, dashes, and underscores; %q does not.", t)
		}
	}
	if len(req.UserData) > userDataMax {
		return 0, nil, errUnprocessable("user_data is limited to 64 KiB.")
	}
	s := st.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	im := st.findImage(c.team, imgIdent)
	if imgIdent == "" || im == nil {
		return 0, nil, errUnprocessable("You specified an invalid image for Droplet creation.")
	}
	if im.base != nil && !im.base.Available {
		return 0, nil, errUnprocessable("The image %s is not available in this local cloud: %s", im.slug, im.base.Reason)
	}
	if im.team >= 0 && !slices.Contains(im.regions, region.Slug) {
		return 0, nil, errUnprocessable("The image %d is not available in region %s; transfer it there first.", im.id, region.Slug)
	}
	if size.Disk < im.minDisk {
		return 0, nil, errUnprocessable("The size %s has a %d GB disk, smaller than the image's min_disk_size of %d GB; choose a larger size.", size.Slug, size.Disk, im.minDisk)
	}
	var authorized []string
	for _, raw := range req.SSHKeys {
		var ident string
		var iv int
		if json.Unmarshal(raw, &ident) != nil {
			if json.Unmarshal(raw, &iv) != nil {
				return 0, nil, errUnprocessable("ssh_keys must be key ids or fingerprints.")
			}
			ident = strconv.Itoa(iv)
		}
		k := st.findKey(c.team, ident)
		if k == nil {
			return 0, nil, errUnprocessable("You specified an invalid SSH key (%s) for Droplet creation.", ident)
		}
		authorized = append(authorized, k.pub)
	}
	features := []string{}
	if req.Backups {
		features = append(features, "backups")
	}
	if req.IPv6 {
		features = append(features, "ipv6")
	}
	if req.Monitoring {
		features = append(features, "monitoring")
	}
	features = append(features, "private_networking") // every droplet is in a VPC
	if req.WithDropletAgent == nil || *req.WithDropletAgent {
		features = append(features, "droplet_agent")
	}
	vpc := req.VPCUUID
	if vpc == "" {
		vpc = uuidFrom(fmt.Sprintf("vpc/%d/%s", c.team, region.Slug))
	}
	tags := dedupe(req.Tags)
	now := time.Now()
	for _, t := range tags {
		st.ensureTag(c.team, t, now)
	}
	var out []dropletJSON
	var actionLinks []map[string]any
	for _, name := range names {
		st.nextDroplet++
		d := &droplet{
			id: st.nextDroplet, team: c.team, name: name, size: size, region: region, image: im.json(),
			status: "new", created: now, features: slices.Clone(features), tags: slices.Clone(tags),
			ipv6: req.IPv6, vpc: vpc,
		}
		d.ctx, d.cancel = context.WithCancel(s.ctx)
		a := st.newAction(c.team, "create", "droplet", d.id, region.Slug)
		d.pending = a.id
		st.droplets[d.id] = d
		if s.userData == nil {
			s.userData = map[int]string{}
		}
		s.userData[d.id] = req.UserData
		s.ledger.add(KindDroplet, strconv.Itoa(d.id), name, tags, now)
		s.record(KindDroplet, d.id, name, "", "new")
		spec := MachineSpec{
			ID: d.id, Name: name, Hostname: name, UserData: req.UserData, SSHKeys: slices.Clone(authorized),
			InstanceID:     fmt.Sprintf("i-%d-%s", d.id, newRequestID()[:8]),
			IgnoreHostKeys: s.faults.get(&s.faults.mitmHostKeys),
		}
		if im.base != nil {
			spec.ImageSlug = im.slug
		} else {
			spec.SnapshotID = im.id
		}
		never := s.faults.isNeverActive(name)
		s.background(func(context.Context) { st.boot(d, a, spec, never) })
		out = append(out, st.dropletJSON(d))
		actionLinks = append(actionLinks, map[string]any{"id": a.id, "rel": "create", "href": fmt.Sprintf("%sv2/actions/%d", s.URL(), a.id)})
	}
	links := map[string]any{"actions": actionLinks}
	if multi {
		return http.StatusAccepted, map[string]any{"droplets": out, "links": links}, nil
	}
	return http.StatusAccepted, map[string]any{"droplet": out[0], "links": links}, nil
}

func dedupe(in []string) []string {
	out := []string{}
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// boot runs Machines.Create and makes the droplet active no sooner than
// Timing.DropletActive after the request.
func (st *state) boot(d *droplet, a *action, spec MachineSpec, never bool) {
	s := st.srv
	d.ops.Lock()
	defer d.ops.Unlock()
	start := time.Now()
	if never {
		<-d.ctx.Done()
		s.mu.Lock()
		st.finishAction(a, fmt.Errorf("droplet never became active (fault injected): %w", d.ctx.Err()))
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	d.machine = true
	s.mu.Unlock()
	ip, err := s.o.Machines.Create(d.ctx, spec)
	if err == nil {
		err = sleep(d.ctx, s.currentTiming().DropletActive-time.Since(start))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.pending == a.id {
		d.pending = 0
	}
	if err != nil {
		st.finishAction(a, fmt.Errorf("boot droplet %d: %w", d.id, err))
		return
	}
	d.ipv4 = ip
	st.setStatus(d, "active")
	st.finishAction(a, nil)
}

// teamDroplets lists team's droplets by id, optionally by tag and name; the caller holds srv.mu.
func (st *state) teamDroplets(team int, tag, name string) []*droplet {
	var out []*droplet
	for _, d := range st.droplets {
		if d.team != team || (tag != "" && !slices.Contains(d.tags, tag)) || (name != "" && d.name != name) {
			continue
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *droplet) int { return a.id - b.id })
	return out
}

func (st *state) listDroplets(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	q := c.r.URL.Query()
	ds := st.teamDroplets(c.team, q.Get("tag_name"), q.Get("name"))
	from, to, links, meta, err := st.srv.paginate(c.r, len(ds))
	if err != nil {
		return 0, nil, err
	}
	out := []dropletJSON{}
	for _, d := range ds[from:to] {
		out = append(out, st.dropletJSON(d))
	}
	return http.StatusOK, map[string]any{"droplets": out, "links": links, "meta": meta}, nil
}

// droplet finds team's droplet from the {id} path value; the caller holds srv.mu.
func (st *state) droplet(c call) (*droplet, error) {
	id, err := pathInt(c.r, "id")
	if err != nil {
		return nil, err
	}
	d := st.droplets[id]
	if d == nil || d.team != c.team {
		return nil, errNotFound()
	}
	return d, nil
}

func (st *state) getDroplet(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	d, err := st.droplet(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"droplet": st.dropletJSON(d)}, nil
}

func (st *state) deleteDroplet(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	d, err := st.droplet(c)
	if err != nil {
		return 0, nil, err
	}
	if a := st.actions[d.pending]; a != nil && a.typ == "snapshot" && st.srv.faults.get(&st.srv.faults.refuseDeleteDuringSnapshot) {
		return 0, nil, errUnprocessable(msgPending)
	}
	st.destroy(d)
	return http.StatusNoContent, nil, nil
}

func (st *state) deleteDropletsByTag(c call) (int, any, error) {
	tag := c.r.URL.Query().Get("tag_name")
	if tag == "" {
		return 0, nil, errBadRequest("tag_name is required to delete droplets in bulk.")
	}
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	for _, d := range st.teamDroplets(c.team, tag, "") {
		st.destroy(d)
	}
	return http.StatusNoContent, nil, nil
}

// destroy removes d from the API at once and its machine in the
// background, after any running backend call ended; the caller holds srv.mu.
func (st *state) destroy(d *droplet) {
	s := st.srv
	delete(st.droplets, d.id)
	s.ledger.remove(KindDroplet, strconv.Itoa(d.id), time.Now())
	s.record(KindDroplet, d.id, d.name, d.status, "deleted")
	d.cancel()
	s.background(func(ctx context.Context) {
		d.ops.Lock()
		defer d.ops.Unlock()
		s.mu.Lock()
		had := d.machine
		d.machine = false
		s.mu.Unlock()
		if !had {
			return
		}
		// The delete must finish even while the server closes: a leaked
		// machine is worse than a slow Close.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := s.o.Machines.Delete(dctx, d.id); err != nil {
			s.o.Logf("local cloud: delete machine of droplet %d (%s): %v", d.id, d.name, err)
		}
	})
}

// ----- droplet actions -----

func (st *state) postDropletAction(c call) (int, any, error) {
	var req struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	s := st.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := st.droplet(c)
	if err != nil {
		return 0, nil, err
	}
	switch req.Type {
	case "shutdown", "power_off", "power_on", "reboot", "snapshot":
	case "":
		return 0, nil, errUnprocessable("Action type is required.")
	case "enable_backups", "disable_backups", "power_cycle", "restore", "password_reset", "resize", "rebuild", "rename", "change_kernel", "enable_ipv6":
		return 0, nil, errUnprocessable("The action type %s is not supported by the local cloud.", req.Type)
	default:
		return 0, nil, errUnprocessable("%s is not a valid action type.", req.Type)
	}
	if d.pending != 0 || d.status == "new" {
		return 0, nil, errUnprocessable(msgPending)
	}
	switch {
	case (req.Type == "shutdown" || req.Type == "power_off") && d.status == "off":
		return 0, nil, errUnprocessable("Droplet is already powered off.")
	case req.Type == "power_on" && d.status == "active":
		return 0, nil, errUnprocessable("Droplet is already powered on.")
	case req.Type == "reboot" && d.status == "off":
		return 0, nil, errUnprocessable("Droplet is powered off; use power_on.")
	}
	name := req.Name
	if req.Type == "snapshot" && name == "" {
		name = fmt.Sprintf("%s-%d", d.name, time.Now().Unix())
	}
	a := st.newAction(c.team, req.Type, "droplet", d.id, d.region.Slug)
	d.pending = a.id
	s.background(func(context.Context) { st.runDropletAction(d, a, name) })
	return http.StatusCreated, map[string]any{"action": st.actionJSON(a)}, nil
}

// runDropletAction drives the backend for a and ends it no sooner than its
// modelled duration.
func (st *state) runDropletAction(d *droplet, a *action, snapName string) {
	s := st.srv
	d.ops.Lock()
	defer d.ops.Unlock()
	ctx, m, t := d.ctx, s.o.Machines, s.currentTiming()
	if a.typ == "snapshot" && s.faults.get(&s.faults.snapshotOutlivesDelete) {
		ctx = context.WithoutCancel(ctx) // deleting the droplet does not stop it
	}
	start := time.Now()
	var (
		minDur time.Duration
		to     string
		err    error
		snap   *image
	)
	// Real machines get a real-time budget; the modelled timeout is for the fault.
	realTimeout := max(t.ShutdownTimeout, 2*time.Minute)
	switch a.typ {
	case "shutdown":
		minDur, to = t.Shutdown, "off"
		if s.faults.get(&s.faults.ignoreShutdown) {
			err = sleep(ctx, t.ShutdownTimeout)
			if err == nil {
				err = errIgnoredShutdown
			}
			break
		}
		sctx, cancel := context.WithTimeout(ctx, realTimeout)
		err = m.Shutdown(sctx, d.id)
		cancel()
	case "power_off":
		minDur, to = t.PowerOff, "off"
		err = m.PowerOff(ctx, d.id)
	case "power_on":
		minDur, to = t.PowerOn, "active"
		err = m.PowerOn(ctx, d.id)
	case "reboot":
		minDur, to = t.Reboot, "active"
		err = m.Reboot(ctx, d.id)
	case "snapshot":
		minDur = t.snapshot(0)
		if s.faults.get(&s.faults.failSnapshots) {
			err = sleep(ctx, minDur)
			if err == nil {
				err = fmt.Errorf("snapshot failed (fault injected)")
			}
			break
		}
		s.mu.Lock()
		st.nextImage++
		snap = &image{
			id: st.nextImage, team: d.team, name: snapName, typ: "snapshot", dist: d.image.Distribution,
			regions: []string{d.region.Slug}, minDisk: d.size.Disk, fromDroplet: d.id,
		}
		s.mu.Unlock()
		var gb float64
		gb, err = m.Snapshot(ctx, d.id, snap.id)
		snap.sizeGB = gb
		minDur = t.snapshot(gb)
	}
	if err == nil {
		err = sleep(ctx, minDur-time.Since(start))
		if err != nil && snap != nil {
			// Cancelled after the backend captured it: do not leak the image.
			_ = m.DeleteSnapshot(context.WithoutCancel(ctx), snap.id)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.pending == a.id {
		d.pending = 0
	}
	if err != nil {
		st.finishAction(a, fmt.Errorf("%s droplet %d: %w", a.typ, d.id, err))
		return
	}
	if to != "" {
		st.setStatus(d, to)
	}
	if snap != nil {
		snap.created = time.Now()
		st.images[snap.id] = snap
		if _, alive := st.droplets[d.id]; alive {
			d.snapshotIDs = append(d.snapshotIDs, snap.id)
		}
		s.ledger.add(KindSnapshot, strconv.Itoa(snap.id), snap.name, nil, snap.created)
	}
	st.finishAction(a, nil)
}

// actionsOf lists team's actions on a resource ("" for all); the caller holds srv.mu.
func (st *state) actionsOf(team int, resType string, resID int) []*action {
	var out []*action
	for _, a := range st.actions {
		if a.team == team && (resType == "" || (a.resourceType == resType && a.resourceID == resID)) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(x, y *action) int { return x.id - y.id })
	return out
}

func (st *state) listActionPage(c call, as []*action) (int, any, error) {
	from, to, links, meta, err := st.srv.paginate(c.r, len(as))
	if err != nil {
		return 0, nil, err
	}
	out := []actionJSON{}
	for _, a := range as[from:to] {
		out = append(out, st.actionJSON(a))
	}
	return http.StatusOK, map[string]any{"actions": out, "links": links, "meta": meta}, nil
}

func (st *state) listDropletActions(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	d, err := st.droplet(c)
	if err != nil {
		return 0, nil, err
	}
	return st.listActionPage(c, st.actionsOf(c.team, "droplet", d.id))
}

func (st *state) listActions(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	return st.listActionPage(c, st.actionsOf(c.team, "", 0))
}

// action finds team's action from {aid}, optionally on a resource; the caller holds srv.mu.
func (st *state) action(c call, resType string, resID int) (*action, error) {
	id, err := pathInt(c.r, "aid")
	if err != nil {
		return nil, err
	}
	a := st.actions[id]
	if a == nil || a.team != c.team || (resType != "" && (a.resourceType != resType || a.resourceID != resID)) {
		return nil, errNotFound()
	}
	return a, nil
}

func (st *state) getAction(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	a, err := st.action(c, "", 0)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"action": st.actionJSON(a)}, nil
}

func (st *state) getDropletAction(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	id, err := pathInt(c.r, "id")
	if err != nil {
		return 0, nil, err
	}
	// Actions outlive their droplet, as on DigitalOcean.
	a, err := st.action(c, "droplet", id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"action": st.actionJSON(a)}, nil
}

func (st *state) listDropletSnapshots(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	d, err := st.droplet(c)
	if err != nil {
		return 0, nil, err
	}
	var ims []*image
	for _, id := range d.snapshotIDs {
		if im := st.images[id]; im != nil {
			ims = append(ims, im)
		}
	}
	from, to, links, meta, err := st.srv.paginate(c.r, len(ims))
	if err != nil {
		return 0, nil, err
	}
	out := []map[string]any{}
	for _, im := range ims[from:to] {
		out = append(out, map[string]any{
			"id": im.id, "name": im.name, "created_at": timeJSON(im.created), "regions": slices.Clone(im.regions),
			"min_disk_size": im.minDisk, "size_gigabytes": im.sizeGB, "type": "snapshot",
			"distribution": im.dist, "public": false,
		})
	}
	return http.StatusOK, map[string]any{"snapshots": out, "links": links, "meta": meta}, nil
}
