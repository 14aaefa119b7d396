package localcloud

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// teamImages lists what team may see, filtered like GET /v2/images; the caller holds srv.mu.
func (st *state) teamImages(team int, typ string, private bool, tag string) []*image {
	var out []*image
	for _, im := range st.images {
		mine := im.team == team
		switch {
		case im.team >= 0 && !mine:
			continue
		case private && !mine:
			continue
		case typ == "distribution" && im.base == nil:
			continue
		case typ == "snapshot" && im.typ != "snapshot":
			continue
		case typ == "application":
			continue // the local cloud has no 1-Click application images
		case tag != "" && !slices.Contains(im.tags, tag):
			continue
		}
		out = append(out, im)
	}
	slices.SortFunc(out, func(a, b *image) int { return a.id - b.id })
	return out
}

func (st *state) listImages(c call) (int, any, error) {
	q := c.r.URL.Query()
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	ims := st.teamImages(c.team, q.Get("type"), q.Get("private") == "true", q.Get("tag_name"))
	from, to, links, meta, err := st.srv.paginate(c.r, len(ims))
	if err != nil {
		return 0, nil, err
	}
	out := []imageJSON{}
	for _, im := range ims[from:to] {
		out = append(out, im.json())
	}
	return http.StatusOK, map[string]any{"images": out, "links": links, "meta": meta}, nil
}

func (st *state) getImage(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	im := st.findImage(c.team, c.r.PathValue("id"))
	if im == nil {
		return 0, nil, errNotFound()
	}
	return http.StatusOK, map[string]any{"image": im.json()}, nil
}

// ownImage finds one of team's own images by numeric {id}; the caller holds srv.mu.
func (st *state) ownImage(c call) (*image, error) {
	id, err := pathInt(c.r, "id")
	if err != nil {
		return nil, err
	}
	im := st.images[id]
	if im == nil || (im.team >= 0 && im.team != c.team) {
		return nil, errNotFound()
	}
	if im.team < 0 {
		return nil, errForbidden() // public distribution images are not yours to change
	}
	return im, nil
}

func (st *state) updateImage(c call) (int, any, error) {
	var req struct {
		Name         *string `json:"name"`
		Description  *string `json:"description"`
		Distribution *string `json:"distribution"`
	}
	if err := decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	im, err := st.ownImage(c)
	if err != nil {
		return 0, nil, err
	}
	if req.Name != nil {
		if *req.Name == "" {
			return 0, nil, errUnprocessable("Name can't be blank")
		}
		im.name = *req.Name
		st.srv.ledger.rename(KindSnapshot, strconv.Itoa(im.id), im.name)
	}
	if req.Description != nil {
		im.desc = *req.Description
	}
	if req.Distribution != nil {
		im.dist = *req.Distribution
	}
	return http.StatusOK, map[string]any{"image": im.json()}, nil
}

func (st *state) deleteImage(c call) (int, any, error) { return st.deleteFound(c, st.ownImage) }

// dropImage removes im from the API; the caller holds srv.mu.
func (st *state) dropImage(im *image) {
	delete(st.images, im.id)
	if d := st.droplets[im.fromDroplet]; d != nil {
		d.snapshotIDs = slices.DeleteFunc(d.snapshotIDs, func(id int) bool { return id == im.id })
	}
	st.srv.ledger.remove(KindSnapshot, strconv.Itoa(im.id), time.Now())
}

func (st *state) deleteImageBackend(ctx context.Context, im *image) (int, any, error) {
	if err := st.srv.o.Machines.DeleteSnapshot(context.WithoutCancel(ctx), im.id); err != nil {
		st.srv.o.Logf("local cloud: delete snapshot %d from the backend: %v", im.id, err)
	}
	return http.StatusNoContent, nil, nil
}

// ----- image actions -----

func (st *state) postImageAction(c call) (int, any, error) {
	var req struct {
		Type   string `json:"type"`
		Region string `json:"region"`
	}
	if err := decode(c.r, &req); err != nil {
		return 0, nil, err
	}
	s := st.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	im, err := st.ownImage(c)
	if err != nil {
		return 0, nil, err
	}
	switch req.Type {
	case "transfer":
	case "convert":
		return 0, nil, errUnprocessable("Only backups can be converted to snapshots.")
	case "":
		return 0, nil, errUnprocessable("Action type is required.")
	default:
		return 0, nil, errUnprocessable("%s is not a valid action type.", req.Type)
	}
	if _, ok := s.cat.region(req.Region); !ok {
		return 0, nil, errUnprocessable("You specified an invalid region for the transfer.")
	}
	a := st.newAction(c.team, "transfer", "image", im.id, req.Region)
	fail := s.faults.get(&s.faults.failTransfers)
	transfer := s.timing.Transfer // s.mu is held
	s.background(func(ctx context.Context) {
		err := sleep(ctx, transfer)
		if err == nil && fail {
			err = errTransferFault
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err == nil {
			if cur := st.images[im.id]; cur == nil {
				err = errImageGone
			} else if !slices.Contains(cur.regions, req.Region) {
				cur.regions = append(cur.regions, req.Region)
			}
		}
		st.finishAction(a, err)
	})
	// godo decodes image actions as {"action": ...}, as the live API sends them.
	return http.StatusCreated, map[string]any{"action": st.actionJSON(a)}, nil
}

func (st *state) listImageActions(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	im, err := st.ownImage(c)
	if err != nil {
		return 0, nil, err
	}
	return st.listActionPage(c, st.actionsOf(c.team, "image", im.id))
}

func (st *state) getImageAction(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	id, err := pathInt(c.r, "id")
	if err != nil {
		return 0, nil, err
	}
	a, err := st.action(c, "image", id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"action": st.actionJSON(a)}, nil
}

// ----- snapshots: the same images, with string ids -----

type snapshotJSON struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	CreatedAt     string   `json:"created_at"`
	Regions       []string `json:"regions"`
	MinDiskSize   int      `json:"min_disk_size"`
	SizeGigabytes float64  `json:"size_gigabytes"`
	ResourceID    string   `json:"resource_id"`
	ResourceType  string   `json:"resource_type"`
	Tags          []string `json:"tags"`
}

func (im *image) snapshotJSON() snapshotJSON {
	j := snapshotJSON{
		ID: strconv.Itoa(im.id), Name: im.name, CreatedAt: timeJSON(im.created), Regions: slices.Clone(im.regions),
		MinDiskSize: im.minDisk, SizeGigabytes: im.sizeGB, ResourceID: strconv.Itoa(im.fromDroplet),
		ResourceType: "droplet", Tags: slices.Clone(im.tags),
	}
	if j.Tags == nil {
		j.Tags = []string{}
	}
	return j
}

func (st *state) listSnapshots(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	var ims []*image
	if rt := c.r.URL.Query().Get("resource_type"); rt == "" || rt == "droplet" {
		ims = st.teamImages(c.team, "snapshot", true, "")
	}
	from, to, links, meta, err := st.srv.paginate(c.r, len(ims))
	if err != nil {
		return 0, nil, err
	}
	out := []snapshotJSON{}
	for _, im := range ims[from:to] {
		out = append(out, im.snapshotJSON())
	}
	return http.StatusOK, map[string]any{"snapshots": out, "links": links, "meta": meta}, nil
}

// snapshot finds team's snapshot from {id}; the caller holds srv.mu.
func (st *state) snapshot(c call) (*image, error) {
	id, err := pathInt(c.r, "id")
	if err != nil {
		return nil, err
	}
	im := st.images[id]
	if im == nil || im.team != c.team || im.typ != "snapshot" {
		return nil, errNotFound()
	}
	return im, nil
}

func (st *state) getSnapshot(c call) (int, any, error) {
	st.srv.mu.Lock()
	defer st.srv.mu.Unlock()
	im, err := st.snapshot(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"snapshot": im.snapshotJSON()}, nil
}

func (st *state) deleteSnapshot(c call) (int, any, error) { return st.deleteFound(c, st.snapshot) }

// deleteFound drops the image find names (under the lock), then deletes its
// disk in the backend (outside it): DELETE /v2/images/{id} and
// /v2/snapshots/{id} differ only in how they find the image.
func (st *state) deleteFound(c call, find func(call) (*image, error)) (int, any, error) {
	st.srv.mu.Lock()
	im, err := find(c)
	if err != nil {
		st.srv.mu.Unlock()
		return 0, nil, err
	}
	st.dropImage(im)
	st.srv.mu.Unlock()
	return st.deleteImageBackend(c.r.Context(), im)
}
